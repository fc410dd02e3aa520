"""Stopping a deployment's run: the flow served by `flow.serve()`, and run by a process worker.

The entries of issue 23's matrix that run the flow in a process of their own: Prefect's Runner
(which `flow.serve()` starts) runs each flow run in a multiprocessing "spawn" child, the process
worker in `python -m prefect.engine` in a session of its own. No monkeypatch reaches them:
tests/sim_site/sitecustomize.py installs the simulator there (SIM_CALLS, SIM_BOOT_SECONDS). Each
test creates a run of the deployment through the session's Prefect API, stops it while its
clusters boot, and checks what test_stops.py checks of a script: one INTERRUPTED line and no
traceback, the flow run's process gone within EXIT_BOUND_S, every cluster stopped while booting,
and a run the API no longer shows as Running. Slow: a runner or a worker and a flow run, each a
process that imports Prefect and Polars.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from uuid import UUID

import cloudpickle
import pytest
from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectNotFound
from prefect.states import Cancelling
from prefect.workers.process import ProcessWorker

from prefect_polars_cloud.local.runner import load_flow
from prefect_polars_cloud.operations.names import declared_flows
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET, SAMPLE_DAYS
from prefect_polars_cloud.testing.signals import SignalRunner

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from .test_stops import (
    BOOT_S,
    PROJECT,
    SANITY_S,
    assert_every_cluster_stopped,
    assert_stopped_cleanly,
    booted,
    probe,
    stop_flow,
)

pytestmark = pytest.mark.slow
SIM_SITE = Path(__file__).resolve().parent / "sim_site"
ENDED = {"CRASHED", "CANCELLED", "FAILED"}  # what a stopped run may be; never RUNNING
# What a flow run's process runs: the Runner's spawn child, or the worker's engine.
FLOW_RUN_COMMANDS = (b"spawn_main", b"prefect.engine")

SERVE_RUNNER = """
import sys

from prefect_polars_cloud.local.runner import load_flow

if __name__ == "__main__":  # the Runner's spawn child imports this file again
    flow = load_flow(sys.argv[2])
    flow.serve(name=sys.argv[1], pause_on_shutdown=False, print_starting_message=False)
"""


def served_environment(api: str, calls: Path) -> dict[str, str]:
    """The environment of a runner or a worker whose flow runs use the simulator."""
    return os.environ | {  # the aws fixture's AWS_* too
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(calls.parent / "prefect-home"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",  # the Runner picks a run up within a second
        "PYTHONPATH": os.pathsep.join([str(SIM_SITE), str(PROJECT)]),
        "SIM_CALLS": str(calls),
        "SIM_BOOT_SECONDS": str(BOOT_S),
        f"{ENV_PREFIX}COMPUTE_MODE": "cloud",
        f"{ENV_PREFIX}SECRET_BACKEND": "env",
        "POLARS_CLOUD_CLIENT_ID": CLIENT_ID,
        "POLARS_CLOUD_CLIENT_SECRET": CLIENT_SECRET,
    }


def processes_of(calls: Path) -> dict[int, bytes]:
    """Return the live processes started for a test (they carry its SIM_CALLS): their commands."""
    marker = f"SIM_CALLS={calls}".encode()
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker in environ and state != "Z":  # a zombie has ended: its parent reaps it
            found[int(entry.name)] = command
    return found


def flow_run_process(calls: Path) -> int:
    """Return the pid of the flow run's process."""
    pids = [
        pid
        for pid, command in processes_of(calls).items()
        if any(word in command for word in FLOW_RUN_COMMANDS)
    ]
    assert len(pids) == 1, processes_of(calls)
    return pids[0]


def wait_for(ready: Callable[[], bool], what: str, alive: subprocess.Popen[str], log: Path) -> None:
    """Poll ready() while `alive` runs (a busy machine may take a minute); fail after SANITY_S."""
    deadline = time.monotonic() + SANITY_S
    while not ready():
        assert alive.poll() is None, f"ended before {what}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"never {what}:\n{log.read_text()}"
        time.sleep(0.2)


def seconds_until_gone(pid: int, calls: Path, since: float) -> float:
    """Return how long after `since` the process ended (SANITY_S at most)."""
    deadline = since + SANITY_S
    while pid in processes_of(calls) and time.monotonic() < deadline:
        time.sleep(0.1)
    return time.monotonic() - since


def run_of(deployment_id: UUID, s3_data: str, api: str | None = None) -> UUID:
    """Create a run of the deployment, as a schedule or `prefect deployment run` does.

    api: the Prefect API the run reports to, if not its worker's (a job variable).
    """
    parameters = {
        "start": SAMPLE_DAYS[0].isoformat(),
        "source_uri": f"{s3_data}/raw",
        "output_uri": f"{s3_data}/reports",
    }
    with get_client(sync_client=True) as client:
        return client.create_flow_run_from_deployment(
            deployment_id,
            parameters=parameters,
            job_variables={"env": {"PREFECT_API_URL": api}} if api else None,
        ).id


def state_of(flow_run_id: UUID, seconds: float = 15) -> str:
    """Return the run's state type once it ended (or whatever it is after seconds)."""
    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while True:
            state = client.read_flow_run(flow_run_id).state
            kind = state.type.value if state else "NONE"
            if kind in ENDED or time.monotonic() > deadline:
                return kind
            time.sleep(0.5)


@pytest.fixture
def calls(tmp_path: Path) -> Iterator[Path]:
    """The simulator's log; afterwards, every process that carries it is killed."""
    log = tmp_path / "calls.jsonl"
    yield log
    for pid in processes_of(log):  # the runner, the worker, a flow run in a session of its own
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_served_flows_keep_their_parameter_types() -> None:
    # `flow.serve()` runs each flow run in a spawn child that unpickles the flow: cloudpickle
    # pickles the flow's function by value (its module holds the Flow, not the function), with
    # only the globals its code names. String annotations (`from __future__ import
    # annotations`) naming `date`, which the code never names, left Prefect's parameter model
    # unresolvable: every served run failed with "`Daily_ReportModel` is not fully defined".
    for module in sorted({flow.module for flow in declared_flows(PROJECT / "flows")}):
        served = cloudpickle.loads(cloudpickle.dumps(load_flow(module, PROJECT / "flows")))
        served.validate_parameters({"start": SAMPLE_DAYS[0].isoformat()})


def test_a_served_flow_stops_its_booting_clusters_when_its_container_stops(
    aws: str,
    prefect_api: str,
    s3_data: str,
    calls: Path,
    tmp_path: Path,
    signal_runner: SignalRunner,
) -> None:
    # `python serve.py` in a container: its stop sends SIGTERM to the whole process group, the
    # Runner (which then cancels its runs) and the flow run's spawn child alike.
    expected = probe(prefect_api, s3_data, tmp_path)
    flow = load_flow(stop_flow(), PROJECT / "flows")
    log, script = tmp_path / "serve.log", tmp_path / "serve.py"
    script.write_text(SERVE_RUNNER)
    name = f"stops-{tmp_path.name}"
    environment = served_environment(prefect_api, calls)
    command = [sys.executable, str(script), name, stop_flow()]
    served = signal_runner.start(command, cwd=PROJECT, env=environment, log=log)
    with get_client(sync_client=True) as client:

        def deployed() -> bool:
            try:
                client.read_deployment_by_name(f"{flow.name}/{name}")
            except ObjectNotFound:
                return False
            return True

        wait_for(deployed, "deployed the flow", served, log)
        deployment = client.read_deployment_by_name(f"{flow.name}/{name}")
    flow_run_id = run_of(deployment.id, s3_data)
    wait_for(lambda: booted(calls, expected), "booted", served, log)
    pid = flow_run_process(calls)

    sent = time.monotonic()
    os.killpg(served.pid, signal.SIGTERM)
    seconds = seconds_until_gone(pid, calls, sent)
    served.wait(timeout=SANITY_S)

    output = log.read_text()
    assert_stopped_cleanly(output, seconds, signal.SIGTERM)
    assert_every_cluster_stopped(calls, booting=True)
    assert state_of(flow_run_id) in ENDED, output


def deploy_on_a_process_pool(pool: str) -> UUID:
    """Create a process work pool and a deployment of the stop flow on it, run from the project."""
    module = stop_flow()
    flow = next(flow for flow in declared_flows(PROJECT / "flows") if flow.module == module)
    template = ProcessWorker.get_default_base_job_template()
    with get_client(sync_client=True) as client:
        client.create_work_pool(
            WorkPoolCreate(name=pool, type="process", base_job_template=template)
        )
        return client.create_deployment(
            flow_id=client.create_flow_from_name(flow.name),
            name=pool,
            work_pool_name=pool,
            entrypoint=f"flows/{flow.module}.py:{flow.function}",
            pull_steps=[
                {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT)}}
            ],
        )


def start_worker(
    runner: SignalRunner, pool: str, api: str, calls: Path, log: Path
) -> subprocess.Popen[str]:
    """Start `prefect worker start --run-once` on the pool: it runs the run waiting there."""
    command = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    command += ["--type", "process", "--run-once"]
    return runner.start(command, cwd=PROJECT, env=served_environment(api, calls), log=log)


def test_a_workers_run_stops_its_booting_clusters_when_cancelled_from_the_api(
    aws: str,
    prefect_api: str,
    s3_data: str,
    calls: Path,
    tmp_path: Path,
    signal_runner: SignalRunner,
) -> None:
    # A cancellation from the UI: the worker sends the flow run's process SIGTERM (its own
    # session), then marks the run Cancelled.
    expected = probe(prefect_api, s3_data, tmp_path)
    pool, log = f"process-{tmp_path.name}", tmp_path / "worker.log"
    flow_run_id = run_of(deploy_on_a_process_pool(pool), s3_data)
    worker = start_worker(signal_runner, pool, prefect_api, calls, log)
    wait_for(lambda: booted(calls, expected), "booted", worker, log)
    pid = flow_run_process(calls)

    sent = time.monotonic()
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run_id, Cancelling(), force=True)
    seconds = seconds_until_gone(pid, calls, sent)
    worker.wait(timeout=SANITY_S)

    output = log.read_text()
    assert_stopped_cleanly(output, seconds, signal.SIGTERM)
    assert_every_cluster_stopped(calls, booting=True)
    assert state_of(flow_run_id) == "CANCELLED", output


def test_a_workers_run_stops_its_booting_clusters_on_sigterm_with_its_api_dead(
    aws: str,
    prefect_api: str,
    s3_data: str,
    dying_api: subprocess.Popen[str],
    calls: Path,
    tmp_path: Path,
    signal_runner: SignalRunner,
) -> None:
    # A host stopping the worker's whole unit (systemd signals every process in it) as the
    # Prefect API, or the network to it, goes: SIGTERM to the flow run's own session. The run
    # alone reports to the API that dies, so that what the worker prints of it stays apart.
    assert dying_api.stdout is not None
    api = dying_api.stdout.readline().strip()
    expected = probe(prefect_api, s3_data, tmp_path)
    pool, log = f"process-{tmp_path.name}", tmp_path / "worker.log"
    flow_run_id = run_of(deploy_on_a_process_pool(pool), s3_data, api)
    worker = start_worker(signal_runner, pool, prefect_api, calls, log)
    wait_for(lambda: booted(calls, expected), "booted", worker, log)
    pid = flow_run_process(calls)

    dying_api.kill()
    # The run's Prefect observers log the dead API's websocket with a traceback of their own
    # (not the stop's): let that come first, so the check after the INTERRUPTED line holds.
    noticed = time.monotonic() + 10
    while "websocket failed" not in log.read_text() and time.monotonic() < noticed:
        time.sleep(0.1)
    sent = time.monotonic()
    os.killpg(pid, signal.SIGTERM)
    seconds = seconds_until_gone(pid, calls, sent)
    worker.wait(timeout=SANITY_S)

    output = log.read_text()
    assert_stopped_cleanly(output, seconds, signal.SIGTERM)
    assert_every_cluster_stopped(calls, booting=True)
    assert state_of(flow_run_id) in ENDED, output  # the worker saw its process end
