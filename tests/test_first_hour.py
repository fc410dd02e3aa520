"""What a new user hits in the first hour with the defaults bake, through `make` (slow: installs).

Each test fails on what the first release did: Prefect's service noise on the first run,
about 70 s to exit after Ctrl-C, a `.partial` file left by SIGTERM, a page of traceback for a
corrupt input, and `make deploy` ending in a ConnectError that names no URL.
"""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import bake, clean_environment, describe, run, run_ok

pytestmark = pytest.mark.slow

INSTALL_TIMEOUT = 1200
# Enough orders that the flow is still busy a moment after it starts (about 4 s of Polars here).
BIG_ROWS = "6000000"
# "A few seconds": the run finishes the query in flight, records the crash, stops its server.
EXIT_BOUND_S = 20


def free_port() -> int:
    """Return a loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Project:
    """The defaults bake, installed, with the environment a new user's shell would have."""

    path: Path
    env: dict[str, str] = field(default_factory=dict)

    def make(self, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run make in the project."""
        return run(["make", *arguments], self.path, env=self.env, timeout=timeout)

    def partials(self) -> list[Path]:
        """Return every half-written file under data/."""
        return sorted((self.path / "data").rglob("*.partial"))

    def digest(self, relative: str) -> str:
        """Return the SHA-256 of a folder's files, their names included."""
        folder, sha = self.path / relative, hashlib.sha256()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            sha.update(str(path.relative_to(folder)).encode() + path.read_bytes())
        return sha.hexdigest()

    def sample_orders(self) -> list[Path]:
        """Return the sample's orders files, one a day."""
        return sorted((self.path / "data/sample/orders").glob("date=*/orders.csv"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """Bake and install the defaults, with a fresh PREFECT_HOME and Prefect's analytics left on."""
    root = tmp_path_factory.mktemp("first-hour")
    path = bake(root)
    # No PREFECT_SERVER_ANALYTICS_ENABLED=false here: a new user has not set it either.
    env = clean_environment(PREFECT_HOME=str(root / "prefect-home"))
    env.pop("PREFECT_SERVER_ANALYTICS_ENABLED", None)
    run_ok(["make", "install"], path, env=env, timeout=INSTALL_TIMEOUT)
    return Project(path, env)


@dataclass
class Running:
    """A `make` started in a session of its own, as a terminal starts a foreground job."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str | None]
    seen: list[str] = field(default_factory=list)

    def wait_for(self, text: str, timeout: float = 300) -> None:
        """Read output until a line holds text; fail if the command ends or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"ended before printing {text!r}:\n{''.join(self.seen)}")
            self.seen.append(line)
            if text in line:
                return
        pytest.fail(f"no {text!r} after {timeout:.0f}s:\n{''.join(self.seen)}")

    def stop_with(self, signum: int) -> tuple[float, str]:
        """Signal the whole foreground group; return seconds until make exited, and all output."""
        sent = time.monotonic()
        os.killpg(self.process.pid, signum)
        try:
            self.process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        elapsed = time.monotonic() - sent
        while (line := self.lines.get(timeout=30)) is not None:
            self.seen.append(line)
        return elapsed, "".join(self.seen)


@pytest.fixture
def start(project: Project) -> Iterator:
    """Return start(*make arguments) -> Running; kill whatever is left at the end."""
    started: list[Running] = []

    def _start(*arguments: str) -> Running:
        process = subprocess.Popen(
            ["make", *arguments],
            cwd=project.path,
            env=project.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, daemon=True).start()
        started.append(Running(process, lines))
        return started[-1]

    yield _start
    for running in started:
        if running.process.poll() is None:
            os.killpg(running.process.pid, signal.SIGKILL)
            running.process.wait()


def test_the_first_make_run_prints_only_what_a_user_needs(project: Project) -> None:
    result = project.make("run")

    printed = result.stdout + result.stderr
    assert result.returncode == 0, describe(result)
    for noise in ("Traceback", "database is locked", "telemetry", "| ERROR", "Error logging"):
        assert noise not in printed, f"{noise!r} in the first run's output:\n{printed}"
    # The run's own summary (its artifact's table), then where it wrote and the first rows.
    assert "| day | rows |" in printed and "written to " in printed


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stopped_run_exits_in_seconds_and_keeps_the_report(
    project: Project, start, signum: int
) -> None:
    orders = project.sample_orders()
    if len(orders) != 1 or orders[0].stat().st_size < 100_000_000:
        run_ok(["rm", "-rf", "data"], project.path, env=project.env)
        run_ok(["make", "sample-data", f"ROWS={BIG_ROWS}", "DAYS=1"], project.path, env=project.env)
        run_ok(["make", "run"], project.path, env=project.env)
    before = project.digest("data/output/daily_report")

    running = start("run")
    running.wait_for("Beginning flow run")
    time.sleep(0.5)
    elapsed, printed = running.stop_with(signum)

    assert elapsed < EXIT_BOUND_S, f"{elapsed:.0f}s to exit after {signum!r}:\n{printed}"
    interrupted = [line for line in printed.splitlines() if line.startswith("INTERRUPTED:")]
    assert len(interrupted) == 1, printed
    assert project.digest("data/output/daily_report") == before
    assert project.partials() == []
    assert "Traceback" not in printed


def test_sigterm_while_sample_data_is_written_leaves_no_partial(project: Project, start) -> None:
    run_ok(["rm", "-rf", "data/sample"], project.path, env=project.env)

    running = start("run", f"ROWS={BIG_ROWS}", "DAYS=1")
    running.wait_for("no sample data")
    time.sleep(1)
    elapsed, printed = running.stop_with(signal.SIGTERM)

    assert elapsed < EXIT_BOUND_S, printed
    assert project.partials() == [], printed


def test_a_later_run_removes_stale_partials(project: Project) -> None:
    # What SIGKILL or a power cut leaves: no process was left to clean up.
    day = "data/sample/orders/date=2026-11-01"
    stale = project.path / day / ".orders.csv.0123456789abcdef0123456789abcdef.partial"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"order_id,customer_id")

    result = project.make("sample-data", "ROWS=1000")

    assert result.returncode == 0, describe(result)
    assert project.partials() == []
    assert f"removed {day}/{stale.name}" in result.stdout


def test_make_run_on_a_corrupt_input_prints_one_error_line(project: Project) -> None:
    run_ok(["rm", "-rf", "data"], project.path, env=project.env)
    run_ok(["make", "sample-data", "ROWS=1000", "DAYS=1"], project.path, env=project.env)
    [orders] = project.sample_orders()
    orders.write_bytes(os.urandom(64 * 1024))
    try:
        result = project.make("run")
    finally:
        orders.unlink()

    printed = result.stdout + result.stderr
    errors = [line for line in printed.splitlines() if line.startswith("ERROR:")]
    assert result.returncode != 0
    assert len(errors) == 1 and str(orders) in errors[0], printed
    assert "Traceback" not in printed and len(printed.splitlines()) < 20, printed


def test_make_deploy_against_an_unreachable_api_names_it(project: Project) -> None:
    url = f"http://127.0.0.1:{free_port()}/api"

    result = run(["make", "deploy"], project.path, env={**project.env, "PREFECT_API_URL": url})

    printed = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"ERROR: the Prefect API at {url} is unreachable" in printed, printed
    assert "ConnectError:" not in printed and "Traceback" not in printed
