"""Command line behind `make sample-data`, `run`, `doctor`, `blocks` and `alerts`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from .alerts import AlertsError
from .compute import ComputeError
from .credentials import CredentialsError

SAMPLE_DIR = Path("data/sample")
OUTPUT_DIR = Path("data/output")
DEFAULT_ROWS = 10_000


def _rows(value: str) -> int:
    rows = int(value)
    if rows < 1:
        raise argparse.ArgumentTypeError(f"ROWS must be a whole number >= 1, got {value}")
    return rows


def sample_data(argv: Sequence[str] | None = None) -> int:
    """Write deterministic sample inputs (`make sample-data ROWS=N`)."""
    from .sample_data import write_sample_data

    parser = argparse.ArgumentParser(description=sample_data.__doc__)
    parser.add_argument("--rows", type=_rows, default=DEFAULT_ROWS)
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args(argv)
    write_sample_data(args.out, rows=args.rows)
    print(f"wrote {args.rows} orders and their customers to {args.out}/")
    return 0


def run_locally(flow: Callable[..., str], argv: Sequence[str] | None = None) -> int:
    """Run the flow on local Polars against sample data (`make run`)."""
    from .settings import ENV_PREFIX, get_settings

    parser = argparse.ArgumentParser(description=run_locally.__doc__)
    parser.add_argument("--source", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    parser.add_argument(
        "--rows", type=_rows, default=DEFAULT_ROWS, help="size of missing sample data"
    )
    args = parser.parse_args(argv)

    os.environ[f"{ENV_PREFIX}COMPUTE_MODE"] = "local"
    get_settings.cache_clear()

    from .sample_data import has_sample_data, write_sample_data

    if not has_sample_data(args.source):
        print(f"no sample data in {args.source}: writing {args.rows} orders")
        write_sample_data(args.source, rows=args.rows)
    report_uri = flow(source_uri=str(args.source.resolve()), output_uri=str(args.output.resolve()))
    print(f"\nreport written to {report_uri}; its first rows:")
    print(first_rows(report_uri))
    return 0


def first_rows(report_uri: str, rows: int = 10) -> str:
    """Return the report's first rows as a table."""
    import polars as pl

    with pl.Config(tbl_rows=rows):
        return str(pl.read_parquet(report_uri).head(rows))


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
    from .blocks import BLOCK_SAVERS, register_blocks
    from .doctor import api_problem
    from .settings import get_settings

    argparse.ArgumentParser(description=blocks.__doc__).parse_args(argv)
    settings = get_settings()
    if settings.secret_backend in BLOCK_SAVERS and (problem := api_problem()):
        raise CredentialsError(problem)
    print(register_blocks(settings))
    return 0


def api(argv: Sequence[str] | None = None) -> int:
    """Check the configured Prefect API answers, as `make doctor` does (before `make deploy`)."""
    from .doctor import api_problem, configured_api_url

    argparse.ArgumentParser(description=api.__doc__).parse_args(argv)
    if problem := api_problem():
        print(f"ERROR: {problem}", file=sys.stderr)
        return 1
    print(f"prefect api:    healthy ({configured_api_url()})")
    return 0


def alerts(argv: Sequence[str] | None = None) -> int:
    """Create or update the failed-run and late-run automations (`make alerts`); idempotent."""
    from .alerts import install_alerts
    from .doctor import api_problem
    from .settings import get_settings

    argparse.ArgumentParser(description=alerts.__doc__).parse_args(argv)
    settings = get_settings()
    if settings.alerts != "none" and (problem := api_problem()):
        raise AlertsError(problem)
    for line in install_alerts(settings):
        print(line)
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sample-data": sample_data,
    "doctor": doctor,
    "blocks": blocks,
    "alerts": alerts,
    "api": api,
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
    except (AlertsError, CredentialsError, ComputeError, ValidationError) as error:
        # Expected failures get their message, not a traceback.
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
