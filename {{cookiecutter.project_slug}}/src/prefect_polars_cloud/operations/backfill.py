"""`make backfill`: one flow run of a range of days, asked of a deployment on the Prefect API."""

from __future__ import annotations

from datetime import date

from prefect_polars_cloud.compute.session import ComputeError
from prefect_polars_cloud.config.days import describe, refuse_future_days, resolve_days
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.operations.doctor import (
    PrefectApiUnreachable,
    configured_api_url,
    required_api_problem,
)


def full_name(deployment: str) -> str:
    """Return `<flow>/<deployment>`; a bare deployment name must belong to one flow only."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    if "/" in deployment:
        return deployment
    with get_client(sync_client=True) as client:
        found = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment]))
        )
        flows = {item.flow_id: client.read_flow(item.flow_id).name for item in found}
    if len(flows) != 1:
        raise ComputeError(
            f"{'no flow has' if not flows else 'several flows have'} a deployment {deployment!r}"
            f"{': ' + ', '.join(sorted(flows.values())) if flows else ''}; pass "
            "DEPLOYMENT=<flow>/<deployment>, as `prefect deployment ls` shows them"
        )
    return f"{next(iter(flows.values()))}/{deployment}"


def request_backfill(settings: Settings, start: date, end: date, deployment: str) -> str:
    """Create one flow run of start..end on the deployment and return its UI link."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_UI_URL

    days = resolve_days(start, end, scheduled=None, max_days=settings.max_backfill_days)
    # Checked here too, so a typo fails before a run is asked for (the flow checks again).
    refuse_future_days(days, settings.allow_future_days)
    # A backfill is a flow run of a deployment: it needs the API the deployment lives on.
    if problem := required_api_problem():
        raise PrefectApiUnreachable(problem)
    url = configured_api_url() or ""
    name = full_name(deployment)
    try:
        run = run_deployment(
            name=name,
            parameters={"start": days[0].isoformat(), "end": days[-1].isoformat()},
            timeout=0,  # ask for the run; a worker of the deployment's pool runs it
        )
    except ObjectNotFound:
        raise ComputeError(
            f"no deployment {name} on {url}; deploy it first (`make deploy`), or pass "
            "DEPLOYMENT=<flow>/<deployment> of one that `prefect deployment ls` shows"
        ) from None
    ui = PREFECT_UI_URL.value() or url.removesuffix("/api")
    print(f"asked {name} for one run of {describe(days)}")
    return f"{ui}/runs/flow-run/{run.id}"
