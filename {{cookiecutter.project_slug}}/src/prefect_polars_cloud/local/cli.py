"""Command line behind the make targets: sample-data, run, backfill, doctor, compute, ..."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from prefect_polars_cloud.local.options import (
    EXPECTED_ERRORS,
    SAMPLE_DIR,
    add_day_options,
    parse_day,
)


def sample_data(argv: Sequence[str] | None = None) -> int:
    """Write deterministic sample inputs by day (`make sample-data DAYS=N ROWS=N`)."""
    from prefect_polars_cloud.config.days import describe
    from prefect_polars_cloud.config.project import current
    from prefect_polars_cloud.local.interrupts import exit_code, stop_on_signals
    from prefect_polars_cloud.local.sample_days import chosen_days
    from prefect_polars_cloud.storage.files import remove_stale_partials

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
    from prefect_polars_cloud.config.project import get_settings
    from prefect_polars_cloud.operations.backfill import request_backfill
    from prefect_polars_cloud.operations.names import default_deployment

    parser = argparse.ArgumentParser(description=backfill.__doc__)
    parser.add_argument("--start", type=parse_day, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=parse_day, help="last day, YYYY-MM-DD (default: start)")
    parser.add_argument(
        "--deployment",
        help="<flow>/<deployment>, or a deployment name that only one flow has "
        "(default: prefect.yaml's one production deployment)",
    )
    args = parser.parse_args(argv)
    settings = get_settings()  # its environment (<PREFIX>ENV) picks the default deployment
    deployment = args.deployment or default_deployment(
        environment=settings.env, prefix=settings.prefix()
    )
    link = request_backfill(settings, args.start, args.end or args.start, deployment)
    print(f"flow run: {link}")
    return 0


def doctor(argv: Sequence[str] | None = None) -> int:
    """Check settings, credentials and the Prefect API (`make doctor`)."""
    from prefect_polars_cloud.config.project import get_settings
    from prefect_polars_cloud.operations.doctor import run_doctor

    argparse.ArgumentParser(description=doctor.__doc__).parse_args(argv)
    problems = run_doctor(get_settings())
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


def compute(argv: Sequence[str] | None = None) -> int:
    """Register or update the manifest of every preset with mode = "manifest" (`make compute`)."""
    from prefect_polars_cloud.compute.manifests import register_all
    from prefect_polars_cloud.compute.presets import load_presets
    from prefect_polars_cloud.config.project import get_settings

    argparse.ArgumentParser(description=compute.__doc__).parse_args(argv)
    settings = get_settings()
    register_all(settings, load_presets(settings), print)
    return 0


def check_api(argv: Sequence[str] | None = None) -> int:
    """Fail unless a Prefect API is configured and answers (run before `make deploy`)."""
    from prefect_polars_cloud.operations.doctor import configured_api_url, required_api_problem

    argparse.ArgumentParser(description=check_api.__doc__).parse_args(argv)
    problem = required_api_problem()
    if problem:
        print(f"ERROR: {problem}", file=sys.stderr)
        return 1
    print(f"prefect api: healthy ({configured_api_url()})")
    return 0


def blocks(argv: Sequence[str] | None = None) -> int:
    """Create or update the backend's Prefect blocks (`make blocks`)."""
    from prefect_polars_cloud.config.project import get_settings
    from prefect_polars_cloud.credentials.blocks import BLOCK_SAVERS, register_blocks
    from prefect_polars_cloud.operations.doctor import required_api_problem

    argparse.ArgumentParser(description=blocks.__doc__).parse_args(argv)
    settings = get_settings()
    if settings.secret_backend in BLOCK_SAVERS and (problem := required_api_problem()):
        print(f"ERROR: {problem}", file=sys.stderr)
        return 1
    print(register_blocks(settings))
    return 0


def alerts(argv: Sequence[str] | None = None) -> int:
    """Create or update the zombie, failed-run and late-run automations (`make alerts`)."""
    from prefect_polars_cloud.config.project import get_settings
    from prefect_polars_cloud.operations.alerts import AlertsError, install_alerts
    from prefect_polars_cloud.operations.doctor import required_api_problem

    argparse.ArgumentParser(description=alerts.__doc__).parse_args(argv)
    settings = get_settings()
    if problem := required_api_problem():
        raise AlertsError(problem)
    for line in install_alerts(settings):
        print(line)
    return 0


def deployments(argv: Sequence[str] | None = None) -> int:
    """Print the names of prefect.yaml's deployments, one a line (CI deploys --production)."""
    from prefect_polars_cloud.config.project import env_prefix
    from prefect_polars_cloud.operations.deployments import (
        PREFECT_FILE,
        environment_names,
        production_names,
        read_deployments,
    )

    parser = argparse.ArgumentParser(description=deployments.__doc__)
    parser.add_argument(
        "--production", action="store_true", help="only those whose name does not end in -local"
    )
    parser.add_argument(
        "--env", help="only the production deployments whose runs belong to this environment"
    )
    parser.add_argument("--prefect-file", type=Path, default=PREFECT_FILE)
    args = parser.parse_args(argv)
    if args.env:
        names = environment_names(args.prefect_file, args.env, env_prefix())
    elif args.production:
        names = production_names(args.prefect_file)
    else:
        names = list(dict.fromkeys(item["name"] for item in read_deployments(args.prefect_file)))
    for name in names:
        print(name)
    return 0


def promote(argv: Sequence[str] | None = None) -> int:
    """Print prefect.yaml for one environment on an image already built (CI's release job)."""
    from prefect_polars_cloud.config.project import env_prefix
    from prefect_polars_cloud.operations.deployments import PREFECT_FILE
    from prefect_polars_cloud.operations.promotion import promoted_prefect_file

    parser = argparse.ArgumentParser(description=promote.__doc__)
    parser.add_argument("--env", required=True, help="the environment whose deployments to print")
    parser.add_argument("--image", required=True, help="the image they run: <repository>@<digest>")
    parser.add_argument("--prefect-file", type=Path, default=PREFECT_FILE)
    args = parser.parse_args(argv)
    print(promoted_prefect_file(args.prefect_file, args.env, env_prefix(), args.image), end="")
    return 0


def deployed_image(argv: Sequence[str] | None = None) -> int:
    """Print the image one environment's deployments run on the Prefect API (CI's release job)."""
    from prefect_polars_cloud.config.project import env_prefix
    from prefect_polars_cloud.operations.deployments import PREFECT_FILE
    from prefect_polars_cloud.operations.promotion import deployed_image as image_of

    parser = argparse.ArgumentParser(description=deployed_image.__doc__)
    parser.add_argument("--env", required=True, help="the environment whose image to print")
    parser.add_argument("--prefect-file", type=Path, default=PREFECT_FILE)
    args = parser.parse_args(argv)
    print(image_of(args.prefect_file, args.env, env_prefix()))
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    """Run a flow of flows/ locally (`make run FLOW=<module>`); see local_run.run_locally."""
    from prefect_polars_cloud.local.runner import load_flow, run_locally

    parser = argparse.ArgumentParser(description=run.__doc__, add_help=False)
    parser.add_argument(
        "--flow", help="a module of flows/ (make run FLOW=...); default: the only one there is"
    )
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
    "promote": promote,
    "deployed-image": deployed_image,
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
