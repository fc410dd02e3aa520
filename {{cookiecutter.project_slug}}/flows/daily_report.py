"""The daily report: orchestration only; the package does the work.

A run reports a range of days (by default the day before its scheduled start) in one pass:
prepare_orders and prepare_customers run side by side on the small preset, build_report joins
them on the large one, each with one query over the whole range. Everything is written under a
run-scoped staging prefix and published day by day only once every query succeeded. In local
mode the same queries stream on local Polars.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE
from prefect.futures import wait
from prefect.tasks import exponential_backoff

from {{ cookiecutter.package_name }} import queries
from {{ cookiecutter.package_name }}.compute import ComputeSession, validate_uris
from {{ cookiecutter.package_name }}.input_errors import named_input
from {{ cookiecutter.package_name }}.remote_sink import Lineage
from {{ cookiecutter.package_name }}.report import summarize
from {{ cookiecutter.package_name }}.retries import retry_transient
from {{ cookiecutter.package_name }}.run_dates import (
    RunDatesError,
    describe,
    refuse_future_days,
    resolve_days,
)
from {{ cookiecutter.package_name }}.settings import Settings, get_settings
from {{ cookiecutter.package_name }}.storage import (
    CLEAN_ORDERS,
    CUSTOMERS,
    REPORT,
    discard,
    find_inputs,
    join,
    list_keys,
    new_staging,
    publish,
)

# Tasks pass uris, never data, and take the session as an argument: nothing to cache or persist.


def labels(task_name: str) -> list[str]:
    """Tag a query with the run that sent it, for the Polars Cloud dashboard."""
    run = runtime.flow_run
    return [
        task_name,
        get_settings().label,
        runtime.deployment.name or "no-deployment",
        str(run.id).replace("-", ""),  # the flow run's id: 32 hex characters, a label's limit
        run.name,
    ]


def lineage(task_name: str) -> Lineage:
    """Name a query for OpenLineage, the flow run as its parent (self-hosted clusters only)."""
    run = runtime.flow_run
    return Lineage(
        namespace=get_settings().label,
        job=task_name,
        parent_run_id=str(run.id),
        parent_job=runtime.deployment.name or run.flow_name,
    )


@task(cache_policy=NONE)
def prepare_orders(compute: ComputeSession, order_files: list[str], staging_uri: str) -> str:
    """Write the cleaned orders, a folder per day, on the small preset."""
    target = join(staging_uri, CLEAN_ORDERS)
    # Polars does not say which of several files is bad: name the one, or where they all are.
    read = order_files[0] if len(order_files) == 1 else order_files[0].rsplit("/date=", 1)[0]
    with named_input(read, list(queries.ORDERS_SCHEMA)):
        query = queries.clean_orders(order_files)
        compute.sink_parquet(
            query,
            queries.by_day(target),
            "small",
            labels("prepare_orders"),
            lineage("prepare_orders"),
        )
    return target


@task(cache_policy=NONE)
def prepare_customers(compute: ComputeSession, customers_uri: str, staging_uri: str) -> str:
    """Write one row per customer on the small preset."""
    target = join(staging_uri, f"{CUSTOMERS}/customers.parquet")
    with named_input(customers_uri, list(queries.CUSTOMERS_SCHEMA)):
        query = queries.latest_customers(customers_uri)
        compute.sink_parquet(
            query, target, "small", labels("prepare_customers"), lineage("prepare_customers")
        )
    return target


@task(cache_policy=NONE)
def build_report(
    compute: ComputeSession, orders_uri: str, customers_uri: str, staging_uri: str
) -> str:
    """Join and aggregate on the large preset, a folder per day."""
    target = join(staging_uri, REPORT)
    report = queries.daily_report(orders_uri, customers_uri)
    compute.sink_parquet(
        report, queries.by_day(target), "large", labels("build_report"), lineage("build_report")
    )
    return target


@task(cache_policy=NONE)
def publish_days(output_uri: str, staging: str, days: list[date]) -> None:
    """Replace each day's partitions with the run's staged files."""
    publish(output_uri, staging, days)


@task(cache_policy=NONE)
def publish_summary(output_uri: str, days: list[date], cloud_evidence: str) -> None:
    """Show the run's days (rows, revenue) and its Polars Cloud queries and cost in the UI."""
    summary = summarize(output_uri, days)
    for warning in summary.warnings():
        get_run_logger().warning(warning)
    create_markdown_artifact(
        key="daily-report",
        markdown=summary.markdown() + cloud_evidence,
        description="Daily report by day",
    )


def with_retries(query_task: Any, settings: Settings) -> Any:  # noqa: ANN401 - a Prefect task
    """Retry a query's task on transient failures only, backing off with jitter."""
    return query_task.with_options(
        retries=settings.query_retries,
        retry_delay_seconds=exponential_backoff(settings.query_retry_delay_seconds)(
            max(1, settings.query_retries)
        ),
        retry_jitter_factor=0.5,
        retry_condition_fn=retry_transient,
    )


def run_name() -> str:
    """Name a flow run after its days, e.g. `daily-report 2026-11-24`."""
    parameters = runtime.flow_run.parameters
    try:
        days = resolve_days(
            parameters.get("start"),
            parameters.get("end"),
            runtime.flow_run.scheduled_start_time,
            max_days=100_000,  # the flow refuses long ranges itself, with the reason
        )
    except RunDatesError:
        return "daily-report (dates refused)"
    return f"daily-report {describe(days)}"


@flow(name="daily-report", flow_run_name=run_name)
def daily_report(
    start: date | None = None,
    end: date | None = None,
    source_uri: str | None = None,
    output_uri: str | None = None,
) -> str:
    """Report the days start..end (default: the day before the scheduled start); return where."""
    settings = get_settings()
    days = resolve_days(
        start, end, runtime.flow_run.scheduled_start_time, settings.max_backfill_days
    )
    refuse_future_days(days, settings.allow_future_days)
    source_uri = source_uri or settings.source_uri
    output_uri = output_uri or settings.output_uri
    validate_uris(settings, source_uri, output_uri)
    inputs = find_inputs(source_uri, days)  # a missing day fails here, before any compute
    staging = new_staging()
    staging_uri = join(output_uri, staging)
    try:
        with ComputeSession(settings) as compute:
            if settings.boot_all_at_start:
                compute.start("small", "large")
            orders = with_retries(prepare_orders, settings).submit(
                compute, inputs.orders, staging_uri
            )
            customers = with_retries(prepare_customers, settings).submit(
                compute, inputs.customers, staging_uri
            )
            # Both must finish before their compute may stop; then it stops, while the report
            # runs on the large preset.
            wait([orders, customers])
            compute.release("small")
            if list_keys(orders.result()):  # days with no valid order leave nothing to join
                with_retries(build_report, settings)(
                    compute, orders.result(), customers.result(), staging_uri
                )
        publish_days(output_uri, staging, days)
    finally:
        discard(output_uri, staging)
    publish_summary(output_uri, days, compute.evidence.markdown(settings.price_per_vcpu_hour))
    return join(output_uri, REPORT)


if __name__ == "__main__":
    from {{ cookiecutter.package_name }}.cli import run_locally

    raise SystemExit(run_locally(daily_report))
