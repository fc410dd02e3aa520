"""Stopping a run, in a process of its own: SIGTERM or Ctrl-C at any moment, and `kill -9`.

Each test signals a real process and checks what it leaves: every cluster requested is stopped,
every query in flight cancelled, the previous output intact, no server left holding its port.
How long a stop takes is measured by bench/stops.py, not here; the bounds below only keep a
hung run from hanging the suite (the bugs they guard against took minutes, or forever).
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest

from prefect_polars_cloud import Datasets
from prefect_polars_cloud.operations.names import declared_flows
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET
from prefect_polars_cloud.testing.servers import database_template
from prefect_polars_cloud.testing.signals import SignalRunner, call_names, read_calls

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

PROJECT = Path(__file__).resolve().parent.parent
SANITY_S = 60  # far above a stop's seconds, far below a boot's minutes (the signal runner's)
# Asserted for every entry: far above the 10 s a stop must take (bench/stops.py measures it),
# far below what the bugs took (a dead Prefect API retried for ~70 s, a boot waited for 120 s).
EXIT_BOUND_S = 30
BOOT_S = 120  # a simulated boot: what a stop must not wait for
FLOW_SCRIPT = "prefect_polars_cloud.testing.flow_script"


def datasets_of(module: str) -> list[Datasets]:
    """Return the Datasets a module of flows/ holds (those its flow passes to daily_run)."""
    loaded = importlib.import_module(f"flows.{module}")
    return [value for value in vars(loaded).values() if isinstance(value, Datasets)]


def stop_flow() -> str:
    """Return the module of flows/ the stop tests run: the first that reads no other's output.

    How a run stops is the library's, the same for every flow: one flow stands for them all. A
    flow that reads another flow's output (from_output) has nothing to read on raw/ alone.
    """
    modules = sorted({flow.module for flow in declared_flows(PROJECT / "flows")})
    for module in modules:
        declared = datasets_of(module)
        if not any(
            item.from_output is not None and not datasets.reads_own_output(item)
            for datasets in declared
            for item in datasets.daily_inputs
        ):
            return module
    return modules[0]


@dataclass(frozen=True)
class Probe:
    """What a first simulated run of the stop flow did: the stop tests' expectations."""

    booting: int  # clusters requested before the first query: those a stop finds booting
    hung: str  # the preset of the first query: --hang makes its queries run until cancelled


_PROBES: dict[str, Probe] = {}


def probe(prefect_api: str | None, s3_data: str, tmp_path: Path) -> Probe:
    """Run the stop flow once on the simulator (once a session) and read what it asked for.

    Read from a run rather than from the flow's source: a preset may be a variable, started by
    run.start() or on a task's first query, or never on days without rows; the simulator's log
    of a real run knows. The boot takes a few seconds, so every cluster started side by side is
    requested before the first query. The run's published output is removed afterwards.
    """
    flow = stop_flow()
    if flow not in _PROBES:
        calls = tmp_path / "probe" / "calls.jsonl"
        calls.parent.mkdir()
        command = [sys.executable, "-m", FLOW_SCRIPT, str(calls), s3_data, "--flow", flow]
        command += ["--boot-seconds", "3"]
        environment = cloud_environment(prefect_api, calls)
        done = subprocess.run(
            command, cwd=PROJECT, env=environment, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, (
            f"flows/{flow}.py on the simulator:\n{done.stdout}{done.stderr}"
        )
        logged = read_calls(calls)
        queries = [c for c in logged if c["name"] == "do_query"]
        if not queries:
            pytest.skip(f"flows/{flow}.py sent no query on the sample data: add rows it reads")
        first = logged.index(queries[0])
        booting = sum(c["name"] == "start_compute" for c in logged[:first])
        _PROBES[flow] = Probe(booting=booting, hung=queries[0]["preset"])
        bucket = boto3.resource("s3").Bucket(s3_data.removeprefix("s3://"))
        bucket.objects.filter(Prefix="reports/").delete()
    return _PROBES[flow]


def cloud_environment(prefect_api: str | None, calls: Path) -> dict[str, str]:
    """The environment of a run in cloud mode on the simulator, with its own Prefect home.

    The temporary server's database (in that home) starts as a copy of the test servers'
    migrated one when there is one, and no block types are registered (the env backend reads
    none): what a stop does is the same, its boot about 8 s of CPU shorter.
    """
    home = calls.parent / "prefect-home"
    template = database_template()
    if template.is_file() and not (home / "prefect.db").exists():
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, home / "prefect.db")
    environment = os.environ | {
        f"{ENV_PREFIX}COMPUTE_MODE": "cloud",
        f"{ENV_PREFIX}SECRET_BACKEND": "env",
        "POLARS_CLOUD_CLIENT_ID": CLIENT_ID,
        "POLARS_CLOUD_CLIENT_SECRET": CLIENT_SECRET,
        "PREFECT_HOME": str(home),
        "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
        # Its default 20 s to start is short on a busy two-core machine.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    }
    environment.pop("PREFECT_API_URL", None)
    if prefect_api:
        environment["PREFECT_API_URL"] = prefect_api
    return environment


def start_cloud_run(
    runner: SignalRunner,
    prefect_api: str | None,
    s3_data: str,
    calls: Path,
    *options: str,
    repl: bool = False,
) -> subprocess.Popen[str]:
    """Start the stop flow called from a script (testing/flow_script.py) in a session of its own.

    prefect_api None: no PREFECT_API_URL, so Prefect starts its temporary server, in the run's
    process group (a signal to the group reaches it too, as a terminal's Ctrl-C does). repl:
    `python -i`, a person's interpreter (as a notebook's kernel is), reading its standard input.
    """
    environment = cloud_environment(prefect_api, calls)
    interactive = ["-i"] if repl else []
    command = [sys.executable, *interactive, "-m", FLOW_SCRIPT, str(calls), s3_data]
    command += ["--flow", stop_flow(), *options]
    return runner.start(command, cwd=PROJECT, env=environment, stdin=repl)


def assert_stopped_cleanly(output: str, seconds: float, signum: int) -> None:
    """One INTERRUPTED line naming the signal, no traceback after it, an exit within bounds."""
    lines = [line for line in output.splitlines() if line.startswith("INTERRUPTED")]
    assert len(lines) == 1, output
    assert signal.Signals(signum).name in lines[0], output
    after = output[output.index(lines[0]) :]
    assert "Traceback" not in after, output
    assert seconds < EXIT_BOUND_S, f"exited {seconds:.1f} s after the signal:\n{output}"


def assert_every_cluster_stopped(calls: Path, booting: bool | None = None) -> list[dict[str, Any]]:
    """Every cluster requested got its stop (while booting, if asked); return the stops."""
    logged = read_calls(calls)
    started = sorted(c["preset"] for c in logged if c["name"] == "start_compute")
    stops = [c for c in logged if c["name"] == "stop_compute_cluster"]
    assert started and sorted(c["preset"] for c in stops) == started, logged
    if booting is not None:
        assert all(not c["booted"] for c in stops) == booting, f"stopped while booting: {stops}"
    return stops


def booted(calls: Path, expected: Probe) -> bool:
    """Every cluster the probe saw requested before its first query is requested."""
    return call_names(calls).count("start_compute") == expected.booting


def queries_in_flight(calls: Path) -> bool:
    """A query runs, and every query sent has been polled once (none is still being sent)."""
    called = call_names(calls)
    return 0 < called.count("first status poll") == called.count("do_query")


def assert_every_query_cancelled(calls: Path, output: str) -> None:
    """Every query that ran was cancelled, before any cluster was stopped."""
    called = call_names(calls)
    assert called.count("cancel_direct_query") == called.count("first status poll") > 0, output
    assert called.index("cancel_direct_query") < called.index("stop_compute_cluster"), output


# Slow, like the cloud run's Ctrl-C below: a simulated run of the flow to learn what to wait
# for, then the run to signal, each a process importing Prefect. `make test-all` and CI run
# them; the local Ctrl-C below stays in `make test`.
@pytest.mark.slow
def test_sigterm_while_clusters_boot_stops_them_without_waiting_for_the_boot(
    aws: str, prefect_api: str, s3_data: str, tmp_path: Path, signal_runner: SignalRunner
) -> None:
    # A worker's run, or `make run` with PREFECT_API_URL: a live server, SIGTERM to the run.
    expected = probe(prefect_api, s3_data, tmp_path)
    calls = tmp_path / "calls.jsonl"
    run = start_cloud_run(signal_runner, prefect_api, s3_data, calls, "--boot-seconds", str(BOOT_S))
    signal_runner.wait_until(run, lambda: booted(calls, expected))

    output, seconds = signal_runner.signal(run, signal.SIGTERM)

    assert run.returncode != 0, output
    assert_stopped_cleanly(output, seconds, signal.SIGTERM)
    assert_every_cluster_stopped(calls, booting=True)


@pytest.mark.slow
def test_ctrl_c_while_cloud_queries_run_cancels_them_and_stops_every_cluster(
    aws: str, prefect_api: str, s3_data: str, tmp_path: Path, signal_runner: SignalRunner
) -> None:
    # The first query's preset hangs: its queries run in task threads, the main thread waits
    # (in the example, in Prefect's wait()), where Polars' own SIGINT handler used to make
    # Ctrl-C wait too.
    hung = probe(prefect_api, s3_data, tmp_path).hung
    calls = tmp_path / "calls.jsonl"
    run = start_cloud_run(signal_runner, prefect_api, s3_data, calls, "--hang", hung)
    signal_runner.wait_until(run, lambda: queries_in_flight(calls))

    output, seconds = signal_runner.signal(run, signal.SIGINT)

    assert run.returncode != 0, output
    assert_stopped_cleanly(output, seconds, signal.SIGINT)
    assert_every_query_cancelled(calls, output)
    assert_every_cluster_stopped(calls)


LOCAL_RUNNER = """
import sys
from concurrent.futures import ThreadPoolExecutor

import polars as pl

from prefect_polars_cloud.compute.session import ComputeSession
from prefect_polars_cloud.local.interrupts import exit_code, stop_on_signals
from {{ cookiecutter.package_name }}.settings import Settings

rows, target = sys.argv[1], sys.argv[2]
# Minutes of streaming work in bounded memory: one file read thousands of times.
query = pl.scan_csv([rows] * 5000).group_by(pl.col("a").mod(7).alias("k")).agg(pl.col("a").sum())
with stop_on_signals() as received:  # what `make run` does
    try:
        # As in a flow run: Prefect's task runner joins its threads on the way out, and the
        # main thread waits for a task whose query runs in one of them.
        with ThreadPoolExecutor(thread_name_prefix="task") as tasks:
            with ComputeSession(Settings(compute_mode="local")) as compute:
                running = tasks.submit(compute.sink_parquet, query, target, "large")
                print("running", flush=True)
                running.result()
    except KeyboardInterrupt:
        print("INTERRUPTED")
        sys.exit(exit_code(received))
"""


def test_ctrl_c_during_a_local_query_exits_without_it_and_keeps_the_previous_file(
    tmp_path: Path, signal_runner: SignalRunner
) -> None:
    rows, target = tmp_path / "rows.csv", tmp_path / "out" / "report.parquet"
    pl.DataFrame({"a": range(1_000_000)}).write_csv(rows)
    target.parent.mkdir()
    target.write_bytes(b"the previous report")
    script = tmp_path / "local_run.py"
    script.write_text(LOCAL_RUNNER)
    run = subprocess.Popen(
        [sys.executable, str(script), str(rows), str(target)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    assert run.stdout.readline() == "running\n"
    signal_runner.wait_until(run, lambda: any(target.parent.glob(".*.partial")))
    time.sleep(1)  # the query is well under way

    output, _ = signal_runner.signal(run, signal.SIGINT)  # the query itself takes minutes

    assert run.returncode == 128 + signal.SIGINT, output
    assert "INTERRUPTED" in output
    assert target.read_bytes() == b"the previous report"
    assert [p.name for p in target.parent.iterdir()] == ["report.parquet"], "no .partial left"


SERVER_RUNNER = """
import time

from prefect_polars_cloud.local.server import local_prefect_api

with local_prefect_api() as url:
    print(url, flush=True)
    time.sleep(600)
"""


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# Slow: a real `prefect server start`, and nothing of this project in it (the same in every
# project): `uv run pytest --run-slow` runs it, as the template's suite does once.
@pytest.mark.slow
def test_a_local_server_stops_when_its_run_is_killed_outright(tmp_path: Path) -> None:
    script = tmp_path / "server_run.py"
    script.write_text(SERVER_RUNNER)
    run = subprocess.Popen(
        [sys.executable, str(script)], cwd=PROJECT, stdout=subprocess.PIPE, text=True
    )
    assert run.stdout is not None
    url = run.stdout.readline().strip()  # printed once the server answers
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    assert listening(port), url

    run.kill()  # kill -9: nothing in the run gets to stop its server
    run.wait()

    deadline = time.monotonic() + SANITY_S
    while listening(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = servers_on(port) if listening(port) else []
    for pid in orphans:  # a failure must not leave the orphan behind
        os.kill(pid, signal.SIGKILL)
    assert not orphans, f"the server at {url} outlived its run"


def servers_on(port: int) -> list[int]:
    """Return the processes whose command line names --port PORT (Linux's /proc; else none)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in words and str(port).encode() in words:
            found.append(int(entry.name))
    return found
