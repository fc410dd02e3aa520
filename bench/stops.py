"""Stop times side by side: seconds from a signal to the run's exit, and what the run left.

    uv run python bench/stops.py --baseline REV                  # the published run
    uv run python bench/stops.py --rows 4000000 --repeats 1 --out /tmp/stops.md   # a smoke run
    uv run python bench/stops.py --from-json RUN.json    # the section again from a run kept with --json

Bakes this checkout (and, with --baseline, the template as it was at git revision REV) with the
defaults, and measures each bake the same way, one after the other:

- SIGTERM while both presets' clusters boot on simulated Polars Cloud (a 120 s boot): seconds to
  exit, clusters requested and stopped;
- Ctrl-C while the small preset's two queries run on simulated Polars Cloud (90 s each, the main
  thread waiting for their tasks): seconds to exit, queries cancelled, clusters stopped;
- Ctrl-C during the local report of one day of ROWS orders (`make run`'s command, with the
  Prefect server it starts for itself), sent once the orders query is writing: seconds to exit,
  whether the published report is unchanged, whether the server's port was freed;
- `kill -9` of a local run: seconds until the Prefect server it started frees its port.

Every signal goes to the run's process group, as a terminal's Ctrl-C or a container stop does.
The simulated cloud runs (bench/stop_runner.py) use the bake's own simulator against a moto S3
and one running Prefect server. Writes the "Stop times" section of --out, before its findings.
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

from loopback import free_port, serving  # bench/, on sys.path as the script's folder
from run import load_average, machine, prefect_server, versions
from stops_report import BOOT_S, CAP_S, PORT_CAP_S, QUERY_S, section, splice

TEMPLATE = Path(__file__).resolve().parent.parent
BENCH = TEMPLATE / "bench"
SLUG = "daily-reports"
PREFIX = "DAILY_REPORTS_"
DAY = "2026-11-01"
ACCOUNT = {"POLARS_CLOUD_CLIENT_ID": "bench-client", "POLARS_CLOUD_CLIENT_SECRET": "bench-secret"}


@dataclass
class Run:
    """A command started in a session of its own, its output collected as it comes."""

    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)

    def wait_until(self, ready: Callable[[], bool], timeout: float = 600) -> None:
        """Poll ready() until true; fail if the run ends first or time runs out."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the run ended or stalled first:\n{''.join(self.output)[-3000:]}")
            time.sleep(0.05)

    def stop_with(self, signum: int) -> float:
        """Signal the process group; return seconds until the run exited (CAP_S: killed)."""
        if self.process.poll() is not None:
            raise RuntimeError(f"the run ended before its signal (more --rows?):\n{''.join(self.output)[-3000:]}")
        sent = time.monotonic()
        os.killpg(self.process.pid, signum)
        try:
            self.process.wait(timeout=CAP_S)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            return CAP_S
        return time.monotonic() - sent

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


def calls(log: Path) -> list[dict[str, str]]:
    """The simulator's calls so far."""
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def count(log: Path, name: str) -> int:
    return sum(call["name"] == name for call in calls(log))


def cloud_stop(project: Path, env: dict[str, str], sample: Path, scenario: str) -> dict[str, float]:
    """One signalled cloud-mode run on the simulator: SIGTERM during the boots, or Ctrl-C during
    the small preset's queries."""
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "calls.jsonl"
        latency = ["--boot-seconds", str(BOOT_S)] if scenario == "boot" else ["--query-seconds", str(QUERY_S)]
        command = [str(project / ".venv/bin/python"), str(BENCH / "stop_runner.py"), str(log), str(sample), "--day", DAY, *latency]
        run = start(command, project, env)
        if scenario == "boot":
            run.wait_until(lambda: count(log, "start_compute") == 2)
        else:
            run.wait_until(lambda: any(c["name"] == "first status poll" and c["preset"] == "small" for c in calls(log)))
        time.sleep(0.5)  # well inside the wait, not at its first instruction
        seconds = run.stop_with(signal.SIGTERM if scenario == "boot" else signal.SIGINT)
        fates_file = Path(f"{log}.clusters.json")
        fates = json.loads(fates_file.read_text()) if fates_file.exists() else []
        return {
            "seconds": seconds,
            "requested": count(log, "start_compute"),
            "stopped": count(log, "stop_compute_cluster"),
            "stopped_booting": sum(f["stopped"] and not f["booted"] for f in fates),
            "cancelled": count(log, "cancel_direct_query"),
        }


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


def local_ctrl_c(project: Path, env: dict[str, str], sample: Path, output: Path) -> dict[str, float]:
    """Ctrl-C while the local orders query writes; the report published before must survive."""
    before = digest(output / "daily_report")
    command = [str(project / ".venv/bin/python"), "flows/daily_report.py", "--source", str(sample), "--output", str(output)]
    run = start(command, project, env)
    port = run.server()
    run.wait_until(lambda: any((output / "_staging").glob("*/orders/*")))
    time.sleep(1)  # the query is well under way
    seconds = run.stop_with(signal.SIGINT)
    freed = not listening(port)
    for pid in holder_pids(port):  # an orphan of this measurement: ours to end
        os.kill(pid, signal.SIGKILL)
    return {"seconds": seconds, "unchanged": float(digest(output / "daily_report") == before), "port_freed": float(freed)}


def kill_9_local(project: Path, env: dict[str, str], sample: Path, output: Path) -> dict[str, float]:
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
    for pid in holder_pids(port):  # the orphan the old template left: ours to end
        os.kill(pid, signal.SIGKILL)
    return {"seconds": seconds}


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


def measure(template: Path, rows: int, repeats: int) -> tuple[dict[str, list[dict[str, float]]], dict[str, str]]:
    """Every scenario, repeats times, on one bake of template; and the bake's versions."""
    results: dict[str, list[dict[str, float]]] = {"boot": [], "cloud_ctrl_c": [], "local_ctrl_c": [], "kill_9": []}
    with tempfile.TemporaryDirectory() as scratch:
        project = bake(template, Path(scratch))
        installed = versions(project)
        python, cli = str(project / ".venv/bin/python"), str(project / f".venv/bin/{SLUG}")
        small, big = Path(scratch) / "small", Path(scratch) / "big"
        for folder, size in ((small, 1000), (big, rows)):
            subprocess.run([cli, "sample-data", "--rows", str(size), "--start", DAY, "--end", DAY, "--out", str(folder)], cwd=project, check=True, capture_output=True)
        home = Path(scratch) / "prefect-home"
        base = os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        base.pop("PREFECT_API_URL", None)
        s3 = free_port()
        moto = [python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3)]
        with prefect_server(project, home) as api, serving(moto, f"http://127.0.0.1:{s3}/moto-api/"):
            cloud = base | ACCOUNT | {
                "PREFECT_API_URL": api, "PYTHONPATH": str(project), f"{PREFIX}COMPUTE_MODE": "cloud",
                f"{PREFIX}SECRET_BACKEND": "env", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3}",
                "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
            }
            for _ in range(repeats):
                results["boot"].append(cloud_stop(project, cloud, small, "boot"))
                print(f"    SIGTERM during the boots: {results['boot'][-1]}", flush=True)
                results["cloud_ctrl_c"].append(cloud_stop(project, cloud, small, "query"))
                print(f"    Ctrl-C during cloud queries: {results['cloud_ctrl_c'][-1]}", flush=True)
        # Local runs as `make run` makes them: no PREFECT_API_URL, a server of their own.
        output = Path(scratch) / "output"
        subprocess.run([python, "flows/daily_report.py", "--source", str(big), "--output", str(output)], cwd=project, env=base, check=True, capture_output=True)
        for _ in range(repeats):
            results["local_ctrl_c"].append(local_ctrl_c(project, base, big, output))
            print(f"    Ctrl-C during the local report: {results['local_ctrl_c'][-1]}", flush=True)
            results["kill_9"].append(kill_9_local(project, base, small, Path(scratch) / "output-small"))
            print(f"    kill -9 of a local run: {results['kill_9'][-1]}", flush=True)
            shutil.rmtree(output / "_staging", ignore_errors=True)
    return results, installed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="a git revision of the template to measure beside this checkout")
    parser.add_argument("--rows", type=int, default=16_000_000, help="orders in the local run's day")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=TEMPLATE / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, help="also keep the measurements here")
    parser.add_argument("--from-json", type=Path, help="render a run kept with --json; measure nothing")
    args = parser.parse_args()
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
