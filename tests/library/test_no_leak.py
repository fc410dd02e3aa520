"""With known secret values and DEBUG logging, nothing a user or an API stores shows them.

A cloud-mode flow run (the toy's flow, the real polars_cloud client, Polars Cloud simulated),
`doctor` and `blocks` run for the backend; then every log line, every flow run's parameters and
state messages kept by the Prefect API, the printed output and every file written in the working
directory are searched for the values.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.logging.handlers import APILogHandler

from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET, SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator
from prefect_polars_cloud.testing.secret_stores import SecretStore

from toy_pipeline.flow import toy_totals
from toy_pipeline.project import ENV_PREFIX


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


def written_files(folder: Path) -> str:
    """Every file below folder as text."""
    return "\n".join(
        path.read_bytes().decode("utf-8", errors="replace")
        for path in folder.rglob("*")
        if path.is_file()
    )


def exercise_and_search(
    store: SecretStore,
    s3_data: str,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Run everything that touches the secret in workdir, then search everywhere it could go."""
    workdir.mkdir()
    monkeypatch.chdir(workdir)  # as a project's directory: whatever lands there is searched
    store.put()
    # What `blocks` reads for prefect-secret.
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")
    caplog.set_level(logging.DEBUG)
    for name in ("prefect", "botocore", "boto3", "urllib3", "httpx"):
        caplog.set_level(logging.DEBUG, logger=name)
    sim = PolarsCloudSimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sim.install(monkeypatch)

    toy_totals(start=SAMPLE_DAYS[0], source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")
    assert main(["blocks"]) == 0
    assert main(["doctor"]) == 0

    logins = [arguments for name, arguments in sim.calls if name == "authenticate"]
    assert [login["client_secret"] for login in logins] == [CLIENT_SECRET]
    out, err = capfd.readouterr()
    for where, text in {
        "printed output": out + err,
        "log records": caplog.text,
        "Prefect API": stored_by_the_prefect_api(),
        "files in the working directory": written_files(workdir),
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
    tmp_path: Path,
) -> None:
    store = SecretStore(backend, monkeypatch).select()
    exercise_and_search(store, s3_data, tmp_path / "work", monkeypatch, caplog, capfd)
