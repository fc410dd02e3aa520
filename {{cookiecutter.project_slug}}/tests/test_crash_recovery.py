"""A run killed at any moment: each day ends as it was or as that run would have published it.

A run killed during its publish leaves a plan in its staging prefix; the next run carries it out
to the end, but for a day a later run published meanwhile, which stays the later run's. Staging
and leftovers of runs that are gone, for any pipeline, are test_leftovers.py's; these are the
example's, with inputs that change between the runs.
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
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
from prefect.client.orchestration import get_client
from prefect.states import Crashed

from prefect_polars_cloud.storage import publish
from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

# Slow (runs killed in processes of their own, each importing Prefect): `make test-all` and CI
# run them; test_pipeline.py kills one publish of every project's first flow in `make test`.
pytestmark = pytest.mark.slow

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
