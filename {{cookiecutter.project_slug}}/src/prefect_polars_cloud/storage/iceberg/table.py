"""One Iceberg table's operations: replace days in one commit, find a run's snapshot, read days.

Each run's commit is one OVERWRITE snapshot (APPEND for a table's first) whose summary carries the
run's lineage, so `table.history()` and the snapshots answer "which run wrote this day":

    prefect.flow-run-id, prefect.flow-run-name, prefect.flow, prefect.deployment, prefect.days
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from prefect_polars_cloud.storage.iceberg.catalog import CatalogConfig
from prefect_polars_cloud.storage.summary import DaySummary, RunSummary

# The snapshot property that ties a snapshot to the run that wrote it (and finds a lost commit).
RUN_PROPERTY = "prefect-polars-cloud.run"


@dataclass(frozen=True)
class Committed:
    """What one commit made: the snapshot readers now see."""

    catalog: str
    identifier: str
    snapshot_id: int
    metadata_location: str
    files: int


def lineage(days: list[date], run_key: str) -> dict[str, str]:
    """Return the snapshot summary's lineage: the flow run, its deployment and days, the run."""
    from prefect import runtime

    return {
        "prefect.flow-run-id": str(runtime.flow_run.id or ""),
        "prefect.flow-run-name": str(runtime.flow_run.name or ""),
        "prefect.flow": str(runtime.flow_run.flow_name or ""),
        "prefect.deployment": str(runtime.deployment.name or "none"),
        "prefect.days": ",".join(day.isoformat() for day in days),
        RUN_PROPERTY: run_key,
    }


def overwrite_days(
    catalog: Any,  # noqa: ANN401 - a pyiceberg Catalog
    identifier: str,
    creating: Any,  # noqa: ANN401 - a CreateTableTransaction, or None when the table exists
    uris: list[str],
    key: str,
    days: list[date],
    properties: dict[str, str],
) -> None:
    """Commit once: the days' current data files out of the table, the files at uris in.

    The days' files are planned against the table's head now, not as it was when the run began:
    the latest run of a day wins, as with folders. `delete_by_predicate` only scopes pyiceberg's
    conflict check: a concurrent commit to other days is retried over, one to these days fails.
    """
    from pyiceberg.expressions import In
    from pyiceberg.io import load_file_io
    from pyiceberg.io.pyarrow import parquet_files_to_data_files

    wanted = In(key, [day.isoformat() for day in days])
    if creating is not None:
        transaction, old = creating, []
    else:
        table = catalog.load_table(identifier)
        transaction = table.transaction()
        old = [task.file for task in table.scan(row_filter=wanted).plan_files()]
    io = load_file_io(catalog.properties, transaction.table_metadata.location)
    with transaction.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
        overwrite.delete_by_predicate(wanted)
        for data_file in old:
            overwrite.delete_data_file(data_file)
        # Each file's footer is read here (its statistics give its partition); no rows are.
        for data_file in parquet_files_to_data_files(io, transaction.table_metadata, iter(uris)):
            overwrite.append_data_file(data_file)
    transaction.commit_transaction()


def run_snapshot(
    catalog: Any,  # noqa: ANN401 - a pyiceberg Catalog
    identifier: str,
    run_key: str,
) -> tuple[Any, Any] | None:
    """Return (table, snapshot) of the run's commit, or None when the table has none."""
    table = catalog.load_table(identifier)
    for snapshot in reversed(table.snapshots()):
        if snapshot.summary and snapshot.summary.get(RUN_PROPERTY) == run_key:
            return table, snapshot
    return None


def read_days(
    table: Any,  # noqa: ANN401 - a pyiceberg Table
    snapshot_id: int,
    key: str,
    days: list[date],
) -> pl.DataFrame:
    """Return the rows of the days at a snapshot (a report: small)."""
    return pl.scan_iceberg(table, snapshot_id=snapshot_id).filter(pl.col(key).is_in(days)).collect()


def summarize_days(
    title: str,
    location: str,
    config: CatalogConfig,
    identifier: str,
    table: Any,  # noqa: ANN401 - a pyiceberg Table, None when it was never created
    committed: Committed | None,
    key: str,
    days: list[date],
    totals: Callable[[pl.DataFrame], Mapping[str, float | int]] | None,
) -> RunSummary:
    """Total each day of the run from the committed snapshot, and say how to read it."""
    frame = pl.DataFrame()
    if committed is not None:
        frame = read_days(table, committed.snapshot_id, key, days)
    summaries, last = [], None
    for day in days:
        rows = frame.filter(pl.col(key) == day) if frame.height else None
        if rows is None or rows.height == 0:
            summaries.append(DaySummary(day, 0, {}))
            last = None
        else:
            summaries.append(DaySummary(day, rows.height, totals(rows) if totals else {}))
            last = rows
    label = f"Iceberg table `{identifier}` (catalog `{config.name}`)"
    if committed is not None:
        label += f", snapshot `{committed.snapshot_id}`"
    elif table is None:
        label += ", not created: the run wrote no rows"
    reading_text = reading(config, identifier, committed)
    return RunSummary(title, location, summaries, last, label=label, reading=reading_text)


def reading(config: CatalogConfig, identifier: str, committed: Committed | None) -> str:
    """Return how to read the table, in Markdown: Polars, DuckDB, Athena."""
    namespace, _, table = identifier.rpartition(".")
    # The local fallback is configured nowhere: name its properties.
    given = "".join(f", {k}={v!r}" for k, v in config.properties.items() if config.local_fallback)
    lines = [
        "Read it:",
        "",
        f'- Polars: `pl.scan_iceberg(load_catalog("{config.name}"{given})'
        f'.load_table("{identifier}"))` (`from pyiceberg.catalog import load_catalog`)',
    ]
    if committed is not None:
        lines.append(
            f"- DuckDB: `SELECT * FROM iceberg_scan('{committed.metadata_location}')` "  # noqa: S608 - shown, never run
            "(`INSTALL iceberg; LOAD iceberg;`)"
        )
    shown = f'SELECT * FROM "{namespace}"."{table}"'  # noqa: S608 - shown, never run
    lines.append(f"- Athena or Trino (a Glue catalog): `{shown}`")
    return "\n".join(lines) + "\n"
