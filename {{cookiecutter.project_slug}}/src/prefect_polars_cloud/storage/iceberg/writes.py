"""A run's Iceberg outputs: its queries write the table's files, one catalog commit swaps its days.

    SALES = IcebergOutput("sales")   # in the project's datasets; table: ICEBERG_TABLE

A query sunk into an IcebergOutput writes Parquet files that carry the table's field ids and the
partition key, under `<table location>/data/<run>/<sink>/<key>=YYYY-MM-DD/`, on whichever compute
runs it (on Polars Cloud the rows never pass through this process). Once every query succeeded,
one transaction replaces the run's days: their current files leave the table and the run's files
join it, as one OVERWRITE snapshot whose summary names the flow run, its deployment and its days.
That is metadata only: this process reads the new files' footers, never their rows. A table that
does not exist yet is created by that same commit, from the query's schema.

A failed or cancelled run commits nothing and its files are deleted; a commit only ever adds the
files its own run wrote, so whatever a killed run left behind is never picked up, and the run's
staging prefix says where they are for the next run to delete (storage/iceberg/leftovers.py). A
commit that loses a race is retried by pyiceberg (commit.retry.num-retries, default 4): against a
writer of other days both land; against one that changed the same days it fails, naming them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
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
from prefect_polars_cloud.storage.iceberg.table import (
    Committed,
    lineage,
    overwrite_days,
    run_snapshot,
    summarize_days,
)
from prefect_polars_cloud.storage.summary import RunSummary

logger = logging.getLogger(__name__)


@dataclass
class _Table:
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


class TableWrites:
    """The Iceberg outputs of one run: where its queries write, and the commit that publishes."""

    def __init__(
        self, datasets: Datasets, settings: Settings, days: list[date], staging: str, output: str
    ) -> None:
        self.datasets, self.settings, self.days = datasets, settings, days
        self.staging, self.output_uri = staging, output  # where the run says where it writes
        self.run_key = staging.rsplit("/", 1)[-1]  # e.g. 20261102T060000Z-1a2b3c4d
        self.config = catalog_config(settings)
        self.catalog = load(self.config)
        self._tables: dict[str, _Table] = {}
        for output in datasets.tables:
            entry = _Table(output, table_name(settings, output))
            entry.table = self._load(entry.identifier)
            if entry.table is not None:
                self._check_existing(entry)
            self._tables[output.name] = entry

    @classmethod
    def open(
        cls, datasets: Datasets, settings: Settings, days: list[date], staging: str, output: str
    ) -> TableWrites | None:
        """Load the catalog and the tables before any compute; None without Iceberg outputs.

        staging: the run's prefix below the output uri, where it records its tables' folders.
        """
        return cls(datasets, settings, days, staging, output) if datasets.tables else None

    def _load(self, identifier: str) -> Any:  # noqa: ANN401 - Table or None
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        try:
            return self.catalog.load_table(identifier)
        except (NoSuchTableError, NoSuchNamespaceError):
            return None

    def _check_existing(self, entry: _Table) -> None:
        """Refuse a table whose days cannot be replaced, or that Polars Cloud cannot write."""
        problem = partitioning_problem(entry.table, entry.identifier, self.datasets.partition_key)
        if problem:
            raise IcebergError(problem)
        self._check_location(entry, entry.table.location())

    def _check_location(self, entry: _Table, location: str) -> None:
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

    def _prepare(self, entry: _Table, columns: dict[str, pl.DataType]) -> None:
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

    def _create(self, entry: _Table, columns: dict[str, pl.DataType]) -> Any:  # noqa: ANN401
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

    def _files(self, entry: _Table) -> list[tuple[date, str]]:
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

    # -- the commit --------------------------------------------------------------------------

    def _committing(self) -> list[_Table]:
        # A table that does not exist yet and got no rows from this run stays uncreated.
        return [e for e in self._tables.values() if e.table is not None or e.creating is not None]

    def commit(self) -> list[Committed]:
        """Replace the run's days in every table, one commit each; run after every query."""
        return [self._commit(entry) for entry in self._committing()]

    def pending(self) -> dict[str, Any]:
        """Name the commits the run is about to make, for the next run to look up if it dies."""
        tables = [entry.identifier for entry in self._committing()]
        return {"catalog": self.config.name, "run": self.run_key, "tables": tables}

    def landed(self) -> bool | None:
        """Tell whether every commit landed: False when one surely did not, None if unknown."""
        entries = self._committing()
        if any(e.committed is None and not e.uncertain for e in entries):
            return False
        return True if all(e.committed is not None for e in entries) else None

    def _commit(self, entry: _Table) -> Committed:
        from pyiceberg.exceptions import (
            CommitFailedException,
            TableAlreadyExistsError,
            ValidationException,
        )

        files = self._files(entry)
        stray = sorted({str(day) for day, _ in files} - {str(day) for day in self.days})
        if stray:
            raise IcebergError(
                f"the query of {entry.output.name!r} wrote rows for {', '.join(stray)}, which "
                "this run does not replace: nothing was committed"
            )
        try:
            self._overwrite(entry, [uri for _, uri in files])
        except ValidationException as error:
            raise IcebergError(
                f"another writer changed {self._days_text()} of {entry.identifier} while this "
                f"run committed them, so nothing was committed ({error}): run them again"
            ) from error
        except (CommitFailedException, TableAlreadyExistsError) as error:
            raise IcebergError(
                f"the commit to {entry.identifier} kept losing to other writers and gave up, "
                f"so nothing was committed ({error}): run {self._days_text()} again"
            ) from error
        except Exception:
            # Its outcome is unknown (a lost reply, say): look for the run's snapshot.
            landed = self._landed(entry)
            entry.uncertain = landed is None
            if not landed:
                raise
            logger.warning("the commit to %s reported a failure but landed", entry.identifier)
        except BaseException:  # interrupted during the commit: keep the files if in doubt
            entry.uncertain = self._landed(entry) is not False
            raise
        assert entry.committed is not None
        return entry.committed

    def _overwrite(self, entry: _Table, uris: list[str]) -> None:
        """One transaction: the days' current files out, the run's in; then find its snapshot."""
        overwrite_days(
            self.catalog,
            entry.identifier,
            entry.creating,
            uris,
            self.datasets.partition_key,
            self.days,
            lineage(self.days, self.run_key),
        )
        if not self._landed(entry):
            raise IcebergError(f"the commit to {entry.identifier} is not in its history")
        entry.creating = None

    def _landed(self, entry: _Table) -> bool | None:
        """Find the run's snapshot in the table's history and keep what it committed.

        Returns None when the table cannot be read: then nobody knows.
        """
        try:
            found = run_snapshot(self.catalog, entry.identifier, self.run_key)
        except Exception:  # noqa: BLE001 - unknown: the caller keeps the files
            return None
        if found is None:
            return False
        entry.table, snapshot = found
        files = sum(1 for part in entry.parts for _ in list_keys(local_path(part)))
        entry.committed = Committed(
            self.config.name,
            entry.identifier,
            snapshot.snapshot_id,
            entry.table.metadata_location,
            files,
        )
        return True

    def _days_text(self) -> str:
        first, last = self.days[0], self.days[-1]
        return str(first) if first == last else f"{first}..{last}"

    def discard(self) -> None:
        """Remove the run's files of every table it did not commit to; never raise."""
        for entry in self._tables.values():
            if entry.committed is not None or entry.sinks == 0:  # nothing of the run's to remove
                continue
            if entry.uncertain:
                logger.warning(
                    "the commit to %s may have landed: its files in %s were kept",
                    entry.identifier,
                    self.folder(entry.output),
                )
                continue
            remove_folder(self.folder(entry.output))

    # -- what people see -----------------------------------------------------------------------

    def summarize(
        self,
        title: str,
        output: IcebergOutput,
        totals: Callable[[pl.DataFrame], Mapping[str, float | int]] | None,
    ) -> RunSummary:
        """Total each day of the run from the committed snapshot, and say how to read it."""
        entry = self._tables[output.name]
        return summarize_days(
            title,
            self.location(output),
            self.config,
            entry.identifier,
            entry.table,
            entry.committed,
            self.datasets.partition_key,
            self.days,
            totals,
        )
