"""Render bench/stops.py's measurements: the "Stop times" section of docs/benchmarks.md."""

from __future__ import annotations

import statistics

BOOT_S, QUERY_S = 120.0, 90.0  # simulated: a boot of minutes, a long query
CAP_S = 300.0  # a run still up this long after its signal is killed and reported as such
PORT_CAP_S = 60.0  # kill -9: how long to watch the orphaned server's port
TITLE = "## Stop times"
FINDINGS_TITLE = "## What was found"


def seconds(name: str, runs: list[dict[str, float]]) -> str:
    """Median seconds (and the range), or the cap."""
    values = [r["seconds"] for r in runs]
    median = statistics.median(values)
    cap = PORT_CAP_S if name == "kill_9" else CAP_S
    if median >= cap:
        return f"> {cap:.0f}"
    spread = f" ({min(values):.1f}–{max(values):.1f})" if len(values) > 1 else ""
    return f"{median:.1f}{spread}"


def outcome(name: str, runs: list[dict[str, float]]) -> str:
    """What the runs left, in words (the worst of the repeats)."""
    if name in ("boot", "cloud_ctrl_c"):
        stopped = min(int(r["stopped"]) for r in runs)
        requested = max(int(r["requested"]) for r in runs)
        text = f"{stopped} of {requested} clusters stopped"
        if name == "boot":
            booting = min(int(r["stopped_booting"]) for r in runs)
            text += " while booting" if booting == stopped else ", **after their boot** (a 30 s kill grace would have killed the run first: none stopped)"
        if name == "cloud_ctrl_c":
            text += f", {min(int(r['cancelled']) for r in runs)} of 2 queries cancelled"
        return text
    if name == "local_ctrl_c":
        same = all(r["unchanged"] for r in runs)
        freed = all(r["port_freed"] for r in runs)
        return f"report {'unchanged' if same else '**changed**'}, server {'stopped' if freed else '**left running**'}"
    held = max(r["seconds"] for r in runs) >= PORT_CAP_S
    return f"port {'**still held** after ' + str(int(PORT_CAP_S)) + ' s (an orphaned server)' if held else 'freed'}"


LABELS = {
    "boot": f"SIGTERM while both clusters boot (simulated {BOOT_S:.0f} s boot)",
    "cloud_ctrl_c": f"Ctrl-C while the small preset's queries run (simulated cloud, {QUERY_S:.0f} s queries)",
    "local_ctrl_c": "Ctrl-C during the local report, {rows:,} orders",
    "kill_9": "`kill -9` of a local run: until its Prefect server frees its port",
}


def section(measured: dict[str, dict], rows: int, repeats: int, about: dict[str, str]) -> list[str]:
    """The section's Markdown lines: one row per scenario, the templates side by side."""
    names = list(measured)
    header = "| scenario | " + " | ".join(f"{n}: seconds | {n}: what it left" for n in names) + " |"
    baseline = [n.split("(", 1)[1].rstrip(")") for n in names if n.startswith("before (")]
    options = (f" --baseline {baseline[0]}" if baseline else "") + (f" --rows {rows}" if rows != 16_000_000 else "")
    lines = [
        f"{TITLE} (median of {repeats}, range in brackets)",
        "",
        f"Made by `uv run python bench/stops.py{options}` (the template at that revision, then this one), on:",
        "",
        "| | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in about.items()],
        "",
        "Seconds from the signal to the run's exit (for `kill -9`: to its server's port being free),",
        "the signal sent to the run's process group as a terminal or a container stop sends it.",
        "The cloud rows run the flow in cloud mode through the real `polars_cloud` client on the",
        "bake's simulator (`bench/stop_runner.py`); the local rows run `make run`'s command with the",
        "Prefect server it starts for itself. Never timed in tests.",
        "",
        header,
        "|---|" + "---:|---|" * len(names),
    ]
    for key, label in LABELS.items():
        cells = [f"{seconds(key, measured[n][key])} | {outcome(key, measured[n][key])}" for n in names]
        lines.append(f"| {label.format(rows=rows)} | " + " | ".join(cells) + " |")
    return [*lines, "", *WHY.splitlines(), ""]


WHY = """\
Why the earlier template was slow to stop, and what changed (issue 18):

- **SIGTERM during the boots.** polars_cloud's direct-mode `start()` returns only once the
  cluster is up, and its wait has no timeout (`start(wait=False)` waits all the same in direct
  mode). The session held the preset's lock through it, and the stop took that lock: the run
  exited when the boot ended and stopped the clusters only then; under the 30 s kill grace of
  Kubernetes or ECS it is killed first and both clusters bill until their idle timeout. Each
  start now runs in a daemon thread; the compute id is set as soon as the start request is
  answered, and `stop()` then works from any thread (`tests/test_polars_cloud_contract.py` pins
  it), so the stop never waits for a boot.
- **Ctrl-C during cloud queries.** Importing Polars installs a SIGINT handler with SA_RESTART,
  so the main thread, waiting in Prefect's `wait()` for the prepare tasks, went on waiting until
  their queries ended; SIGTERM, whose handler Prefect installs through Python, interrupted it.
  A compute session now installs Python's handler again: the wait ends, the session cancels the
  queries and stops the clusters.
- **Ctrl-C during the local report.** The queries of the prepare tasks run in Prefect's task
  threads, which the exit joins, and a Polars query ignores signals once a Python handler
  replaced Polars' own; `InProcessQuery.cancel()` does not stop a streaming sink in Polars 2.0
  either (measured at 16M rows: the sink ran to its end and wrote the whole file). A local query
  now runs with `collect(background=True)` and is polled: a stop abandons it (it writes only into
  a `.partial` folder or the run's staging prefix, never into the report) and the interrupted
  run ends with `os._exit` after its exit handlers, because the interpreter's teardown, starved
  by the abandoned query, took 1-3.5 s more.
- **`kill -9`.** The local server runs in a session of its own (so that Ctrl-C does not stop it
  before the run records its state) and only the run stopped it. It now watches its parent and
  stops itself once the run is gone.\
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
