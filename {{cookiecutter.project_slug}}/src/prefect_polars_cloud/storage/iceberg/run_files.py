"""Where a run's queries write an Iceberg table's files, before any commit: one folder per sink.

For each IcebergOutput the run loads its table (or, for a table that does not exist yet, stages
its creation from the first query's schema), refuses one whose days cannot be replaced or that
Polars Cloud cannot write, and gives each sink a folder of its own,
`<table location>/data/<run>/<sink>/<key>=YYYY-MM-DD/`, recorded under the run's staging prefix
before the table's first file so that a killed run's files can be found and deleted
(storage/iceberg/leftovers.py). A failed sink's folder is removed at once. Later tasks of the run
read these files before they are committed; the commit itself: storage/iceberg/writes.py.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from prefect_polars_cloud.config.datasets import Datasets, IcebergOutput
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.storage.files import is_remote, list_keys
from prefect_polars_cloud.storage.iceberg.catalog import (
    IcebergError,
    catalog_config,
    create_transaction,
    load,
    local_path,
    partitioning_problem,
    polars_schema,
    schema_differences,
    table_name,
)
from prefect_polars_cloud.storage.iceberg.leftovers import record, remove_folder
from prefect_polars_cloud.storage.iceberg.table import Committed


@dataclass
class RunTable:
    """One IcebergOutput during a run: its table (or the transaction that will create it)."""

    output: IcebergOutput
    identifier: str
    table: Any = None  # pyiceberg Table, None while it does not exist
    creating: Any = None  # the CreateTableTransaction of a table the run's commit creates
    sinks: int = 0
    parts: list[str] = field(default_factory=list)  # folders of the sinks that succeeded
    committed: Committed | None = None
    uncertain: bool = False  # a commit failed without saying whether it landed: keep the files
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def metadata(self) -> Any:  # noqa: ANN401 - TableMetadata
        return self.creating.table_metadata if self.creating else self.table.metadata


class RunFiles:
    """The files a run writes into its Iceberg tables; TableWrites adds the commit.

    The queries' side: the folder each sink writes to, and reads of what earlier tasks wrote.
    """

    def __init__(
        self, datasets: Datasets, settings: Settings, days: list[date], staging: str, output: str
    ) -> None:
        self.datasets, self.settings, self.days = datasets, settings, days
        self.staging, self.output_uri = staging, output  # where the run says where it writes
        self.run_key = staging.rsplit("/", 1)[-1]  # e.g. 20261102T060000Z-1a2b3c4d
        self.config = catalog_config(settings)
        self.catalog = load(self.config)
        self._tables: dict[str, RunTable] = {}
        for output in datasets.tables:
            entry = RunTable(output, table_name(settings, output))
            entry.table = self._load(entry.identifier)
            if entry.table is not None:
                self._check_existing(entry)
            self._tables[output.name] = entry

    def _load(self, identifier: str) -> Any:  # noqa: ANN401 - Table or None
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        try:
            return self.catalog.load_table(identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            return None

    def _check_existing(self, entry: RunTable) -> None:
        """Refuse a table whose days cannot be replaced, or that Polars Cloud cannot write."""
        problem = partitioning_problem(entry.table, entry.identifier, self.datasets.partition_key)
        if problem:
            raise IcebergError(problem)
        self._check_location(entry, entry.table.location())

    def _check_location(self, entry: RunTable, location: str) -> None:
        if self.settings.compute_mode == "cloud" and not is_remote(location):
            raise IcebergError(
                f"the Iceberg table {entry.identifier} lives at {location}, which Polars Cloud "
                "cannot write: give the catalog an object-store warehouse (s3://...)"
            )

    # -- the queries' side ------------------------------------------------------------------

    def folder(self, output: IcebergOutput) -> str:
        """Return the folder this run writes the output's files in, below the table's location."""
        entry = self._tables[output.name]
        return f"{entry.metadata.location.rstrip('/')}/data/{self.run_key}"

    @contextmanager
    def writing(
        self, output: IcebergOutput, query: pl.LazyFrame
    ) -> Iterator[tuple[pl.LazyFrame, pl.PartitionBy, Any]]:
        """Yield (query, target, arrow_schema) to sink; a failed sink's files are removed.

        The query's columns must be the table's (any order); a new table takes the query's.
        """
        from pyiceberg.io.pyarrow import schema_to_pyarrow

        entry = self._tables[output.name]
        with entry.lock:
            self._prepare(entry, dict(query.collect_schema()))
            if entry.sinks == 0:  # before the table's first file: a kill must not hide them
                self._record()
            entry.sinks += 1
            part = f"{self.folder(output)}/{entry.sinks:03d}"
        schema = entry.metadata.schema()
        target = pl.PartitionBy(
            f"{local_path(part)}/", key=self.datasets.partition_key, include_key=True
        )
        try:
            yield (
                query.select([column.name for column in schema.fields]),
                target,
                schema_to_pyarrow(schema),
            )
        except BaseException:
            remove_folder(part)
            raise
        with entry.lock:
            entry.parts.append(part)

    def _prepare(self, entry: RunTable, columns: dict[str, pl.DataType]) -> None:
        """Check the query against the table, or stage the table's creation from the query."""
        key = self.datasets.partition_key
        if key not in columns:
            raise IcebergError(
                f"the query of {entry.output.name!r} has no {key!r} column: each row's day "
                "partitions the table"
            )
        if entry.table is None and entry.creating is None:
            entry.creating = self._create(entry, columns)
        differences = schema_differences(columns, polars_schema(entry.metadata.schema()))
        if differences:
            what = "was created with" if entry.table is None else "holds"
            raise IcebergError(
                f"the query's output does not match the Iceberg table {entry.identifier}, so "
                f"nothing was written or committed: {'; '.join(differences)}. Fix the query "
                f"(cast or rename), or evolve the table first if the change is meant "
                f"(table.update_schema(), docs/iceberg.md); the table {what} its current columns"
            )

    def _create(self, entry: RunTable, columns: dict[str, pl.DataType]) -> Any:  # noqa: ANN401
        """Stage the table's creation (committed with the run's first snapshot, or never)."""
        key = self.datasets.partition_key
        creating = create_transaction(self.catalog, entry.identifier, columns, key)
        self._check_location(entry, creating.table_metadata.location)
        return creating

    def _record(self) -> None:
        folders = {entry.identifier: self.folder(entry.output) for entry in self._committing()}
        record(self.output_uri, self.staging, self.config.name, folders)

    def read(self, output: IcebergOutput) -> pl.LazyFrame:
        """Scan the files this run's earlier tasks wrote for the output (not yet committed)."""
        files = [uri for _, uri in self._files(self._tables[output.name])]
        if not files:
            raise IcebergError(f"no task of this run wrote {output.name!r} yet")
        return pl.scan_parquet([local_path(uri) for uri in files])

    def has_rows(self, output: IcebergOutput) -> bool:
        """Tell whether an earlier task of the run wrote any file of the output."""
        return bool(self._files(self._tables[output.name]))

    def rows(self, output: IcebergOutput) -> dict[date, int]:
        """Return the rows the run wrote for each day of the output (from the files' footers)."""
        by_day: dict[date, list[str]] = {}
        for day, uri in self._files(self._tables[output.name]):
            by_day.setdefault(day, []).append(local_path(uri))
        return {
            day: int(pl.scan_parquet(uris).select(pl.len()).collect().item())
            for day, uris in by_day.items()
        }

    def location(self, output: IcebergOutput) -> str:
        """Name the output's table, e.g. `iceberg://default/sales.daily`."""
        return f"iceberg://{self.config.name}/{self._tables[output.name].identifier}"

    def _files(self, entry: RunTable) -> list[tuple[date, str]]:
        """Return (day, uri) of each file the run's successful sinks wrote."""
        found = []
        pattern = re.compile(rf"(?:^|/){re.escape(self.datasets.partition_key)}=([0-9-]{{10}})/")
        for part in entry.parts:
            for key in list_keys(local_path(part)):
                match = pattern.search(key)
                if key.endswith(".parquet") and match:
                    uri = f"{part}/{key}"
                    found.append((date.fromisoformat(match.group(1)), uri))
        return found

    def _committing(self) -> list[RunTable]:
        # A table that does not exist yet and got no rows from this run stays uncreated.
        return [e for e in self._tables.values() if e.table is not None or e.creating is not None]
