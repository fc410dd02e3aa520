"""The daily report: which query runs where, and in what order. The rest is the library's.

A run reports a range of days (by default the day before its scheduled start) in one pass:
prepare_orders and prepare_customers run side by side on the small preset, build_report joins
them on the large one, each with one query over the whole range. Everything is staged and
published day by day only once every query succeeded. In local mode the same queries stream on
local Polars.
"""

# No `from __future__ import annotations` in a flow module: `flow.serve()` pickles the flow's
# function with only the names its code uses, and Prefect must resolve its parameters' types.

from datetime import date

from prefect import flow, task
from prefect.cache_policies import NONE
from prefect.futures import wait

from prefect_polars_cloud import DailyRun, daily_run, retried, run_name

from {{ cookiecutter.package_name }} import queries
from {{ cookiecutter.package_name }}.datasets import (
    CLEAN_ORDERS,
    CUSTOMERS,
    CUSTOMERS_USED,
    DATASETS,
    ORDERS,
    REPORT,
)

# Tasks take the run, never data: with cache_policy=NONE nothing is hashed or persisted.


@task(cache_policy=NONE)
def prepare_orders(run: DailyRun) -> None:
    """Write the cleaned orders, a folder per day, on the small preset."""
    with run.scan(ORDERS) as orders:
        run.sink(queries.clean_orders(orders), CLEAN_ORDERS, "small")


@task(cache_policy=NONE)
def prepare_customers(run: DailyRun) -> None:
    """Write one row per customer on the small preset."""
    with run.scan(CUSTOMERS) as customers:
        run.sink(queries.latest_customers(customers), CUSTOMERS_USED, "small")


@task(cache_policy=NONE)
def build_report(run: DailyRun) -> None:
    """Join and aggregate on the large preset, a folder per day."""
    report = queries.daily_report(run.read(CLEAN_ORDERS), run.read(CUSTOMERS_USED))
    run.sink(report, REPORT, "large")


@flow(name="daily-report", flow_run_name=run_name)
def daily_report(
    start: date | None = None,
    end: date | None = None,
    source_uri: str | None = None,
    output_uri: str | None = None,
) -> str:
    """Report the days start..end (default: the day before the scheduled start); return where."""
    with daily_run(DATASETS, start, end, source_uri, output_uri) as run:
        run.start("small", "large")  # both boot side by side, unless BOOT_ALL_AT_START=false
        orders = retried(prepare_orders).submit(run)
        customers = retried(prepare_customers).submit(run)
        wait([orders, customers])
        orders.result(), customers.result()  # a failed task fails the run here
        run.release("small")  # no more queries for it: stop paying while the report runs
        if run.has_rows(CLEAN_ORDERS):  # days with no valid order leave nothing to join
            retried(build_report)(run)
    return run.location(REPORT)


if __name__ == "__main__":
    from prefect_polars_cloud import run_locally

    raise SystemExit(run_locally(daily_report))
