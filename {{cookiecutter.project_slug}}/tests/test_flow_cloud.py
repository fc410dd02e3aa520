"""The flow in cloud mode: the real polars_cloud client, a simulated server, S3 on moto.

The simulated scheduler runs each plan it receives on local Polars against the same s3:// uris,
so the report the cloud path writes is a real one and is checked like the local one.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import polars as pl
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.compute import ComputeError
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

from . import reference
from .conftest import CLIENT_ID, CLIENT_SECRET
from .polars_cloud_sim import PolarsCloudSimulator
from .stores import SecretStore, count_secret_reads

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cloud_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")


def keys(s3_data: str) -> list[str]:
    bucket = s3_data.removeprefix("s3://")
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def assert_every_cluster_started_once_and_stopped(sim: PolarsCloudSimulator) -> None:
    for preset in ("small", "large"):
        assert len(sim.started(preset)) == 1, f"{preset}: one cluster, however many tasks"
        assert len(sim.stopped(preset)) == 1, f"{preset}: stopped"
    assert sim.running() == []


# The two backends every project can use, and the one this project was generated with.
BACKENDS = sorted({"env", "aws-secrets-manager"} | { {{- cookiecutter.secret_backend | tojson -}} })


@pytest.mark.parametrize("backend", BACKENDS)
def test_cloud_run_writes_the_report_through_the_real_client(
    backend: str,
    cloud_mode: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    s3_data: str,
    sample_dir: Path,
) -> None:
    SecretStore(backend, monkeypatch).select().put()
    if backend == "aws-secret-block":
        assert main(["blocks"]) == 0  # the blocks that point at the stored secret
    sim = PolarsCloudSimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    sim.install(monkeypatch)
    reads = count_secret_reads(monkeypatch)
    caplog.set_level(logging.DEBUG)

    report_uri = daily_report(source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    assert report_uri == f"{s3_data}/reports/daily_report.parquet"
    expected = reference.daily_report(sample_dir)
    report = pl.read_parquet(report_uri)
    assert [row[:4] for row in report.rows()] == [row[:4] for row in expected]
    assert report["revenue"].to_list() == pytest.approx([row[4] for row in expected])

    assert sim.names()[0] == "authenticate" and sim.names().count("authenticate") == 1
    assert sim.names().count("resolve_compute_context_specs") == 2, "one context per preset"
    assert_every_cluster_started_once_and_stopped(sim)
    sinks = {q.sink.rsplit("/", 1)[-1]: q.cluster.preset for q in sim.queries.values()}
    assert sinks == {
        "orders.parquet": "small",
        "customers.parquet": "small",
        "daily_report.parquet": "large",
    }
    assert reads == (["read"] if backend == "aws-secrets-manager" else [])
    assert CLIENT_SECRET not in caplog.text and CLIENT_ID not in caplog.text


def test_a_failed_cloud_query_fails_the_run_and_still_stops_compute(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str
) -> None:
    cloud_sim.script(lambda q: q.cluster.preset == "large", "fail", "ComputeError: worker lost")

    with pytest.raises(pl.exceptions.ComputeError, match="worker lost"):
        daily_report(source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    assert_every_cluster_started_once_and_stopped(cloud_sim)
    assert "reports/daily_report.parquet" not in keys(s3_data)


def test_a_cancelled_cloud_query_fails_the_run(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str
) -> None:
    cloud_sim.script(lambda q: q.sink.endswith("daily_report.parquet"), "cancel")

    state = daily_report(
        source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports", return_state=True
    )

    assert state.is_failed()
    with pytest.raises(ComputeError, match="the large query .* ended CANCELED"):
        state.result()
    assert_every_cluster_started_once_and_stopped(cloud_sim)
    assert "reports/daily_report.parquet" not in keys(s3_data)


RUNNER = """
import sys
from pathlib import Path

import pytest

sys.path[:0] = [{project!r}]
from tests.polars_cloud_sim import PolarsCloudSimulator

simulator = PolarsCloudSimulator(client_id={client_id!r}, client_secret={client_secret!r},
                                 log=Path(sys.argv[1]))
simulator.script(lambda query: query.cluster.preset == "large", "hang")
simulator.install(pytest.MonkeyPatch())
from flows.daily_report import daily_report

daily_report(source_uri=sys.argv[2] + "/raw", output_uri=sys.argv[2] + "/reports")
"""


def test_sigterm_during_a_cloud_query_cancels_it_then_stops_every_cluster(
    aws: str, prefect_api: str, s3_data: str, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "run_flow.py"
    script.write_text(
        RUNNER.format(project=str(PROJECT), client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    )
    environment = os.environ | {
        "PREFECT_API_URL": prefect_api,
        f"{ENV_PREFIX}COMPUTE_MODE": "cloud",
        f"{ENV_PREFIX}SECRET_BACKEND": "env",
        "POLARS_CLOUD_CLIENT_ID": CLIENT_ID,
        "POLARS_CLOUD_CLIENT_SECRET": CLIENT_SECRET,
    }
    run = subprocess.Popen(
        [sys.executable, str(script), str(log), s3_data],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def calls() -> list[dict[str, str]]:
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    deadline = time.monotonic() + 120
    while not any(c["name"] == "do_query" and c["preset"] == "large" for c in calls()):
        assert run.poll() is None, run.communicate()[0]
        assert time.monotonic() < deadline, "the large query never started"
        time.sleep(0.2)
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=60)

    assert run.returncode != 0, output
    names = [c["name"] for c in calls()]
    assert names.count("cancel_direct_query") == 1, output
    stopped = sorted(c["preset"] for c in calls() if c["name"] == "stop_compute_cluster")
    assert stopped == ["large", "small"], output
    assert names.index("cancel_direct_query") < names.index("stop_compute_cluster")
    assert CLIENT_SECRET not in output
