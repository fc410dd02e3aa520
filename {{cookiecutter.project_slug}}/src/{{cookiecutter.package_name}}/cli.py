"""Command line: sample data and the local run behind `make sample-data` and `make run`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sample-data": sample_data,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch `<command> [options]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        commands = " | ".join(COMMANDS)
        print(f"usage: {{ cookiecutter.project_slug }} ({commands}) [options]", file=sys.stderr)
        return 2
    return COMMANDS[args[0]](args[1:])
