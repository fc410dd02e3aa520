"""The deploy path: linters of every bake, block registration from the hook, template updates,
and `prefect deploy` proven end to end on loopback (moto for S3 and Secrets Manager, a real
Prefect server, a process worker).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from helpers import (
    TEMPLATE,
    Baked,
    clean_environment,
    describe,
    generated_files,
    loopback_environment,
    run,
    run_ok,
    seed_prefect_database,
)

# Values that must never show up in a command's output.
CLIENT_ID = "e2e-client-id-6f0c1d"
CLIENT_SECRET = "e2e-client-secret-93ab7e"
SERVICE_ACCOUNT = json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
INSTALL_TIMEOUT = 1200  # a cold uv cache downloads Prefect, Polars and friends
STARTUP_TIMEOUT = 180  # how long a server may take to answer its health check
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Template Tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "Template Tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
}


def tool(name: str) -> str:
    """Return the path of a command of the template's dev environment."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    assert found, f"{name} is not installed: run `uv sync --locked` in the template"
    return found


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- linters -------------------------------------------------------------------------------


def workflows(baked: Baked) -> list[str]:
    """Return the bake's GitHub workflow files, relative to the project."""
    found = sorted(
        path.relative_to(baked.path).as_posix()
        for path in (baked.path / ".github" / "workflows").glob("*.y*ml")
    )
    assert found, "the bake has no GitHub workflow"
    return found


def test_hadolint_finds_nothing_at_the_warning_threshold(baked: Baked) -> None:
    hadolint = tool("hadolint")
    run_ok([hadolint, "--failure-threshold", "warning", "Dockerfile"], baked.path)


def test_actionlint_finds_nothing(baked: Baked) -> None:
    run_ok([tool("actionlint"), "-no-color", *workflows(baked)], baked.path)


def test_zizmor_finds_nothing(baked: Baked) -> None:
    run_ok([tool("zizmor"), "--offline", "--no-progress", *workflows(baked)], baked.path)


# --- what CI deploys --------------------------------------------------------------------------

# The library file that lists prefect.yaml's deployments: plain Python and PyYAML, so it loads
# here without a bake's environment (it is copied into every bake unrendered).
LISTING = TEMPLATE / "{{cookiecutter.project_slug}}/src/prefect_polars_cloud/operations/deployments.py"


@pytest.fixture(scope="module")
def listing() -> ModuleType:
    """The library's deployments module, loaded from the template."""
    spec = importlib.util.spec_from_file_location("template_deployments", LISTING)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ci_deploy_script(project: Path) -> str:
    """Return the shell script of the workflow's step that runs `prefect deploy`."""
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    scripts = [
        step["run"]
        for job in workflow["jobs"].values()
        for step in job["steps"]
        if "prefect" in step.get("run", "") and " deploy" in step.get("run", "")
    ]
    # One deploy command, the deploy job's last step.
    assert len(scripts) == 1, scripts
    assert workflow["jobs"]["deploy"]["steps"][-1].get("run") == scripts[0]
    return scripts[0]


# Stands in for uv: prints LISTED for the deployments command (or fails, when LISTING_FAILS is
# set) and records every other command line, one argument a line, in $CALLS.
FAKE_UV = """#!/usr/bin/env bash
if [[ " $* " == *" deployments --production "* ]]; then
    [[ -n "${LISTING_FAILS:-}" ]] && { echo "ERROR: no prefect.yaml" >&2; exit 1; }
    printf '%s' "$LISTED"
    exit 0
fi
printf '%s\n' "$@" "--end--" >> "$CALLS"
"""


def run_ci_deploy(
    baked: Baked, tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[list[str]]]:
    """Run the workflow's deploy script as GitHub does (bash -e), with a fake uv; return its calls."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "uv").write_text(FAKE_UV)
    (bin_dir / "uv").chmod(0o755)
    calls.write_text("")
    script = tmp_path / "deploy.sh"
    script.write_text(ci_deploy_script(baked.path))
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    environment = clean_environment(PATH=path, CALLS=str(calls), **env)
    result = run(["bash", "-e", str(script)], baked.path, env=environment)
    lines = calls.read_text().splitlines()
    commands, current = [], []
    for line in lines:
        if line == "--end--":
            commands.append(current)
            current = []
        else:
            current.append(line)
    return result, commands


def test_the_workflow_deploys_every_production_deployment_in_one_command(
    baked: Baked, tmp_path: Path
) -> None:
    # One command, so prefect-docker builds and pushes the image once for all of them.
    listed = "daily-report\nweekly rollup\n"
    result, commands = run_ci_deploy(baked, tmp_path, LISTED=listed)

    assert result.returncode == 0, describe(result)
    deploy = ["run", "--locked", "prefect", "--no-prompt", "deploy"]
    assert commands == [[*deploy, "--name", "daily-report", "--name", "weekly rollup"]]


def test_the_workflow_deploys_nothing_when_the_list_fails(baked: Baked, tmp_path: Path) -> None:
    # `prefect deploy` with no --name deploys the only deployment of a one-deployment file.
    result, commands = run_ci_deploy(baked, tmp_path, LISTED="", LISTING_FAILS="1")

    assert result.returncode != 0 and "ERROR: no prefect.yaml" in result.stderr, describe(result)
    assert commands == []


def test_ci_deploys_the_bakes_production_deployments_not_the_local_ones(
    baked: Baked, listing: ModuleType
) -> None:
    prefect_file = baked.path / "prefect.yaml"
    everything = [item["name"] for item in listing.read_deployments(prefect_file)]
    assert everything == ["daily-report", "daily-report-local"]
    assert listing.production_names(prefect_file) == ["daily-report"]


ADDED = """
  - name: weekly
    entrypoint: flows/daily_report.py:daily_report
    tags: *project-tags
    work_pool: *production-pool
  - name: weekly-local
    entrypoint: flows/daily_report.py:daily_report
  - name: daily-report
    entrypoint: flows/other.py:other
"""


def test_the_production_list_follows_prefect_yaml(
    bake: Callable[..., Baked], listing: ModuleType, tmp_path: Path
) -> None:
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text((bake().path / "prefect.yaml").read_text(encoding="utf-8") + ADDED)

    # Each name once: `prefect deploy --name daily-report` deploys both flows' daily-report.
    assert listing.production_names(prefect_file) == ["daily-report", "weekly"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deployments:\n  - name: a-local\n", "no production deployment"),
        ("deployments: []\n", "no production deployment"),
        ("deployments:\n  - entrypoint: flows/x.py:x\n", "deployment #1 has no name"),
    ],
    ids=["only-local", "none", "unnamed"],
)
def test_the_production_list_refuses_a_file_with_nothing_to_deploy(
    listing: ModuleType, tmp_path: Path, text: str, expected: str
) -> None:
    prefect_file = tmp_path / "prefect.yaml"
    prefect_file.write_text(text)
    with pytest.raises(listing.DeploymentsError, match=expected):
        listing.production_names(prefect_file)


def test_the_production_list_names_a_missing_file(listing: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(listing.DeploymentsError, match="prefect.yaml: run this in the project's dir"):
        listing.production_names(tmp_path / "prefect.yaml")


# --- block registration from the post-gen hook ---------------------------------------------


@pytest.mark.parametrize("api_url", [None, "unreachable"], ids=["no-api-url", "unreachable-api"])
def test_register_blocks_without_a_server_generates_and_says_what_to_run(
    tmp_path: Path, api_url: str | None
) -> None:
    extra = {} if api_url is None else {"PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"}
    output = tmp_path / "out"
    result = run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--output-dir",
            str(output),
            str(TEMPLATE),
            "secret_backend=prefect-secret",
            "register_blocks=yes",
        ],
        tmp_path,
        env=clean_environment(PREFECT_HOME=str(tmp_path / "prefect-home"), **extra),
    )

    assert result.returncode == 0, describe(result)
    project = output / "daily-reports"
    files = generated_files(project)
    assert {"prefect.yaml", "Makefile", "pyproject.toml", "uv.lock", ".cookiecutter.json"} <= files
    staged = run_ok(["git", "ls-files"], project).stdout.splitlines()
    assert set(staged) == files, "the hook stopped before staging every file"
    assert "make blocks" in result.stdout + result.stderr, describe(result)


# --- template updates -------------------------------------------------------------------------


def commit_all(repository: Path, message: str) -> None:
    """Commit everything in a repository with the tests' identity."""
    env = clean_environment(**GIT_IDENTITY)
    run_ok(["git", "add", "--all"], repository, env=env)
    run_ok(["git", "commit", "--quiet", "--no-verify", "-m", message], repository, env=env)


@pytest.fixture
def template_clone(tmp_path: Path) -> Path:
    """A local git repository holding the template as it is on disk (uncommitted work too)."""
    clone = tmp_path / "template"
    listed = run_ok(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], TEMPLATE
    ).stdout.split("\0")
    for relative in filter(None, listed):
        source = TEMPLATE / relative
        if source.is_file():
            (clone / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / relative)
    run_ok(["git", "-c", "init.defaultBranch=main", "init", "--quiet"], clone)
    commit_all(clone, "template")
    return clone


def cruft_create(clone: Path, output: Path) -> Path:
    """Generate a project with `cruft create` and return it."""
    run_ok([tool("cruft"), "create", "--no-input", "--output-dir", str(output), str(clone)], output.parent)
    return output / "daily-reports"


def test_cruft_create_then_cruft_check_passes(template_clone: Path, tmp_path: Path) -> None:
    (tmp_path / "projects").mkdir()
    project = cruft_create(template_clone, tmp_path / "projects")

    recorded = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    head = run_ok(["git", "rev-parse", "HEAD"], template_clone).stdout.strip()
    assert recorded["commit"] == head
    result = run_ok([tool("cruft"), "check"], project)
    assert "up to date" in result.stdout + result.stderr


def test_cruft_update_applies_a_newer_template_cleanly(template_clone: Path, tmp_path: Path) -> None:
    (tmp_path / "projects").mkdir()
    project = cruft_create(template_clone, tmp_path / "projects")
    commit_all(project, "generated")
    files_before = generated_files(project)
    answers_before = (project / ".cookiecutter.json").read_text(encoding="utf-8")
    # The template moves on: a new line in the generated README.
    readme = template_clone / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "\nA line from a newer template.\n")
    commit_all(template_clone, "newer template")

    run_ok([tool("cruft"), "update", "--skip-apply-ask"], project)

    assert "A line from a newer template." in (project / "README.md").read_text(encoding="utf-8")
    assert generated_files(project) == files_before
    assert (project / ".cookiecutter.json").read_text(encoding="utf-8") == answers_before
    status = run_ok(["git", "status", "--porcelain"], project).stdout.splitlines()
    assert {line[3:] for line in status} == {"README.md", ".cruft.json"}
    run_ok([tool("cruft"), "check"], project)


# --- end to end on loopback --------------------------------------------------------------------


@contextmanager
def process_group(
    command: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start command in a process group of its own; stop the whole group on the way out."""
    with log.open("wb") as sink:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            for sig, grace in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break  # the group is gone: every process in it has exited
                try:
                    process.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    continue
                # The leader exited; anything it left in the group gets the next signal too.
            process.wait()


class PortTaken(Exception):
    """The free port was taken by another process between choosing it and binding it."""


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll url until it answers 200; fail with the server's log if it dies or never answers."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            printed = log.read_text(errors="replace")
            if "address already in use" in printed.lower():
                raise PortTaken(url)
            pytest.fail(f"{url} exited {process.returncode}:\n{printed}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {STARTUP_TIMEOUT}s:\n{log.read_text(errors='replace')}")


def serve_on_a_free_port(
    stack: ExitStack,
    command: Callable[[int], list[str]],
    health: Callable[[int], str],
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
) -> tuple[int, subprocess.Popen[bytes]]:
    """Start a server on a free port, wait until it is healthy; return the port and process.

    Choosing a free port and binding it are two steps; another process can bind the port in
    between. Then the server exits with "address already in use" and another port is tried.
    """
    for _ in range(3):
        port = free_port()
        with ExitStack() as attempt:
            process = attempt.enter_context(process_group(command(port), cwd, env, log))
            try:
                wait_until_healthy(health(port), process, log)
            except PortTaken:
                continue
            stack.push(attempt.pop_all())  # the caller's stack stops the server now
            return port, process
    pytest.fail(f"no free port held for `{' '.join(command(0)[:3])}` in three tries")


def serve_prefect(
    stack: ExitStack, project: Path, env: Mapping[str, str], cwd: Path, log: Path
) -> tuple[int, subprocess.Popen[bytes]]:
    """Serve `prefect server start` from the bake's environment on a free loopback port.

    From the bake's migrated empty database (seed_prefect_database), in env's PREFECT_HOME;
    stopped with the caller's stack. Returns its port and process.
    """
    prefect = str(project / ".venv/bin/prefect")
    seed_prefect_database(project, Path(env["PREFECT_HOME"]))
    return serve_on_a_free_port(
        stack,
        lambda port: [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        lambda port: f"http://127.0.0.1:{port}/api/health",
        cwd,
        env,
        log,
    )


def serve_moto_and_prefect(
    stack: ExitStack, project: Path, env: dict[str, str], logs: Path
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """Serve moto and `prefect server start` from the bake's environment; point env at both.

    Each on a free loopback port, stopped with the caller's stack; returns their processes.
    """
    python = str(project / ".venv/bin/python")
    moto_port, moto = serve_on_a_free_port(
        stack,
        lambda port: [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        lambda port: f"http://127.0.0.1:{port}/moto-api/",
        project,
        env,
        logs / "moto.log",
    )
    prefect_port, server = serve_prefect(stack, project, env, project, logs / "prefect-server.log")
    env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{moto_port}"
    env["PREFECT_API_URL"] = f"http://127.0.0.1:{prefect_port}/api"
    return moto, server


def expected_report(sample: Path, day: str) -> list[tuple[str, str, str, int, float]]:
    """Compute a day's report from that day's sample files with the standard library alone."""
    customers: dict[int, tuple[str, str]] = {}
    with (sample / "customers.ndjson").open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                customers[int(row["customer_id"])] = (row["segment"], row["country"])  # last wins
    totals: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0, 0.0])
    rows = []
    for path in sorted((sample / "orders" / f"date={day}").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as orders:
            rows += list(csv.DictReader(orders))
    for row in rows:
        if row["amount"] == "" or float(row["amount"]) < 0:
            continue
        ordered = datetime.fromisoformat(row["order_ts"]).astimezone(UTC).date().isoformat()
        segment, country = customers.get(int(row["customer_id"]), ("unknown", "unknown"))
        total = totals[(ordered, segment, country)]
        total[0] += 1
        total[1] += float(row["amount"])
    return [(*key, int(count), revenue) for key, (count, revenue) in sorted(totals.items())]


UPLOAD_AND_STORE = """
import json, sys
from pathlib import Path
import boto3
bucket, prefix, secret_name, secret = sys.argv[1:5]
s3 = boto3.client("s3")
s3.create_bucket(Bucket=bucket)
for path in sorted(Path("data/sample").rglob("*.*")):
    s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to('data/sample').as_posix()}")
if secret_name:
    boto3.client("secretsmanager").create_secret(Name=secret_name, SecretString=secret)
"""

FLOW_RUN = """
import json, sys, uuid
from prefect import get_client
with get_client(sync_client=True) as client:
    run = client.read_flow_run(uuid.UUID(sys.argv[1]))
    deployment = client.read_deployment(run.deployment_id)
print(json.dumps({"state": run.state.type.value, "parameters": run.parameters, "name": run.name,
                  "deployment": deployment.name, "pool": deployment.work_pool_name,
                  "limit": deployment.global_concurrency_limit.limit,
                  "collisions": deployment.concurrency_options.collision_strategy}))
"""

READ_REPORT = """
import json, sys
import polars as pl
frame = pl.read_parquet(sys.argv[1] + "/")
print(json.dumps({"columns": frame.columns,
                  "rows": [[str(row[0]), *row[1:]] for row in frame.rows()]}))
"""


def last_json_line(result: subprocess.CompletedProcess[str]) -> dict:
    """Parse the last line a helper script printed."""
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "secret_name"),
    [("aws-secrets-manager", "e2e/polars-cloud"), ("prefect-secret", "e2e-polars-cloud")],
)
def test_deploy_end_to_end_on_loopback(
    bake: Callable[..., Baked], tmp_path: Path, backend: str, secret_name: str
) -> None:
    bucket, data_uri = "e2e-reports", "s3://e2e-reports/daily"
    baked = bake(secret_backend=backend, secret_name=secret_name, data_uri=data_uri)
    project, prefix = baked.path, baked.answers["package_name"].upper() + "_"
    env = loopback_environment(tmp_path / "prefect-home", prefix)
    outputs: list[str] = []

    def ok(command: Sequence[str], **extra: str) -> subprocess.CompletedProcess[str]:
        result = run_ok(command, project, env={**env, **extra}, timeout=INSTALL_TIMEOUT)
        outputs.append(result.stdout + result.stderr)
        return result

    ok(["uv", "sync", "--locked"])
    python, prefect = str(project / ".venv/bin/python"), str(project / ".venv/bin/prefect")

    with ExitStack() as stack:
        moto, server = serve_moto_and_prefect(stack, project, env, tmp_path)

        # Inputs in S3; the service account where the backend looks for it.
        ok(["make", "sample-data", "ROWS=3000"])
        in_aws = secret_name if backend == "aws-secrets-manager" else ""
        ok([python, "-c", UPLOAD_AND_STORE, bucket, "daily/raw", in_aws, SERVICE_ACCOUNT])
        # prefect-secret: `make blocks` saves the Secret block from POLARS_CLOUD_*; run it twice.
        account = {"POLARS_CLOUD_CLIENT_ID": CLIENT_ID, "POLARS_CLOUD_CLIENT_SECRET": CLIENT_SECRET}
        ok(["make", "blocks"], **account)
        ok(["make", "blocks"], **account)
        # Without POLARS_CLOUD_* now: the account must come from the backend's store.
        ok(["make", "doctor"])

        ok([prefect, "work-pool", "create", "local", "--type", "process"])
        # No Docker engine: the local deployment must not need one.
        ok(
            [prefect, "--no-prompt", "deploy", "--name", "daily-report-local"],
            DOCKER_HOST="unix:///nonexistent/docker.sock",
        )
        # The last two sample days, in one flow run of the deployment.
        days = sorted(p.name.removeprefix("date=") for p in (project / "data/sample/orders").iterdir())
        first, last = days[-2], days[-1]
        started = ok(["make", "backfill", f"START={first}", f"END={last}", "DEPLOYMENT=daily-report-local"])
        flow_run_id = re.search(r"/runs/flow-run/([0-9a-f-]{36})", started.stdout)
        assert flow_run_id, describe(started)

        worker_log = tmp_path / "worker.log"
        worker = stack.enter_context(
            process_group(
                [prefect, "worker", "start", "--pool", "local", "--run-once"],
                project,
                env,
                worker_log,
            )
        )
        try:
            worker.wait(timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker never finished:\n{worker_log.read_text(errors='replace')}")
        outputs.append(worker_log.read_text(errors="replace"))
        assert worker.returncode == 0, outputs[-1]

        run = last_json_line(ok([python, "-c", FLOW_RUN, flow_run_id.group(1)]))
        assert run["state"] == "COMPLETED", outputs[-2]
        assert (run["deployment"], run["pool"]) == ("daily-report-local", "local")
        assert run["parameters"] == {"start": first, "end": last}
        assert run["name"] == f"daily-report {first}..{last}"
        # The server holds the limit that keeps a backfill and the scheduled run apart.
        assert (run["limit"], run["collisions"]) == (1, "ENQUEUE")
        reports = {
            day: last_json_line(ok([python, "-c", READ_REPORT, f"{data_uri}/reports/daily_report/date={day}"]))
            for day in (first, last)
        }

    assert moto.returncode is not None and server.returncode is not None
    for day, report in reports.items():
        expected = expected_report(project / "data" / "sample", day)
        assert report["columns"] == ["order_date", "segment", "country", "orders", "revenue"]
        assert [tuple(row[:4]) for row in report["rows"]] == [row[:4] for row in expected]
        assert [row[4] for row in report["rows"]] == pytest.approx([row[4] for row in expected])
        assert ("unknown", "unknown") in {(row[1], row[2]) for row in expected}
    leaked = [text for text in outputs if CLIENT_SECRET in text or CLIENT_ID in text]
    assert not leaked, "a command printed the service account"
