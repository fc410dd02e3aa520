"""Render bench/run.py's results as docs/benchmarks.md, with bench/findings.md appended."""

from __future__ import annotations

import os

from simulation import FINDINGS, FINDINGS_TITLE, section  # bench/

TARGETS = {
    "ratio": 1.15,  # orchestrated / bare at the largest size
    "rss_growth": 1.5,  # peak RSS at the largest size / at the smallest
    "green_s": 60.0,  # bake + install + test, warm cache
    "make_test_s": 30.0,  # a fresh bake's `make test` on the quiet 2-core machine (issue 25)
    "generation_s": 1.0,
    "secret_fetches": 1,
    "footprint_mb": 420,  # the environment the Dockerfile installs, default bake
}


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


GREEN_TITLE = "## Time to green (warm uv cache)"
GREEN_ROWS = ("| bake + install + test, warm cache |", "| a fresh bake's `make test` |")


def green_rows(green: dict) -> list[str]:
    """Return the Targets table's rows for time to green."""
    total, test = green["total_s"], green["test_s"]
    return [
        f"{GREEN_ROWS[0]} <= {TARGETS['green_s']:.0f} s | {total:.1f} s | {verdict(total <= TARGETS['green_s'])} |",
        f"{GREEN_ROWS[1]} <= {TARGETS['make_test_s']:.0f} s | {test:.1f} s | {verdict(test <= TARGETS['make_test_s'])} |",
    ]


def green_section(green: dict, machine: list[str] | None = None) -> list[str]:
    """Return the section's Markdown lines; machine: its own table, when run apart from the page."""
    repeats = green.get("repeats", 1)
    lines = [GREEN_TITLE, ""]
    if machine:
        command = "`uv run python bench/run.py --only green`"
        lines += [f"Measured apart from the rest of this page ({command}), on:", "", *machine, ""]
    runs = green.get("runs", [green])
    lines += [
        "| | cookiecutter | make install | make test | total | load before `make test` | test servers' database |",
        "|---|---:|---:|---:|---:|---:|---|",
        *[
            f"| bake {number} | {run['generate_s']:.1f} s | {run['install_s']:.1f} s | "
            f"{run['test_s']:.1f} s | {run['total_s']:.1f} s | {run.get('load_1min', float('nan')):.2f} | "
            f"{'copied from the cache' if run.get('cached_database') else 'migrated (the first on the machine)'} |"
            for number, run in enumerate(runs, start=1)
        ],
        f"| **median** | {green['generate_s']:.1f} s | {green['install_s']:.1f} s | "
        f"**{green['test_s']:.1f} s** | {green['total_s']:.1f} s | | |",
        "",
        f"{repeats} fresh bake{'s' if repeats > 1 else ''}, each installed and tested once, one after another on "
        f"{os.cpu_count()} cores. This",
        "machine is shared: the load column (1-minute average just before each `make test`) is",
        "other work competing for the same cores. `make test` runs the bake's own tests, its",
        "pipeline's and the integration (the flow through the real polars_cloud client on the",
        "simulator, prefect.yaml, job variables), on two workers, each with its Prefect server; it",
        "skips the tests marked slow (`make test-all` runs them). The library's own tests run once,",
        "in the template (tests/library, by tests/test_library.py). Python writes its bytecode, as on",
        "a workstation: this sandbox exports PYTHONDONTWRITEBYTECODE=1, which the bench removes (with",
        "it, every process compiles Prefect again: 3.3 s to import it and Polars, not 1.8 s). The",
        "bench gives the bakes a cache folder of their own, empty at the start: the first bake's test",
        "servers migrate a new database (about 5 s of CPU each) and leave it in that cache, as the",
        "first `make test` on any machine does; the later bakes' servers start from a copy of it.",
        "",
    ]
    return lines


def splice_green(page: str, lines: list[str], rows: list[str]) -> str:
    """Put time to green's section and target rows into an existing page."""
    head, found, rest = page.partition(f"\n{GREEN_TITLE}")
    if not found:
        raise ValueError(f"the page has no {GREEN_TITLE!r} section to replace")
    after = rest.split("\n## ", 1)
    # Generation alone is measured with the whole page: its paragraph stays as it was.
    kept = [part for part in after[0].split("\n\n") if part.startswith("Generation alone")]
    section = "\n".join(lines).rstrip("\n") + "".join(f"\n\n{part.strip()}" for part in kept)
    page = head.rstrip("\n") + "\n\n" + section + (
        f"\n\n## {after[1]}" if len(after) > 1 else "\n"
    )
    # The findings are read afresh, as bench/simulation.py's splice does.
    if FINDINGS.exists() and f"\n{FINDINGS_TITLE}" in page:
        page = page.split(f"\n{FINDINGS_TITLE}", 1)[0].rstrip("\n") + "\n\n" + FINDINGS.read_text()
    kept = [line for line in page.splitlines() if not line.startswith(GREEN_ROWS)]
    at = next(i for i, line in enumerate(kept) if line.startswith("| generation alone"))
    return "\n".join([*kept[:at], *rows, *kept[at:]]) + "\n"


def render(results: dict, arguments: str) -> str:
    """Return the whole Markdown page."""
    sizes = results["sizes"]
    largest, smallest = sizes[-1], sizes[0]
    rss_growth = largest["flow_rss_mb"] / smallest["flow_rss_mb"]
    anon_growth = largest["flow_anon_mb"] / smallest["flow_anon_mb"]
    # What each added row costs with Prefect, against what it costs bare.
    # One size (the README's smoke run) has no margin to measure.
    added_bare = largest["bare_s"] - smallest["bare_s"]
    marginal = f"{(largest['flow_s'] - smallest['flow_s']) / added_bare:.3f}" if added_bare else "n/a"
    green = results["green"]
    generation = results["generation_s"]
    lines = [
        "# Benchmarks",
        "",
        "Made by `uv run python bench/run.py"
        + (f" {arguments}" if arguments else "")
        + "` from the template root: one run, one machine, side by side. Never timed in tests.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in results["machine"].items()],
        *[f"| {name} | {version} |" for name, version in results["versions"].items()],
        "",
        "## Targets",
        "",
        "| measure | target | result | |",
        "|---|---|---|---|",
        f"| orchestrated / bare at {largest['rows']:,} rows | <= {TARGETS['ratio']} | {largest['ratio']:.3f} | {verdict(largest['ratio'] <= TARGETS['ratio'])} |",
        f"| marginal flow / bare, {smallest['rows']:,} to {largest['rows']:,} rows (the per-row tax) | (no target) | {marginal} | |",
        f"| peak RSS at {largest['rows']:,} / at {smallest['rows']:,} rows | <= {TARGETS['rss_growth']} | {rss_growth:.2f} | {verdict(rss_growth <= TARGETS['rss_growth'])} |",
        f"| peak anonymous RSS at {largest['rows']:,} / at {smallest['rows']:,} rows | <= {TARGETS['rss_growth']} | {anon_growth:.2f} | {verdict(anon_growth <= TARGETS['rss_growth'])} |",
        *green_rows(green),
        f"| generation alone: `cookiecutter --no-input` | < {TARGETS['generation_s']:.0f} s | {generation['command_s']:.2f} s | {verdict(generation['command_s'] < TARGETS['generation_s'])} |",
        f"| generation alone: the template's work, in-process | < {TARGETS['generation_s']:.0f} s | {generation['in_process_s']:.2f} s | {verdict(generation['in_process_s'] < TARGETS['generation_s'])} |",
        f"| GetSecretValue calls per cloud-mode run | {TARGETS['secret_fetches']} | {results['secret_fetches']} | {verdict(results['secret_fetches'] == TARGETS['secret_fetches'])} |",
        f"| runtime environment the Dockerfile installs | <= {TARGETS['footprint_mb']} MB | {results['footprint_mb']:.0f} MB | {verdict(results['footprint_mb'] <= TARGETS['footprint_mb'])} |",
        "",
        f"## Orchestration tax and streaming memory (median of {results['repeats']} runs)",
        "",
        "`flow`: `python flows/daily_report.py` (what `make run` runs) against a running",
        "`prefect server start` on loopback; `bare`: `bench/bare_report.py`, the same queries and",
        "outputs with no Prefect. Both on local Polars, streaming. Wall time includes interpreter",
        "start and imports. Peak RSS is the kernel's high-water mark for the process (file pages it",
        "maps included); peak anonymous RSS is sampled every 20 ms from /proc (the memory it holds).",
        "",
        "| rows | flow (s) | bare (s) | flow / bare | flow peak RSS (MB) | flow peak anon (MB) | bare peak RSS (MB) | bare peak anon (MB) | sample data (s) | sample data peak RSS (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *[
            f"| {s['rows']:,} | {s['flow_s']:.2f} | {s['bare_s']:.2f} | {s['ratio']:.3f} | {s['flow_rss_mb']:.0f} | {s['flow_anon_mb']:.0f} | {s['bare_rss_mb']:.0f} | {s['bare_anon_mb']:.0f} | {s['sample_data_s']:.1f} | {s['sample_data_rss_mb']:.0f} |"
            for s in sizes
        ],
        "",
        f"## The sample day: local vs the cloud path, simulated (median of {results['repeats']} runs)",
        "",
        "`local`: `python flows/daily_report.py` (`make run`); `simulated cloud`: `python -m",
        "prefect_polars_cloud.testing.simulated_run` (`make run CLOUD=sim`): the flow in cloud mode through the real",
        "`polars_cloud` client (login, one cluster per preset, each query sent, clusters stopped), with",
        "Polars Cloud's server side and S3 simulated in the same process, which runs each query on",
        "local Polars. Both against a running Prefect server. The difference is the cloud path's",
        "client-side cost here (plan serialization, S3 round trips, the in-process S3 server and its",
        "upload of the inputs), not a forecast of Polars Cloud's speed: real boots take minutes.",
        "",
        "| rows | local (s) | simulated cloud (s) | local peak anon (MB) | simulated cloud peak anon (MB) |",
        "|---:|---:|---:|---:|---:|",
        *[
            f"| {c['rows']:,} | {c['local_s']:.2f} | {c['cloud_s']:.2f} | {c['local_anon_mb']:.0f} | {c['cloud_anon_mb']:.0f} |"
            for c in results["cloud_path"]
        ],
        "",
        f"## Backfill: {results['backfill']['days']} days in one run vs one run per day",
        "",
        f"{results['backfill']['rows_per_day']:,} orders a day on local Polars, against a running Prefect",
        "server. One run: `python flows/daily_report.py` over every day (each query once over the",
        "range, partitioned sinks). Daily runs: the same command with `--start DAY`, once per day, one",
        "after another (their wall times summed, their peak memory the largest of them).",
        "",
        "| | wall time (s) | peak anon (MB) |",
        "|---|---:|---:|",
        f"| one run of {results['backfill']['days']} days | {results['backfill']['one_run_s']:.1f} | {results['backfill']['one_run_anon_mb']:.0f} |",
        f"| {results['backfill']['days']} runs of one day | {results['backfill']['daily_runs_s']:.1f} | {results['backfill']['daily_runs_anon_mb']:.0f} |",
        "",
        *green_section(green),
        f"Generation alone, median of 5: {generation['command_s']:.2f} s for the command (Python start",
        f"and cookiecutter's imports included), {generation['in_process_s']:.2f} s for the template's own",
        "work (rendering, both hooks, `git init`) through cookiecutter's API.",
        "",
        "## Footprint",
        "",
        "The runtime environment the Dockerfile installs (`uv sync --locked --no-dev --no-group docker --no-editable`,",
        f"bytecode compiled, into an empty environment; file sizes summed, MB = 2^20 bytes): {results['footprint_mb']:.0f} MB.",
        "The flow then ran from that environment alone (`python flows/daily_report.py`, with the",
        "Prefect server `make run` starts for itself).",
        "",
    ]
    lines += section(results["lifecycles"])
    if FINDINGS.exists():
        lines += [FINDINGS.read_text().rstrip(), ""]
    return "\n".join(lines)
