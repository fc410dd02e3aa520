"""A Prefect API that accepts connections and never answers: each command fails in one line.

The line names the URL and PREFECT_API_URL. These run in process with a one-second bound, to stay
quick; a bake's tests run `make deploy`, `make backfill` and `make alerts` against the real bound.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.local.runner import run_locally
from prefect_polars_cloud.operations import doctor
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET
from prefect_polars_cloud.testing.secret_stores import SecretStore

from toy_pipeline.flow import toy_totals


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
    """One second for the health request: these tests need not wait the real bound."""
    monkeypatch.setattr(doctor, "API_TIMEOUT_S", 1.0)


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


def test_a_local_run_fails_in_one_line(
    hung_api: str,
    quick_bound: None,
    sample_dir: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    with temporary_settings({PREFECT_API_URL: hung_api}):
        code = run_locally(toy_totals, ["--source", str(sample_dir), "--output", str(tmp_path)])

    out, err = capfd.readouterr()
    assert code == 1
    api_errors(err, hung_api)
    assert "Traceback" not in out + err


def test_a_healthy_api_still_passes_the_bounded_check(prefect_api: str) -> None:
    assert doctor.check_prefect_api(prefect_api) is None
