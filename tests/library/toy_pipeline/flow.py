"""The toy's flow, written as a user writes one: pure queries, thin tasks, the library's run."""

# No `from __future__ import annotations` in a flow module: `flow.serve()` pickles the flow's
# function with only the names its code uses, and Prefect must resolve its parameters' types.

from datetime import date

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from prefect_polars_cloud import DailyRun, daily_run, retried, run_name

from .project import CLEAN_VISITS, DATASETS, PAGES, PAGES_USED, TOTALS, VISITS


def clean_visits(visits: pl.LazyFrame) -> pl.LazyFrame:
    """Drop visits without seconds."""
    return visits.filter(pl.col("seconds").is_not_null())


def section_time(visits: pl.LazyFrame, pages: pl.LazyFrame) -> pl.LazyFrame:
    """Count visits and sum seconds per day and section; unknown pages under `unknown`."""
    key = DATASETS.partition_key
    latest = pages.unique(subset="page_id", keep="last", maintain_order=True)
    return (
        visits.join(latest, on="page_id", how="left")
        .with_columns(pl.col("section").fill_null("unknown"))
        .group_by(key, "section")
        .agg(visits=pl.len().cast(pl.Int64), seconds=pl.col("seconds").sum())
        .sort(key, "section")
    )


@task(cache_policy=NONE)
def prepare_visits(run: DailyRun) -> None:
    """Write the day's visits that have seconds, on the small preset."""
    with run.scan(VISITS) as visits:
        run.sink(clean_visits(visits), CLEAN_VISITS, "small")


@task(cache_policy=NONE)
def prepare_pages(run: DailyRun) -> None:
    """Write the pages the run used, on the small preset."""
    with run.scan(PAGES) as pages:
        run.sink(pages, PAGES_USED, "small")


@task(cache_policy=NONE)
def build_totals(run: DailyRun) -> None:
    """Join and aggregate on the large preset, a folder per day."""
    run.sink(section_time(run.read(CLEAN_VISITS), run.read(PAGES_USED)), TOTALS, "large")


@flow(name="toy-totals", flow_run_name=run_name)
def toy_totals(
    start: date | None = None,
    end: date | None = None,
    source_uri: str | None = None,
    output_uri: str | None = None,
) -> str:
    """Total the days start..end (default: the day before the scheduled start); return where."""
    with daily_run(DATASETS, start, end, source_uri, output_uri) as run:
        run.start("small", "large")
        retried(prepare_visits)(run)
        retried(prepare_pages)(run)
        run.release("small")
        if run.has_rows(CLEAN_VISITS):
            retried(build_totals)(run)
    return run.location(TOTALS)
