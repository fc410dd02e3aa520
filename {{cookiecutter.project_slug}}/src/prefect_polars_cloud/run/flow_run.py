"""What a flow asks of its Prefect run: a name after its days, query labels, lineage, retries."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar
from uuid import UUID

from prefect import runtime
from prefect.context import FlowRunContext
from prefect.tasks import exponential_backoff

from prefect_polars_cloud.compute.remote_sink import Lineage
from prefect_polars_cloud.config.days import RunDatesError, describe, resolve_days
from prefect_polars_cloud.config.environments import environment_label
from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.run.retries import retry_transient

QueryTask = TypeVar("QueryTask")


def run_name() -> str:
    """Name a flow run after its flow and days, e.g. `my-flow 2026-11-24`.

    Use it as `@flow(flow_run_name=run_name)`: it reads the run's start and end parameters.

    Returns:
        The flow's name and the run's days; `<flow> (dates refused)` when the days are wrong,
        which the run then says why.

    Example:
        ```python
        from prefect import flow
        from prefect_polars_cloud import run_name

        @flow(flow_run_name=run_name)
        def store_totals(start: date | None = None, end: date | None = None) -> str: ...
        ```
    """
    parameters = runtime.flow_run.parameters
    flow = runtime.flow_run.flow_name
    try:
        days = resolve_days(
            parameters.get("start"),
            parameters.get("end"),
            runtime.flow_run.scheduled_start_time,
            max_days=100_000,  # the flow refuses long ranges itself, with the reason
        )
    except RunDatesError:
        return f"{flow} (dates refused)"
    return f"{flow} {describe(days)}"


def deployment_name() -> str | None:
    """Return the name of the run's deployment; None for a run without one (`make run`, a script).

    `runtime.deployment.name` asks the API for the flow run each time (Prefect 3.9 looks for the
    deployment's id on the run's context, not on its flow run), through a new client (an SSL
    context and a request: about 60 ms of CPU on both sides), and the labels and the lineage
    ask once per query. The run's context knows whether there is one; a name is asked once.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return runtime.deployment.name
    if context.flow_run.deployment_id is None:
        return None
    return _deployment_named(context.flow_run.deployment_id)


@lru_cache(maxsize=16)
def _deployment_named(deployment_id: UUID) -> str | None:
    """Return the current run's deployment name, once per deployment (names are fixed by it)."""
    return runtime.deployment.name


def labels(task_name: str) -> list[str]:
    """Tag a query with the run that sent it, for the Polars Cloud dashboard."""
    run, settings = runtime.flow_run, get_settings()
    found = [
        task_name,
        settings.label,
        deployment_name() or "no-deployment",
        str(run.id).replace("-", ""),  # the flow run's id: 32 hex characters, a label's limit
        run.name,
    ]
    environment = environment_label(settings)  # which environment sent it, when there are several
    return found if environment is None else [*found, environment]


def lineage(task_name: str) -> Lineage:
    """Name a query for OpenLineage, the flow run as its parent (self-hosted clusters only)."""
    run = runtime.flow_run
    return Lineage(
        namespace=get_settings().label,
        job=task_name,
        parent_run_id=str(run.id),
        parent_job=deployment_name() or run.flow_name,
    )


def retried(query_task: QueryTask) -> QueryTask:
    """Retry a query's task on transient failures only, backing off with jitter.

    A transient failure (a transport error, throttling, a 5xx, an elapsed POLARS_TIMEOUT_MS) is
    retried `query_retries` times on the cluster already running, the delay starting at
    `query_retry_delay_seconds` and doubling; anything else (the query's own error, its
    timeout, a stop) fails at once (run/retries.py).

    Args:
        query_task: A Prefect task that sends queries.

    Returns:
        A copy of the task with those retries (`task.with_options`); the task is unchanged.

    Example:
        ```python
        from prefect_polars_cloud import retried

        sales = retried(prepare_sales).submit(run)  # inside `with daily_run(...) as run:`
        ```
    """
    settings = get_settings()
    task: Any = query_task
    return task.with_options(  # type: ignore[no-any-return]
        retries=settings.query_retries,
        retry_delay_seconds=exponential_backoff(settings.query_retry_delay_seconds)(
            max(1, settings.query_retries)
        ),
        retry_jitter_factor=0.5,
        retry_condition_fn=retry_transient,
    )
