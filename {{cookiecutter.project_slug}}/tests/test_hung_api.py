"""A Prefect API that accepts connections and never answers: every command fails within 20 s.

Each says so in one ERROR line naming the URL and PREFECT_API_URL. `make deploy`, `make backfill`
and `make alerts` run here as a user runs them (make, then this environment's command line)
against the real bound; the library's own commands are tested in process by the template's
tests/library.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

PROJECT = Path(__file__).resolve().parent.parent
BOUND_S = 20
# Arguments beyond the target; ALERTS=webhook, or `make alerts` has nothing to ask the API.
TARGETS = {"deploy": [], "backfill": ["START=2026-11-01"], "alerts": []}
MAKE = shutil.which("make")


def api_errors(stderr: str, url: str) -> list[str]:
    """Return the ERROR lines; assert there is one and it names the URL and the setting."""
    errors = [line for line in stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, stderr
    assert f"the Prefect API at {url} did not answer" in errors[0], errors
    assert "PREFECT_API_URL" in errors[0], errors
    return errors


@pytest.fixture
def hung_api(silent_port: int) -> str:
    """The URL of a Prefect API that accepts connections and never answers."""
    return f"http://127.0.0.1:{silent_port}/api"


# Each waits out the real bound: tens of seconds in all, so not in `make test`.
@pytest.mark.slow
@pytest.mark.skipif(MAKE is None, reason="make is not installed")
@pytest.mark.parametrize("target", TARGETS)
def test_make_target_fails_within_the_bound(target: str, hung_api: str, tmp_path: Path) -> None:
    environment = {
        **os.environ,
        "PREFECT_API_URL": hung_api,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        f"{ENV_PREFIX}ALERTS": "webhook",
        # The Makefile's commands, from this environment: no uv, no network.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.monotonic()
    result = subprocess.run(
        [str(MAKE), "--no-print-directory", target, *TARGETS[target], "UV_RUN="],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started

    assert result.returncode != 0, result.stdout + result.stderr
    assert elapsed < BOUND_S, f"`make {target}` took {elapsed:.1f} s"
    api_errors(result.stderr, hung_api)
    assert "Traceback" not in result.stdout + result.stderr
