"""A Prefect server started from this environment schedules the production deployment's runs.

Checking that prefect.yaml *has* a schedule proves nothing about the server: with whenever 0.10
on Python 3.11, Prefect 3.9.1's scheduler service failed every loop and no cron deployment ever
got a run. So this starts `prefect server start` with its services (scheduler included, looping
every second), deploys prefect.yaml's (first) scheduled production deployment with `prefect deploy`
and waits for its Scheduled runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_polars_cloud.operations.deployments import is_local, read_deployments
from prefect_polars_cloud.operations.names import full_name
from prefect_polars_cloud.testing.servers import free_port

# A server with every service and a `prefect deploy`: tens of seconds, so not in `make test`.
pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parent.parent
# Taken from prefect.yaml, not written down: the first production deployment with a schedule.
SCHEDULED = next(
    item
    for item in read_deployments(PROJECT / "prefect.yaml")
    if not is_local(item) and item.get("schedules")
)
DEPLOYMENT = SCHEDULED["name"]
STARTUP_TIMEOUT_S = 120  # a first start creates the database; a busy 2-core machine is slow
SCHEDULED_WITHIN_S = 60  # the scheduler loops every second here; Prefect's default is 60 s
# Job variables are checked against the deployment's real worker in test_job_variables.py; here
# a process pool stands in for it, so deploying needs no Docker engine, cloud account or image.
POOL = "scheduler-test"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group (the server and the services it started)."""
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def scheduling_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`prefect server start` with its services on loopback and a fresh SQLite database.

    Yields the API URL and the server's log.
    """
    home = tmp_path / "prefect-home"
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log = tmp_path / "server.log"
    for _ in range(3):  # the free port may be taken between choosing and binding it
        port = free_port()
        url = f"http://127.0.0.1:{port}/api"
        command = [sys.executable, "-m", "prefect", "server", "start"]
        command += ["--host", "127.0.0.1", "--port", str(port), "--no-ui", "--scheduler"]
        with log.open("wb") as sink:
            server = subprocess.Popen(
                command,
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not _healthy(url) and server.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            printed = log.read_text(errors="replace")
            if server.poll() is not None and "address already in use" in printed.lower():
                continue
            assert _healthy(url), f"the Prefect server did not start:\n{printed}"
            yield url, log
            return
        finally:
            _stop(server)
    pytest.fail("no free port held for the Prefect server in three tries")


def same(deployment: dict[str, Any], other: dict[str, Any]) -> bool:
    """Tell whether two deployments are one (a name may repeat for another flow)."""
    return (deployment["name"], deployment["entrypoint"]) == (other["name"], other["entrypoint"])


def buildless_production(path: Path) -> Path:
    """Write prefect.yaml's production deployment, on a process pool and with no image build."""
    document = yaml.safe_load((PROJECT / "prefect.yaml").read_text(encoding="utf-8"))
    [production] = [item for item in document["deployments"] if same(item, SCHEDULED)]
    production.pop("build", None)
    production.pop("push", None)
    production["work_pool"] = {
        "name": POOL,
        "job_variables": {"env": production["work_pool"]["job_variables"]["env"]},
    }
    document["deployments"] = [production]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def scheduled_runs(deployment_id: Any) -> list[Any]:  # noqa: ANN401 - a UUID
    """Return the deployment's flow runs in state Scheduled."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
            ),
        )


def test_the_server_schedules_the_production_deployment(
    scheduling_server: tuple[str, Path], tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.workers.process import ProcessWorker

    url, log = scheduling_server
    with temporary_settings(updates={PREFECT_API_URL: url}):
        with get_client(sync_client=True) as client:
            template = ProcessWorker.get_default_base_job_template()
            client.create_work_pool(
                WorkPoolCreate(name=POOL, type="process", base_job_template=template)
            )
        # Deployed as `make deploy` does it: the prefect.yaml schedule, through `prefect deploy`.
        deployed = subprocess.run(
            [sys.executable, "-m", "prefect", "--no-prompt", "deploy"]
            + ["--prefect-file", str(buildless_production(tmp_path / "prefect.yaml"))]
            + ["--name", DEPLOYMENT],
            cwd=PROJECT,
            env={**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(tmp_path / "home")},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        with get_client(sync_client=True) as client:
            deployment = client.read_deployment_by_name(full_name(SCHEDULED, PROJECT / "flows"))
        deadline = time.monotonic() + SCHEDULED_WITHIN_S
        while not (runs := scheduled_runs(deployment.id)) and time.monotonic() < deadline:
            time.sleep(1)

    printed = log.read_text(errors="replace")
    assert runs, (
        f"no Scheduled run of {DEPLOYMENT} within {SCHEDULED_WITHIN_S}s; the server said:\n"
        + "\n".join(printed.splitlines()[-40:])
    )
    [schedule] = deployment.schedules
    expected = yaml.safe_load((PROJECT / "prefect.yaml").read_text(encoding="utf-8"))
    [production] = [item for item in expected["deployments"] if same(item, SCHEDULED)]
    assert schedule.schedule.cron == production["schedules"][0]["cron"]
    now = datetime.now(UTC)
    starts = [run.expected_start_time for run in runs]
    assert all(start > now for start in starts) and len(set(starts)) == len(starts), starts
    # A scheduled run passes no dates: it reports the day before its scheduled time.
    assert all(run.parameters == production["parameters"] for run in runs)
