"""The flow in cloud mode: the real polars_cloud client, a simulated server, S3 on moto.

The simulated scheduler runs each plan it receives on local Polars against the same s3:// uris,
so the report the cloud path writes is a real one and is checked like the local one. What the
library does when Polars Cloud fails, cancels, retries, keeps a manifest's cluster or is
interrupted is the library's (the template's tests/library).
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import boto3
import polars as pl
import pytest
from prefect.artifacts import Artifact

from prefect_polars_cloud.compute.evidence import fit_label
from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.storage.input_errors import InputError
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET, SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator
from prefect_polars_cloud.testing.secret_stores import SecretStore, count_secret_reads

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

from . import reference

FIRST, SECOND, THIRD = SAMPLE_DAYS


@pytest.fixture
def cloud_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")


def objects(s3_data: str, prefix: str = "reports/") -> dict[str, str]:
    """Key -> ETag of every object below prefix."""
    bucket = s3_data.removeprefix("s3://")
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {item["Key"]: item["ETag"] for item in listing.get("Contents", [])}


def assert_day_matches_the_oracle(s3_data: str, sample_dir: Path, day: date) -> None:
    report = pl.read_parquet(f"{s3_data}/reports/daily_report/date={day.isoformat()}/")
    expected = reference.daily_report(sample_dir, day)
    assert [row[:4] for row in report.rows()] == [row[:4] for row in expected]
    assert report["revenue"].to_list() == pytest.approx([row[4] for row in expected])


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

    location = daily_report(
        start=FIRST, end=THIRD, source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports"
    )

    assert location == f"{s3_data}/reports/daily_report"
    for day in SAMPLE_DAYS:
        assert_day_matches_the_oracle(s3_data, sample_dir, day)
    assert sim.names()[0] == "authenticate" and sim.names().count("authenticate") == 1
    # Three days in one run: each preset built and booted once, one query per task.
    used = {query.cluster.preset for query in sim.queries.values()}
    assert sim.names().count("resolve_compute_context_specs") == len(used), "one per preset used"
    assert_every_cluster_started_once_and_stopped(sim)
    assert sorted(q.cluster.preset for q in sim.queries.values()) == ["large", "small", "small"]
    # The small cluster stops as soon as its tasks are done, not after the report's query.
    calls = [(name, arguments.get("preset")) for name, arguments in sim.calls]
    assert calls.index(("stop_compute_cluster", "small")) < calls.index(("do_query", "large"))
    assert reads == (["read"] if backend == "aws-secrets-manager" else [])
    assert not [key for key in objects(s3_data) if "_staging" in key]
    # Each query tells the Polars Cloud dashboard which task of which flow run sent it.
    for query in sim.queries.values():
        # Labels are cut to 32 bytes: a 64-character slug is compared as the client sends it.
        assert query.labels is not None and query.labels[1:2] == [fit_label(get_settings().label)]
        assert any(len(label) == 32 and label.isalnum() for label in query.labels), query.labels
    assert all(a["lineage"] is None for n, a in sim.calls if n == "do_query"), "on-prem only"
    assert sorted(q.labels[0] for q in sim.queries.values()) == [  # type: ignore[index]
        "build_report",
        "prepare_customers",
        "prepare_orders",
    ]
    artifact = str(Artifact.get("daily-report").data)  # type: ignore[union-attr]
    assert "## Polars Cloud" in artifact and "vCPU-hours" in artifact
    assert artifact.count("| SUCCESS |") == 3
    assert CLIENT_SECRET not in caplog.text and CLIENT_ID not in caplog.text


def test_the_flow_runs_on_a_self_hosted_cluster(
    monkeypatch: pytest.MonkeyPatch, prefect_api: str, s3_data: str, sample_dir: Path
) -> None:
    sim = PolarsCloudSimulator(client_id="", client_secret="").install(monkeypatch)
    uri, _ = sim.serve_cluster()
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cluster")
    monkeypatch.setenv(f"{ENV_PREFIX}CLUSTER_URI", uri)

    run = {"source_uri": f"{s3_data}/raw", "output_uri": f"{s3_data}/reports"}
    daily_report(start=FIRST, end=SECOND, **run)

    for day in (FIRST, SECOND):
        assert_day_matches_the_oracle(s3_data, sample_dir, day)
    assert set(sim.names()) == {"do_query", "first status poll"}, "no login, no boot, no stop"
    # OpenLineage (emitted by a self-hosted cluster only): each task a job, the flow run its parent.
    sent = [arguments for name, arguments in sim.calls if name == "do_query"]
    lineage = [arguments["lineage"] for arguments in sent]
    assert sorted(item["job_name"] for item in lineage) == [
        "build_report",
        "prepare_customers",
        "prepare_orders",
    ]
    (parent,) = {item["parent_run_id"] for item in lineage}
    assert all(parent.hex in arguments["labels"] for arguments in sent), "the run's own id"
    assert {item["job_namespace"] for item in lineage} == {get_settings().label}
    assert {item["parent_job_name"] for item in lineage} == {"daily-report"}, "no deployment"


def test_an_empty_snapshot_on_s3_is_refused_before_any_compute(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str
) -> None:
    bucket = s3_data.removeprefix("s3://")
    boto3.client("s3").put_object(Bucket=bucket, Key="raw/customers.ndjson", Body=b"")

    with pytest.raises(InputError, match=f"^{s3_data}/raw/customers.ndjson: no rows"):
        daily_report(start=FIRST, source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    assert cloud_sim.calls == [], "decided on the object's size: nothing was started"


def test_a_missing_field_fails_the_remote_query_and_names_the_file_on_s3(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str
) -> None:
    # The check runs inside the query on Polars Cloud: the flow's process reads no row.
    bucket = s3_data.removeprefix("s3://")
    key = "raw/orders/date=2026-11-02/orders.csv"
    orders = b"order_id,customer_id,order_ts,amount\n1,,2026-11-02T10:00:00Z,5.0\n"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=orders)

    with pytest.raises(InputError, match=f"^{s3_data}/{key}: a row has no customer_id"):
        daily_report(
            start=FIRST, end=THIRD, source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports"
        )

    assert [q.cluster.preset for q in cloud_sim.queries.values()].count("small") >= 1
    assert objects(s3_data) == {}, "nothing published, no staging left behind"
