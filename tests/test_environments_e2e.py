"""Staging and production from one repository, end to end on loopback (slow).

A bake with `environments=staging,production` (a process pool: no Docker here) deploys every
deployment of its prefect.yaml to a real Prefect server with `prefect deploy --all`; a process
worker runs the staging deployment on S3 served by moto: the report lands under staging's prefix
alone, production's stays empty, and the run carries staging's tag. The same deployment pointed
at production's prefix fails before it reads anything, saying which environments and what to do.
The bake is this module's own, so under xdist it is its own group (conftest.xdist_group).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import INSTALL_TIMEOUT
from helpers import bake as bake_into
from helpers import clean_environment, describe, loopback_environment, run, run_ok
from test_deploy import UPLOAD_AND_STORE, last_json_line, process_group, serve_moto_and_prefect

pytestmark = pytest.mark.slow

BUCKET = "e2e-environments"
DATA_URI = f"s3://{BUCKET}/daily"  # production's; staging's is derived: <data_uri>-staging
STAGING_URI = f"{DATA_URI}-staging"
ANSWERS = {
    "project_name": "Staged Reports",
    "environments": "staging,production",
    "work_pool_type": "process",
    "data_uri": DATA_URI,
}

DEPLOYMENTS = """
import json
from prefect import get_client
with get_client(sync_client=True) as client:
    found = client.read_deployments()
print(json.dumps({d.name: {"tags": d.tags, "pool": d.work_pool_name, "parameters": d.parameters,
                           "env": (d.job_variables or {}).get("env", {}),
                           "crons": [s.schedule.cron for s in d.schedules]} for d in found}))
"""

FLOW_RUN = """
import json, sys, uuid
from prefect import get_client
with get_client(sync_client=True) as client:
    run = client.read_flow_run(uuid.UUID(sys.argv[1]))
print(json.dumps({"state": run.state.type.value, "message": run.state.message or "",
                  "tags": run.tags}))
"""

KEYS = """
import json, sys
import boto3
listing = boto3.client("s3").list_objects_v2(Bucket=sys.argv[1], Prefix=sys.argv[2])
print(json.dumps([item["Key"] for item in listing.get("Contents", [])]))
"""


@dataclass
class Loopback:
    """The bake, its commands and the environment that points them at moto and the server."""

    project: Path
    env: dict[str, str]
    prefix: str

    def ok(self, command: Sequence[str], **extra: str) -> subprocess.CompletedProcess[str]:
        """Run a command of the bake; fail the test with its output if it fails."""
        return run_ok(command, self.project, env={**self.env, **extra}, timeout=INSTALL_TIMEOUT)

    def tool(self, name: str) -> str:
        """Return the path of one of the bake's own commands."""
        return str(self.project / ".venv/bin" / name)

    def keys(self, prefix: str) -> list[str]:
        """Return the object keys under s3://BUCKET/prefix."""
        return last_json_line(self.ok([self.tool("python"), "-c", KEYS, BUCKET, prefix]))

    def run_staging(self, log: Path, *options: str) -> dict:
        """Start a run of the staging deployment, let a worker run it once; return the run."""
        started = self.ok(
            [self.tool("prefect"), "deployment", "run", "daily-report/daily-report-staging", *options]
        )
        flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)
        assert flow_run_id, describe(started)
        # The pull step takes the run into the checkout the worker's host names.
        worker_env = {**self.env, f"{self.prefix}CHECKOUT_DIR": str(self.project)}
        command = [self.tool("prefect"), "worker", "start", "--pool", "process-pool", "--run-once"]
        with process_group(command, self.project.parent, worker_env, log) as worker:
            try:
                worker.wait(timeout=INSTALL_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"the worker never finished:\n{log.read_text(errors='replace')}")
        return last_json_line(self.ok([self.tool("python"), "-c", FLOW_RUN, flow_run_id.group(1)]))


@pytest.fixture(scope="module")
def loopback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loopback]:
    """Bake and install the two-environment project; serve moto and Prefect; deploy everything."""
    root = tmp_path_factory.mktemp("environments-e2e")
    project = bake_into(root, ANSWERS)
    prefix = "STAGED_REPORTS_"
    # Nothing here may need Docker.
    env = loopback_environment(root / "prefect-home", prefix, DOCKER_HOST="unix:///nonexistent/docker.sock")
    loop = Loopback(project, env, prefix)
    loop.ok(["uv", "sync", "--locked"])
    with ExitStack() as stack:
        serve_moto_and_prefect(stack, project, env, root)
        # Staging's inputs, in staging's prefix only.
        loop.ok(["make", "sample-data", "ROWS=2000", "DAYS=2"])
        loop.ok([loop.tool("python"), "-c", UPLOAD_AND_STORE, BUCKET, "daily-staging/raw", "", ""])
        for pool in ("process-pool", "local"):
            loop.ok([loop.tool("prefect"), "work-pool", "create", pool, "--type", "process"])
        loop.ok([loop.tool("prefect"), "--no-prompt", "deploy", "--all"])
        yield loop


def test_every_deployment_is_deployed_once_per_environment(loopback: Loopback) -> None:
    found = last_json_line(loopback.ok([loopback.tool("python"), "-c", DEPLOYMENTS]))
    env = f"{loopback.prefix}ENV"

    assert set(found) == {"daily-report", "daily-report-staging", "daily-report-local"}
    production, staging = found["daily-report"], found["daily-report-staging"]
    assert production["crons"] == ["0 6 * * *"] and staging["crons"] == [], "staging: schedule off"
    assert production["parameters"]["output_uri"] == f"{DATA_URI}/reports"
    assert staging["parameters"] == {"source_uri": f"{STAGING_URI}/raw", "output_uri": f"{STAGING_URI}/reports"}
    assert (production["env"][env], staging["env"][env]) == ("production", "staging")
    # The merge key's shared parts reached the server: the pool's job, the label, the mode.
    assert staging["env"][f"{loopback.prefix}COMPUTE_MODE"] == "cloud"
    assert staging["env"][f"{loopback.prefix}LABEL"] == production["env"][f"{loopback.prefix}LABEL"]
    assert sorted(staging["tags"]) == ["staged-reports", "staging"], "the project's tag stays"
    assert production["pool"] == staging["pool"] == "process-pool"


def test_a_staging_run_writes_under_staging_alone(loopback: Loopback, tmp_path: Path) -> None:
    days = sorted(p.name.removeprefix("date=") for p in (loopback.project / "data/sample/orders").iterdir())
    local = {f"{loopback.prefix}COMPUTE_MODE": "local"}  # no Polars Cloud here: local Polars on S3

    run = loopback.run_staging(
        tmp_path / "worker.log",
        *("--param", f"start={days[0]}", "--param", f"end={days[-1]}"),
        *("--job-variable", "env=" + json.dumps(local)),
    )

    assert run["state"] == "COMPLETED", (tmp_path / "worker.log").read_text(errors="replace")
    assert "staging" in run["tags"] and "staged-reports" in run["tags"]
    reports = loopback.keys("daily-staging/reports/daily_report/")
    assert {f"date={day}" for day in days} <= {key.split("/")[3] for key in reports}, reports
    assert loopback.keys("daily/") == [], "production's prefix stays empty"


def test_a_staging_run_pointed_at_production_fails_before_it_reads(
    loopback: Loopback, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    run = loopback.run_staging(
        log,
        *("--param", f"source_uri={STAGING_URI}/raw", "--param", f"output_uri={DATA_URI}/reports"),
    )

    assert run["state"] == "FAILED", log.read_text(errors="replace")
    assert "a staging run may not use" in run["message"] and "production's prefix" in run["message"]
    # Cloud mode with no service account anywhere: had the run gone as far as logging in, its
    # message would be the missing credentials, not the crossing.
    assert loopback.keys("daily/") == [], "nothing written under production's prefix"


# The project's own tests that its environments change; a bake of production alone has no
# tests/test_environments.py, so they run here, on the bake of two environments.
ENVIRONMENT_TESTS = ("test_environments.py", "test_prefect_yaml.py", "test_job_variables.py", "test_names.py")


def test_the_projects_own_tests_of_its_environments_pass(loopback: Loopback) -> None:
    env = clean_environment(PREFECT_HOME=str(loopback.project.parent / "tests-home"))  # no live API
    command = [loopback.tool("python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0"]
    command += [f"tests/{name}" for name in ENVIRONMENT_TESTS]

    result = run(command, loopback.project, env=env, timeout=INSTALL_TIMEOUT)

    # Skipped there: an Iceberg table's test (a Parquet report here) and an image's (a process pool).
    assert result.returncode == 0 and " passed" in result.stdout.splitlines()[-1], describe(result)
