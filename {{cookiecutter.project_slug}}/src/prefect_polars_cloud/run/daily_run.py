"""One run of a daily pipeline: its days, inputs, staging and compute, handed to its tasks.

    with daily_run(DATASETS, start, end, source_uri, output_uri) as run:
        ...tasks that scan run's inputs and sink into its outputs...
    return run.location(REPORT)

Entering finishes or removes what runs that are gone left in staging (storage/leftovers.py), checks
the days and finds every input (a missing day, an empty snapshot or, unless allowed, a day without
rows fails before any compute: storage/checks.py), and opens the compute session. Leaving stops
every cluster; then, only if the block succeeded and every day of the report has rows, publishes the
staged outputs day by day (storage/publish.py); the staging prefix is removed unless a publish was
cut short (the next run finishes it), and the run's artifact shows the published days. An
IcebergOutput's files go under its table instead, and one commit per table publishes them once every
query succeeded (storage/iceberg/writes.py): after the publish plan is written and before its first
step, so that a commit that fails publishes nothing and one that lands is followed by the rest.
While it lasts, the run owns SIGINT and SIGTERM (run/stops.py): a signal stops its compute before
anything else, however the flow was started.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl
import polars.selectors as cs
from prefect import get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.context import TaskRunContext

from prefect_polars_cloud.compute.session import ComputeSession, validate_uris
from prefect_polars_cloud.config.datasets import (
    DailyInput,
    DailyOutput,
    Datasets,
    IcebergOutput,
    Input,
    Output,
    SnapshotOutput,
    scan_days,
    scan_file,
)
from prefect_polars_cloud.config.days import refuse_future_days, resolve_days
from prefect_polars_cloud.config.project import DayTotals, current, get_settings
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.run.flow_run import labels, lineage
from prefect_polars_cloud.run.stops import RunStops
from prefect_polars_cloud.storage.checks import check_inputs, check_staged
from prefect_polars_cloud.storage.files import Inputs, find_inputs, join, list_keys, new_staging
from prefect_polars_cloud.storage.iceberg.writes import TableWrites
from prefect_polars_cloud.storage.input_errors import named_input
from prefect_polars_cloud.storage.leftovers import clean_up, mark_run
from prefect_polars_cloud.storage.publish import Commit, discard, publish
from prefect_polars_cloud.storage.summary import RunSummary, summarize

# The summary of the last run this process published, for `make run` to print.
last_summary: list[RunSummary] = []


@dataclass
class DailyRun:
    """What a run's tasks need: scan inputs, read staged outputs, sink queries on a preset.

    Tasks take it as their argument (with `cache_policy=NONE`: it holds live compute).
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


@task(cache_policy=NONE)
def clean_up_staging(output_uri: str, settings: Settings) -> None:
    """Finish the publish of a run that was killed, and remove what runs that are gone staged."""
    for line in clean_up(output_uri, timedelta(hours=settings.staging_expiry_hours), settings):
        get_run_logger().warning(line)


@task(cache_policy=NONE)
def publish_days(run: DailyRun, staging: str) -> None:
    """Refuse a day without rows (unless allowed), commit the tables, then publish day by day."""
    allow = run.settings.allow_empty_days
    report = run.datasets.report
    # An Iceberg report is not staged: its rows are in the files the run wrote under the table.
    rows = run.tables.rows(report) if isinstance(report, IcebergOutput) and run.tables else None
    check_staged(run.datasets, run.inputs, run.output_uri, staging, run.days, allow, rows)
    tables, commit = run.tables, None
    if tables is not None:
        commit = Commit(tables.pending(), lambda: commit_tables(tables), tables.landed)
    for day in publish(run.datasets, run.output_uri, staging, run.days, commit):
        get_run_logger().warning("%s was published by a later run meanwhile: it stays so", day)


@task(cache_policy=NONE)
def commit_tables(tables: TableWrites) -> None:
    """Replace the run's days in each Iceberg table: one commit per table."""
    for committed in tables.commit():
        get_run_logger().info(
            "committed %s: snapshot %s", committed.identifier, committed.snapshot_id
        )


@task(cache_policy=NONE)
def publish_summary(
    datasets: Datasets,
    output_uri: str,
    days: list[date],
    totals: DayTotals | None,
    cloud: str,
    tables: TableWrites | None = None,
) -> None:
    """Show the run's days and its Polars Cloud queries and cost in the UI."""
    flow = runtime.flow_run.flow_name or "run"
    if isinstance(datasets.report, IcebergOutput) and tables is not None:
        summary = tables.summarize(flow, datasets.report, totals)
    else:
        summary = summarize(flow, datasets, output_uri, days, totals)
    last_summary[:] = [summary]
    for warning in summary.warnings():
        get_run_logger().warning(warning)
    create_markdown_artifact(
        key=flow.lower().replace("_", "-"),
        markdown=summary.markdown() + cloud,
        description=f"{flow} by day",
    )


@contextmanager
def daily_run(
    datasets: Datasets,
    start: date | str | None,
    end: date | str | None,
    source_uri: str | None,
    output_uri: str | None,
    totals: DayTotals | None = None,
) -> Iterator[DailyRun]:
    """Open a run of the days start..end (default: the day before the scheduled start).

    The artifact totals each day of `datasets.report` with `totals`, by default the project's
    (Project.day_totals) when datasets are the project's own; else it counts rows only.
    """
    with RunStops() as stops:  # the run's own: a signal stops its compute, however it started
        yield from _run(stops, datasets, start, end, source_uri, output_uri, totals)


def _run(
    stops: RunStops,
    datasets: Datasets,
    start: date | str | None,
    end: date | str | None,
    source_uri: str | None,
    output_uri: str | None,
    totals: DayTotals | None,
) -> Iterator[DailyRun]:
    """Check, compute, publish and summarise one run (daily_run's body, its stops installed)."""
    project = current()
    if totals is None and datasets is project.datasets:
        totals = project.day_totals
    settings = get_settings()
    days = resolve_days(
        start, end, runtime.flow_run.scheduled_start_time, settings.max_backfill_days
    )
    refuse_future_days(days, settings.allow_future_days)
    source_uri = source_uri or settings.source_uri
    output_uri = output_uri or settings.output_uri
    validate_uris(settings, source_uri, output_uri)
    clean_up_staging(output_uri, settings)
    inputs = find_inputs(datasets, source_uri, days, output_uri)  # a missing day fails here
    check_inputs(datasets, inputs, days, settings.allow_empty_days)
    staging = new_staging()
    tables = TableWrites.open(datasets, settings, days, staging, output_uri)  # or no run
    try:
        mark_run(output_uri, staging, str(runtime.flow_run.id or "") or None)
        with ComputeSession(settings) as compute:
            stops.watch(compute)
            stops.phase = "computing"
            run = DailyRun(
                datasets,
                days,
                inputs,
                output_uri,
                join(output_uri, staging),
                compute,
                settings,
                tables,
            )
            yield run
        stops.phase = "publishing"
        publish_days(run, staging)  # with the tables' commit, between its plan and its steps
        stops.phase = "summarising"
    finally:
        discard(output_uri, staging)
        if tables is not None:
            tables.discard()  # a run that did not commit leaves none of its files
    cloud = compute.evidence.markdown(settings.price_per_vcpu_hour)
    publish_summary(datasets, output_uri, days, totals, cloud, tables)
