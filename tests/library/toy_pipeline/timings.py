"""A second toy flow: a Parquet input by day and the pages snapshot, both scanned in one task.

    <source>/timings/day=YYYY-MM-DD/timings.parquet   TIMINGS: a day's visits (Parquet)
    <source>/pages.csv                               PAGES: the toy's snapshot
    <output>/section_time/day=YYYY-MM-DD/            TOTALS: visits and seconds per section

Its datasets are not the project's: the run counts the report's rows only.
"""

# No `from __future__ import annotations` in a flow module: `flow.serve()` pickles the flow's
# function with only the names its code uses, and Prefect must resolve its parameters' types.

from datetime import date
from pathlib import Path

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from prefect_polars_cloud import DailyInput, DailyRun, Datasets, daily_run

from .flow import clean_visits, section_time
from .project import DATASETS, PAGES, TOTALS, VISITS

TIMINGS = DailyInput(
    "timings", format="parquet", schema=dict(VISITS.schema), nullable=VISITS.nullable
)
TIMINGS_DATASETS = Datasets(
    inputs=(TIMINGS, PAGES), outputs=(TOTALS,), report=TOTALS, partition_key="day"
)


def write_timings(folder: Path, days: list[date]) -> Path:
    """Write each day's toy visits (written by the toy's sample writer) as Parquet beside them."""
    for day in days:
        visits = folder / DATASETS.partition(VISITS.name, day) / "visits.ndjson"
        target = folder / TIMINGS_DATASETS.partition(TIMINGS.name, day) / "timings.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        pl.read_ndjson(visits, schema=dict(VISITS.schema)).write_parquet(target)
    return folder


@task(cache_policy=NONE)
def total_in_one_task(run: DailyRun) -> None:
    """Scan both inputs and sink their join in one query, as a user's task may."""
    with run.scan(TIMINGS) as timings, run.scan(PAGES) as pages:
        run.sink(section_time(clean_visits(timings), pages), TOTALS, "small")


@flow(name="toy-timings")
def toy_timings(
    start: date | None = None,
    end: date | None = None,
    source_uri: str | None = None,
    output_uri: str | None = None,
) -> str:
    """Total the days start..end from the Parquet timings; return where."""
    with daily_run(TIMINGS_DATASETS, start, end, source_uri, output_uri) as run:
        total_in_one_task(run)
    return run.location(TOTALS)
