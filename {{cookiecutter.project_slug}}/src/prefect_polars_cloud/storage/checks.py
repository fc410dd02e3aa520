"""Refuse suspicious data before it is published: an empty input, a day with no valid row.

An empty snapshot (a dimension) would be joined as "nothing known" into every day of the run,
and a day without rows would replace that day's published report with nothing: both are far
more often a failed export than the truth. So both fail the run, naming the file, unless
`<PREFIX>ALLOW_EMPTY_DAYS` says that empty days are expected.

Decided on metadata, never by pulling data through this process (in cloud mode the data stays
in object storage and the queries run on Polars Cloud): the sizes the listing gave, the first
bytes of a file too small to hold a row, and the row counts in the footers of staged Parquet.
Rows with a missing required field are refused inside the queries (storage.scan.all_required).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from prefect_polars_cloud.config.datasets import Datasets, Input
from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.storage.files import Inputs, join, list_keys, read_start
from prefect_polars_cloud.storage.input_errors import InputError, describe

# Bytes of a file read to tell whether it holds a row: any larger file does (no header is
# this long), so a file's first bytes are read only when that is all there is.
PEEK = 64 * 1024
SHOWN_FILES = 3  # files named in a message; more are counted


def holds_rows(dataset: Input, uri: str, size: int) -> bool:
    """Tell whether an input file holds at least one row (a header alone is none)."""
    if size > PEEK:
        return True
    if size == 0:
        return False
    if dataset.format == "parquet":  # the footer's row count
        try:
            return bool(pl.scan_parquet(uri).select(pl.len()).collect().item())
        except pl.exceptions.PolarsError as error:  # no footer: corrupt, or cut short
            raise InputError(describe(uri, dataset, error)) from error
    lines = [line for line in read_start(uri, size).splitlines() if line.strip()]
    return len(lines) > (1 if dataset.format == "csv" else 0)


def _files(uris: Sequence[str]) -> str:
    shown = ", ".join(uris[:SHOWN_FILES])
    more = len(uris) - SHOWN_FILES
    return f"{shown} (and {more} more)" if more > 0 else shown


def empty_days_error(datasets: Datasets, files: dict[date, list[str]], what: str) -> InputError:
    """Return the error naming the files of days without rows, and the setting that allows them."""
    days = ", ".join(str(day) for day in sorted(files))
    uris = [uri for day in sorted(files) for uri in files[day]]
    return InputError(
        f"{_files(uris)}: {what} for {days}: the day's {datasets.report.name} would be empty "
        "and replace the published one; fix the input, or set "
        f"{env_prefix()}ALLOW_EMPTY_DAYS=true if empty days are expected"
    )


def check_inputs(
    datasets: Datasets, inputs: Inputs, days: list[date], allow_empty_days: bool
) -> None:
    """Refuse an empty snapshot, and (unless allowed) a day whose files hold no row."""
    for snapshot in datasets.snapshots:
        uri = inputs.snapshots[snapshot.name]
        if not holds_rows(snapshot, uri, inputs.sizes[uri]):
            raise InputError(
                f"{uri}: no rows: every day of the run would be computed without any "
                f"{snapshot.name}; put the whole snapshot there (an empty one is refused)"
            )
    if allow_empty_days:
        return
    empty: dict[date, list[str]] = {}
    for day in days:
        files = [
            (dataset, uri)
            for dataset in datasets.daily_inputs
            for uri in inputs.daily[dataset.name].get(day, [])
        ]
        if not any(holds_rows(dataset, uri, inputs.sizes[uri]) for dataset, uri in files):
            empty[day] = [uri for _, uri in files]
    if empty:
        raise empty_days_error(datasets, empty, "no rows")


def staged_rows(datasets: Datasets, output_uri: str, staging: str) -> dict[date, int]:
    """Return the rows the run staged for each day of its report, from the Parquet footers."""
    prefix = f"{staging}/{datasets.report.name}/"
    by_day: dict[date, list[str]] = {}
    for key in list_keys(output_uri, prefix):
        folder = key.removeprefix(prefix).split("/", 1)[0]  # <key>=YYYY-MM-DD
        day = date.fromisoformat(folder.removeprefix(f"{datasets.partition_key}="))
        by_day.setdefault(day, []).append(join(output_uri, key))
    return {
        day: int(pl.scan_parquet(uris).select(pl.len()).collect().item())
        for day, uris in by_day.items()
    }


def check_staged(
    datasets: Datasets,
    inputs: Inputs,
    output_uri: str,
    staging: str,
    days: list[date],
    allow_empty_days: bool,
    rows: dict[date, int] | None = None,
) -> None:
    """Refuse (unless allowed) a day of the run whose staged report has no row.

    rows: the report's rows by day, when it is not staged (an Iceberg table's).
    """
    if allow_empty_days:
        return
    rows = staged_rows(datasets, output_uri, staging) if rows is None else rows
    empty = {
        day: [uri for dataset in datasets.daily_inputs for uri in inputs.daily[dataset.name][day]]
        for day in days
        if not rows.get(day)
    }
    if empty:
        raise empty_days_error(datasets, empty, "no valid row")
