"""Production where teams run it (slow): CI's deploy step putting every production deployment
on a real Prefect server from one image, for every work pool type; a process worker running the
production deployment; and failure alerts that reach a webhook, for a deployment created after
the alerts too.

The bakes are conftest.INSTALLED's (installed once for test_generated_project.py too): docker,
kubernetes, process with webhook alerts, ecs. One Prefect server on loopback serves the module.
No Docker engine here: a stand-in for the Docker Engine API on loopback answers the real build
and push steps, and counts them.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml
from conftest import INSTALLED, Installed
from helpers import clean_environment, describe, run, run_ok
from test_deploy import ci_deploy_script, last_json_line, process_group, serve_prefect

pytestmark = pytest.mark.slow

# Which installed bake carries each work pool type (conftest.INSTALLED).
BAKE_OF_TYPE = {
    answers.get("work_pool_type", "docker"): backend for backend, answers in INSTALLED.items()
}
# Where a test points Docker when it must not be needed.
NO_DOCKER = "unix:///nonexistent/docker.sock"
# In the webhook URL: a secret, so it must never show up in output or in a file.
TOKEN = "e2e-webhook-token-51c2d9"
RUN_TIMEOUT = 600
UI_URL = "http://prefect-ui.example.test"
ALERT_TIMEOUT = 90  # the server posts about a second after the run fails; allow a busy machine
# After the first POST, how long to wait for a second one that must not come.
QUIET = 15

DEPLOYMENT = """
import json, sys
from prefect import get_client
with get_client(sync_client=True) as client:
    deployment = client.read_deployment_by_name(sys.argv[1])
    pool = client.read_work_pool(deployment.work_pool_name)
limit = deployment.global_concurrency_limit
options = deployment.concurrency_options
print(json.dumps({
    "pool": pool.name, "pool_type": pool.type, "job_variables": deployment.job_variables,
    "parameters": deployment.parameters, "pull_steps": deployment.pull_steps,
    "schedules": [[s.schedule.cron, s.schedule.timezone, s.active] for s in deployment.schedules],
    "limit": limit.limit if limit else None,
    "collision": options.collision_strategy.value if options else None,
}))
"""

FLOW_RUN = """
import json, sys, uuid
from prefect import get_client
with get_client(sync_client=True) as client:
    run = client.read_flow_run(uuid.UUID(sys.argv[1]))
print(json.dumps({"name": run.name, "state": run.state.type.value,
                  "message": run.state.message or "",
                  "end": run.end_time.timestamp() if run.end_time else None}))
"""

AUTOMATIONS = """
import json
from prefect import get_client
with get_client(sync_client=True) as client:
    found = client.read_automations()
print(json.dumps(sorted(item.name for item in found)))
"""


@dataclass
class Server:
    """The module's Prefect server: its API URL and the environment that points at it."""

    url: str
    env: dict[str, str]
    log: Path


@pytest.fixture(scope="module")
def server(
    installed_backend: Callable[[str], Installed], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real Prefect server on loopback, run from the process bake's environment."""
    project = installed_backend(BAKE_OF_TYPE["process"])
    assert project.install.returncode == 0, describe(project.install)
    home = tmp_path_factory.mktemp("prefect-server")
    env = clean_environment(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        # Where the alerts' links point (a self-hosted server with no UI of its own has none).
        PREFECT_UI_URL=UI_URL,
        # A run due now is marked Late a second later, so the late-run alert fires within the
        # one minute `make alerts` is told below, not fifteen.
        PREFECT_SERVER_SERVICES_LATE_RUNS_AFTER_SECONDS="1",
        PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS="2",
    )
    with ExitStack() as stack:
        port, _ = serve_prefect(stack, project.path, env, home, home / "server.log")
        url = f"http://127.0.0.1:{port}/api"
        yield Server(url, {**env, "PREFECT_API_URL": url}, home / "server.log")


@contextmanager
def appended_to_prefect_yaml(project: Path, entries: str) -> Iterator[None]:
    """Add deployment entries at the end of the bake's prefect.yaml, as a user would; then undo."""
    path = project / "prefect.yaml"
    original = path.read_bytes()
    path.write_bytes(original + entries.encode())
    try:
        yield
    finally:
        path.write_bytes(original)


def prefect_tools(project: Installed) -> tuple[str, str]:
    """Return the bake's own prefect command and python."""
    assert project.install.returncode == 0, describe(project.install)
    return str(project.path / ".venv/bin/prefect"), str(project.path / ".venv/bin/python")


def create_pool(project: Installed, server: Server) -> None:
    """Create (or replace) the bake's production work pool on the server."""
    prefect, _ = prefect_tools(project)
    answers = project.baked.answers
    # --overwrite: a test may create again what another already created on this server.
    command = [prefect, "work-pool", "create", answers["work_pool"], "--type", answers["work_pool_type"]]
    run_ok([*command, "--overwrite"], project.path, env=server.env)


def deploy_production(project: Installed, server: Server) -> None:
    """Deploy the process bake's `daily-report` (no image, so no Docker) to its pool."""
    prefect, _ = prefect_tools(project)
    assert project.baked.answers["work_pool_type"] == "process"
    create_pool(project, server)
    run_ok(
        [prefect, "--no-prompt", "deploy", "--name", "daily-report"],
        project.path,
        env={**server.env, "DOCKER_HOST": NO_DOCKER},
        timeout=RUN_TIMEOUT,
    )


@dataclass
class DockerEngine:
    """A stand-in for the Docker Engine API on loopback: what it was asked, by endpoint."""

    url: str
    requests: list[tuple[str, str, dict[str, str]]]

    def asked(self, endpoint: str) -> list[tuple[str, dict[str, str]]]:
        """Return (path, query) of each POST to an endpoint (build, tag, push) so far."""
        return [(path, query) for method, path, query in self.requests if path.endswith(f"/{endpoint}")]


@pytest.fixture(scope="module")
def docker_engine() -> Iterator[DockerEngine]:
    """Answer docker-py as an engine would: builds one image, tags it, pushes it; records all."""
    requests: list[tuple[str, str, dict[str, str]]] = []
    image_id = "sha256:" + "e2e0" * 16

    class Engine(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # docker-py reads a JSON stream only from chunked replies

        def reply(self, status: int, *objects: dict) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for item in objects:
                data = json.dumps(item).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.write(b"0\r\n\r\n")

        def record(self, method: str) -> str:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                while size := int(self.rfile.readline().strip() or b"0", 16):
                    self.rfile.read(size + 2)
                self.rfile.readline()
            else:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
            split = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(split.query).items()}
            requests.append((method, unquote(split.path), query))
            return split.path

        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            path = self.record("GET")
            if path.endswith("/version"):
                self.reply(200, {"ApiVersion": "1.43", "Version": "e2e", "MinAPIVersion": "1.24"})
            elif path.endswith("/json"):
                self.reply(200, {"Id": image_id})
            else:
                self.reply(404, {"message": f"not in the stand-in: {path}"})

        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            path = self.record("POST")
            if path.endswith("/build"):
                self.reply(200, {"stream": "Successfully built\n"}, {"aux": {"ID": image_id}})
            elif path.endswith("/tag"):
                self.reply(201)
            elif path.endswith("/push"):
                self.reply(200, {"status": "Pushed"})
            else:
                self.reply(404, {"message": f"not in the stand-in: {path}"})

        def log_message(self, *_: object) -> None:
            """Keep the test's output quiet."""

    engine = ThreadingHTTPServer(("127.0.0.1", 0), Engine)
    thread = threading.Thread(target=engine.serve_forever, daemon=True)
    thread.start()
    try:
        yield DockerEngine(f"tcp://127.0.0.1:{engine.server_address[1]}", requests)
    finally:
        engine.shutdown()
        engine.server_close()


# A second production deployment, written as a user adds one: the shared definitions of
# prefect.yaml, another schedule.
SECOND_PRODUCTION = """
  - name: daily-report-second
    entrypoint: flows/daily_report.py:daily_report
    tags: *project-tags
    concurrency_limit:
      limit: 1
      collision_strategy: ENQUEUE
    schedules:
      - cron: "0 7 * * 1"
        timezone: UTC
    work_pool: *production-pool
{image_steps}    pull: *production-pull
"""
IMAGE_STEPS = "    build: *build-image\n    push: *push-image\n"


@pytest.mark.parametrize("pool_type", ["docker", "ecs", "kubernetes", "process"])
def test_ci_deploys_every_production_deployment_to_a_pool_of_its_type_from_one_image(
    pool_type: str,
    installed_backend: Callable[[str], Installed],
    server: Server,
    docker_engine: DockerEngine,
) -> None:
    project = installed_backend(BAKE_OF_TYPE[pool_type])
    answers = project.baked.answers
    assert answers["work_pool_type"] == pool_type
    _, python = prefect_tools(project)
    builds_image = pool_type != "process"
    # The pool's base job template comes from the worker package this bake installs, and the
    # server validates the deployments' job variables against it.
    create_pool(project, server)
    docker_engine.requests.clear()

    second = SECOND_PRODUCTION.format(image_steps=IMAGE_STEPS if builds_image else "")
    with appended_to_prefect_yaml(project.path, second):
        written = yaml.safe_load((project.path / "prefect.yaml").read_text(encoding="utf-8"))
        # The workflow's own deploy step, as GitHub runs it.
        deployed = run(
            ["bash", "-e", "-c", ci_deploy_script(project.path)],
            project.path,
            env={**server.env, "DOCKER_HOST": docker_engine.url if builds_image else NO_DOCKER},
            timeout=RUN_TIMEOUT,
        )

    assert deployed.returncode == 0, describe(deployed)
    # Rich may wrap the line inside its panel.
    names = set(re.findall(r"Deployment 'daily-report/([^']+)'[\s│]*successfully", deployed.stdout))
    assert names == {"daily-report", "daily-report-second"}, describe(deployed)
    # One build and one push for both, whatever the number of production deployments.
    builds, pushes = docker_engine.asked("build"), docker_engine.asked("push")
    assert (len(builds), len(pushes)) == ((1, 1) if builds_image else (0, 0)), docker_engine.requests
    if builds_image:
        [(path, query)] = pushes
        image = f"{path.split('/images/', 1)[1].removesuffix('/push')}:{query['tag']}"
    for item in written["deployments"]:
        if item["name"] not in names:
            continue
        found = last_json_line(
            run_ok([python, "-c", DEPLOYMENT, f"daily-report/{item['name']}"], project.path, env=server.env)
        )
        expected_variables = dict(item["work_pool"]["job_variables"])
        if builds_image:
            assert expected_variables["image"] == "{{ build-image.image }}"
            expected_variables["image"] = image  # the one pushed image, in every deployment
        assert (found["pool"], found["pool_type"]) == (answers["work_pool"], pool_type)
        assert found["job_variables"] == expected_variables
        assert found["parameters"] == (item.get("parameters") or {})
        assert found["schedules"] == [[entry["cron"], "UTC", True] for entry in item["schedules"]]
        # The limit lives in a global concurrency limit, not in the deployment's own field.
        assert (found["limit"], found["collision"]) == (1, "ENQUEUE")
        assert found["pull_steps"] == item["pull"]
    assert written["deployments"][0]["schedules"][0]["cron"] == answers["schedule_cron"]


def start_run(project: Installed, env: dict[str, str], deployment: str, *options: str) -> str:
    """Create a flow run of the deployment now; return its id."""
    prefect, _ = prefect_tools(project)
    started = run_ok([prefect, "deployment", "run", f"daily-report/{deployment}", *options], project.path, env=env)
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", started.stdout)
    assert flow_run_id, describe(started)
    return flow_run_id.group(1)


def flow_run(project: Installed, env: dict[str, str], flow_run_id: str) -> dict[str, str]:
    """Return a flow run's name, state type and state message."""
    _, python = prefect_tools(project)
    return last_json_line(run_ok([python, "-c", FLOW_RUN, flow_run_id], project.path, env=env))


def run_worker(project: Installed, pool: str, cwd: Path, env: dict[str, str], log: Path) -> str:
    """Run a worker of the bake once over the pool, until its runs end; return what it printed."""
    prefect, _ = prefect_tools(project)
    command = [prefect, "worker", "start", "--pool", pool, "--run-once"]
    with process_group(command, cwd, env, log) as worker:
        try:
            worker.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker never finished:\n{log.read_text(errors='replace')}")
    printed = log.read_text(errors="replace")
    assert worker.returncode == 0, printed
    return printed


def sample_data(project: Installed, target: Path) -> Path:
    """Write the bake's sample inputs to target with its own command."""
    command = str(project.path / ".venv/bin" / project.baked.answers["project_slug"])
    run_ok([command, "sample-data", "--rows", "2000", "--out", str(target)], project.path, env=project.env)
    return target


def test_a_process_worker_runs_the_production_deployment_from_its_checkout(
    installed_backend: Callable[[str], Installed], server: Server, tmp_path: Path
) -> None:
    project = installed_backend(BAKE_OF_TYPE["process"])
    prefix = project.baked.answers["package_name"].upper() + "_"
    deploy_production(project, server)
    sample, output = sample_data(project, tmp_path / "sample"), tmp_path / "output"

    flow_run_id = start_run(
        project,
        server.env,
        "daily-report",
        *("--param", f"source_uri={sample}", "--param", f"output_uri={output}"),
        # No Polars Cloud here: the same deployment, on local Polars.
        *("--job-variable", "env=" + json.dumps({f"{prefix}COMPUTE_MODE": "local"})),
    )
    # The worker starts elsewhere: the pull step must take the run to the checkout.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    worker_env = {**server.env, f"{prefix}CHECKOUT_DIR": str(project.path)}
    printed = run_worker(project, project.baked.answers["work_pool"], elsewhere, worker_env, tmp_path / "worker.log")

    assert flow_run(project, server.env, flow_run_id)["state"] == "COMPLETED", printed
    assert list(output.rglob("*.parquet")), f"no report under {output}:\n{printed}"


@dataclass
class Capture:
    """What a webhook receiver on loopback was sent."""

    url: str
    posts: list[dict]

    def wait_for(self, count: int, seconds: float) -> list[dict]:
        """Wait until count POSTs arrived or seconds passed; return the POSTs so far."""
        deadline = time.monotonic() + seconds
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.5)
        return list(self.posts)


@pytest.fixture
def capture() -> Iterator[Capture]:
    """A tiny HTTP server on 127.0.0.1 that records every POST's path and JSON body."""
    posts: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append({"path": self.path, "json": json.loads(body), "at": time.time()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            """Keep the test's output quiet."""

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield Capture(f"http://127.0.0.1:{receiver.server_address[1]}/hook/{TOKEN}", posts)
    finally:
        receiver.shutdown()
        receiver.server_close()


# A deployment added to prefect.yaml after `make alerts`, as a user adds one.
ADDED_LATER = "added-after-alerts-local"
LATER_ENTRY = """
  - name: {name}
    entrypoint: flows/daily_report.py:daily_report
    tags: *project-tags
    concurrency_limit:
      limit: 1
      collision_strategy: ENQUEUE
    work_pool:
      name: local
      job_variables:
        env:
          {prefix}COMPUTE_MODE: local
"""


def test_failures_and_late_runs_reach_the_webhook_once_and_successes_never(
    installed_backend: Callable[[str], Installed], server: Server, capture: Capture, tmp_path: Path
) -> None:
    project = installed_backend(BAKE_OF_TYPE["process"])
    answers = project.baked.answers
    assert answers["alerts"] == "webhook"
    prefect, python = prefect_tools(project)
    prefix = answers["package_name"].upper() + "_"
    env = {**project.env, "PREFECT_API_URL": server.url}
    outputs: list[str] = []

    def ok(command: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
        result = run_ok(command, project.path, env={**env, **extra}, timeout=RUN_TIMEOUT)
        outputs.append(result.stdout + result.stderr)
        return result

    # Production on its process pool, where no worker runs: a run of it will be late.
    deploy_production(project, server)
    ok([prefect, "work-pool", "create", "local", "--type", "process", "--overwrite"])
    ok([prefect, "--no-prompt", "deploy", "--name", "daily-report-local"])
    # The service account where the prefect-secret backend reads it, so the doctor passes.
    ok(["make", "blocks"], POLARS_CLOUD_CLIENT_ID="e2e-id", POLARS_CLOUD_CLIENT_SECRET="e2e-secret")
    doctor = run(["make", "doctor"], project.path, env=env)
    assert doctor.returncode != 0 and "run `make alerts`" in doctor.stderr, describe(doctor)

    # The link is built by `make alerts` from the UI URL it is given (else the API's server).
    alert_env = {
        f"{prefix}ALERT_WEBHOOK_URL": capture.url,
        f"{prefix}ALERT_LATE_AFTER_MINS": "1",
        "PREFECT_UI_URL": UI_URL,
    }
    ok(["make", "alerts"], **alert_env)
    ok(["make", "alerts"], **alert_env)
    automations = last_json_line(ok([python, "-c", AUTOMATIONS]))
    slug = answers["project_slug"]
    # The two alerts, and the zombie automation `make alerts` installs whatever the channel.
    expected = ["crash runs without heartbeat", "flow run failed", "flow run late"]
    assert automations == sorted(f"{slug}: {name}" for name in expected)
    assert "alerts:         webhook" in ok(["make", "doctor"]).stdout
    # A deployment created after the alerts: they match the project's tag, not a list of the
    # deployments there were, so its failing run below is alerted without `make alerts` again.
    with appended_to_prefect_yaml(project.path, LATER_ENTRY.format(name=ADDED_LATER, prefix=prefix)):
        ok([prefect, "--no-prompt", "deploy", "--name", ADDED_LATER], DOCKER_HOST=NO_DOCKER)

    # Due now, on a pool nobody polls: marked Late within seconds, then a minute goes by.
    late = flow_run(project, env, start_run(project, env, "daily-report"))
    late_deadline = time.monotonic() + 60 + ALERT_TIMEOUT

    # A run that succeeds, then one that fails, both run by a worker.
    sample, output = sample_data(project, tmp_path / "sample"), tmp_path / "output"
    succeeded_id = start_run(
        project, env, "daily-report-local", "--param", f"source_uri={sample}", "--param", f"output_uri={output}"
    )
    outputs.append(run_worker(project, "local", project.path, env, tmp_path / "worker-1.log"))
    succeeded = flow_run(project, env, succeeded_id)
    assert succeeded["state"] == "COMPLETED", outputs[-1]
    missing = tmp_path / "no-such-input"
    failed_id = start_run(
        project, env, ADDED_LATER, "--param", f"source_uri={missing}", "--param", f"output_uri={output}"
    )
    outputs.append(run_worker(project, "local", project.path, env, tmp_path / "worker-2.log"))
    failed = flow_run(project, env, failed_id)
    assert failed["state"] == "FAILED", outputs[-1]

    def about(name: str) -> list[dict]:
        return [post for post in capture.posts if post["json"]["subject"].startswith(f"{name} (")]

    for name, deadline in ((failed["name"], time.monotonic() + ALERT_TIMEOUT), (late["name"], late_deadline)):
        while not about(name) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert about(name), f"no POST about {name}:\n{server.log.read_text(errors='replace')[-5000:]}"
    time.sleep(QUIET)  # time for a duplicate, or a POST about the success, to show up

    assert len(about(failed["name"])) == 1 and len(about(late["name"])) == 1, capture.posts
    assert len(capture.posts) == 2, capture.posts  # nothing about the run that succeeded
    [failure] = about(failed["name"])
    text = failure["json"]["text"]
    assert failure["path"] == f"/hook/{TOKEN}"
    assert f"Flow run {failed['name']} of daily-report/{ADDED_LATER} is Failed." in text
    assert f"Run: {UI_URL}/runs/flow-run/{failed_id}" in text, "no link to the run"
    assert f"Run id: {failed_id}" in text
    assert "Days: the UTC day before" in text and f"Message: {failed['message']}" in text
    late_text = about(late["name"])[0]["json"]["text"]
    assert f"Flow run {late['name']} of daily-report/daily-report was due at" in late_text
    assert "has not started" in late_text and f"work pool {answers['work_pool']}" in late_text
    for post, run_end in ((failure, failed["end"]), (about(late["name"])[0], None)):
        delay = f", {post['at'] - run_end:.1f}s after the run ended" if run_end else ""
        print(f"\nwebhook POST{delay}: {json.dumps(post['json'])}")

    shown = [*outputs, server.log.read_text(errors="replace")]
    assert not [text for text in shown if TOKEN in text], "the webhook URL was printed"
    written = [
        path
        for path in project.path.rglob("*")
        if path.is_file() and not {".venv", ".git"} & set(path.parts) and TOKEN.encode() in path.read_bytes()
    ]
    assert not written, "the webhook URL was written to a file"
