"""Memory: the flow vs Prefect's own cost, side by side in one run; writes its section of the page.

    uv run python bench/memory.py                                    # the published run
    uv run python bench/memory.py --sizes 100000 --repeats 1 --out /tmp/memory.md   # a smoke run
    uv run python bench/memory.py --from-json RUN.json   # the section again from a run kept with --json

Bakes the default project, installs it, makes one day of sample data per size, starts one
Prefect server on loopback and measures, alternating the commands within each repeat so that
the machine's drift hits them alike (peak anonymous RSS sampled every 20 ms: run.py's measure):

- the fixed costs: an idle interpreter (`python -c pass` ends before a sample sees it), `import
  prefect`, `import polars`, importing the flow module, and a one-task hello flow
  (bench/hello_flow.py) - Prefect's own cost is the hello flow over the idle interpreter;
- per size: the bare queries (bench/bare_report.py), the same queries as one Prefect task
  (bench/bare_flow.py: Prefect and nothing of the library), and the flow (`python
  flows/daily_report.py`, what `make run` runs);
- with --variants, the flow with one change each (bench/memory_runner.py): its tasks one after
  another, its local sinks collected in the foreground, no required-field check in its scans,
  and glibc's malloc held to two arenas (MALLOC_ARENA_MAX=2);
- once more, every command with Python's own allocations traced (tracemalloc's peak): the part
  of the memory that does not depend on how Polars' threads happen to run.

Never timed in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from run import (  # bench/, on sys.path as the script's folder
    PACKAGE,
    bake,
    load_average,
    machine,
    measure,
    prefect_server,
    sample_data,
    versions,
)

TEMPLATE = Path(__file__).resolve().parent.parent
BENCH = TEMPLATE / "bench"
TITLE = "## Memory: the flow vs Prefect's own cost"
TARGET = 1.3  # (flow - bare) / Prefect's own, at the largest size
TARGET_ROW = "| peak anonymous RSS, the flow over the bare queries / Prefect's own (a hello flow)"
VARIANTS = {
    "flow, tasks one after another": ("sequential", {}),
    "flow, local sinks in the foreground": ("foreground", {}),
    "flow, no required-field check": ("no-check", {}),
    "flow, MALLOC_ARENA_MAX=2": ("-", {"MALLOC_ARENA_MAX": "2"}),
}


@dataclass(frozen=True)
class Command:
    """One measured command: a label, its arguments after the interpreter, the runner's changes."""

    label: str
    arguments: list[str]
    changes: str = "-"
    env: tuple[tuple[str, str], ...] = ()


def fixed_commands() -> list[Command]:
    """The commands whose memory does not depend on the rows."""
    return [
        Command("python, idle 1 s", ["-c", "import time; time.sleep(1)"]),
        Command("python -c pass", ["-c", "pass"]),
        Command("import polars", ["-c", "import polars"]),
        Command("import prefect", ["-c", "import prefect"]),
        Command("import the flow", ["-c", "import flows.daily_report"]),
        Command("hello flow (one task)", [str(BENCH / "hello_flow.py")]),
    ]


def sized_commands(source: Path, out: Path, variants: bool) -> list[Command]:
    """The commands that run the report's queries over source."""
    flow = ["flows/daily_report.py", "--source", str(source)]
    commands = [
        Command("bare queries", [str(BENCH / "bare_report.py"), PACKAGE, str(source), str(out / "bare")]),
        Command("bare queries as one Prefect task", [str(BENCH / "bare_flow.py"), PACKAGE, str(source), str(out / "task")]),
        Command("flow", [*flow, "--output", str(out / "flow")]),
    ]
    if variants:
        commands += [
            Command(label, [*flow, "--output", str(out / changes)], changes, tuple(env.items()))
            for label, (changes, env) in VARIANTS.items()
        ]
    return commands


def argv(project: Path, command: Command, traced: bool = False) -> list[str]:
    """Return the command line: through the runner when it changes or traces anything."""
    python = str(project / ".venv/bin/python")
    changes = ",".join(c for c in [command.changes, "traced" if traced else "-"] if c != "-") or "-"
    if changes == "-":
        return [python, *command.arguments]
    return [python, str(BENCH / "memory_runner.py"), changes, *command.arguments]


def run_all(project: Path, commands: list[Command], env: dict[str, str], repeats: int) -> dict[str, dict]:
    """Measure each command repeats times, alternating; then once traced. Return them by label."""
    found: dict[str, dict] = {c.label: {"anon_mb": []} for c in commands}
    for repeat in range(repeats):
        for command in commands:
            shutil.rmtree(project / "data" / "memory-out", ignore_errors=True)
            run = measure(argv(project, command), project, env | dict(command.env))
            found[command.label]["anon_mb"].append(run.peak_anon_mb)
            print(f"  [{repeat + 1}/{repeats}] {command.label}: {run.peak_anon_mb:.0f} MB in {run.seconds:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        traced = Path(scratch) / "peak"
        for command in commands:
            shutil.rmtree(project / "data" / "memory-out", ignore_errors=True)
            measure(argv(project, command, traced=True), project, env | dict(command.env) | {"MEMORY_TRACED_OUT": str(traced)})
            found[command.label]["python_mb"] = int(traced.read_text()) / 2**20
    return found


def summarize(found: dict[str, dict]) -> dict[str, dict]:
    """Add each command's median and range of peak anonymous RSS."""
    return {
        label: values | {
            "median": statistics.median(values["anon_mb"]),
            "low": min(values["anon_mb"]),
            "high": max(values["anon_mb"]),
        }
        for label, values in found.items()
    }


def measure_all(project: Path, sizes: list[int], repeats: int, variants: bool) -> dict:
    """Every command of the page, against one Prefect server."""
    results: dict = {"sizes": {}}
    with tempfile.TemporaryDirectory() as home, prefect_server(project, Path(home)) as api:
        env = os.environ | {"PREFECT_API_URL": api, "PREFECT_HOME": home}
        # One unmeasured run registers the flow and warms the server's database.
        warm = project / "data" / "memory-warm"
        subprocess.run(
            [str(project / ".venv/bin/python"), "flows/daily_report.py", "--rows", "1000", "--days", "1", "--source", str(warm), "--output", str(warm / "out")],
            cwd=project, env=env, check=True, capture_output=True,
        )
        shutil.rmtree(warm)
        print("fixed costs", flush=True)
        results["fixed"] = summarize(run_all(project, fixed_commands(), env, repeats))
        for size in sizes:
            print(f"{size:,} rows", flush=True)
            source = project / "data" / f"memory-{size}"
            sample_data(project, size, 1, source)
            commands = sized_commands(source, project / "data" / "memory-out", variants)
            results["sizes"][size] = summarize(run_all(project, commands, env, repeats))
            shutil.rmtree(source)
    return results


def prefect_own(results: dict) -> float:
    """Return Prefect's own cost: the hello flow over an idle interpreter (medians)."""
    fixed = results["fixed"]
    return fixed["hello flow (one task)"]["median"] - fixed["python, idle 1 s"]["median"]


def render(results: dict, about: dict[str, str], arguments: str, repeats: int) -> list[str]:
    """Return the section's Markdown lines."""
    own = prefect_own(results)
    fixed = results["fixed"]
    lines = [
        TITLE,
        "",
        "Made by `uv run python bench/memory.py"
        + (f" {arguments}" if arguments else "")
        + f"` from the template root: one run, every command measured {repeats} times, "
        "alternating, against one `prefect server start` on loopback; local Polars. Peak anonymous "
        "RSS is sampled every 20 ms from /proc (run.py's sampler): the median of the runs, and "
        "their range. Python heap: the peak of Python's own allocations (tracemalloc, one more "
        "run each), which Polars' native buffers are not part of.",
        "",
        "| | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in about.items()],
        "",
        "| fixed cost | peak anon (MB) | range (MB) | Python heap (MB) |",
        "|---|---:|---:|---:|",
        *[
            f"| {label} | {v['median']:.0f} | {v['low']:.0f}–{v['high']:.0f} | {v['python_mb']:.0f} |"
            for label, v in fixed.items()
        ],
        "",
        f"Prefect's own cost, the hello flow over the idle interpreter: **{own:.0f} MB** "
        f"(`python -c pass` itself ends before a sample sees it).",
        "",
    ]
    for size, found in results["sizes"].items():
        bare = found["bare queries"]["median"]
        lines += [
            f"| {size:,} rows | peak anon (MB) | range (MB) | over the bare queries (MB) | / Prefect's own | Python heap (MB) |",
            "|---|---:|---:|---:|---:|---:|",
            *[
                f"| {label} | {v['median']:.0f} | {v['low']:.0f}–{v['high']:.0f} | "
                + ("" if label == "bare queries" else f"{v['median'] - bare:+.0f}")
                + " | "
                + ("" if label == "bare queries" else f"{(v['median'] - bare) / own:.2f}")
                + f" | {v['python_mb']:.0f} |"
                for label, v in found.items()
            ],
            "",
        ]
    value = ratio(results)
    lines += [
        f"At {max(results['sizes']):,} rows the flow holds {value:.2f}x Prefect's own cost over the bare "
        f"queries (medians; the target is <= {TARGET}x): "
        + ("met." if value <= TARGET else "**missed** in this run.")
        + " Read it with the ranges: one command's peak moves by 100 MB and more from run to run "
        "at this size (the streaming engine's buffers, on a shared machine), so the difference of "
        "two medians of a few runs moves too: What was found, below, says what the difference is made of.",
        "",
    ]
    return lines


def ratio(results: dict) -> float:
    """Return (flow - bare) / Prefect's own at the largest size (medians)."""
    found = results["sizes"][max(results["sizes"])]
    return (found["flow"]["median"] - found["bare queries"]["median"]) / prefect_own(results)


def target_row(results: dict) -> str:
    """Return the Targets table's row for this section."""
    value = ratio(results)
    verdict = "met" if value <= TARGET else "**missed**"
    return f"{TARGET_ROW}, at {max(results['sizes']):,} rows (medians) | <= {TARGET} | {value:.2f} | {verdict} |"


def splice(page: str, lines: list[str], row: str | None = None) -> str:
    """Put the section into the page before the findings (replacing an earlier one), and its
    row into the Targets table."""
    if f"\n{TITLE}" in page:
        before, after = page.split(f"\n{TITLE}", 1)
        rest = after.split("\n## ", 1)
        page = before.rstrip("\n") + (f"\n\n## {rest[1]}" if len(rest) > 1 else "\n")
    head, found, findings = page.partition("\n## What was found")
    page = "\n".join([head.rstrip("\n"), "", *lines]) + (f"\n## What was found{findings}" if found else "")
    if row is None:
        return page
    kept = [line for line in page.splitlines() if not line.startswith(TARGET_ROW)]
    if "## Targets" not in page:
        return "\n".join(kept) + "\n"
    at = kept.index("## Targets") + 4  # title, blank, header, rule
    while at < len(kept) and kept[at].startswith("|"):
        at += 1
    return "\n".join([*kept[:at], row, *kept[at:]]) + "\n"


def kept(old_page: str, new_page: str) -> str:
    """Carry this section and its target row from the old page into one run.py rendered afresh."""
    if f"\n{TITLE}" not in old_page:
        return new_page
    body = old_page.split(f"\n{TITLE}", 1)[1].split("\n## ", 1)[0]
    row = next((line for line in old_page.splitlines() if line.startswith(TARGET_ROW)), None)
    return splice(new_page, [TITLE, "", *body.strip("\n").splitlines(), ""], row)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 16_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", action="store_true", help="also the flow with one change each")
    parser.add_argument("--out", type=Path, default=TEMPLATE / "docs" / "benchmarks.md")
    parser.add_argument("--project", type=Path, help="an installed bake to measure, instead of a new one")
    parser.add_argument("--json", type=Path, help="keep the measurements in this file too")
    parser.add_argument("--from-json", type=Path, help="write the section again from a --json file")
    args = parser.parse_args()
    if args.from_json:
        kept_run = json.loads(args.from_json.read_text())
        kept_run["results"]["sizes"] = {int(k): v for k, v in kept_run["results"]["sizes"].items()}
    else:
        with tempfile.TemporaryDirectory() as scratch:
            project = args.project
            if project is None:
                print("baking and installing the default project", flush=True)
                project = bake(Path(scratch))
                subprocess.run(["uv", "sync", "--locked", "-q"], cwd=project, check=True)
            about = machine() | versions(project)
            results = measure_all(project, sorted(args.sizes), args.repeats, args.variants)
        about["load average at the end"] = load_average()
        kept_run = {"results": results, "about": about, "arguments": " ".join(sys.argv[1:]), "repeats": args.repeats}
        if args.json:
            args.json.write_text(json.dumps(kept_run, indent=1))
    results = kept_run["results"]
    lines = render(results, kept_run["about"], kept_run["arguments"], kept_run["repeats"])
    print("\n".join(lines))
    page = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    args.out.write_text(splice(page, lines, target_row(results)))
    print(f"wrote the section to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
