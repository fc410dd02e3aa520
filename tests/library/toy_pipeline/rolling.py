"""A second toy flow that reads the first one's published output over a lookback window.

<output>/section_time/day=YYYY-MM-DD/       what toy_totals publishes (TOTALS)
<output>/section_trend/day=YYYY-MM-DD/      TREND: 3-day visits and mean seconds per visit
"""

# No `from __future__ import annotations` in a flow module: `flow.serve()` pickles the flow's
# function with only the names its code uses, and Prefect must resolve its parameters' types.

from datetime import date

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from prefect_polars_cloud import DailyInput, DailyOutput, DailyRun, Datasets, daily_run, run_name

from .project import DATASETS as TOTALS_DATASETS
from .project import TOTALS

WINDOW_DAYS = 3
# The totals as toy_totals published them, with the two days before each run's first day.
PUBLISHED_TOTALS = DailyInput(
    "totals",
    format="parquet",
    schema={"section": pl.String, "visits": pl.Int64, "seconds": pl.Float64},
    from_output=TOTALS,
    lookback_days=WINDOW_DAYS - 1,
)
TREND = DailyOutput("section_trend", float_decimals=6)
ROLLING = Datasets(
    inputs=(PUBLISHED_TOTALS,),
    outputs=(TREND,),
    report=TREND,
    partition_key=TOTALS_DATASETS.partition_key,
)


def section_trend(totals: pl.LazyFrame, key: str) -> pl.LazyFrame:
    """Return per day and section the visits and seconds per visit of the day and the two before."""
    days = totals.select(key).unique()
    window = days.join(totals, how="cross", suffix="_seen").filter(
        (pl.col(f"{key}_seen") <= pl.col(key))
        & (pl.col(f"{key}_seen") > pl.col(key) - pl.duration(days=WINDOW_DAYS))
    )
    return (
        window.group_by(key, "section")
        .agg(visits=pl.col("visits").sum(), seconds=pl.col("seconds").sum())
        .with_columns(per_visit=pl.col("seconds") / pl.col("visits"))
        .sort(key, "section")
    )


@task(cache_policy=NONE)
def build_trend(run: DailyRun) -> None:
    """Aggregate the window on the small preset."""
    with run.scan(PUBLISHED_TOTALS) as totals:
        run.sink(section_trend(totals, ROLLING.partition_key), TREND, "small")


@flow(name="toy-trend", flow_run_name=run_name)
def toy_trend(
    start: date | None = None,
    end: date | None = None,
    source_uri: str | None = None,
    output_uri: str | None = None,
) -> str:
    """Trend the days start..end from the published totals; return where."""
    with daily_run(ROLLING, start, end, source_uri, output_uri) as run:
        build_trend(run)
    return run.location(TREND)
