"""`make doctor`, `check-api` and `blocks` for every backend, through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.local.runner import run_locally
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET
from prefect_polars_cloud.testing.secret_stores import SecretStore

from toy_pipeline.flow import toy_totals
from toy_pipeline.project import ENV_PREFIX

BACKENDS = ["env", "aws-secrets-manager", "prefect-secret"]


@pytest.fixture(params=BACKENDS)
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, aws: str, prefect_api: str
) -> SecretStore:
    # The automations are test_alerts.py's: here the doctor checks credentials and the API.
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "none")
    return SecretStore(request.param, monkeypatch).select()


def test_doctor_finds_the_secret_and_never_prints_it(
    store: SecretStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put()

    assert main(["doctor"]) == 0

    out, err = capsys.readouterr()
    assert f"secret backend: {store.backend}" in out
    assert "credentials:    found" in out and "prefect api:    healthy" in out
    assert CLIENT_ID not in out + err and CLIENT_SECRET not in out + err


def test_doctor_names_the_missing_secret(
    store: SecretStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put()
    store.remove()

    assert main(["doctor"]) == 1

    out, err = capsys.readouterr()
    assert "credentials:    NOT FOUND" in out
    assert err.startswith("ERROR: ") and store.missing_hint in err


def test_doctor_reports_an_unreachable_prefect_api(
    store: SecretStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put()

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert main(["doctor"]) == 1

    assert "Prefect API at http://127.0.0.1:9/api is unreachable" in capsys.readouterr().err


def test_blocks_twice_succeeds_and_changes_nothing(
    store: SecretStore, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_SECRET", CLIENT_SECRET)

    assert main(["blocks"]) == 0
    first = capsys.readouterr().out
    assert main(["blocks"]) == 0
    assert capsys.readouterr().out == first

    if store.backend == "prefect-secret":
        assert Secret.load(store.name).get() == {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        }
    else:
        assert "nothing to register" in first
    assert CLIENT_SECRET not in first


def test_blocks_for_prefect_secret_needs_the_values_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    SecretStore("prefect-secret", monkeypatch).select()

    assert main(["blocks"]) == 1

    err = capsys.readouterr().err
    assert "POLARS_CLOUD_CLIENT_ID and POLARS_CLOUD_CLIENT_SECRET are not set" in err


UNREACHABLE = "http://127.0.0.1:9/api"  # the discard port: nothing listens there


def test_check_api_names_the_unreachable_url(capsys: pytest.CaptureFixture[str]) -> None:
    with temporary_settings({PREFECT_API_URL: UNREACHABLE}):
        assert main(["check-api"]) == 1

    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"ERROR: the Prefect API at {UNREACHABLE} is unreachable (ConnectError); "
        "start it or fix PREFECT_API_URL"
    ]


def test_check_api_refuses_a_missing_api_url(capsys: pytest.CaptureFixture[str]) -> None:
    # Without one, `prefect deploy` would deploy into a throwaway embedded server.
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["check-api"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("ERROR: no Prefect API is configured; set PREFECT_API_URL")


def test_check_api_passes_a_healthy_api(
    prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-api"]) == 0
    assert f"healthy ({prefect_api})" in capsys.readouterr().out


def test_blocks_checks_the_api_before_saving(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    SecretStore("prefect-secret", monkeypatch).select()
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_SECRET", CLIENT_SECRET)

    with temporary_settings({PREFECT_API_URL: UNREACHABLE}):
        assert main(["blocks"]) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"ERROR: the Prefect API at {UNREACHABLE} is unreachable")
    assert "Traceback" not in err


def test_make_run_names_an_unreachable_configured_api(
    sample_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with temporary_settings({PREFECT_API_URL: UNREACHABLE}):
        code = run_locally(toy_totals, ["--source", str(sample_dir), "--output", str(tmp_path)])

    out, err = capfd.readouterr()
    assert code == 1
    assert f"ERROR: the Prefect API at {UNREACHABLE} is unreachable" in err
    assert "Traceback" not in out + err
