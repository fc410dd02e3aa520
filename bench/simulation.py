"""Cluster lifecycles on simulated Polars Cloud: run bench/sim_scenarios.py, render its section.

bench/run.py calls these, in its full run and alone (`--only simulation`, which rewrites this
section of docs/benchmarks.md and the findings after it, and leaves the rest of the page as is).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parent
FINDINGS = BENCH / "findings.md"  # appended to the page (bench/report.py)
TITLE = "## Cluster lifecycles on simulated Polars Cloud"
FINDINGS_TITLE = "## What was found"


def run_scenarios(project: Path, env: dict[str, str], scale: float) -> dict:
    """Run every scenario in the baked project's environment; return what they measured."""
    with tempfile.TemporaryDirectory() as scratch:
        results = Path(scratch) / "lifecycles.json"
        command = [
            str(project / ".venv/bin/python"),
            str(BENCH / "sim_scenarios.py"),
            str(results),
            "--scale",
            str(scale),
        ]
        process = subprocess.run(
            command,
            check=False,  # the error is raised below, with the scenario's own output
            cwd=project,
            env=env | {"PYTHONPATH": str(project)},
            capture_output=True,
            text=True,
        )
        if process.returncode != 0:
            raise RuntimeError(f"{command} failed:\n{process.stderr[-3000:]}")
        print(process.stdout, end="", flush=True)
        return json.loads(results.read_text())


def vcpu_hours(simulated_vcpu_seconds: float, scale: float) -> float:
    """Scale simulated vCPU-seconds back to real time (divide by scale), in hours."""
    return simulated_vcpu_seconds / scale / 3600


ABOUT = """\
`bench/sim_scenarios.py` runs the project's `daily_report` flow in cloud mode, and the Polars Cloud
docs' Prefect sketch (`bench/seed_flow.py`: both contexts built up front, each booting at its first
query, both stopped after the flow returns), through the real `polars_cloud` client against the
project's simulator of Polars Cloud's server side (`prefect_polars_cloud/testing/polars_cloud_sim.py`), a moto S3 and a
running Prefect server; {rows:,} orders a day. On a failing day the report's query (large preset)
is scripted to end FAILED (`sim.script(...)`).

Time is scaled 1:{ratio}: a boot takes {boot:.0f} s / {ratio} = {boot_scaled:g} s and each query
{query:.0f} s / {ratio} = {query_scaled:g} s on top of its work; a cluster nobody stops bills until
its idle timeout after its last query (the sketch sets none, so the workspace's 60 min; the
project's presets say 30), scaled the same way. vCPU-hours: cpus x nodes x seconds from each
cluster's request to its stop (the simulator's `Cluster.vcpu_seconds`), summed over the clusters,
times {ratio} to scale back to real time, over 3,600. The client side (Prefect, S3, plan
serialization, polling, publishing) is not scaled: `no latency` is the same scenario with no
latency injected. Whatever of it falls while a cluster is up counts {ratio} times in the
scaled-back vCPU-hours, which overstates every row somewhat. `last stop`: seconds from the start
until the last cluster was stopped; the wall time of a flow run ends on a whole second after its
start (Prefect's heartbeat thread, joined on exit, sleeps in 1 s steps), so `last stop` is the
finer measure of the compute's life.
"""
HEADER = (
    "| scenario | what it shows | runs | wall (s) | no latency (s) | last stop (s) | boots "
    "| left running | vCPU-h to the end | vCPU-h idle tail | vCPU-h total |"
)


def row(s: dict, scale: float) -> str:
    """One scenario's line of the table."""
    running = vcpu_hours(s["vcpu_seconds"], scale)
    tail = vcpu_hours(s["idle_tail_vcpu_seconds"], scale)
    stop = "never (idle timeout)" if s["compute_seconds"] is None else f"{s['compute_seconds']:.1f}"
    cells = [
        s["name"],
        s["shows"],
        str(s["runs"]),
        f"{s['seconds']:.1f}",
        f"{s['own_seconds']:.1f}",
        stop,
        str(s["boots"]),
        str(s["left_running"]),
        f"{running:.2f}",
        f"{tail:.2f}",
        f"{running + tail:.2f}",
    ]
    return f"| {' | '.join(cells)} |"


def section(lifecycles: dict, machine: list[str] | None = None) -> list[str]:
    """Return the section's Markdown lines; machine: its own table, when run apart from the page."""
    scale, scenarios = lifecycles["scale"], lifecycles["scenarios"]
    repeats = sorted({s["repeats"] for s in scenarios}, reverse=True)
    how = f"median of {repeats[0]} measurements" + (
        ", the many-run scenario measured once" if len(repeats) > 1 else ""
    )
    lines = [f"{TITLE} ({how})", ""]
    if machine:
        command = "`uv run python bench/run.py --only simulation`"
        lines += [f"Measured apart from the rest of this page ({command}), on:", "", *machine, ""]
    about = ABOUT.format(
        rows=lifecycles["rows"],
        ratio=round(1 / scale),
        boot=lifecycles["boot_s"],
        boot_scaled=lifecycles["boot_s"] * scale,
        query=lifecycles["query_s"],
        query_scaled=lifecycles["query_s"] * scale,
    )
    # Re-wrapped: the numbers filled in leave the template's lines uneven.
    text = "\n\n".join(textwrap.fill(" ".join(p.split()), 100) for p in about.split("\n\n"))
    table = [HEADER, "|---|---|" + "---:|" * 9, *[row(s, scale) for s in scenarios]]
    return [*lines, *text.splitlines(), "", *table, ""]


def splice(page: str, lines: list[str]) -> str:
    """Put the section into an existing page, just before the findings, which are read afresh."""
    head = page.split(f"\n{FINDINGS_TITLE}", 1)[0].rstrip("\n")
    if f"\n{TITLE}" in head:
        before, after = head.split(f"\n{TITLE}", 1)
        rest = after.split("\n## ", 1)
        head = before.rstrip("\n") + (f"\n\n## {rest[1]}".rstrip("\n") if len(rest) > 1 else "")
    findings = [FINDINGS.read_text().rstrip(), ""] if FINDINGS.exists() else []
    return "\n".join([head, "", *lines, *findings])
