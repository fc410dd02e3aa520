"""With known secret values and DEBUG logging, nothing a user or an API stores shows them.

A cloud-mode flow run (the real polars_cloud client, Polars Cloud simulated), `doctor` and
`blocks` run for the backend; then every log line, every flow run's parameters and state
messages kept by the Prefect API, the printed output and every file of the project are searched
for the values.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.logging.handlers import APILogHandler

from prefect_polars_cloud.cli import main
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

from .conftest import CLIENT_ID, CLIENT_SECRET, SAMPLE_DAYS
from .stores import SecretStore

PROJECT = Path(__file__).resolve().parent.parent
SKIPPED_DIRECTORIES = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"}


def stored_by_the_prefect_api() -> str:
    """Every log message, flow-run parameter set and state message the API keeps."""
    APILogHandler().flush()  # send the queued logs before reading them back
    texts: list[str] = []
    with get_client(sync_client=True) as client:
        for run in client.read_flow_runs(limit=200):
            texts.append(repr(run.parameters))
            texts += [repr(state.message) for state in client.read_flow_run_states(run.id)]
        texts += [log.message for log in client.read_logs(limit=200)]
    return "\n".join(texts)


def project_files() -> str:
    """Every file of the generated project as text, but the test sources that hold the values."""
    contents = []
    for path in PROJECT.rglob("*"):
        parts = path.relative_to(PROJECT).parts
        if parts[0] == "tests" and path.suffix == ".py":
            continue
        if path.is_file() and not SKIPPED_DIRECTORIES.intersection(parts):
            contents.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(contents)


def exercise_and_search(
    store: SecretStore,
    s3_data: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Run everything that touches the secret, then search everywhere it could have gone."""
    store.put()
    monkeypatch.setenv(
        "POLARS_CLOUD_CLIENT_ID", CLIENT_ID
    )  # what `blocks` reads for prefect-secret
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")
    caplog.set_level(logging.DEBUG)
    for name in ("prefect", "botocore", "boto3", "urllib3", "httpx"):
        caplog.set_level(logging.DEBUG, logger=name)
    sim = PolarsCloudSimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sim.install(monkeypatch)

    daily_report(start=SAMPLE_DAYS[0], source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")
    assert main(["blocks"]) == 0
    assert main(["doctor"]) == 0

    logins = [arguments for name, arguments in sim.calls if name == "authenticate"]
    assert [login["client_secret"] for login in logins] == [CLIENT_SECRET]
    out, err = capfd.readouterr()
    for where, text in {
        "printed output": out + err,
        "log records": caplog.text,
        "Prefect API": stored_by_the_prefect_api(),
        "project files": project_files(),
    }.items():
        assert CLIENT_SECRET not in text, f"the client secret leaked into the {where}"
        assert CLIENT_ID not in text, f"the client id leaked into the {where}"


@pytest.mark.parametrize("backend", ["env", "aws-secrets-manager", "prefect-secret"])
def test_no_secret_value_leaks(
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    prefect_api: str,
    s3_data: str,
) -> None:
    store = SecretStore(backend, monkeypatch).select()
    exercise_and_search(store, s3_data, monkeypatch, caplog, capfd)
