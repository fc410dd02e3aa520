"""A second flow: each site's day against its week, read from the first flow's published stats."""

# No `from __future__ import annotations` in a flow module: `flow.serve()` pickles the flow's
# function with only the names its code uses, and Prefect must resolve its parameters' types.

from datetime import date

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from prefect_polars_cloud import (
    DailyInput,
    DailyOutput,
    DailyRun,
    Datasets,
    daily_run,
    retried,
    run_name,
)

from PACKAGE.datasets import SITE_STATS

WEEK = 7
# A mean this far (in the readings' unit) from the site's 7-day mean raises an alert.
ALERT_DEVIATION = 5.0
# What the daily report published, for each run day and the six days before it.
PUBLISHED_STATS = DailyInput(
    "site_stats",
    format="parquet",
    schema={"site": pl.String, "readings": pl.Int64, "mean": pl.Float64},
    from_output=SITE_STATS,
    lookback_days=WEEK - 1,
)
SITE_ALERTS = DailyOutput("site_alerts", float_decimals=3)
ALERTS = Datasets(inputs=(PUBLISHED_STATS,), outputs=(SITE_ALERTS,), report=SITE_ALERTS)


def week_deviations(stats: pl.LazyFrame) -> pl.LazyFrame:
    """Return each site's day beside its 7-day mean, and whether the day deviates from it."""
    days = stats.select("date").unique()
    week = (
        days.join(stats, how="cross", suffix="_seen")
        .filter(
            (pl.col("date_seen") <= pl.col("date"))
            & (pl.col("date_seen") > pl.col("date") - pl.duration(days=WEEK))
        )
        .group_by("date", "site")
        .agg(week_mean=(pl.col("mean") * pl.col("readings")).sum() / pl.col("readings").sum())
    )
    return (
        stats.join(week, on=["date", "site"])
        .select("date", "site", "mean", "week_mean")
        .with_columns(alert=(pl.col("mean") - pl.col("week_mean")).abs() > ALERT_DEVIATION)
        .sort("date", "site")
    )


@task(cache_policy=NONE)
def build_alerts(run: DailyRun) -> None:
    """Compare each day with its week on the small preset."""
    with run.scan(PUBLISHED_STATS) as stats:
        run.sink(week_deviations(stats), SITE_ALERTS, "small")


@flow(name="site-alerts", flow_run_name=run_name)
def site_alerts(
    start: date | None = None,
    end: date | None = None,
    source_uri: str | None = None,
    output_uri: str | None = None,
) -> str:
    """Flag the sites whose day of start..end strays from their week (the stats published)."""
    with daily_run(ALERTS, start, end, source_uri, output_uri) as run:
        retried(build_alerts)(run)
    return run.location(SITE_ALERTS)


if __name__ == "__main__":
    from prefect_polars_cloud import run_locally

    raise SystemExit(run_locally(site_alerts))
