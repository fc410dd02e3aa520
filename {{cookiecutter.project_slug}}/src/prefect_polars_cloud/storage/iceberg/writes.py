"""A run's Iceberg outputs: its queries write the table's files, one catalog commit swaps its days.

    SALES = IcebergOutput("sales")   # in the project's datasets; table: ICEBERG_TABLE

A query sunk into an IcebergOutput writes Parquet files that carry the table's field ids and the
partition key, under `<table location>/data/<run>/<sink>/<key>=YYYY-MM-DD/`, on whichever compute
runs it (on Polars Cloud the rows never pass through this process): storage/iceberg/run_files.py.
Once every query succeeded, one transaction replaces the run's days: their current files leave
the table and the run's files join it, as one OVERWRITE snapshot whose summary names the flow
run, its deployment and its days. That is metadata only: this process reads the new files'
footers, never their rows. A table that does not exist yet is created by that same commit, from
the query's schema.

A failed or cancelled run commits nothing and its files are deleted; a commit only ever adds the
files its own run wrote, so whatever a killed run left behind is never picked up, and the run's
staging prefix says where they are for the next run to delete (storage/iceberg/leftovers.py). A
commit that loses a race is retried by pyiceberg (commit.retry.num-retries, default 4): against a
writer of other days both land; against one that changed the same days it fails, naming them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import polars as pl

from prefect_polars_cloud.config.datasets import Datasets, IcebergOutput
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.storage.files import list_keys
from prefect_polars_cloud.storage.iceberg.catalog import IcebergError, local_path
from prefect_polars_cloud.storage.iceberg.leftovers import remove_folder
from prefect_polars_cloud.storage.iceberg.run_files import RunFiles, RunTable
from prefect_polars_cloud.storage.iceberg.table import (
    Committed,
    lineage,
    overwrite_days,
    run_snapshot,
    summarize_days,
)
from prefect_polars_cloud.storage.summary import RunSummary

logger = logging.getLogger(__name__)


class TableWrites(RunFiles):
    """The Iceberg outputs of one run: where its queries write, and the commit that publishes."""

    @classmethod
    def open(
        cls, datasets: Datasets, settings: Settings, days: list[date], staging: str, output: str
    ) -> TableWrites | None:
        """Load the catalog and the tables before any compute; None without Iceberg outputs.

        staging: the run's prefix below the output uri, where it records its tables' folders.
        """
        return cls(datasets, settings, days, staging, output) if datasets.tables else None

    # -- the commit --------------------------------------------------------------------------

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

    def _commit(self, entry: RunTable) -> Committed:
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

    def _overwrite(self, entry: RunTable, uris: list[str]) -> None:
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

    def _landed(self, entry: RunTable) -> bool | None:
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
