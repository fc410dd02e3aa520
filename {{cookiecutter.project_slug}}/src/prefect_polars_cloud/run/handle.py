"""The run as its tasks see it: `DailyRun` scans the run's inputs, sinks queries into its outputs.

A flow's tasks take the DailyRun that `daily_run` (run/daily_run.py) yields, and nothing else: it
scans a run's input files as one LazyFrame with their errors named (storage/input_errors.py),
sinks a query on a preset's compute into an output's staging, a folder per day, or into an
IcebergOutput's table folder (storage/iceberg/run_files.py), reads back what an earlier task of
the run staged, and boots or releases the run's clusters (compute/session.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

import polars as pl
import polars.selectors as cs
from prefect.context import TaskRunContext

from prefect_polars_cloud.compute.session import ComputeSession
from prefect_polars_cloud.config.datasets import (
    DailyInput,
    DailyOutput,
    Datasets,
    IcebergOutput,
    Input,
    Output,
    SnapshotOutput,
)
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.run.flow_run import labels, lineage
from prefect_polars_cloud.storage.files import Inputs, join, list_keys
from prefect_polars_cloud.storage.iceberg.writes import TableWrites
from prefect_polars_cloud.storage.input_errors import named_input
from prefect_polars_cloud.storage.scan import scan_days, scan_file


@dataclass
class DailyRun:
    """What a run's tasks need: scan inputs, read staged outputs, sink queries on a preset.

    Tasks take it as their argument (with `cache_policy=NONE`: it holds live compute); `daily_run`
    builds it, a task never does.

    Attributes:
        datasets: The run's Datasets.
        days: The days the run replaces, first to last.
        settings: The settings the run was opened with.

    Example:
        ```python
        from prefect import task
        from prefect.cache_policies import NONE
        from prefect_polars_cloud import DailyRun

        @task(cache_policy=NONE)
        def prepare_sales(run: DailyRun) -> None:
            with run.scan(SALES) as sales:  # sink inside the block: the files are read then
                run.sink(clean_sales(sales), CLEAN_SALES, "small")
        ```
    """

    datasets: Datasets
    days: list[date]
    inputs: Inputs
    output_uri: str
    staging_uri: str
    compute: ComputeSession
    settings: Settings
    tables: TableWrites | None = None  # the run's IcebergOutputs, if any

    @contextmanager
    def scan(self, dataset: Input) -> Iterator[pl.LazyFrame]:
        """Yield the input's files of the run as one LazyFrame; a bad file is named in an error.

        Sink the query inside the block: Polars reads the files only then.
        """
        files = self.inputs.files(dataset)
        if isinstance(dataset, DailyInput):
            frame = scan_days(dataset, self.inputs.daily[dataset.name], self.datasets.partition_key)
        else:
            frame = scan_file(dataset, files[0])
        with named_input(dataset, files):
            yield frame

    def staged(self, output: Output) -> str:
        """Return where the run stages an output: a folder (per day) or one Parquet file."""
        folder = join(self.staging_uri, output.name)
        return folder if isinstance(output, DailyOutput) else join(folder, f"{output.name}.parquet")

    def read(self, output: Output) -> pl.LazyFrame:
        """Scan an output this run staged (an earlier task's), for a later query."""
        if isinstance(output, IcebergOutput):
            return self._tables.read(output)
        if isinstance(output, DailyOutput):
            return pl.scan_parquet(f"{self.staged(output).rstrip('/')}/", hive_partitioning=True)
        return pl.scan_parquet(self.staged(output))

    def has_rows(self, output: Output) -> bool:
        """Tell whether an earlier task staged any file of the output."""
        if isinstance(output, IcebergOutput):
            return self._tables.has_rows(output)
        return bool(list_keys(self.staging_uri, f"{output.name}/"))

    def sink(self, query: pl.LazyFrame, output: Output, preset: str) -> None:
        """Run query on the preset's compute into the output's staging, a folder per day.

        The query of a DailyOutput must carry the partition key column (see Datasets).
        """
        context = TaskRunContext.get()
        name = context.task.name if context else output.name
        query = self._declared(query, output)
        if isinstance(output, IcebergOutput):  # into the table's location, committed later
            with self._tables.writing(output, query) as (query, target, schema):
                self.compute.sink_parquet(
                    query, target, preset, labels(name), lineage(name), arrow_schema=schema
                )
            return
        target: str | pl.PartitionBy = self.staged(output)
        if isinstance(output, DailyOutput):
            target = pl.PartitionBy(
                f"{self.staged(output).rstrip('/')}/",
                key=self.datasets.partition_key,
                include_key=False,
            )
        self.compute.sink_parquet(query, target, preset, labels(name), lineage(name))

    def start(self, *presets: str) -> None:
        """Boot the presets' clusters side by side now (unless BOOT_ALL_AT_START is false)."""
        if self.settings.boot_all_at_start:
            self.compute.start(*presets)

    def release(self, preset: str) -> None:
        """Stop the preset's cluster now: the run sends it no more queries."""
        self.compute.release(preset)

    def location(self, output: Output) -> str:
        """Return where an output is published."""
        if isinstance(output, IcebergOutput):
            return self._tables.location(output)
        return join(self.output_uri, output.name)

    def _declared(self, query: pl.LazyFrame, output: Output) -> pl.LazyFrame:
        """Apply what the output declares: its float precision; and keep the run's own days.

        With a lookback window a query may return earlier days too; the run writes its own.
        """
        if output.float_decimals is not None:
            query = query.with_columns(cs.float().round(output.float_decimals))
        lookback = any(item.lookback_days for item in self.datasets.daily_inputs)
        if lookback and not isinstance(output, SnapshotOutput):
            query = query.filter(pl.col(self.datasets.partition_key).is_in(self.days))
        return query

    @property
    def _tables(self) -> TableWrites:
        if self.tables is None:  # only an output the run's datasets do not declare
            raise ValueError("this run's datasets declare no IcebergOutput")
        return self.tables
