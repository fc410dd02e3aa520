"""`make backfill`: one flow run of a range of days, asked of a deployment on the Prefect API."""

from __future__ import annotations

from datetime import date

from .compute import ComputeError
from .doctor import PrefectApiUnreachable, configured_api_url, required_api_problem
from .run_dates import describe, refuse_future_days, resolve_days
from .settings import Settings

FLOW_NAME = "daily-report"


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
    try:
        run = run_deployment(
            name=f"{FLOW_NAME}/{deployment}",
            parameters={"start": days[0].isoformat(), "end": days[-1].isoformat()},
            timeout=0,  # ask for the run; a worker of the deployment's pool runs it
        )
    except ObjectNotFound:
        raise ComputeError(
            f"no deployment {FLOW_NAME}/{deployment} on {url}; deploy it first (`make deploy`), "
            "or pass DEPLOYMENT=daily-report-local"
        ) from None
    ui = PREFECT_UI_URL.value() or url.removesuffix("/api")
    print(f"asked {FLOW_NAME}/{deployment} for one run of {describe(days)}")
    return f"{ui}/runs/flow-run/{run.id}"
