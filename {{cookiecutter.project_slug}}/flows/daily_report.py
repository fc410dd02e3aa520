"""The daily report: orchestration only; the package does the work.

prepare_orders and prepare_customers run side by side on the small preset, build_report joins
them on the large one; in local mode the same queries stream on local Polars.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.futures import wait

from {{ cookiecutter.package_name }} import queries
from {{ cookiecutter.package_name }}.compute import ComputeSession, validate_uris
from {{ cookiecutter.package_name }}.input_errors import named_input
from {{ cookiecutter.package_name }}.report import summarize
from {{ cookiecutter.package_name }}.settings import get_settings
from {{ cookiecutter.package_name }}.storage import join

# Tasks pass uris, never data, and take the session as an argument: nothing to cache or persist.


@task(cache_policy=NONE)
def prepare_orders(compute: ComputeSession, source_uri: str, output_uri: str) -> str:
    """Write the cleaned orders on the small preset."""
    target = join(output_uri, "orders.parquet")
    with named_input(join(source_uri, "orders.csv"), list(queries.ORDERS_SCHEMA)):
        compute.sink_parquet(queries.clean_orders(source_uri), target, "small")
    return target


@task(cache_policy=NONE)
def prepare_customers(compute: ComputeSession, source_uri: str, output_uri: str) -> str:
    """Write one row per customer on the small preset."""
    target = join(output_uri, "customers.parquet")
    with named_input(join(source_uri, "customers.ndjson"), list(queries.CUSTOMERS_SCHEMA)):
        compute.sink_parquet(queries.latest_customers(source_uri), target, "small")
    return target


@task(cache_policy=NONE)
def build_report(
    compute: ComputeSession, orders_uri: str, customers_uri: str, output_uri: str
) -> str:
    """Join and aggregate on the large preset."""
    target = join(output_uri, "daily_report.parquet")
    compute.sink_parquet(queries.daily_report(orders_uri, customers_uri), target, "large")
    return target


@task(cache_policy=NONE)
def publish_summary(report_uri: str) -> None:
    """Show the report's totals and per-day table in the Prefect UI."""
    summary = summarize(report_uri)
    for warning in summary.warnings():
        get_run_logger().warning(warning)
    create_markdown_artifact(
        key="daily-report", markdown=summary.markdown(), description="Daily report totals"
    )


@flow(name="daily-report")
def daily_report(source_uri: str | None = None, output_uri: str | None = None) -> str:
    """Build the daily report from source_uri into output_uri and return the report's uri."""
    settings = get_settings()
    source_uri = source_uri or settings.source_uri
    output_uri = output_uri or settings.output_uri
    validate_uris(settings, source_uri, output_uri)
    with ComputeSession(settings) as compute:
        orders = prepare_orders.submit(compute, source_uri, output_uri)
        customers = prepare_customers.submit(compute, source_uri, output_uri)
        # Both must finish before the session may stop their compute.
        wait([orders, customers])
        report_uri = build_report(compute, orders.result(), customers.result(), output_uri)
    publish_summary(report_uri)
    return report_uri


if __name__ == "__main__":
    from {{ cookiecutter.package_name }}.cli import run_locally

    raise SystemExit(run_locally(daily_report))
