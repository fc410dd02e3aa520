"""Command line behind `make sample-data`, `run`, `doctor`, `check-api` and `blocks`."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from .compute import ComputeError
from .credentials import CredentialsError
from .doctor import PrefectApiUnreachable
from .input_errors import InputError
from .local_server import LocalServerError

SAMPLE_DIR = Path("data/sample")
OUTPUT_DIR = Path("data/output")
DEFAULT_ROWS = 10_000
# Failures whose message says what to do: shown as one ERROR line, the traceback on request.
EXPECTED_ERRORS = (
    CredentialsError,
    ComputeError,
    ValidationError,
    InputError,
    LocalServerError,
    PrefectApiUnreachable,
)


def _rows(value: str) -> int:
    rows = int(value)
    if rows < 1:
        raise argparse.ArgumentTypeError(f"ROWS must be a whole number >= 1, got {value}")
    return rows


def sample_data(argv: Sequence[str] | None = None) -> int:
    """Write deterministic sample inputs (`make sample-data ROWS=N`)."""
    from .interrupts import exit_code, stop_on_signals
    from .sample_data import write_sample_data
    from .storage import remove_stale_partials

    parser = argparse.ArgumentParser(description=sample_data.__doc__)
    parser.add_argument("--rows", type=_rows, default=DEFAULT_ROWS)
    parser.add_argument("--out", type=Path, default=SAMPLE_DIR)
    args = parser.parse_args(argv)
    with stop_on_signals() as received:
        try:
            for stale in remove_stale_partials(str(args.out)):
                print(f"removed {stale}, left by an interrupted run")
            write_sample_data(args.out, rows=args.rows)
        except KeyboardInterrupt:
            print(f"INTERRUPTED: no half-written file remains in {args.out}/", file=sys.stderr)
            return exit_code(received)
    print(f"wrote {args.rows} orders and their customers to {args.out}/")
    return 0


def run_locally(flow: Callable[..., str], argv: Sequence[str] | None = None) -> int:
    """Run the flow on local Polars against sample data (`make run`)."""
    from .interrupts import exit_code, stop_on_signals
    from .settings import ENV_PREFIX, get_settings

    parser = argparse.ArgumentParser(description=run_locally.__doc__)
    parser.add_argument("--source", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    parser.add_argument(
        "--rows", type=_rows, default=DEFAULT_ROWS, help="size of missing sample data"
    )
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
            report_uri = _run_flow(flow, args.source, args.output, args.rows, args.debug)
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
            return exit_code(received)
        except EXPECTED_ERRORS as error:
            if args.debug:
                traceback.print_exc()
            print(f"ERROR: {error}", file=sys.stderr)
            return 1
    print(f"\nreport written to {report_uri}; its first rows:")
    print(first_rows(report_uri))
    return 0


def _fingerprints(folder: Path) -> dict[str, tuple[int, int]]:
    """Return each file's modification time and size: what tells whether it changed."""
    if not folder.is_dir():
        return {}
    return {
        path.name: (path.stat().st_mtime_ns, path.stat().st_size)
        for path in folder.iterdir()
        if path.is_file()
    }


def _run_flow(flow: Callable[..., str], source: Path, output: Path, rows: int, debug: bool) -> str:
    """Clean up after earlier interrupted runs, make missing sample data, run the flow."""
    from .local_logging import one_line_console
    from .sample_data import has_sample_data, write_sample_data
    from .storage import remove_stale_partials

    for folder in (source, output):
        for stale in remove_stale_partials(str(folder)):
            print(f"removed {stale}, left by an interrupted run")
    if not has_sample_data(source):
        print(f"no sample data in {source}: writing {rows} orders")
        write_sample_data(source, rows=rows)
    if not debug:
        one_line_console()
    with prefect_api():
        return flow(source_uri=str(source.resolve()), output_uri=str(output.resolve()))


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


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "sample-data": sample_data,
    "doctor": doctor,
    "blocks": blocks,
    "check-api": check_api,
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
