"""What the local commands share: the sample and output folders, day options, expected errors.

`cli` and `runner` (and the simulator's `make run CLOUD=sim`) read these; kept apart so that the
command line and the runner it starts do not import each other.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from prefect_polars_cloud.compute.presets import PresetError
from prefect_polars_cloud.compute.session import ComputeError
from prefect_polars_cloud.config.days import RunDatesError
from prefect_polars_cloud.config.project import ProjectError
from prefect_polars_cloud.config.settings import SettingsError
from prefect_polars_cloud.credentials.service_account import CredentialsError
from prefect_polars_cloud.local.server import LocalServerError
from prefect_polars_cloud.operations.alerts import AlertsError
from prefect_polars_cloud.operations.deployments import DeploymentsError
from prefect_polars_cloud.operations.doctor import PrefectApiUnreachable
from prefect_polars_cloud.operations.names import NamesError
from prefect_polars_cloud.storage.files import MissingInputError
from prefect_polars_cloud.storage.iceberg.catalog import IcebergError
from prefect_polars_cloud.storage.input_errors import InputError


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
    NamesError,
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


def parse_day(value: str) -> date:
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
    parser.add_argument("--start", type=parse_day, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=parse_day, help="last day, YYYY-MM-DD (included)")
