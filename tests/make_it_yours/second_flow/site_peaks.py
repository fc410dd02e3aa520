"""A second flow: the peak reading of each sensor per day, from the same daily readings."""

# No `from __future__ import annotations` in a flow module: `flow.serve()` pickles the flow's
# function with only the names its code uses, and Prefect must resolve its parameters' types.

from datetime import date

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NONE

from prefect_polars_cloud import DailyOutput, DailyRun, Datasets, daily_run, retried, run_name

from PACKAGE import queries
from PACKAGE.datasets import READINGS

SENSOR_PEAKS = DailyOutput("sensor_peaks")
PEAKS = Datasets(inputs=(READINGS,), outputs=(SENSOR_PEAKS,), report=SENSOR_PEAKS)


def sensor_peaks(readings: pl.LazyFrame) -> pl.LazyFrame:
    """Return each sensor's highest valid reading per day."""
    return (
        queries.valid_readings(readings)
        .group_by("date", "sensor_id")
        .agg(peak=pl.col("value").max())
        .sort("date", "sensor_id")
    )


@task(cache_policy=NONE)
def build_peaks(run: DailyRun) -> None:
    """Compute the peaks on the small preset."""
    with run.scan(READINGS) as readings:
        run.sink(sensor_peaks(readings), SENSOR_PEAKS, "small")


@flow(name="site-peaks", flow_run_name=run_name)
def site_peaks(
    start: date | None = None,
    end: date | None = None,
    source_uri: str | None = None,
    output_uri: str | None = None,
) -> str:
    """Compute the sensors' daily peaks of start..end."""
    with daily_run(PEAKS, start, end, source_uri, output_uri) as run:
        retried(build_peaks)(run)
    return run.location(SENSOR_PEAKS)


if __name__ == "__main__":
    from prefect_polars_cloud import run_locally

    raise SystemExit(run_locally(site_peaks))
