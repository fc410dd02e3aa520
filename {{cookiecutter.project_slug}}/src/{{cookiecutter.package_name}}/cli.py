"""Command line behind the make targets: sample-data, run, backfill, doctor, compute, ..."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from .alerts import AlertsError
from .compute import ComputeError
from .credentials import CredentialsError
from .doctor import PrefectApiUnreachable
from .input_errors import InputError
from .local_server import LocalServerError
from .presets import PresetError
from .run_dates import RunDatesError
from .storage import STAGING, MissingInputError

SAMPLE_DIR = Path("data/sample")
OUTPUT_DIR = Path("data/output")
DEFAULT_ROWS = 10_000
DEFAULT_DAYS = 7
# Failures whose message says what to do: shown as one ERROR line, the traceback on request.
EXPECTED_ERRORS = (
    AlertsError,
    CredentialsError,
    ComputeError,
    ValidationError,
    InputError,
    LocalServerError,
    PrefectApiUnreachable,
    RunDatesError,
    MissingInputError,
    PresetError,
)


def _rows(value: str) -> int:
    rows = int(value)
    if rows < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return rows


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def add_day_options(parser: argparse.ArgumentParser, what: str) -> None:
    """--rows and --days for sample data; --start and --end for the days themselves."""
    parser.add_argument("--rows", type=_rows, default=DEFAULT_ROWS, help=f"orders a day{what}")
    parser.add_argument(
        "--days", type=_rows, default=DEFAULT_DAYS, help=f"days ending yesterday{what}"
    )
    parser.add_argument("--start", type=_day, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day, YYYY-MM-DD (included)")


def sample_data(argv: Sequence[str] | None = None) -> int:
    """Write deterministic sample inputs by day (`make sample-data DAYS=N ROWS=N`)."""
    from .interrupts import exit_code, stop_on_signals
    from .run_dates import describe
    from .sample_data import chosen_days, write_sample_data
    from .storage import remove_stale_partials

    parser = argparse.ArgumentParser(description=sample_data.__doc__)
    add_day_options(parser, "")
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args(argv)
    days = chosen_days(args.start, args.end, args.days)
    with stop_on_signals() as received:
        try:
            for stale in remove_stale_partials(str(args.out)):
                print(f"removed {stale}, left by an interrupted run")
            write_sample_data(args.out, days, rows=args.rows)
        except KeyboardInterrupt:
            print(f"INTERRUPTED: no half-written file remains in {args.out}/", file=sys.stderr)
            return exit_code(received)
    print(f"wrote {args.rows} orders a day for {describe(days)}, and the customers, to {args.out}/")
    return 0


def run_locally(flow: Callable[..., str], argv: Sequence[str] | None = None) -> int:
    """Run the flow on local Polars: every sample day, or START..END (`make run`)."""
    from .interrupts import exit_code, exit_now, stop_on_signals
    from .report import read_day, summarize
    from .settings import ENV_PREFIX, get_settings

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

    os.environ[f"{ENV_PREFIX}COMPUTE_MODE"] = "local"
    get_settings.cache_clear()
    before = _fingerprints(args.output)
    with stop_on_signals() as received:
        try:
            report_uri, days = _run_flow(flow, args)
        except KeyboardInterrupt:
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
    print(f"\n{summarize(str(args.output.resolve()), days).markdown()}")
    last = read_day(str(args.output.resolve()), days[-1])
    print(f"report written to {report_uri}/date=YYYY-MM-DD/; the first rows of {days[-1]}:")
    print(last.head(10) if last is not None else "(no rows)")
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
    from .local_logging import one_line_console
    from .sample_data import days_to_report, write_missing_sample
    from .storage import remove_stale_partials

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

    from .doctor import PrefectApiUnreachable, check_prefect_api, configured_api_url
    from .local_server import local_prefect_api

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


def backfill(argv: Sequence[str] | None = None) -> int:
    """Ask a deployment for one flow run of START..END (`make backfill START=.. END=..`)."""
    from .backfill import request_backfill
    from .settings import get_settings

    parser = argparse.ArgumentParser(description=backfill.__doc__)
    parser.add_argument("--start", type=_day, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day, YYYY-MM-DD (default: start)")
    parser.add_argument("--deployment", default="daily-report", help="or daily-report-local")
    args = parser.parse_args(argv)
    link = request_backfill(get_settings(), args.start, args.end or args.start, args.deployment)
    print(f"flow run: {link}")
    return 0


def doctor(argv: Sequence[str] | None = None) -> int:
    """Check settings, credentials and the Prefect API (`make doctor`)."""
    from .doctor import run_doctor
    from .settings import get_settings

    argparse.ArgumentParser(description=doctor.__doc__).parse_args(argv)
    problems = run_doctor(get_settings())
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


def compute(argv: Sequence[str] | None = None) -> int:
    """Register or update the manifest of every preset with mode = "manifest" (`make compute`)."""
    from .manifests import register_all
    from .presets import load_presets
    from .settings import get_settings

    argparse.ArgumentParser(description=compute.__doc__).parse_args(argv)
    settings = get_settings()
    register_all(settings, load_presets(settings), print)
    return 0


def check_api(argv: Sequence[str] | None = None) -> int:
    """Fail unless a Prefect API is configured and answers (run before `make deploy`)."""
    from .doctor import configured_api_url, required_api_problem

    argparse.ArgumentParser(description=check_api.__doc__).parse_args(argv)
    problem = required_api_problem()
    if problem:
        print(f"ERROR: {problem}", file=sys.stderr)
        return 1
    print(f"prefect api: healthy ({configured_api_url()})")
    return 0


def blocks(argv: Sequence[str] | None = None) -> int:
    """Create or update the backend's Prefect blocks (`make blocks`)."""
    from .blocks import BLOCK_SAVERS, register_blocks
    from .doctor import required_api_problem
    from .settings import get_settings

    argparse.ArgumentParser(description=blocks.__doc__).parse_args(argv)
    settings = get_settings()
    if settings.secret_backend in BLOCK_SAVERS and (problem := required_api_problem()):
        print(f"ERROR: {problem}", file=sys.stderr)
        return 1
    print(register_blocks(settings))
    return 0


def alerts(argv: Sequence[str] | None = None) -> int:
    """Create or update the failed-run and late-run automations (`make alerts`); idempotent."""
    from .alerts import install_alerts
    from .doctor import required_api_problem
    from .settings import get_settings

    argparse.ArgumentParser(description=alerts.__doc__).parse_args(argv)
    settings = get_settings()
    if settings.alerts != "none" and (problem := required_api_problem()):
        raise AlertsError(problem)
    for line in install_alerts(settings):
        print(line)
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sample-data": sample_data,
    "backfill": backfill,
    "doctor": doctor,
    "compute": compute,
    "blocks": blocks,
    "check-api": check_api,
    "alerts": alerts,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch `<command> [options]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        commands = " | ".join(COMMANDS)
        print(f"usage: {{ cookiecutter.project_slug }} ({commands}) [options]", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args[0]](args[1:])
    except EXPECTED_ERRORS as error:
        # Expected failures get their message, not a traceback.
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
