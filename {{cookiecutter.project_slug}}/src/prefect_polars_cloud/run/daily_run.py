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
from datetime import date, timedelta

from prefect import get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from prefect_polars_cloud.compute.session import ComputeSession, validate_uris
from prefect_polars_cloud.config.datasets import Datasets, IcebergOutput
from prefect_polars_cloud.config.days import refuse_future_days, resolve_days
from prefect_polars_cloud.config.environments import refuse_other_environments
from prefect_polars_cloud.config.project import DayTotals, current, get_settings
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.run.handle import DailyRun
from prefect_polars_cloud.run.stops import RunStops
from prefect_polars_cloud.storage.checks import check_inputs, check_staged
from prefect_polars_cloud.storage.files import find_inputs, join, new_staging
from prefect_polars_cloud.storage.iceberg.writes import TableWrites
from prefect_polars_cloud.storage.leftovers import clean_up, mark_run
from prefect_polars_cloud.storage.publish import Commit, discard, publish
from prefect_polars_cloud.storage.summary import RunSummary, summarize

# The summary of the last run this process published, for `make run` to print.
last_summary: list[RunSummary] = []


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

    Call it in a flow. Leaving the block stops the run's compute; then, only if the block
    succeeded, the outputs are published day by day: a failed or stopped run publishes nothing.

    Args:
        datasets: What the run reads and writes; `datasets.report` is what its artifact shows.
        start: The first day, a date or "YYYY-MM-DD".
        end: The last day, included. Given one of the two, the run is that day; neither, the
            day before the flow run's scheduled start.
        source_uri: Where the inputs are; None: the `source_uri` setting.
        output_uri: Where the outputs are published; None: the `output_uri` setting.
        totals: Totals a day of the report for the artifact; None: the project's own
            (Project.day_totals) when datasets are the project's, else rows only.

    Yields:
        The DailyRun its tasks take.

    Example:
        ```python
        from datetime import date

        from prefect import flow
        from prefect_polars_cloud import daily_run, retried, run_name

        @flow(flow_run_name=run_name)
        def store_totals(start: date | None = None, end: date | None = None) -> str:
            with daily_run(DATASETS, start, end, None, None) as run:
                run.start("small")  # boot now, before the first query needs it
                retried(prepare_sales)(run)
            return run.location(TOTALS)
        ```
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
    refuse_other_environments(settings, source_uri, output_uri)  # and its secret: before any read
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
