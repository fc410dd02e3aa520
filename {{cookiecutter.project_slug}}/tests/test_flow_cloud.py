"""The flow in cloud mode: polars_cloud is the recording double, S3 is moto on loopback.

The double runs each remote query on local Polars against the same s3:// uris, so the report
the cloud path writes is a real one and can be checked like the local one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import polars as pl
import pytest

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

from . import reference
from .conftest import CLIENT_ID, CLIENT_SECRET
from .polars_cloud_double import PolarsCloudDouble
from .stores import SecretStore, count_secret_reads

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cloud_mode(
    monkeypatch: pytest.MonkeyPatch, service_account_env: None, prefect_api: str
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")


def test_cloud_run_uses_small_then_large_and_stops_both(
    cloud_mode: None, monkeypatch: pytest.MonkeyPatch, s3_data: str, sample_dir: Path
) -> None:
    double = PolarsCloudDouble().install(monkeypatch)

    report_uri = daily_report(source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    assert report_uri == f"{s3_data}/reports/daily_report.parquet"
    expected = reference.daily_report(sample_dir)
    report = pl.read_parquet(report_uri)
    assert [row[:4] for row in report.rows()] == [row[:4] for row in expected]
    assert report["revenue"].to_list() == pytest.approx([row[4] for row in expected])

    assert double.names().count("authenticate") == 1 and double.names()[0] == "authenticate"
    sinks = {
        c.args[0].rsplit("/", 1)[-1]: c.preset
        for c in double.calls
        if c.name.endswith("sink_parquet")
    }
    assert sinks == {
        "orders.parquet": "small",
        "customers.parquet": "small",
        "daily_report.parquet": "large",
    }
    stopped = sorted(c.preset for c in double.calls if c.name == "ComputeContext.stop")
    assert stopped == ["large", "small"]


def test_a_failed_cloud_query_fails_the_run_and_still_stops_compute(
    cloud_mode: None, monkeypatch: pytest.MonkeyPatch, s3_data: str
) -> None:
    double = PolarsCloudDouble(fail_preset="large").install(monkeypatch)

    with pytest.raises(RuntimeError, match="worker lost"):
        daily_report(source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    stopped = sorted(c.preset for c in double.calls if c.name == "ComputeContext.stop")
    assert stopped == ["large", "small"]
    bucket = s3_data.removeprefix("s3://")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "reports/daily_report.parquet" not in keys


def test_one_flow_run_reads_the_secret_once(
    monkeypatch: pytest.MonkeyPatch, aws: str, prefect_api: str, s3_data: str
) -> None:
    store = SecretStore("aws-secrets-manager", monkeypatch).select()
    store.put()
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")
    PolarsCloudDouble().install(monkeypatch)
    reads = count_secret_reads(monkeypatch)

    daily_report(source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    assert reads == ["read"]


RUNNER = """
import sys
from pathlib import Path

import pytest

sys.path[:0] = [{project!r}]
from tests.polars_cloud_double import PolarsCloudDouble

PolarsCloudDouble(log=Path(sys.argv[1]), block_preset="large").install(pytest.MonkeyPatch())
from flows.daily_report import daily_report

daily_report(source_uri=sys.argv[2] + "/raw", output_uri=sys.argv[2] + "/reports")
"""


def test_sigterm_during_a_cloud_query_stops_every_context(
    aws: str, prefect_api: str, s3_data: str, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "run_flow.py"
    script.write_text(RUNNER.format(project=str(PROJECT)))
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
    while not any(c["name"].endswith("sink_parquet") and c["preset"] == "large" for c in calls()):
        assert run.poll() is None, run.communicate()[0]
        assert time.monotonic() < deadline, "the large query never started"
        time.sleep(0.2)
    run.send_signal(signal.SIGTERM)
    output, _ = run.communicate(timeout=60)

    assert run.returncode != 0, output
    stopped = sorted(c["preset"] for c in calls() if c["name"] == "ComputeContext.stop")
    assert stopped == ["large", "small"], output
    assert CLIENT_SECRET not in output
