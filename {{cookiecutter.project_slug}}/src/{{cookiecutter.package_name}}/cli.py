"""Command line behind `make sample-data`, `run`, `backfill`, `doctor` and `blocks`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from .compute import ComputeError
from .credentials import CredentialsError
from .run_dates import RunDatesError
from .storage import MissingInputError

SAMPLE_DIR = Path("data/sample")
OUTPUT_DIR = Path("data/output")
DEFAULT_ROWS = 10_000
DEFAULT_DAYS = 7


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return number


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def _add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=_day, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day, YYYY-MM-DD (included)")


def _sample_days(args: argparse.Namespace) -> list[date]:
    """The days sample data is written for: START..END, or DAYS days ending yesterday (UTC)."""
    from .run_dates import resolve_days
    from .sample_data import last_days

    if args.start is None and args.end is None:
        return last_days(args.days)
    return resolve_days(args.start, args.end, scheduled=None, max_days=100_000)


def sample_data(argv: Sequence[str] | None = None) -> int:
    """Write deterministic sample inputs by day (`make sample-data DAYS=N ROWS=N`)."""
    from .run_dates import describe
    from .sample_data import write_sample_data

    parser = argparse.ArgumentParser(description=sample_data.__doc__)
    parser.add_argument("--rows", type=_positive, default=DEFAULT_ROWS, help="orders per day")
    parser.add_argument(
        "--days", type=_positive, default=DEFAULT_DAYS, help="days ending yesterday"
    )
    _add_range(parser)
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args(argv)
    days = _sample_days(args)
    write_sample_data(args.out, days, rows=args.rows)
    print(f"wrote {args.rows} orders a day for {describe(days)}, and the customers, to {args.out}/")
    return 0


def run_locally(flow: Callable[..., str], argv: Sequence[str] | None = None) -> int:
    """Run the flow on local Polars against sample data (`make run [START=.. END=..]`)."""
    from .report import read_day, summarize
    from .run_dates import resolve_days
    from .sample_data import has_sample_data, last_days, sample_days, write_sample_data
    from .settings import ENV_PREFIX, get_settings

    parser = argparse.ArgumentParser(description=run_locally.__doc__)
    parser.add_argument("--source", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    parser.add_argument(
        "--rows", type=_positive, default=DEFAULT_ROWS, help="orders per day of missing sample data"
    )
    parser.add_argument(
        "--days", type=_positive, default=DEFAULT_DAYS, help="days of missing sample data"
    )
    _add_range(parser)
    args = parser.parse_args(argv)

    os.environ[f"{ENV_PREFIX}COMPUTE_MODE"] = "local"
    get_settings.cache_clear()

    if not has_sample_data(args.source):
        print(f"no sample data in {args.source}: writing {args.days} days of {args.rows} orders")
        write_sample_data(args.source, last_days(args.days), rows=args.rows)
    present = sample_days(args.source)
    start, end = args.start, args.end
    if start is None and end is None:  # every day the sample holds
        start, end = present[0], present[-1]
    output = str(args.output.resolve())
    report_uri = flow(
        start=start, end=end, source_uri=str(args.source.resolve()), output_uri=output
    )
    days = resolve_days(start, end, scheduled=None, max_days=100_000)
    print(f"\n{summarize(output, days).markdown()}")
    last = read_day(output, days[-1])
    print(f"report written to {report_uri}/date=YYYY-MM-DD/; the first rows of {days[-1]}:")
    print(last.head(10) if last is not None else "(no rows)")
    return 0


def backfill(argv: Sequence[str] | None = None) -> int:
    """Ask a deployment for one flow run of START..END (`make backfill START=.. END=..`)."""
    from .backfill import request_backfill
    from .settings import get_settings

    parser = argparse.ArgumentParser(description=backfill.__doc__)
    parser.add_argument("--start", type=_day, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day, YYYY-MM-DD (default: start)")
    parser.add_argument(
        "--deployment", default="daily-report", help="daily-report or daily-report-local"
    )
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


def blocks(argv: Sequence[str] | None = None) -> int:
    """Create or update the backend's Prefect blocks (`make blocks`)."""
    from .blocks import register_blocks
    from .settings import get_settings

    argparse.ArgumentParser(description=blocks.__doc__).parse_args(argv)
    print(register_blocks(get_settings()))
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sample-data": sample_data,
    "backfill": backfill,
    "doctor": doctor,
    "blocks": blocks,
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
    except (
        CredentialsError,
        ComputeError,
        ValidationError,
        RunDatesError,
        MissingInputError,
    ) as error:
        # Expected failures get their message, not a traceback.
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
