"""Bake a project and measure it side by side on this machine; write docs/benchmarks.md.

    uv run python bench/run.py                                   # the published run
    uv run python bench/run.py --sizes 2000 --repeats 1 --out /tmp/smoke.md   # a smoke run

Measures: the orchestration tax (the flow against a running Prefect server vs the same queries
with no orchestration), peak RSS per size, time to green with a warm uv cache, generation
alone, GetSecretValue calls per cloud-mode run, the runtime environment's size, and the sample
day on local Polars vs on the cloud code path against the simulated Polars Cloud, and cluster
lifecycles (boots, clusters left running, vCPU-hours) on the simulated Polars Cloud with scaled
boot and query latency:

    uv run python bench/run.py --only simulation                # that section alone, a few minutes
    uv run python bench/run.py --only green                     # time to green alone, ~2 minutes
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.main import cookiecutter
from loopback import free_port, serving  # bench/, on sys.path as the script's folder
from iceberg_publish import kept
from simulation import run_scenarios, section, splice

TEMPLATE = Path(__file__).resolve().parent.parent
BENCH = TEMPLATE / "bench"
SLUG, PACKAGE = "daily-reports", "daily_reports"


@dataclass(frozen=True)
class Run:
    """One measured process."""

    seconds: float
    peak_rss_mb: float  # the kernel's high-water mark, file-backed pages included
    peak_anon_mb: float  # sampled: memory the process itself holds (heap, not mapped files)


def has_exited(pid: int) -> bool:
    """Tell whether pid has exited, leaving it unreaped (wait4 still owes us its usage)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def peak_anonymous_mb(pid: int) -> float:
    """Poll /proc every 20 ms for RssAnon until the process exits; return the peak in MB."""
    peak = 0
    while not has_exited(pid):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            break
        for line in status.splitlines():
            if line.startswith("RssAnon:"):
                peak = max(peak, int(line.split()[1]))
        time.sleep(0.02)
    return peak / 1024


def measure(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> Run:
    """Run command to completion; return its wall time and its own peak memory."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    anon = peak_anonymous_mb(process.pid)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed:\n{process.stderr.read().decode()[-3000:]}")
    return Run(elapsed, usage.ru_maxrss / 1024, anon)


def side_by_side(first: list[str], second: list[str], project: Path, env: dict[str, str], repeats: int) -> tuple[list[Run], list[Run]]:
    """Measure two commands alternately, repeats times each, so drift hits both alike."""
    firsts, seconds = [], []
    for _ in range(repeats):
        firsts.append(measure(first, project, env))
        seconds.append(measure(second, project, env))
    return firsts, seconds


def sample_data(project: Path, rows: int, days: int, out: Path) -> Run:
    """Write the project's sample data: days days ending yesterday, rows orders a day."""
    return measure([str(project / f".venv/bin/{SLUG}"), "sample-data", "--rows", str(rows), "--days", str(days), "--out", str(out)], project)


def bake(output_dir: Path, **answers: str) -> Path:
    """Generate a project with the CLI, as a user would."""
    subprocess.run(
        ["cookiecutter", "--no-input", str(TEMPLATE), "-o", str(output_dir), *[f"{k}={v}" for k, v in answers.items()]],
        check=True,
        capture_output=True,
    )
    return output_dir / SLUG


@contextlib.contextmanager
def prefect_server(project: Path, home: Path) -> Iterator[str]:
    """A real Prefect server on loopback with its own SQLite database."""
    port = free_port()
    env = os.environ | {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    command = [str(project / ".venv/bin/prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/api"
    with serving(command, f"{url}/health", env, seconds=120):
        yield url


def orchestration(project: Path, sizes: list[int], repeats: int) -> list[dict[str, float]]:
    """Flow vs bare queries per size, alternating so drift hits both alike."""
    python = str(project / ".venv/bin/python")
    rows = []
    with tempfile.TemporaryDirectory() as home, prefect_server(project, Path(home)) as api:
        env = os.environ | {"PREFECT_API_URL": api, "PREFECT_HOME": home}
        # One unmeasured run registers the flow and warms the server's database.
        warm = project / "data" / "bench-warm"
        subprocess.run([python, "flows/daily_report.py", "--rows", "1000", "--days", "1", "--source", str(warm), "--output", str(warm / "out")], cwd=project, env=env, check=True, capture_output=True)
        for size in sizes:
            source = project / "data" / f"bench-{size}"
            generated = sample_data(project, size, 1, source)
            flow_runs, bare_runs = side_by_side(
                [python, "flows/daily_report.py", "--source", str(source), "--output", str(source / "flow")],
                [python, str(BENCH / "bare_report.py"), PACKAGE, str(source), str(source / "bare")],
                project, env, repeats,
            )
            flow = statistics.median(r.seconds for r in flow_runs)
            bare = statistics.median(r.seconds for r in bare_runs)
            rows.append(
                {
                    "rows": size,
                    "flow_s": flow,
                    "bare_s": bare,
                    "ratio": flow / bare,
                    "flow_rss_mb": max(r.peak_rss_mb for r in flow_runs),
                    "bare_rss_mb": max(r.peak_rss_mb for r in bare_runs),
                    "flow_anon_mb": max(r.peak_anon_mb for r in flow_runs),
                    "bare_anon_mb": max(r.peak_anon_mb for r in bare_runs),
                    "sample_data_s": generated.seconds,
                    "sample_data_rss_mb": generated.peak_rss_mb,
                }
            )
            shutil.rmtree(source)
            print(f"  {size:>11,} rows: flow {flow:.2f}s, bare {bare:.2f}s, ratio {flow / bare:.3f}", flush=True)
    return rows


def cloud_path(project: Path, sizes: list[int], repeats: int) -> list[dict[str, float]]:
    """The sample day on local Polars (`make run`) vs on the simulated cloud (`make run CLOUD=sim`).

    The simulated run is the cloud code path end to end (login, one cluster per preset, each
    query sent through the real polars_cloud client, clusters stopped) with the server side and
    S3 in process; its extra time is that path's client-side cost, not Polars Cloud's speed.
    """
    python = str(project / ".venv/bin/python")
    sample = project / "data" / "sample"
    rows = []
    with tempfile.TemporaryDirectory() as home, prefect_server(project, Path(home)) as api:
        env = os.environ | {"PREFECT_API_URL": api, "PREFECT_HOME": home}
        for size in sizes:
            shutil.rmtree(sample, ignore_errors=True)
            sample_data(project, size, 1, sample)
            local_runs, cloud_runs = side_by_side(
                [python, "flows/daily_report.py"], [python, "-m", "prefect_polars_cloud.testing.simulated_run", "--flow", "daily_report"], project, env, repeats
            )
            local = statistics.median(r.seconds for r in local_runs)
            cloud = statistics.median(r.seconds for r in cloud_runs)
            rows.append(
                {
                    "rows": size,
                    "local_s": local,
                    "cloud_s": cloud,
                    "local_anon_mb": max(r.peak_anon_mb for r in local_runs),
                    "cloud_anon_mb": max(r.peak_anon_mb for r in cloud_runs),
                }
            )
            print(f"  {size:>11,} rows: local {local:.2f}s, simulated cloud {cloud:.2f}s", flush=True)
    return rows


def backfill(project: Path, days: int, rows_per_day: int) -> dict[str, float]:
    """A month rebuilt as one run (each query once over the range) vs one run per day."""
    python = str(project / ".venv/bin/python")
    source = project / "data" / "bench-backfill"
    sample_data(project, rows_per_day, days, source)
    dates = sorted(p.name.removeprefix("date=") for p in (source / "orders").iterdir())
    with tempfile.TemporaryDirectory() as home, prefect_server(project, Path(home)) as api:
        env = os.environ | {"PREFECT_API_URL": api, "PREFECT_HOME": home}
        arguments = ["--source", str(source), "--output", str(source / "out")]
        one = measure([python, "flows/daily_report.py", *arguments], project, env)
        daily = [measure([python, "flows/daily_report.py", "--start", day, *arguments], project, env) for day in dates]
    shutil.rmtree(source)
    result = {
        "days": days,
        "rows_per_day": rows_per_day,
        "one_run_s": one.seconds,
        "daily_runs_s": sum(r.seconds for r in daily),
        "one_run_anon_mb": one.peak_anon_mb,
        "daily_runs_anon_mb": max(r.peak_anon_mb for r in daily),
    }
    print(f"  {days} days: one run {result['one_run_s']:.1f}s, {days} runs {result['daily_runs_s']:.1f}s", flush=True)
    return result


def lifecycles(project: Path, scale: float) -> dict:
    """Cluster lifecycles on simulated Polars Cloud, every scenario against one Prefect server."""
    with tempfile.TemporaryDirectory() as home, prefect_server(project, Path(home)) as api:
        return run_scenarios(project, os.environ | {"PREFECT_API_URL": api, "PREFECT_HOME": home}, scale)


def generation_seconds(repeats: int) -> dict[str, float]:
    """Median wall time of `cookiecutter --no-input`, and of the template's own work in-process.

    The command includes starting Python and importing cookiecutter (rich, requests, jinja2);
    in-process, only rendering, both hooks and `git init` are left.
    """
    command, in_process = [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as scratch:
            started = time.perf_counter()
            bake(Path(scratch))
            command.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as scratch, contextlib.redirect_stdout(io.StringIO()):
            started = time.perf_counter()
            cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch)
            in_process.append(time.perf_counter() - started)
    return {"command_s": statistics.median(command), "in_process_s": statistics.median(in_process)}


def time_to_green(repeats: int = 1) -> dict[str, float]:
    """Bake, install and test fresh projects (the uv cache is warm from the first bake).

    Each phase is the median of the repeats, each a new bake; `runs` holds each one, with the
    1-minute load average just before its `make test` (other processes' work slows it).
    """
    runs = []
    # As on a workstation: Python writes bytecode (this sandbox exports the variable).
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    # A cache folder of the bench's own: the first bake's tests are a machine's first (their
    # servers migrate a new database and leave it there), the later ones start from that copy.
    cache = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    env["XDG_CACHE_HOME"] = str(cache)
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as scratch:
            phases = {"cached_database": float(any((cache / "prefect-polars-cloud").glob("*.db")))}
            started = time.perf_counter()
            project = bake(Path(scratch))
            phases["generate_s"] = time.perf_counter() - started
            for name, command in (("install_s", ["make", "install"]), ("test_s", ["make", "test"])):
                phases["load_1min"] = os.getloadavg()[0]
                begun = time.perf_counter()
                subprocess.run(command, cwd=project, env=env, check=True, capture_output=True)
                phases[name] = time.perf_counter() - begun
            phases["total_s"] = time.perf_counter() - started
            runs.append(phases)
    shutil.rmtree(cache)
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return median | {"repeats": repeats, "runs": runs}


def secret_fetches(scratch: Path) -> int:
    """GetSecretValue calls in one cloud-mode run of an aws-secrets-manager bake."""
    project = bake(scratch, secret_backend="aws-secrets-manager")
    subprocess.run(["uv", "sync", "--locked", "-q"], cwd=project, check=True)
    result = subprocess.run(
        [str(project / ".venv/bin/python"), str(BENCH / "secret_fetches.py"), str(project)],
        cwd=project, check=True, capture_output=True, text=True,
    )
    return int(result.stdout.strip().splitlines()[-1])


def runtime_footprint_mb(project: Path) -> float:
    """Size of the environment the Dockerfile installs, after the flow ran once in it.

    The Dockerfile's command (`--no-dev --no-group docker --no-editable`: no dev tools, and not
    the default bake's work pool group, prefect-docker, which only `make deploy` needs;
    bytecode compiled) into an empty
    environment; then `python flows/daily_report.py` from that environment, on the embedded
    server, proves it is enough to run the report.
    """
    with tempfile.TemporaryDirectory() as venv, tempfile.TemporaryDirectory() as scratch:
        env = os.environ | {"UV_PROJECT_ENVIRONMENT": venv, "UV_COMPILE_BYTECODE": "1", "UV_LINK_MODE": "copy"}
        env.pop("VIRTUAL_ENV", None)
        subprocess.run(["uv", "sync", "--locked", "--no-dev", "--no-group", "docker", "--no-editable", "-q"], cwd=project, env=env, check=True)
        total = sum(p.stat().st_size for p in Path(venv).rglob("*") if p.is_file() and not p.is_symlink())
        run_env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PREFECT_API"))}
        run_env["PREFECT_HOME"] = scratch
        subprocess.run(
            [f"{venv}/bin/python", "flows/daily_report.py", "--rows", "2000", "--days", "1", "--source", f"{scratch}/in", "--output", f"{scratch}/out"],
            cwd=project, env=run_env, check=True, capture_output=True,
        )
        if not list(Path(scratch, "out", "daily_report").glob("date=*/*.parquet")):
            raise RuntimeError("the flow ran in the runtime environment but wrote no report")
    return total / 1024 / 1024


def versions(project: Path) -> dict[str, str]:
    script = "import json, importlib.metadata as m; print(json.dumps({n: m.version(n) for n in ('polars', 'polars-cloud', 'prefect', 'fastapi', 'pydantic-settings')}))"
    out = subprocess.run([str(project / ".venv/bin/python"), "-c", script], check=True, capture_output=True, text=True)
    uv = subprocess.run(["uv", "--version"], check=True, capture_output=True, text=True).stdout.split()[1]
    return json.loads(out.stdout) | {"uv": uv}


def machine() -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    total_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{total_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load average at the start": load_average(),
    }


def load_average() -> str:
    """Say how busy the machine is: another process's work skews every measure here."""
    return "{:.2f}, {:.2f}, {:.2f} (1, 5, 15 min)".format(*os.getloadavg())


def simulation_only(args: argparse.Namespace) -> int:
    """Measure the cluster lifecycles alone and put their section into the existing page."""
    with tempfile.TemporaryDirectory() as scratch:
        print("baking and installing the default project", flush=True)
        project = bake(Path(scratch) / "main")
        subprocess.run(["uv", "sync", "--locked", "-q"], cwd=project, check=True)
        about = machine() | versions(project)
        print("cluster lifecycles on simulated Polars Cloud", flush=True)
        measured = lifecycles(project, args.scale)
    about["load average at the end"] = load_average()
    table = ["| | |", "|---|---|", *[f"| {key} | {value} |" for key, value in about.items()]]
    page = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    args.out.write_text(splice(page, section(measured, machine=table)))
    print(f"wrote the section to {args.out}")
    return 0


def green_only(args: argparse.Namespace) -> int:
    """Measure time to green alone and put it into the existing page (its section, its targets)."""
    from report import green_rows, green_section, splice_green

    about = machine()
    print("time to green", flush=True)
    green = time_to_green(repeats=args.repeats)
    about["load average at the end"] = load_average()
    table = ["| | |", "|---|---|", *[f"| {key} | {value} |" for key, value in about.items()]]
    page = args.out.read_text()
    args.out.write_text(splice_green(page, green_section(green, machine=table), green_rows(green)))
    print(f"wrote the section to {args.out}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000, 16_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backfill-rows", type=int, default=100_000, help="orders a day in the 30-day backfill")
    parser.add_argument("--day-sizes", type=int, nargs="+", default=[10_000, 1_000_000], help="rows of the sample day, local vs simulated cloud")
    parser.add_argument("--scale", type=float, default=0.01, help="simulated Polars Cloud: simulated seconds per real second")
    parser.add_argument("--only", choices=["simulation", "green"], help="measure one part alone and update its section of --out")
    parser.add_argument("--out", type=Path, default=TEMPLATE / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if args.only == "simulation":
        return simulation_only(args)
    if args.only == "green":
        return green_only(args)

    with tempfile.TemporaryDirectory() as scratch:
        print("baking and installing the default project", flush=True)
        project = bake(Path(scratch) / "main")
        subprocess.run(["uv", "sync", "--locked", "-q"], cwd=project, check=True)
        results: dict[str, object] = {"machine": machine(), "versions": versions(project)}
        print("generation alone", flush=True)
        results["generation_s"] = generation_seconds(repeats=5)
        print("time to green", flush=True)
        results["green"] = time_to_green(repeats=args.repeats)
        print("secret fetches per run", flush=True)
        results["secret_fetches"] = secret_fetches(Path(scratch) / "aws")
        print("runtime footprint", flush=True)
        results["footprint_mb"] = runtime_footprint_mb(project)
        print("the sample day: local vs simulated cloud", flush=True)
        results["cloud_path"] = cloud_path(project, args.day_sizes, args.repeats)
        print("cluster lifecycles on simulated Polars Cloud", flush=True)
        results["lifecycles"] = lifecycles(project, args.scale)
        print("backfill: one run vs one run per day", flush=True)
        results["backfill"] = backfill(project, days=30, rows_per_day=args.backfill_rows)
        print("orchestration tax and memory", flush=True)
        results["sizes"] = orchestration(project, args.sizes, args.repeats)
        results["repeats"] = args.repeats

    from report import render  # bench/report.py: the Markdown, kept apart from the measuring

    args.out.parent.mkdir(parents=True, exist_ok=True)
    page = render(results, " ".join(sys.argv[1:]))
    if args.out.exists():  # sections measured apart: stop times (bench/stops.py), the
        from memory import kept as keep_memory  # Iceberg commit (bench/iceberg_publish.py),
        from stops_report import keep_section  # memory against Prefect's own (bench/memory.py)

        old = args.out.read_text()
        page = keep_memory(old, kept(old, keep_section(old, page)))
    args.out.write_text(page)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
