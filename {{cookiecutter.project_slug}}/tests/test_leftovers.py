"""Leftovers of runs that are gone, for any pipeline: staging swept, zombie runs ended Crashed.

Staging left by runs that are gone is removed, locally and on S3; a staging prefix whose run may
still be alive is left alone. A flow run whose process died ends Crashed (the zombie automation
of `make alerts`, on a real Prefect server), not Running forever. The flow run is the first of
flows/ (test_pipeline.py's order); a killed run's publish is test_pipeline.py's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.states import Crashed

from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.local.runner import load_flow
from prefect_polars_cloud.operations import alerts, zombies
from prefect_polars_cloud.storage.leftovers import machine
from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from .test_pipeline import FLOWS
from .test_stops import PROJECT

FIRST = SAMPLE_DAYS[0]


def first_flow() -> Any:  # noqa: ANN401 - a Prefect Flow
    """Return the first flow of flows/: it reads the sample inputs alone."""
    return load_flow(FLOWS[0], PROJECT / "flows")


def staged(output: Path) -> list[Path]:
    return [path for path in (output / "_staging").rglob("*") if path.is_file()]


def keys(s3_data: str, prefix: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(
        Bucket=s3_data.removeprefix("s3://"), Prefix=prefix
    )
    return sorted(item["Key"] for item in listing.get("Contents", []))


def put_json(s3_data: str, key: str, document: dict[str, Any]) -> None:
    bucket = s3_data.removeprefix("s3://")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())


@pytest.mark.parquet_report
def test_staging_left_by_runs_that_are_gone_is_removed_and_a_live_runs_kept(
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: str,
    cloud_sim: PolarsCloudSimulator,
    s3_data: str,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")
    now = datetime.now(UTC)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    with get_client(sync_client=True) as client:
        ended = client.create_flow_run(flow=first_flow(), state=Crashed())
    elsewhere = {"machine": "another-host", "pid": 1, "started": now.isoformat()}
    runs = {
        # No marker (an older version's, or killed before writing it), started days ago.
        "20200101T000000Z-0ld00000": None,
        # Another machine's run whose flow run has ended: Crashed.
        f"{stamp}-crashed0": {**elsewhere, "flow_run_id": str(ended.id)},
        # Another machine's run the API does not know: young, so it may be alive.
        f"{stamp}-unknown0": {**elsewhere, "flow_run_id": str(uuid.uuid4())},
        # This process: alive.
        f"{stamp}-alive000": {
            "machine": machine(),
            "pid": os.getpid(),
            "started": now.isoformat(),
            "flow_run_id": None,
        },
    }
    bucket = s3_data.removeprefix("s3://")
    for name, marker in runs.items():
        key = f"reports/_staging/{name}/orders/date=2026-11-01/00000000.parquet"
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"staged")
        if marker is not None:
            put_json(s3_data, f"reports/_staging/{name}/_run.json", marker)

    first_flow()(start=FIRST, source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    left = {key.split("/")[2] for key in keys(s3_data, "reports/_staging/")}
    assert left == {f"{stamp}-unknown0", f"{stamp}-alive000"}


@pytest.mark.parquet_report
def test_a_stale_local_staging_prefix_is_removed_after_its_expiry(
    local_mode: None, monkeypatch: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}STAGING_EXPIRY_HOURS", "1")
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    stale = tmp_path / "_staging" / f"{two_hours_ago}-0ld00000" / "orders"
    stale.mkdir(parents=True)
    (stale / "part.parquet").write_bytes(b"staged")

    first_flow()(start=FIRST, source_uri=str(sample_dir), output_uri=str(tmp_path))

    assert staged(tmp_path) == []


@pytest.fixture
def project_tag(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A label of this test's own, so its automation touches no other test's runs."""
    label = f"zombie-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"{ENV_PREFIX}LABEL", label)
    get_settings.cache_clear()
    yield label
    with get_client(sync_client=True) as client:
        for automation in client.read_automations_by_name(zombies.zombie_name(get_settings())):
            client.delete_automation(automation.id)


STUCK_RUN = """
import sys, time
from pathlib import Path

from prefect import flow, tags
from prefect.events.worker import EventsWorker


@flow
def stuck() -> None:
    time.sleep(2)  # the heartbeat thread sends its first beat as the run starts
    EventsWorker.instance().wait_until_empty()
    Path(sys.argv[2]).write_text("a heartbeat was sent")
    time.sleep(600)


with tags(sys.argv[1]):
    stuck()
"""


def wait_for(what: str, found: Callable[[], Any], seconds: float) -> Any:  # noqa: ANN401
    deadline = time.monotonic() + seconds
    while not (value := found()):
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        time.sleep(0.5)
    return value


# Slow: it waits out the automation's 10 s of silence, with a label and an automation of its
# own (the same in every project): `uv run pytest --run-slow` runs it, as the template's
# suite does once.
@pytest.mark.slow
def test_a_killed_flow_run_ends_crashed_on_a_real_server(
    prefect_api: str, project_tag: str, tmp_path: Path
) -> None:
    with get_client(sync_client=True) as client:
        alerts.upsert(client, zombies.zombie_automation(get_settings(), timedelta(seconds=10)))
    script, beat = tmp_path / "stuck.py", tmp_path / "beat"
    script.write_text(STUCK_RUN)
    stuck = subprocess.Popen(
        [sys.executable, str(script), project_tag, str(beat)],
        env=os.environ | {"PREFECT_API_URL": prefect_api},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def running(client: SyncPrefectClient) -> Any:  # noqa: ANN401 - a flow run or None
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[project_tag]))
        )
        return next((run for run in runs if run.state and run.state.is_running()), None)

    with get_client(sync_client=True) as client:
        run = wait_for("a running flow run", lambda: running(client), 120)
        wait_for("its first heartbeat", beat.exists, 60)
        stuck.send_signal(signal.SIGKILL)
        stuck.wait(timeout=30)
        assert client.read_flow_run(run.id).state.is_running(), "nothing else ends it"

        state = wait_for(
            "the Crashed state",
            lambda: (s := client.read_flow_run(run.id).state) and s.is_crashed() and s,
            180,
        )
    assert "No heartbeat" in str(state.message)


def test_make_alerts_installs_the_zombie_automation_whatever_the_channel(
    prefect_api: str, project_tag: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "none")

    assert main(["alerts"]) == 0
    assert main(["alerts"]) == 0

    with get_client(sync_client=True) as client:
        [automation] = client.read_automations_by_name(zombies.zombie_name(get_settings()))
    assert automation.trigger.within == zombies.SILENT_FOR
    assert automation.trigger.match_related.model_dump() == {
        "prefect.resource.role": "tag",
        "prefect.resource.id": f"prefect.tag.{project_tag}",
    }
    assert [action.state.value for action in automation.actions] == ["CRASHED"]


def test_every_deployment_beats_often_enough_for_the_zombie_automation() -> None:
    config = yaml.safe_load((PROJECT / "prefect.yaml").read_text(encoding="utf-8"))
    for deployment in config["deployments"]:
        env = deployment["work_pool"]["job_variables"]["env"]
        every = int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
        # Two beats missed in a row do not make a live run a zombie.
        assert timedelta(seconds=2 * every) < zombies.SILENT_FOR, deployment["name"]
