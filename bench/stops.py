"""Stop times by entry and phase: seconds from a signal to the run's exit, and what it left.

    uv run python bench/stops.py --baseline REV --repeats 1      # the published run
    uv run python bench/stops.py --rows 2000000 --repeats 1 --out /tmp/stops.md   # a smoke run
    uv run python bench/stops.py --from-json RUN.json    # the section again from a run kept with --json

Bakes this checkout (and, with --baseline, the template as it was at git revision REV) with the
defaults, and measures each bake the same way, one after the other (stops_report.SCENARIOS):
a user's script calling the flow in cloud mode on the bake's simulator (bench/stop_runner.py)
with a live Prefect server, on Prefect's temporary server, or with a server that dies (kill -9)
as the run gets its signal, signalled while the clusters boot, while queries run or while it
publishes; `make run CLOUD=sim` and a local `make run`, Ctrl-C while their queries run; and
`kill -9` of a local run (until its Prefect server frees its port). A run still up CAP_S after
its signal is killed and reported as still running.

Each run says what it left: clusters stopped of those requested and queries cancelled (from the
simulator's call log: a stopped run may end with os._exit, so nothing is written on the way
out), how many INTERRUPTED lines it printed and whether a traceback followed. Writes the
"Stop times" section of --out, in place of an earlier one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopback import free_port, serving  # bench/, on sys.path as the script's folder
from run import load_average, machine, prefect_server, versions
from stops_report import BOOT_S, CAP_S, PORT_CAP_S, SLOW_PUBLISH_S, section, splice

TEMPLATE = Path(__file__).resolve().parent.parent
BENCH = TEMPLATE / "bench"
SLUG = "daily-reports"
PREFIX = "DAILY_REPORTS_"
DAYS = ("2026-11-01", "2026-11-03")  # the publish scenario's days; the others report the first
ACCOUNT = {"POLARS_CLOUD_CLIENT_ID": "bench-client", "POLARS_CLOUD_CLIENT_SECRET": "bench-secret"}
Result = dict[str, Any]


@dataclass
class Run:
    """A command started in a session of its own, its output collected as it comes."""

    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.output)

    def wait_until(self, ready: Callable[[], bool], timeout: float = 600) -> None:
        """Poll ready() until true; fail if the run ends first or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):  # our run's group, stalled
                    os.killpg(self.process.pid, signal.SIGKILL)
                raise RuntimeError(f"the run ended or stalled first:\n{self.text()[-3000:]}")
            time.sleep(0.05)

    def stop_with(self, signum: int, group: bool = True, log: Path | None = None) -> Result:
        """Signal the run (its process group, or the process alone); wait at most CAP_S.

        Returns the seconds to exit, whether it was still running at CAP_S (then killed), its
        exit code, and what it printed after the signal: INTERRUPTED lines, a traceback. With
        the simulator's log, also when its last cluster stop was seen (within 0.1 s): an older
        bake's log does not say when a call came.
        """
        if self.process.poll() is not None:
            raise RuntimeError(f"the run ended before its signal (more --rows?):\n{self.text()[-3000:]}")
        mark, sent = len(self.output), time.monotonic()
        stops = count(log, "stop_compute_cluster") if log else 0
        seen: float | None = None
        (os.killpg if group else os.kill)(self.process.pid, signum)
        while self.process.poll() is None and time.monotonic() - sent < CAP_S:
            if log and count(log, "stop_compute_cluster") > stops:
                stops, seen = count(log, "stop_compute_cluster"), time.monotonic() - sent
            time.sleep(0.1)
        running = self.process.poll() is None
        seconds = CAP_S if running else time.monotonic() - sent
        if log and count(log, "stop_compute_cluster") > stops:  # logged as the run ended
            seen = min(seconds, CAP_S)
        with contextlib.suppress(ProcessLookupError):  # what is left of our run's group
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        time.sleep(0.2)  # the pump's last lines
        after = "".join(self.output[mark:])
        lines = [line for line in after.splitlines() if "INTERRUPTED" in line]
        rest = after[after.index(lines[0]) :] if lines else after
        return {
            "seconds": seconds, "still_running": running, "code": self.process.returncode,
            "interrupted": len(lines), "traceback": "Traceback" in rest,
            "line": lines[0].strip() if lines else "", "tail": after[-1500:], "stop_seen_s": seen,
        }

    def server(self) -> int:
        """Wait until the Prefect server the run starts for itself answers; return its port."""
        port: int | None = None

        def up() -> bool:
            nonlocal port
            port = port or server_port(self.process.pid)
            return port is not None and listening(port)

        self.wait_until(up)
        assert port is not None
        return port


def start(command: list[str], cwd: Path, env: dict[str, str]) -> Run:
    """Start command as a terminal starts a foreground job: in a process group of its own."""
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    run = Run(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.output.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return run


def calls(log: Path) -> list[dict[str, Any]]:
    """The simulator's calls so far (not a line being written)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line) for line in lines if line.endswith("}")]


def count(log: Path, name: str, preset: str | None = None) -> int:
    return sum(c["name"] == name and preset in (None, c["preset"]) for c in calls(log))


def fates(log: Path, signalled_at: float) -> Result:
    """What the calls say of the clusters and queries: stops matched to starts by preset.

    Today's log says, for each stop, whether the cluster had booted, and when it came (`at`);
    an older bake's says neither: then the fates its runner wrote when the run ended by an
    exception (CALLS.clusters.json) tell the boots, if that file is there.
    """
    logged = calls(log)
    requested = [c["preset"] for c in logged if c["name"] == "start_compute"]
    stops = [c for c in logged if c["name"] == "stop_compute_cluster"]
    stopped = sum(min(requested.count(p), sum(s["preset"] == p for s in stops)) for p in set(requested))
    booted: list[bool] | None = [bool(s["booted"]) for s in stops] if all("booted" in s for s in stops) else None
    kept = Path(f"{log}.clusters.json")
    if booted is None and kept.exists():
        booted = [f["booted"] for f in json.loads(kept.read_text()) if f["stopped"]]
    after = [s["at"] - signalled_at for s in stops if "at" in s and s["at"] >= signalled_at]
    before = sum("at" in s and s["at"] < signalled_at for s in stops)
    return {
        "requested": len(requested), "stopped": stopped,
        "stopped_booted": None if booted is None else sum(booted),
        "last_stop_s": max(after) if after else None, "stopped_before": before,
        "cancelled": sum(c["name"] == "cancel_direct_query" for c in logged),
    }


def script_stop(project: Path, env: dict[str, str], sample: Path, scenario: str, api: str | None) -> Result:
    """A user's script calling the flow on the simulator (bench/stop_runner.py), signalled."""
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "calls.jsonl"
        run_env = env | {"PREFECT_HOME": str(Path(scratch) / "prefect-home")}  # the temporary server's
        run_env.pop("PREFECT_API_URL", None)
        options = ["--start", DAYS[0]]
        if scenario.endswith("boot"):
            options += ["--boot-seconds", str(BOOT_S)]
        if scenario.endswith("query"):
            options += ["--hang", "small"]
        if scenario.endswith("publish"):
            options = ["--start", DAYS[0], "--end", DAYS[1], "--slow-publish", str(SLOW_PUBLISH_S)]
        with dying_api(api) if scenario == "dying_api_boot" else contextlib.nullcontext((api, None)) as (url, kill_api):
            if url:
                run_env["PREFECT_API_URL"] = url
            command = [str(project / ".venv/bin/python"), str(BENCH / "stop_runner.py"), str(log), str(sample), *options]
            run = start(command, project, run_env)
            if scenario.endswith("boot"):
                run.wait_until(lambda: count(log, "start_compute") == 2)
                time.sleep(0.5)  # well inside the wait, not at its first instruction
            elif scenario.endswith("query"):
                run.wait_until(lambda: count(log, "first status poll", "small") == 2)
                time.sleep(0.5)
            else:
                run.wait_until(lambda: count(log, "publish day") >= 1)
                time.sleep(SLOW_PUBLISH_S + 0.5)  # the first day is published, the next under way
            if kill_api:
                kill_api()  # the API dies as the signal comes
            sent_at = time.time()
            sent = count(log, "do_query")
            temporary = scenario.startswith("temporary")
            result = run.stop_with(signal.SIGINT if scenario.endswith("query") else signal.SIGTERM, group=temporary, log=log)
        return result | fates(log, sent_at) | {"sent": sent}


@contextlib.contextmanager
def dying_api(api: str | None) -> Iterator[tuple[str, Callable[[], None]]]:
    """A loopback proxy before the bench's Prefect server, in a process of its own: its URL,
    and how to kill it (-9)."""
    proxy = subprocess.Popen([sys.executable, str(BENCH / "api_proxy.py"), str(api)], stdout=subprocess.PIPE, text=True)

    def kill() -> None:
        if proxy.poll() is None:
            os.kill(proxy.pid, signal.SIGKILL)
            proxy.wait()

    try:
        assert proxy.stdout is not None
        yield proxy.stdout.readline().strip(), kill
    finally:
        kill()


def sim_make_run(project: Path, env: dict[str, str], rows: int) -> Result:
    """`make run CLOUD=sim` (bench/sim_entry.py logs its simulator's calls), Ctrl-C mid-query."""
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "calls.jsonl"
        run_env = env | {"BENCH_CALLS": str(log), "PREFECT_HOME": str(Path(scratch) / "prefect-home")}
        command = [str(project / ".venv/bin/python"), str(BENCH / "sim_entry.py"), "--flow", "daily_report", "--rows", str(rows), "--days", "1"]
        run = start(command, project, run_env)
        run.wait_until(lambda: "Beginning flow run" in run.text())
        time.sleep(3)  # the small preset's queries are under way
        sent_at, sent = time.time(), count(log, "do_query")
        result = run.stop_with(signal.SIGINT, log=log)
        return result | fates(log, sent_at) | {"sent": sent}


def digest(folder: Path) -> list[tuple[str, int, int]]:
    """Each file's name, size and modification time: what tells whether the report changed."""
    return sorted((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file())


def server_port(run_pid: int) -> int | None:
    """The port of the Prefect server a run started (a child in a session of its own), if up."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            words = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == run_pid and b"server" in words and b"--port" in words:
                return int(words[words.index(b"--port") + 1])
    return None


def listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def holder_pids(port: int) -> list[int]:
    """The processes that still hold a loopback port (an orphaned server), to clean up after."""
    out = subprocess.run(["fuser", f"{port}/tcp"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in out.stdout.split()]


def local_ctrl_c(project: Path, env: dict[str, str], sample: Path, output: Path) -> Result:
    """`make run`'s command, Ctrl-C while its orders query writes: the report must survive."""
    before = digest(output / "daily_report")
    command = [str(project / ".venv/bin/python"), "flows/daily_report.py", "--source", str(sample), "--output", str(output)]
    run = start(command, project, env)
    port = run.server()
    run.wait_until(lambda: any((output / "_staging").glob("*/orders/*")))
    time.sleep(1)  # the query is well under way
    result = run.stop_with(signal.SIGINT)
    freed = not listening(port)
    for pid in holder_pids(port):  # an orphan of this measurement: ours to end
        os.kill(pid, signal.SIGKILL)
    return result | {"unchanged": digest(output / "daily_report") == before, "port_freed": freed}


def kill_9_local(project: Path, env: dict[str, str], sample: Path, output: Path) -> Result:
    """kill -9 of a local run once its server is up: seconds until the server's port is free."""
    command = [str(project / ".venv/bin/python"), "flows/daily_report.py", "--source", str(sample), "--output", str(output)]
    run = start(command, project, env)
    port = run.server()
    sent = time.monotonic()
    os.killpg(run.process.pid, signal.SIGKILL)
    run.process.wait()
    while listening(port) and time.monotonic() - sent < PORT_CAP_S:
        time.sleep(0.1)
    seconds = min(time.monotonic() - sent, PORT_CAP_S)
    for pid in holder_pids(port):  # the orphan an older template left: ours to end
        os.kill(pid, signal.SIGKILL)
    return {"seconds": seconds, "still_running": seconds >= PORT_CAP_S}


def bake(template: Path, output_dir: Path) -> Path:
    """Generate the default project from template and install it."""
    subprocess.run(["cookiecutter", "--no-input", str(template), "-o", str(output_dir)], check=True, capture_output=True)
    project = output_dir / SLUG
    subprocess.run(["uv", "sync", "--locked", "-q"], cwd=project, check=True)
    return project


@contextlib.contextmanager
def template_at(revision: str | None) -> Iterator[Path]:
    """This checkout, or the template as it was at a git revision (exported to a folder)."""
    if revision is None:
        yield TEMPLATE
        return
    with tempfile.TemporaryDirectory() as scratch:
        archive = subprocess.run(["git", "-C", str(TEMPLATE), "archive", revision], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", scratch], input=archive, check=True)
        yield Path(scratch)


def measure(template: Path, rows: int, repeats: int) -> tuple[dict[str, list[Result]], dict[str, str]]:
    """Every scenario, repeats times, on one bake of template; and the bake's versions."""
    results: dict[str, list[Result]] = {}

    def keep(name: str, measurement: Callable[[], Result]) -> None:
        """Measure once; again if the run ended before its signal (a busy machine's timeout)."""
        try:
            result = measurement()
        except RuntimeError as error:
            print(f"    {name}: once more, the run ended before its signal: {str(error)[-300:]}", flush=True)
            result = measurement()
        results.setdefault(name, []).append(result)
        shown = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in result.items() if k not in ("tail", "line")}
        print(f"    {name}: {shown}", flush=True)

    with tempfile.TemporaryDirectory() as scratch:
        project = bake(template, Path(scratch))
        installed = versions(project)
        python, cli = str(project / ".venv/bin/python"), str(project / f".venv/bin/{SLUG}")
        small, days, big = Path(scratch) / "small", Path(scratch) / "days", Path(scratch) / "big"
        for folder, size, last in ((small, 1000, DAYS[0]), (days, 1000, DAYS[1]), (big, rows, DAYS[0])):
            subprocess.run([cli, "sample-data", "--rows", str(size), "--start", DAYS[0], "--end", last, "--out", str(folder)], cwd=project, check=True, capture_output=True)
        # `make run CLOUD=sim`'s own sample: one day ending yesterday, written before it starts.
        subprocess.run([cli, "sample-data", "--rows", str(rows), "--days", "1"], cwd=project, check=True, capture_output=True)
        home = Path(scratch) / "prefect-home"
        base = os.environ | {
            "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # The temporary server's 20 s to answer is too short on a busy machine.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
        }
        base.pop("PREFECT_API_URL", None)
        s3 = free_port()
        moto = [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3)]
        with prefect_server(project, home) as api, serving(moto, f"http://127.0.0.1:{s3}/moto-api/"):
            cloud = base | ACCOUNT | {
                "PYTHONPATH": str(project), f"{PREFIX}COMPUTE_MODE": "cloud",
                f"{PREFIX}SECRET_BACKEND": "env", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
                "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
            }
            for _ in range(repeats):
                keep("script_api_boot", lambda: script_stop(project, cloud, small, "api_boot", api))
                keep("temporary_boot", lambda: script_stop(project, cloud, small, "temporary_boot", None))
                keep("temporary_query", lambda: script_stop(project, cloud, small, "temporary_query", None))
                keep("dying_api_boot", lambda: script_stop(project, cloud, small, "dying_api_boot", api))
                keep("script_api_publish", lambda: script_stop(project, cloud, days, "api_publish", api))
        for _ in range(repeats):
            keep("sim_make_run_query", lambda: sim_make_run(project, base, rows))
        # Local runs as `make run` makes them: no PREFECT_API_URL, a server of their own.
        output = Path(scratch) / "output"
        subprocess.run([python, "flows/daily_report.py", "--source", str(big), "--output", str(output)], cwd=project, env=base, check=True, capture_output=True)
        for _ in range(repeats):
            keep("local_make_run_query", lambda: local_ctrl_c(project, base, big, output))
            keep("kill_9", lambda: kill_9_local(project, base, small, Path(scratch) / "output-small"))
            shutil.rmtree(output / "_staging", ignore_errors=True)
    return results, installed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="a git revision of the template to measure beside this checkout")
    parser.add_argument("--rows", type=int, default=8_000_000, help="orders in the day of the runs Ctrl-C stops mid-query")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=TEMPLATE / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, help="also keep the measurements here")
    parser.add_argument("--from-json", type=Path, help="render a run kept with --json; measure nothing")
    args = parser.parse_args()
    # A shell starts a background job (`... &`) with SIGINT ignored, and its children inherit
    # that: a run would then ignore Ctrl-C, as a run should. Runs get it as a terminal sends it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if args.from_json:
        kept = json.loads(args.from_json.read_text())
    else:
        kept = {"rows": args.rows, "repeats": args.repeats, "about": machine(), "measured": {}}
        for name, revision in ([(f"before ({args.baseline})", args.baseline)] if args.baseline else []) + [("after", None)]:
            print(f"{name}: baking and measuring", flush=True)
            with template_at(revision) as template:
                kept["measured"][name], installed = measure(template, args.rows, args.repeats)
        kept["about"]["load average at the end"] = load_average()
        kept["about"] |= {k: v for k, v in installed.items() if k in ("polars", "polars-cloud", "prefect")}
        if args.json:
            args.json.write_text(json.dumps(kept, indent=2))
    page = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    args.out.write_text(splice(page, section(kept["measured"], kept["rows"], kept["repeats"], kept["about"])))
    print(f"wrote the section to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
