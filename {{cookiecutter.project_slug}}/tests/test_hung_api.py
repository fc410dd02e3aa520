"""A Prefect API that accepts connections and never answers: every command fails within 20 s.

Each says so in one ERROR line naming the URL and PREFECT_API_URL. `make deploy`, `make backfill`
and `make alerts` run as a user runs them (make, then this environment's command line) against
the real bound; the other commands run in process with a one-second bound, to stay quick.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_polars_cloud import doctor
from prefect_polars_cloud.cli import main
from prefect_polars_cloud.local_run import run_locally

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from .conftest import CLIENT_ID, CLIENT_SECRET
from .stores import SecretStore

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


@pytest.fixture
def quick_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """One second for the health request: the in-process tests need not wait the real bound."""
    monkeypatch.setattr(doctor, "API_TIMEOUT_S", 1.0)


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


def test_doctor_checks_the_api_before_the_block_backend_reads_it(
    hung_api: str,
    quick_bound: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    SecretStore("prefect-secret", monkeypatch).select()

    with temporary_settings({PREFECT_API_URL: hung_api}):
        assert main(["doctor"]) == 1

    out, err = capsys.readouterr()
    assert "credentials:    NOT CHECKED" in out
    assert f"prefect api:    UNREACHABLE ({hung_api})" in out
    api_errors(err, hung_api)


def test_blocks_and_check_api_fail_in_one_line(
    hung_api: str,
    quick_bound: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    SecretStore("prefect-secret", monkeypatch).select()
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_SECRET", CLIENT_SECRET)

    with temporary_settings({PREFECT_API_URL: hung_api}):
        for command in ("blocks", "check-api"):
            assert main([command]) == 1
            api_errors(capsys.readouterr().err, hung_api)


def test_make_run_fails_in_one_line(
    hung_api: str,
    quick_bound: None,
    sample_dir: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from flows.daily_report import daily_report

    with temporary_settings({PREFECT_API_URL: hung_api}):
        code = run_locally(daily_report, ["--source", str(sample_dir), "--output", str(tmp_path)])

    out, err = capfd.readouterr()
    assert code == 1
    api_errors(err, hung_api)
    assert "Traceback" not in out + err


def test_a_healthy_api_still_passes_the_bounded_check(prefect_api: str) -> None:
    assert doctor.check_prefect_api(prefect_api) is None
