"""Command line behind the make targets: sample-data, run, backfill, doctor, compute, ..."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from .alerts import AlertsError
from .compute import ComputeError
from .credentials import CredentialsError
from .deployments import DeploymentsError
from .doctor import PrefectApiUnreachable
from .iceberg_catalog import IcebergError
from .input_errors import InputError
from .local_server import LocalServerError
from .presets import PresetError
from .project import ProjectError
from .run_dates import RunDatesError
from .settings import SettingsError
from .storage import MissingInputError


class FlowNotFound(ValueError):
    """FLOW names no flow of flows/; the message lists the ones there are."""


SAMPLE_DIR = Path("data/sample")
OUTPUT_DIR = Path("data/output")
DEFAULT_ROWS = 10_000
DEFAULT_DAYS = 7
# Failures whose message says what to do: shown as one ERROR line, the traceback on request.
EXPECTED_ERRORS = (
    AlertsError,
    CredentialsError,
    ComputeError,
    DeploymentsError,
    ValidationError,
    SettingsError,
    InputError,
    LocalServerError,
    PrefectApiUnreachable,
    RunDatesError,
    MissingInputError,
    PresetError,
    ProjectError,
    FlowNotFound,
    IcebergError,
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
    parser.add_argument("--rows", type=_rows, default=DEFAULT_ROWS, help=f"rows a day{what}")
    parser.add_argument(
        "--days", type=_rows, default=DEFAULT_DAYS, help=f"days ending yesterday{what}"
    )
    parser.add_argument("--start", type=_day, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day, YYYY-MM-DD (included)")


def sample_data(argv: Sequence[str] | None = None) -> int:
    """Write deterministic sample inputs by day (`make sample-data DAYS=N ROWS=N`)."""
    from .interrupts import exit_code, stop_on_signals
    from .project import current
    from .run_dates import describe
    from .sample_days import chosen_days
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
            current().write_sample_data(args.out, days, args.rows)
        except KeyboardInterrupt:
            print(f"INTERRUPTED: no half-written file remains in {args.out}/", file=sys.stderr)
            return exit_code(received)
    print(f"wrote sample data, {args.rows} rows a day, for {describe(days)} to {args.out}/")
    return 0


def backfill(argv: Sequence[str] | None = None) -> int:
    """Ask a deployment for one flow run of START..END (`make backfill START=.. END=..`)."""
    from .backfill import request_backfill
    from .settings import get_settings

    parser = argparse.ArgumentParser(description=backfill.__doc__)
    parser.add_argument("--start", type=_day, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=_day, help="last day, YYYY-MM-DD (default: start)")
    parser.add_argument(
        "--deployment",
        required=True,
        help="<flow>/<deployment>, or a deployment name that only one flow has",
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
    """Create or update the zombie, failed-run and late-run automations (`make alerts`)."""
    from .alerts import install_alerts
    from .doctor import required_api_problem
    from .settings import get_settings

    argparse.ArgumentParser(description=alerts.__doc__).parse_args(argv)
    settings = get_settings()
    if problem := required_api_problem():
        raise AlertsError(problem)
    for line in install_alerts(settings):
        print(line)
    return 0


def deployments(argv: Sequence[str] | None = None) -> int:
    """Print the names of prefect.yaml's deployments, one a line (CI deploys --production)."""
    from .deployments import PREFECT_FILE, production_names, read_deployments

    parser = argparse.ArgumentParser(description=deployments.__doc__)
    parser.add_argument(
        "--production", action="store_true", help="only those whose name does not end in -local"
    )
    parser.add_argument("--prefect-file", type=Path, default=PREFECT_FILE)
    args = parser.parse_args(argv)
    if args.production:
        names = production_names(args.prefect_file)
    else:
        names = list(dict.fromkeys(item["name"] for item in read_deployments(args.prefect_file)))
    for name in names:
        print(name)
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Run a flow of flows/ locally (`make run FLOW=<module>`); see local_run.run_locally."""
    from .local_run import load_flow, run_locally

    parser = argparse.ArgumentParser(description=run.__doc__, add_help=False)
    parser.add_argument("--flow", required=True, help="a module of flows/ (make run FLOW=...)")
    args, rest = parser.parse_known_args(argv)
    return run_locally(load_flow(args.flow), rest)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "run": run,
    "sample-data": sample_data,
    "backfill": backfill,
    "doctor": doctor,
    "compute": compute,
    "blocks": blocks,
    "check-api": check_api,
    "alerts": alerts,
    "deployments": deployments,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch `<command> [options]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        commands = " | ".join(COMMANDS)
        program = Path(sys.argv[0]).name
        print(f"usage: {program} ({commands}) [options]", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args[0]](args[1:])
    except EXPECTED_ERRORS as error:
        # Expected failures get their message, not a traceback.
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
