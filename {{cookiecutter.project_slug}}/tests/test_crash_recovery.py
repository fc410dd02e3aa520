"""A run killed at any moment: each day ends as it was or as that run would have published it.

A run killed during its publish leaves a plan in its staging prefix; the next run carries it out
to the end, but for a day a later run published meanwhile, which stays the later run's. Staging
left by runs that are gone is removed, locally and on S3; a staging prefix
whose run may still be alive is left alone. A flow run whose process died ends Crashed (the
zombie automation of `make alerts`, on a real Prefect server), not Running forever.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.states import Crashed

from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.operations import alerts, zombies
from prefect_polars_cloud.storage import publish
from prefect_polars_cloud.storage.leftovers import machine
from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

PROJECT = Path(__file__).resolve().parent.parent
FIRST, SECOND, THIRD = SAMPLE_DAYS
OUTPUTS = ("daily_report", "orders", "customers")

# Runs the flow over SECOND..THIRD and is killed mid-publish: SECOND is published whole, then
# THIRD's first {steps} step(s): its report alone, beside THIRD's old intermediates, is what a
# real kill -9 left (issue 18).
KILLED_RUN = """
import sys, time
from pathlib import Path

sys.path[:0] = [{project!r}]
from prefect_polars_cloud.storage import publish

carry_out_day, days = publish.publish_day, []


def publish_day_then_hang(store, steps, *rest):
    days.append(steps)
    if len(days) == 1:
        return carry_out_day(store, steps, *rest)
    carry_out_day(store, steps[:{steps}], *rest)
    Path(sys.argv[3]).write_text("paused mid-publish")
    time.sleep(600)


publish.publish_day = publish_day_then_hang
from flows.daily_report import daily_report

daily_report(start="{second}", end="{third}", source_uri=sys.argv[1], output_uri=sys.argv[2])
"""


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")


def with_new_customers(sample_dir: Path, target: Path) -> Path:
    """Return a copy of the sample inputs whose customers all changed segment."""
    shutil.copytree(sample_dir, target)
    customers = pl.read_ndjson(target / "customers.ndjson").with_columns(segment=pl.lit("vip"))
    customers.write_ndjson(target / "customers.ndjson")
    return target


def day_files(output: Path, day: date) -> dict[str, bytes]:
    """Return every published file of one day, all outputs, by path below the output."""
    return {
        str(path.relative_to(output)): path.read_bytes()
        for name in OUTPUTS
        for path in (output / name / f"date={day.isoformat()}").glob("*")
    }


def staged(output: Path) -> list[Path]:
    return [path for path in (output / "_staging").rglob("*") if path.is_file()]


def kill_mid_publish(prefect_api: str, new: Path, output: Path, tmp_path: Path, steps: int) -> None:
    """Run SECOND..THIRD from new into output; kill it after THIRD's first steps are published."""
    paused = tmp_path / "paused"
    script = tmp_path / "killed_run.py"
    script.write_text(
        KILLED_RUN.format(project=str(PROJECT), second=SECOND, third=THIRD, steps=steps)
    )
    environment = os.environ | {
        "PREFECT_API_URL": prefect_api,
        f"{ENV_PREFIX}COMPUTE_MODE": "local",
    }
    command = [sys.executable, str(script), str(new), str(output), str(paused)]
    kill_when_paused(command, environment, paused, "its publish")


def kill_when_paused(
    command: list[str], environment: dict[str, str], paused: Path, at: str
) -> None:
    """Run command until it writes the file paused, then kill it outright (kill -9)."""
    killed = subprocess.Popen(
        command,
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    while not paused.exists():
        assert killed.poll() is None, killed.communicate()[0]
        assert time.monotonic() < deadline, f"the run never reached {at}"
        time.sleep(0.2)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)


def test_a_run_killed_mid_publish_is_finished_by_the_next_run(
    local_mode: None, prefect_api: str, sample_dir: Path, tmp_path: Path
) -> None:
    output, new = tmp_path / "output", with_new_customers(sample_dir, tmp_path / "new")
    run = {"start": FIRST, "end": THIRD, "source_uri": str(sample_dir)}
    daily_report(**run, output_uri=str(output))
    daily_report(**run, output_uri=str(tmp_path / "old-expected"))
    daily_report(
        start=SECOND, end=THIRD, source_uri=str(new), output_uri=str(tmp_path / "new-expected")
    )
    kill_mid_publish(prefect_api, new, output, tmp_path, steps=1)  # THIRD's report only

    # What the kill left: THIRD's new report beside its old intermediates.
    assert day_files(output, SECOND) == day_files(tmp_path / "new-expected", SECOND)
    old = day_files(tmp_path / "old-expected", THIRD)
    new_third = day_files(tmp_path / "new-expected", THIRD)
    for path, content in day_files(output, THIRD).items():
        expected = new_third if path.startswith("daily_report/") else old
        assert content == expected[path], path
    assert day_files(output, THIRD) != new_third
    assert any(path.name == publish.PLAN for path in staged(output))

    daily_report(start=FIRST, source_uri=str(sample_dir), output_uri=str(output))

    for day in (SECOND, THIRD):
        assert day_files(output, day) == day_files(tmp_path / "new-expected", day), day
    assert day_files(output, FIRST) == day_files(tmp_path / "old-expected", FIRST)
    assert staged(output) == [], "the killed run's staging is gone"


def test_a_day_a_later_run_published_is_left_as_it_when_a_killed_runs_plan_is_finished(
    local_mode: None, prefect_api: str, sample_dir: Path, tmp_path: Path
) -> None:
    output, new = tmp_path / "output", with_new_customers(sample_dir, tmp_path / "new")
    daily_report(start=FIRST, end=THIRD, source_uri=str(sample_dir), output_uri=str(output))
    old_third = day_files(output, THIRD)
    daily_report(
        start=SECOND, end=THIRD, source_uri=str(new), output_uri=str(tmp_path / "new-expected")
    )
    # Run A: SECOND published from the new inputs, then killed before THIRD's first step.
    kill_mid_publish(prefect_api, new, output, tmp_path, steps=0)
    [prefix] = [path for path in (output / "_staging").iterdir() if path.is_dir()]
    marker = json.loads((prefix / "_run.json").read_text())
    # A ran on another machine, and its flow run is still Running: B leaves A's plan alone.
    (prefix / "_run.json").write_text(json.dumps(marker | {"machine": "another-host"}))

    # Run B publishes THIRD from the old inputs, whole.
    daily_report(start=THIRD, source_uri=str(sample_dir), output_uri=str(output))
    assert (prefix / publish.PLAN).exists(), "B left A's plan alone"
    assert day_files(output, THIRD) == old_third

    # A's flow run ends Crashed (the zombie automation), so run C finishes A's plan.
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(uuid.UUID(marker["flow_run_id"]), Crashed(), force=True)
    daily_report(start=FIRST, source_uri=str(sample_dir), output_uri=str(output))

    assert not prefix.exists(), "C finished A's plan and removed its staging"
    assert day_files(output, THIRD) == old_third, "B's day stays B's"
    assert day_files(output, SECOND) == day_files(tmp_path / "new-expected", SECOND)


def test_a_publish_cut_short_on_s3_is_finished_once_its_run_has_failed(
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: str,
    cloud_sim: PolarsCloudSimulator,
    s3_data: str,
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")
    raw, reports = f"{s3_data}/raw", f"{s3_data}/reports"
    daily_report(start=FIRST, end=THIRD, source_uri=raw, output_uri=reports)
    new = with_new_customers(sample_dir, tmp_path / "new")
    bucket = s3_data.removeprefix("s3://")
    boto3.client("s3").upload_file(str(new / "customers.ndjson"), bucket, "raw/customers.ndjson")
    daily_report(start=SECOND, end=THIRD, source_uri=raw, output_uri=f"{s3_data}/expected")
    carry_out_day, days = publish.publish_day, []

    def publish_day_then_fail(store: Any, steps: list[publish.Step], again: bool) -> None:  # noqa: ANN401
        days.append(steps)
        carry_out_day(store, steps if len(days) == 1 else steps[:1], again)
        if len(days) == 2:
            raise OSError("the network went away")

    monkeypatch.setattr(publish, "publish_day", publish_day_then_fail)
    with pytest.raises(OSError, match="network went away"):
        daily_report(start=SECOND, end=THIRD, source_uri=raw, output_uri=reports)
    monkeypatch.setattr(publish, "publish_day", carry_out_day)
    assert any(key.endswith(publish.PLAN) for key in keys(s3_data, "reports/_staging/"))

    # This process (the failed run's) is alive: its flow run's end says the run is gone.
    daily_report(start=FIRST, source_uri=raw, output_uri=reports)

    for day in (SECOND, THIRD):
        for name in OUTPUTS:
            partition = f"{name}/date={day.isoformat()}/"
            assert pl.read_parquet(f"{reports}/{partition}").equals(
                pl.read_parquet(f"{s3_data}/expected/{partition}")
            ), partition
    assert keys(s3_data, "reports/_staging/") == []


def keys(s3_data: str, prefix: str) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(
        Bucket=s3_data.removeprefix("s3://"), Prefix=prefix
    )
    return sorted(item["Key"] for item in listing.get("Contents", []))


def put_json(s3_data: str, key: str, document: dict[str, Any]) -> None:
    bucket = s3_data.removeprefix("s3://")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())


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
        ended = client.create_flow_run(flow=daily_report, state=Crashed())
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

    daily_report(start=FIRST, source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    left = {key.split("/")[2] for key in keys(s3_data, "reports/_staging/")}
    assert left == {f"{stamp}-unknown0", f"{stamp}-alive000"}


def test_a_stale_local_staging_prefix_is_removed_after_its_expiry(
    local_mode: None, monkeypatch: pytest.MonkeyPatch, sample_dir: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}STAGING_EXPIRY_HOURS", "1")
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    stale = tmp_path / "_staging" / f"{two_hours_ago}-0ld00000" / "orders"
    stale.mkdir(parents=True)
    (stale / "part.parquet").write_bytes(b"staged")

    daily_report(start=FIRST, source_uri=str(sample_dir), output_uri=str(tmp_path))

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
