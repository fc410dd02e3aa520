"""A run in cloud mode: the toy's flow, the real polars_cloud client, simulated server, moto S3.

What the library does around any project's queries when Polars Cloud fails, cancels, retries,
keeps a manifest's cluster or is interrupted; a bake's tests run its own flow through the same
client for each backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import boto3
import polars as pl
import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import PrefectClient, get_client
from prefect.flow_engine import run_flow

from prefect_polars_cloud.compute.session import ComputeError
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.storage.files import MissingInputError
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET, SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from support import expected_totals
from toy_pipeline.flow import toy_totals
from toy_pipeline.project import DATASETS, ENV_PREFIX, TOTALS, VISITS

LIBRARY_TESTS = Path(__file__).resolve().parent
FIRST, SECOND, THIRD = SAMPLE_DAYS


@pytest.fixture
def cloud_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")


def run_on(s3_data: str) -> dict[str, str]:
    """The toy's source and output under a bucket."""
    return {"source_uri": f"{s3_data}/raw", "output_uri": f"{s3_data}/reports"}


def objects(s3_data: str, prefix: str = "reports/") -> dict[str, str]:
    """Key -> ETag of every object below prefix."""
    bucket = s3_data.removeprefix("s3://")
    listing = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {item["Key"]: item["ETag"] for item in listing.get("Contents", [])}


def assert_day_matches(s3_data: str, sample_dir: Path, day: date) -> None:
    totals = pl.read_parquet(f"{s3_data}/reports/{DATASETS.partition(TOTALS.name, day)}/")
    assert totals.rows() == expected_totals(sample_dir, day)


def assert_every_cluster_started_once_and_stopped(sim: PolarsCloudSimulator) -> None:
    for preset in ("small", "large"):
        assert len(sim.started(preset)) == 1, f"{preset}: one cluster, however many tasks"
        assert len(sim.stopped(preset)) == 1, f"{preset}: stopped"
    assert sim.running() == []


def test_a_run_sends_each_query_to_its_preset_and_stops_both(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str, sample_dir: Path
) -> None:
    location = toy_totals(start=FIRST, end=SECOND, **run_on(s3_data))

    assert location == f"{s3_data}/reports/{TOTALS.name}"
    for day in (FIRST, SECOND):
        assert_day_matches(s3_data, sample_dir, day)
    assert_every_cluster_started_once_and_stopped(cloud_sim)
    sent = sorted((q.cluster.preset, q.labels[0]) for q in cloud_sim.queries.values())  # type: ignore[index]
    expected = [("large", "build_totals"), ("small", "prepare_pages"), ("small", "prepare_visits")]
    assert sent == expected
    calls = [(name, arguments.get("preset")) for name, arguments in cloud_sim.calls]
    assert calls.index(("stop_compute_cluster", "small")) < calls.index(("do_query", "large"))
    assert not [key for key in objects(s3_data) if "_staging" in key]


def test_queries_name_the_runs_deployment_without_asking_the_api_each_time(
    cloud_mode: None, monkeypatch: pytest.MonkeyPatch, cloud_sim: PolarsCloudSimulator, s3_data: str
) -> None:
    reads: list[object] = []
    read_flow_run = PrefectClient.read_flow_run

    async def counted(client: PrefectClient, flow_run_id: object) -> object:
        reads.append(flow_run_id)
        return await read_flow_run(client, flow_run_id)  # type: ignore[arg-type]

    monkeypatch.setattr(PrefectClient, "read_flow_run", counted)
    toy_totals(start=FIRST, end=FIRST, **run_on(s3_data))  # `make run`: no deployment
    local = len(reads)
    deployment_id = toy_totals.to_deployment("nightly").apply()  # type: ignore[union-attr]
    with get_client(sync_client=True) as client:
        deployed = client.create_flow_run_from_deployment(deployment_id)
    run_flow(toy_totals, flow_run=deployed, parameters={"start": SECOND, **run_on(s3_data)})

    by_run = {str(q.labels[3]): q.labels[2] for q in cloud_sim.queries.values()}  # type: ignore[index]
    assert set(by_run.values()) == {"no-deployment", "nightly"}
    assert by_run[deployed.id.hex] == "nightly"
    # Three queries a run, each labelled: the deployment is looked up once, not per query.
    later = len(reads) - local
    assert local <= 1 and later <= 2, f"flow run reads: {local} local, {later} deployed"


def test_daily_runs_share_the_cluster_of_a_manifest_preset(
    cloud_mode: None,
    monkeypatch: pytest.MonkeyPatch,
    cloud_sim: PolarsCloudSimulator,
    s3_data: str,
    sample_dir: Path,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}PRESET_LARGE_MODE", "manifest")
    assert main(["compute"]) == 0

    toy_totals(start=FIRST, end=FIRST, **run_on(s3_data))
    toy_totals(start=SECOND, end=SECOND, **run_on(s3_data))

    for day in (FIRST, SECOND):
        assert_day_matches(s3_data, sample_dir, day)
    (large,) = cloud_sim.started("large")
    assert len(cloud_sim.stopped("small")) == 2, "the ephemeral preset: a cluster per run"
    assert cloud_sim.running() == [large], "the manifest's: one boot, left to its idle timeout"
    artifact = str(Artifact.get("toy-totals").data)  # type: ignore[union-attr]
    assert "| large | manifest (joined) |" in artifact and "left running" in artifact


def test_a_rerun_on_s3_replaces_exactly_its_day(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str, sample_dir: Path
) -> None:
    toy_totals(start=FIRST, end=THIRD, **run_on(s3_data))
    bucket = s3_data.removeprefix("s3://")
    stale = f"reports/{DATASETS.partition(TOTALS.name, SECOND)}/from-an-older-run.parquet"
    boto3.client("s3").put_object(Bucket=bucket, Key=stale, Body=b"stale")
    before = objects(s3_data)

    toy_totals(start=SECOND, **run_on(s3_data))

    after = objects(s3_data)
    assert stale not in after
    assert_day_matches(s3_data, sample_dir, SECOND)
    # The day's partitions and its stamp (which run published it) change; nothing else does.
    untouched = [key for key in before if f"day={SECOND}" not in key and str(SECOND) not in key]
    assert {key: after[key] for key in untouched} == {key: before[key] for key in untouched}


def test_a_missing_day_on_s3_is_refused_before_any_compute(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str
) -> None:
    bucket = s3_data.removeprefix("s3://")
    for key in objects(s3_data, f"raw/{DATASETS.partition(VISITS.name, SECOND)}/"):
        boto3.client("s3").delete_object(Bucket=bucket, Key=key)

    with pytest.raises(MissingInputError, match=f"no visits for {SECOND} under {s3_data}/raw/"):
        toy_totals(start=FIRST, end=THIRD, **run_on(s3_data))

    assert cloud_sim.calls == [], "not even a login: nothing was started"


def test_a_failed_cloud_query_fails_the_run_and_still_stops_compute(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str
) -> None:
    cloud_sim.script(lambda q: q.cluster.preset == "large", "fail", "ComputeError: worker lost")

    with pytest.raises(pl.exceptions.ComputeError, match="worker lost"):
        toy_totals(start=FIRST, **run_on(s3_data))

    assert_every_cluster_started_once_and_stopped(cloud_sim)
    assert [q.cluster.preset for q in cloud_sim.queries.values()].count("large") == 1, (
        "the query's own error is not retried"
    )
    assert objects(s3_data) == {}, "nothing published, no staging left behind"


def test_a_transient_error_is_retried_on_the_running_cluster(
    cloud_mode: None,
    cloud_sim: PolarsCloudSimulator,
    monkeypatch: pytest.MonkeyPatch,
    s3_data: str,
    sample_dir: Path,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}QUERY_RETRY_DELAY_SECONDS", "0.05")
    cloud_sim.script(lambda q: q.cluster.preset == "large", "transport", times=1)

    toy_totals(start=FIRST, **run_on(s3_data))

    assert cloud_sim.names().count("do_query refused") == 1
    assert_every_cluster_started_once_and_stopped(cloud_sim)  # the retry booted nothing new
    assert_day_matches(s3_data, sample_dir, FIRST)


def test_a_cancelled_cloud_query_fails_the_run(
    cloud_mode: None, cloud_sim: PolarsCloudSimulator, s3_data: str
) -> None:
    cloud_sim.script(lambda q: q.cluster.preset == "large", "cancel")

    state = toy_totals(start=FIRST, **run_on(s3_data), return_state=True)

    assert state.is_failed()
    with pytest.raises(ComputeError, match="the large query .* ended CANCELED"):
        state.result()
    assert_every_cluster_started_once_and_stopped(cloud_sim)
    assert objects(s3_data) == {}


RUNNER = """
import sys
from pathlib import Path

import pytest

sys.path[:0] = [{library_tests!r}]
from prefect_polars_cloud.config.project import using
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator
from toy_pipeline.flow import toy_totals
from toy_pipeline.project import PROJECT

simulator = PolarsCloudSimulator(client_id={client_id!r}, client_secret={client_secret!r},
                                 log=Path(sys.argv[1]))
simulator.script(lambda query: query.cluster.preset == "large", "hang")
simulator.install(pytest.MonkeyPatch())

base = sys.argv[2]
with using(PROJECT):
    toy_totals(start="2026-11-01", source_uri=base + "/raw", output_uri=base + "/reports")
"""


def test_sigterm_during_a_cloud_query_cancels_it_then_stops_every_cluster(
    aws: str, prefect_api: str, s3_data: str, tmp_path: Path
) -> None:
    log = tmp_path / "calls.jsonl"
    script = tmp_path / "run_flow.py"
    script.write_text(
        RUNNER.format(
            library_tests=str(LIBRARY_TESTS), client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
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
    # Polled: the session holds the query as in flight (the window before that is microseconds).
    while not any(c["name"] == "first status poll" and c["preset"] == "large" for c in calls()):
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
    # The large query is cancelled before its cluster stops (the small one stopped earlier,
    # as soon as its tasks were done).
    large_stop = [(c["name"], c["preset"]) for c in calls()].index(
        ("stop_compute_cluster", "large")
    )
    assert names.index("cancel_direct_query") < large_stop
    assert CLIENT_SECRET not in output
