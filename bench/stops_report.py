"""Render bench/stops.py's measurements: the "Stop times" section of docs/benchmarks.md."""

from __future__ import annotations

import statistics
from typing import Any

BOOT_S = 120.0  # simulated: a boot of minutes, longer than CAP_S, so no stop waits for one
CAP_S = 90.0  # a run still up this long after its signal is killed and reported as such
PORT_CAP_S = 60.0  # kill -9: how long to watch the orphaned server's port
SLOW_PUBLISH_S = 2.0  # the publish scenario: each day's publish this much slower
TITLE = "## Stop times"
FINDINGS_TITLE = "## What was found"
Runs = list[dict[str, Any]]

# name: entry, phase, Prefect API, signal; in the table's order.
SCENARIOS = {
    "script_api_boot": ("(a) a script calling the flow", "clusters booting", "a separate server", "SIGTERM to the process"),
    "temporary_boot": ("(b) the same script", "clusters booting", "Prefect's temporary server (no `PREFECT_API_URL`)", "SIGTERM to the group"),
    "temporary_query": ("(c) the same script", "the small preset's queries running", "Prefect's temporary server", "Ctrl-C (SIGINT to the group)"),
    "dying_api_boot": ("(d) the same script", "clusters booting", "a separate server, `kill -9`ed with the signal", "SIGTERM to the process"),
    "script_api_publish": ("(a') the same script", f"publishing (day 2 of 3, each day's publish {SLOW_PUBLISH_S:.0f} s slower)", "a separate server", "SIGTERM to the process"),
    "sim_make_run_query": ("(e) `make run CLOUD=sim`", "queries running, {rows:,} orders", "its own local server", "Ctrl-C (SIGINT to the group)"),
    "local_make_run_query": ("(f) `make run`, local", "the local report's queries, {rows:,} orders", "its own local server", "Ctrl-C (SIGINT to the group)"),
    "kill_9": ("`make run`, local", "any (its server up)", "its own local server", "`kill -9` to the group"),
}


def seconds(name: str, runs: Runs) -> str:
    """Median seconds (and the range); still running at the cap; ignored (ran to completion)."""
    cap = PORT_CAP_S if name == "kill_9" else CAP_S
    if all(r["still_running"] for r in runs):
        return f"port still held at {cap:.0f} s" if name == "kill_9" else f"**still running at {cap:.0f} s**"
    values = [r["seconds"] for r in runs]
    median = statistics.median(values)
    spread = f" ({min(values):.1f}–{max(values):.1f})" if len(values) > 1 else ""
    text = f"{median:.1f}{spread}"
    if any(r["still_running"] for r in runs):
        text += f", once still running at {cap:.0f} s"
    if any(r.get("code") == 0 for r in runs):
        text = f"**ignored**: ran to completion in {text}"
    return text


def clusters(name: str, runs: Runs) -> str:
    """Clusters stopped of those requested (the worst repeat), and whether while booting."""
    if name.startswith(("local", "kill")):
        return "— (local)"
    stopped, requested = min(r["stopped"] for r in runs), max(r["requested"] for r in runs)
    text = f"{stopped} of {requested}"
    if name.endswith("boot") and stopped:
        booted = [r["stopped_booted"] for r in runs]
        text += " while booting" if all(b == 0 for b in booted) else "" if None in booted else ", some after their boot"
    return text


def queries(name: str, runs: Runs) -> str:
    if name.startswith(("local", "kill")):
        return "— (local)"
    cancelled = min(r["cancelled"] for r in runs)
    if name.endswith("query"):
        return f"{cancelled} of {min(r['sent'] for r in runs)} sent"
    return "none in flight" if not cancelled else str(cancelled)


def one_line(name: str, runs: Runs) -> str:
    if name == "kill_9":
        return "—"
    worst = next((r["interrupted"] for r in runs if r["interrupted"] != 1), 1)
    return "yes" if worst == 1 else "no (none)" if worst == 0 else f"no ({worst} lines)"


def traceback(name: str, runs: Runs) -> str:
    return "—" if name == "kill_9" else "**yes**" if any(r["traceback"] for r in runs) else "no"


def notes(name: str, runs: Runs) -> str:
    if name == "local_make_run_query":
        same, freed = all(r["unchanged"] for r in runs), all(r["port_freed"] for r in runs)
        return f"report {'unchanged' if same else '**changed**'}, server {'stopped' if freed else '**left running**'}"
    if name == "kill_9":
        return "until its server frees its port"
    last = [r["last_stop_s"] for r in runs if r.get("last_stop_s") is not None]
    seen = [r["stop_seen_s"] for r in runs if r.get("stop_seen_s") is not None]
    if last:
        return f"last cluster stop {max(last):.1f} s after the signal"
    if seen:
        return f"last cluster stop seen {max(seen):.1f} s after the signal"
    if runs and all(r.get("stopped_before") and r["stopped_before"] == r["stopped"] for r in runs):
        return "its clusters were stopped before the signal, once their queries were done"
    return ""


COLUMNS = {
    "seconds from the signal to exit": seconds,
    "clusters stopped of requested": clusters,
    "queries cancelled": queries,
    "one INTERRUPTED line": one_line,
    "traceback after it": traceback,
    "notes": notes,
}


def cell(column: str, name: str, measured: dict[str, dict[str, Runs]]) -> str:
    """The column's value for each revision measured, baseline first: `before → after`."""
    values = [COLUMNS[column](name, runs[name]) or "—" if runs.get(name) else "not measured" for runs in measured.values()]
    return values[0] if len(set(values)) == 1 else " → ".join(values)


def section(measured: dict[str, dict], rows: int, repeats: int, about: dict[str, str], why: str | None = None) -> list[str]:
    """The section's Markdown lines: one row per entry and phase, each cell baseline → today."""
    names = list(measured)
    baseline = [n.split("(", 1)[1].rstrip(")") for n in names if n.startswith("before (")]
    options = (f" --baseline {baseline[0]}" if baseline else "") + (f" --rows {rows}" if rows != 8_000_000 else "") + (f" --repeats {repeats}" if repeats != 1 else "")
    reading = f"each cell: the template at {baseline[0]} (before issue 23) → this one, or one value for both" if baseline else "this template"
    lines = [
        f"{TITLE} by entry and phase ({'median of ' + str(repeats) + ', range in brackets' if repeats > 1 else 'one run each'})",
        "",
        f"Made by `uv run python bench/stops.py{options}`"
        + (" (the template at that revision, then this one)" if baseline else "") + ", on:",
        "",
        "| | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in about.items()],
        "",
        "Seconds from the signal to the run's exit, and what the run left; " + reading + ".",
        f"A run still up {CAP_S:.0f} s after its signal is killed (`kill -9`) and reported as still running.",
        "The script rows run the flow in cloud mode through the real `polars_cloud` client on the",
        f"bake's simulator (`bench/stop_runner.py`, a {BOOT_S:.0f} s boot, or queries that run until",
        "cancelled); `make run CLOUD=sim` is the bake's own simulated run (`bench/sim_entry.py` only",
        "logs its simulator's calls), signalled 3 s after its flow run began; the local `make run` is",
        "signalled once its orders query writes. Clusters and queries are read from the simulator's",
        "call log (the runner's own `finally` may not run). A traceback counts when it follows the",
        "INTERRUPTED line, or the signal when the run printed no such line. Never timed in tests.",
        "",
        "| entry | phase | Prefect API | signal | " + " | ".join(COLUMNS) + " |",
        "|---|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for name, labels in SCENARIOS.items():
        if not any(name in runs for runs in measured.values()):
            continue
        row = [label.format(rows=rows) for label in labels] + [cell(column, name, measured) for column in COLUMNS]
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, "", *(why if why is not None else WHY).splitlines(), ""]


WHY = """\
What it shows (one run each, on a machine shared with other work): before issue 23 the compute
was already stopped within 0.1 s of every signal here (issue 18's fixes), not the 1 or 0 of 2
the issue saw, but a run whose Prefect API was gone took 70-80 s to exit ((b), (c), (d): Prefect's
state reports retried against a dead temporary server or proxy), past a 30 s kill grace, and
ended with a traceback and no INTERRUPTED line; `make run CLOUD=sim` ended on a
KeyboardInterrupt traceback, and a script gave no line saying what was stopped. Now every
entry and phase exits within 3.1 s of its signal (1.6 s with its API killed; (b) and (c) wait
out the 3 s bound for a temporary server that answers its health check only to die with the
group, it seems), stops every cluster it requested within 0.1 s, cancels the queries in flight
(`make run CLOUD=sim` cancelled 1 of its 2: the log does not record a query's end, so the other
had presumably finished), and prints one INTERRUPTED line naming the phase, with no traceback.\
"""


def splice(page: str, lines: list[str]) -> str:
    """Put the section into the page: in place of an earlier one, else before the findings."""
    text = "\n".join(lines)
    if f"\n{TITLE}" in page:
        before, after = page.split(f"\n{TITLE}", 1)
        rest = after.split("\n## ", 1)
        return before.rstrip("\n") + "\n\n" + text + ("\n## " + rest[1] if len(rest) > 1 else "")
    if f"\n{FINDINGS_TITLE}" in page:
        before, after = page.split(f"\n{FINDINGS_TITLE}", 1)
        return before.rstrip("\n") + "\n\n" + text + f"\n{FINDINGS_TITLE}" + after
    return page.rstrip("\n") + "\n\n" + text


def keep_section(old: str, new: str) -> str:
    """Carry this section from an earlier page into a new one (bench/run.py rewrites the page)."""
    if f"\n{TITLE}" not in old:
        return new
    section = f"{TITLE}" + old.split(f"\n{TITLE}", 1)[1].split("\n## ", 1)[0]
    return splice(new, section.rstrip("\n").split("\n") + [""])
