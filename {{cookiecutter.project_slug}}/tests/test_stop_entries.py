"""Every way of starting a run stops the same: the entries and phases test_stops.py leaves out.

The run, not its entry point, owns its stops (prefect_polars_cloud/run/stops.py). Each test
starts the flow as a user would (a script on Prefect's temporary server, a script whose Prefect
API dies with the signal, `make run CLOUD=sim`, `python flows/<flow>.py`), signals it in one
phase (boot, query, publish) and checks what it left: one INTERRUPTED line and no traceback, an
exit within bounds, every cluster stopped, every query cancelled, each published day as it was
or as the run meant it. Slow: each starts Prefect and Polars in a process of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import boto3
import pytest

from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.signals import SignalRunner, call_names

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from .test_stops import (
    BOOT_S,
    PROJECT,
    SANITY_S,
    assert_every_cluster_stopped,
    assert_every_query_cancelled,
    assert_stopped_cleanly,
    booted,
    datasets_of,
    probe,
    queries_in_flight,
    start_cloud_run,
    stop_flow,
)

pytestmark = pytest.mark.slow
OLD = "from-the-previous-run.parquet"


def test_a_script_on_prefects_temporary_server_stops_its_booting_clusters_on_sigterm(
    aws: str, s3_data: str, tmp_path: Path, signal_runner: SignalRunner
) -> None:
    # SIGTERM to the process group, as a container stop sends: the temporary server dies too,
    # and Prefect's state reports to it used to be retried for ~70 s before the run exited.
    expected = probe(None, s3_data, tmp_path)
    calls = tmp_path / "calls.jsonl"
    run = start_cloud_run(signal_runner, None, s3_data, calls, "--boot-seconds", str(BOOT_S))
    signal_runner.wait_until(run, lambda: booted(calls, expected))

    output, seconds = signal_runner.signal(run, signal.SIGTERM, group=True)

    assert_stopped_cleanly(output, seconds, signal.SIGTERM)
    assert_every_cluster_stopped(calls, booting=True)


def test_a_script_on_prefects_temporary_server_cancels_its_queries_on_ctrl_c(
    aws: str, s3_data: str, tmp_path: Path, signal_runner: SignalRunner
) -> None:
    hung = probe(None, s3_data, tmp_path).hung
    calls = tmp_path / "calls.jsonl"
    run = start_cloud_run(signal_runner, None, s3_data, calls, "--hang", hung)
    signal_runner.wait_until(run, lambda: queries_in_flight(calls))

    output, seconds = signal_runner.signal(run, signal.SIGINT, group=True)

    assert_stopped_cleanly(output, seconds, signal.SIGINT)
    assert_every_query_cancelled(calls, output)
    assert_every_cluster_stopped(calls)


def test_in_a_repl_or_a_notebook_ctrl_c_stops_the_compute_and_keeps_the_interpreter(
    aws: str, s3_data: str, tmp_path: Path, signal_runner: SignalRunner
) -> None:
    # A notebook's interrupt is a SIGINT to its kernel alone: the compute must stop, the
    # kernel (here `python -i`) must live on, with the interruption raised as Python does.
    hung = probe(None, s3_data, tmp_path).hung
    calls = tmp_path / "calls.jsonl"
    run = start_cloud_run(signal_runner, None, s3_data, calls, "--hang", hung, repl=True)
    signal_runner.wait_until(run, lambda: queries_in_flight(calls))

    run.send_signal(signal.SIGINT)
    stopping = call_names(calls).count("start_compute")
    signal_runner.wait_until(
        run, lambda: call_names(calls).count("stop_compute_cluster") == stopping
    )
    time.sleep(5)  # past the 3 s after which a script's process would have been ended
    assert run.poll() is None, "the interpreter was ended"
    output, _ = run.communicate("print('still' + ' here')\n", timeout=SANITY_S)

    assert "INTERRUPTED: SIGINT" in output, output
    assert "KeyboardInterrupt" in output, output
    assert "still here" in output, output
    assert_every_query_cancelled(calls, output)
    assert_every_cluster_stopped(calls)


def test_a_run_whose_prefect_api_dies_with_the_signal_still_stops_every_cluster(
    aws: str,
    s3_data: str,
    dying_api: subprocess.Popen[str],
    tmp_path: Path,
    signal_runner: SignalRunner,
) -> None:
    # Production's worst case: the server (or the network to it) goes as the pod is stopped.
    expected = probe(None, s3_data, tmp_path)
    assert dying_api.stdout is not None
    api = dying_api.stdout.readline().strip()
    calls = tmp_path / "calls.jsonl"
    run = start_cloud_run(signal_runner, api, s3_data, calls, "--boot-seconds", str(BOOT_S))
    signal_runner.wait_until(run, lambda: booted(calls, expected))

    dying_api.kill()
    output, seconds = signal_runner.signal(run, signal.SIGTERM)

    assert_stopped_cleanly(output, seconds, signal.SIGTERM)
    assert_every_cluster_stopped(calls, booting=True)


def day_files(bucket: str) -> dict[str, set[str]]:
    """Return each published day folder of the report and the files in it."""
    s3 = boto3.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/")
    days: dict[str, set[str]] = {}
    for page in pages:
        for item in page.get("Contents", []):
            *folder, name = item["Key"].split("/")
            if not any(part.startswith("_") for part in folder):  # staging, stamps
                days.setdefault("/".join(folder), set()).add(name)
    return days


def test_sigterm_while_publishing_leaves_each_day_as_it_was_or_as_the_run_meant_it(
    aws: str, prefect_api: str, s3_data: str, tmp_path: Path, signal_runner: SignalRunner
) -> None:
    bucket = s3_data.removeprefix("s3://")
    start, end = SAMPLE_DAYS[0].isoformat(), SAMPLE_DAYS[-1].isoformat()
    first = start_cloud_run(
        signal_runner, prefect_api, s3_data, tmp_path / "first.jsonl", "--end", end
    )
    assert first.wait(timeout=300) == 0, first.communicate()[0]
    new = day_files(bucket)  # what a run of these days publishes
    # The runs are idempotent, so the files' names cannot tell an old day from a new one: a
    # file only the old version has can (a publish makes a day hold exactly the run's files).
    s3 = boto3.client("s3")
    for day in new:
        s3.put_object(Bucket=bucket, Key=f"{day}/{OLD}", Body=b"the previous run's")
    calls = tmp_path / "calls.jsonl"
    run = start_cloud_run(
        signal_runner,
        prefect_api,
        s3_data,
        calls,
        "--start",
        start,
        "--end",
        end,
        "--slow-publish",
        "2",
    )
    signal_runner.wait_until(run, lambda: "publish day" in call_names(calls))
    time.sleep(2.5)  # the first day is published, the second is about to be

    output, seconds = signal_runner.signal(run, signal.SIGTERM)

    assert_stopped_cleanly(output, seconds, signal.SIGTERM)
    assert "while publishing: its compute had already stopped" in output, output
    after = day_files(bucket)
    assert after.keys() == new.keys(), "no day folder appeared or went"
    old = {day for day, files in after.items() if files == new[day] | {OLD}}
    published = {day for day, files in after.items() if files == new[day]}
    assert old | published == set(new), f"each day whole, old or new: {after}"
    assert published, "the first day was published before the signal"
    assert old, "the days after it were left as they were"


def start_locally(
    runner: SignalRunner, command: list[str], cwd: Path, log: Path
) -> subprocess.Popen[str]:
    """Start a command as on a fresh machine: Prefect's temporary server, no cloud, no S3."""
    environment = os.environ | {
        "PREFECT_HOME": str(cwd / "prefect-home"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    for name in ("PREFECT_API_URL", f"{ENV_PREFIX}COMPUTE_MODE", "AWS_ENDPOINT_URL"):
        environment.pop(name, None)
    return runner.start(command, cwd=cwd, env=environment, log=log)


def a_project_copy(tmp_path: Path) -> Path:
    """A working directory with the project's flows and presets and a data/ of its own."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("flows", "presets.toml", "src"):
        (work / name).symlink_to(PROJECT / name)
    return work


def test_make_run_cloud_sim_stops_on_ctrl_c_while_its_queries_run(
    tmp_path: Path, signal_runner: SignalRunner
) -> None:
    work, log = a_project_copy(tmp_path), tmp_path / "run.log"
    simulated_run = "prefect_polars_cloud.testing.simulated_run"
    command = [sys.executable, "-m", simulated_run, "--flow", stop_flow(), "--days", "1"]
    command += ["--rows", "3000000"]
    run = start_locally(signal_runner, command, work, log)
    signal_runner.wait_until(run, lambda: "Beginning flow run" in log.read_text())
    time.sleep(1)  # the queries are under way (seconds each at 3M rows)

    output, seconds = signal_runner.signal(run, signal.SIGINT, group=True)

    assert_stopped_cleanly(output, seconds, signal.SIGINT)
    presets = tomllib.loads((PROJECT / "presets.toml").read_text(encoding="utf-8"))
    assert any(f"stopped the {preset}" in output for preset in presets), output
    assert "nothing was published" in output, output


def test_python_flows_module_stops_a_local_run_on_sigterm_and_keeps_the_output(
    tmp_path: Path, signal_runner: SignalRunner
) -> None:
    work, log = a_project_copy(tmp_path), tmp_path / "run.log"
    flow = stop_flow()
    report = datasets_of(flow)[0].report.name  # where a run writes what it reports
    previous = work / "data" / "output" / report / "previous.txt"
    previous.parent.mkdir(parents=True)
    previous.write_text("the previous report")
    command = [sys.executable, f"flows/{flow}.py", "--days", "1", "--rows", "3000000"]
    run = start_locally(signal_runner, command, work, log)
    signal_runner.wait_until(run, lambda: "Beginning flow run" in log.read_text())
    time.sleep(1)

    output, seconds = signal_runner.signal(run, signal.SIGTERM, group=True)

    assert_stopped_cleanly(output, seconds, signal.SIGTERM)
    assert "nothing was published" in output, output
    output_dir = work / "data" / "output"
    published = sorted(
        path.relative_to(output_dir).as_posix()
        for path in output_dir.rglob("*")
        if path.is_file() and "_staging" not in path.parts
    )
    assert published == [f"{report}/previous.txt"], published
