"""A flow run whose process died ends Crashed, not Running forever (`make alerts` installs it).

A run killed outright (kill -9, an OOM kill, a lost node) cannot report its own end. Every flow
run sends a heartbeat event every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (prefect.yaml sets
60 for the deployments; Prefect's default is 180); this server-side automation marks a run of
the project Crashed once it has sent none for SILENT_FOR without ending, as Prefect's guide
"Detect zombie flows" recommends. The Crashed state then reaches the failed-run alert, and the
next run takes that run's staging for one whose run is gone (storage/leftovers.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from prefect_polars_cloud.config.settings import Settings

if TYPE_CHECKING:
    from prefect.events.schemas.automations import AutomationCore

# Five heartbeats missed at prefect.yaml's 60 s, and more than one at Prefect's default of 180 s.
SILENT_FOR = timedelta(minutes=5)
HEARTBEAT = "prefect.flow-run.heartbeat"
# A run that reaches one of these has ended, and sends no more heartbeats.
ENDED = {
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.TimedOut",
}


def zombie_name(settings: Settings) -> str:
    """Return the name of the project's zombie automation."""
    return f"{settings.label}: crash runs without heartbeat"


def zombie_automation(settings: Settings, silent_for: timedelta = SILENT_FOR) -> AutomationCore:
    """Return the automation that marks the project's silent runs Crashed (matched by its tag)."""
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    minutes = f"{silent_for.total_seconds() / 60:g}"
    return AutomationCore(
        name=zombie_name(settings),
        description="A run of this project stopped sending heartbeats: its process is gone.",
        tags=[settings.label],
        trigger=EventTrigger(
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={
                "prefect.resource.role": "tag",
                "prefect.resource.id": f"prefect.tag.{settings.label}",
            },
            after={HEARTBEAT},
            expect={HEARTBEAT, *ENDED},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=silent_for,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=(
                    f"No heartbeat for {minutes} minutes: the run's process died (killed, out "
                    "of memory, or its machine lost)."
                ),
            )
        ],
    )
