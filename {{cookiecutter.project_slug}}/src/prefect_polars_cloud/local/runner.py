"""`make run`: a flow of flows/ on local Polars, on the sample data, with a local Prefect server."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from prefect_polars_cloud.local.options import (
    EXPECTED_ERRORS,
    OUTPUT_DIR,
    SAMPLE_DIR,
    FlowNotFound,
    add_day_options,
)
from prefect_polars_cloud.operations.names import FLOWS_DIR, default_flow_module
from prefect_polars_cloud.storage.files import STAGING


def load_flow(module: str | None = None, folder: Path = FLOWS_DIR) -> Callable[..., Any]:
    """Return the flow defined in flows/<module>.py (the one of the module's name if several).

    No module: the one module of flows/ (with several, the error lists them).
    """
    from prefect import Flow

    module = module or default_flow_module(folder)
    path = folder / f"{module.removesuffix('.py')}.py"
    if not path.is_file():
        there = sorted(item.stem for item in folder.glob("*.py") if item.stem != "__init__")
        raise FlowNotFound(
            f"no flow module {path}: use FLOW= with one of {', '.join(there) or '(none)'}"
        )
    spec = importlib.util.spec_from_file_location(f"flows.{path.stem}", path)
    assert spec is not None and spec.loader is not None  # a .py file always has both
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded
    spec.loader.exec_module(loaded)
    flows = {name: value for name, value in vars(loaded).items() if isinstance(value, Flow)}
    if path.stem in flows:
        return flows[path.stem]  # type: ignore[no-any-return]
    if len(flows) != 1:
        raise FlowNotFound(
            f"{path} defines {len(flows)} flows ({', '.join(flows) or 'none'}): name the one "
            f"to run after its module, {path.stem}"
        )
    return next(iter(flows.values()))  # type: ignore[no-any-return]


def run_locally(flow: Callable[..., str], argv: Sequence[str] | None = None) -> int:
    """Run the flow on local Polars: every sample day, or START..END (`make run`).

    Missing sample data is written first (the project's `write_sample_data`); the flow runs
    against the configured Prefect API, or a local server started for this run only; the
    report's summary is printed. An error is one `ERROR:` line; a signal stops the run and ends
    the process at once, with the signal's exit code.

    Args:
        flow: The flow, which takes start, end, source_uri and output_uri.
        argv: The arguments (default: sys.argv[1:]): --source, --output, --start, --end,
            --days, --rows, --debug.

    Returns:
        The exit code: 0 once the report is published, 1 on an error.

    Example:
        ```python
        if __name__ == "__main__":  # at the end of flows/store_totals.py
            from prefect_polars_cloud import run_locally

            raise SystemExit(run_locally(store_totals))
        ```
    """
    from prefect_polars_cloud.config.project import env_prefix, get_settings
    from prefect_polars_cloud.local.interrupts import exit_code, exit_now, stop_on_signals
    from prefect_polars_cloud.run.daily_run import last_summary
    from prefect_polars_cloud.run.stops import interrupted

    parser = argparse.ArgumentParser(description=run_locally.__doc__)
    parser.add_argument("--source", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    add_day_options(parser, " of missing sample data")
    parser.add_argument(
        "--debug",
        action="store_true",
        default=os.environ.get("VERBOSE", "") not in ("", "0"),
        help="show tracebacks (VERBOSE=1 does the same)",
    )
    args = parser.parse_args(argv)

    os.environ[f"{env_prefix()}COMPUTE_MODE"] = "local"
    get_settings.cache_clear()
    before = _fingerprints(args.output)
    stops_before = len(interrupted)
    with stop_on_signals() as received:
        try:
            get_settings()  # a bad variable: one ERROR line here, before a flow run starts
            report_uri, days = _run_flow(flow, args)
        except KeyboardInterrupt:
            if len(interrupted) > stops_before:  # the run said what it stopped and published
                exit_now(exit_code(received))
            changed = sorted(
                name
                for name, mark in _fingerprints(args.output).items()
                if before.get(name) != mark
            )
            kept = (
                f"holds whole files only (written before the stop: {', '.join(changed)})"
                if changed
                else "was left as it was"
            )
            print(
                f"INTERRUPTED: the run stopped before it finished; {args.output} {kept}",
                file=sys.stderr,
            )
            exit_now(exit_code(received))  # not a return: an abandoned query slows the teardown
        except EXPECTED_ERRORS as error:
            if args.debug:
                traceback.print_exc()
            print(f"ERROR: {error}", file=sys.stderr)
            return 1
    if last_summary:  # what the run's artifact shows, and the last day's first rows
        summary = last_summary[-1]
        print(f"\n{summary.markdown()}")
        print(f"written to {summary.where}; the first rows of {days[-1]}:")
        print(summary.last_day.head(10) if summary.last_day is not None else "(no rows)")
    else:
        print(f"written to {report_uri}")
    return 0


def _fingerprints(folder: Path) -> dict[str, tuple[int, int]]:
    """Return each published file's modification time and size: what tells whether it changed."""
    if not folder.is_dir():
        return {}
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.stat().st_size)
        for path in folder.rglob("*")
        if path.is_file() and STAGING not in path.parts
    }


def _run_flow(flow: Callable[..., str], args: argparse.Namespace) -> tuple[str, list[date]]:
    """Clean up after interrupted runs, make missing sample data, run the flow on its days."""
    from prefect_polars_cloud.local.console import one_line_console
    from prefect_polars_cloud.local.sample_days import days_to_report, write_missing_sample
    from prefect_polars_cloud.storage.files import remove_stale_partials

    source, output = args.source, args.output
    for folder in (source, output):
        for stale in remove_stale_partials(str(folder)):
            print(f"removed {stale}, left by an interrupted run")
    write_missing_sample(source, args.days, args.rows)
    days = days_to_report(source, args.start, args.end)
    if not args.debug:
        one_line_console()
    with prefect_api():
        location = flow(
            start=days[0],
            end=days[-1],
            source_uri=str(source.resolve()),
            output_uri=str(output.resolve()),
        )
    return location, days


@contextmanager
def prefect_api() -> Iterator[None]:
    """Use the configured Prefect API, or a local server started for this run only."""
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from prefect_polars_cloud.local.server import local_prefect_api
    from prefect_polars_cloud.operations.doctor import (
        PrefectApiUnreachable,
        check_prefect_api,
        configured_api_url,
    )

    url = configured_api_url()
    if url:
        # Otherwise a stopped server shows up as a ConnectError traceback that names no URL.
        if problem := check_prefect_api(url):
            raise PrefectApiUnreachable(problem)
        yield
        return
    print("starting a local Prefect server for this run (PREFECT_API_URL is not set)")
    with local_prefect_api() as url, temporary_settings(updates={PREFECT_API_URL: url}):
        try:
            yield
        finally:
            # Send the run's last log lines while the server is still there to take them.
            APILogHandler().flush()
