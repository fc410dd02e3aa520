"""Statistics per site and day from the sensors' readings, every query on one preset."""

# No `from __future__ import annotations` in a flow module: `flow.serve()` pickles the flow's
# function with only the names its code uses, and Prefect must resolve its parameters' types.

from datetime import date

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.futures import wait

from prefect_polars_cloud import DailyRun, daily_run, retried, run_name

from PACKAGE import queries
from PACKAGE.datasets import (
    DATASETS,
    READINGS,
    SENSORS,
    SENSORS_USED,
    SITE_STATS,
    VALID_READINGS,
)


@task(cache_policy=NONE)
def prepare_readings(run: DailyRun) -> None:
    """Keep the valid readings, a folder per day, on the small preset."""
    with run.scan(READINGS) as readings:
        run.sink(queries.valid_readings(readings), VALID_READINGS, "small")


@task(cache_policy=NONE)
def prepare_sensors(run: DailyRun) -> None:
    """Copy the sensor table as the run saw it, on the small preset."""
    with run.scan(SENSORS) as sensors:
        run.sink(sensors, SENSORS_USED, "small")


@task(cache_policy=NONE)
def build_stats(run: DailyRun) -> None:
    """Aggregate per site and day on the small preset too: one preset is enough here."""
    stats = queries.site_stats(run.read(VALID_READINGS), run.read(SENSORS_USED))
    run.sink(stats, SITE_STATS, "small")


@flow(name="daily-report", flow_run_name=run_name)
def daily_report(
    start: date | None = None,
    end: date | None = None,
    source_uri: str | None = None,
    output_uri: str | None = None,
) -> str:
    """Compute the site statistics of start..end (default: the day before the scheduled start)."""
    with daily_run(DATASETS, start, end, source_uri, output_uri) as run:
        run.start("small")
        readings = retried(prepare_readings).submit(run)
        sensors = retried(prepare_sensors).submit(run)
        wait([readings, sensors])
        readings.result(), sensors.result()
        retried(build_stats)(run)
    return run.location(SITE_STATS)


if __name__ == "__main__":
    from prefect_polars_cloud import run_locally

    raise SystemExit(run_locally(daily_report))
