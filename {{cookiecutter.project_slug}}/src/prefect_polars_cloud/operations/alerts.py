"""Failure and late-run alerts as server-side automations (`make alerts`); idempotent.

The automations live in the Prefect API: a run that crashes, or never starts because no worker
polls its pool, is reported by the server itself, not by code that would have had to run. They
match the project's tag (its label), which every deployment in prefect.yaml carries, so a
deployment added after `make alerts` is covered too. The webhook URL is a secret: it goes from
<PREFIX>ALERT_WEBHOOK_URL (or the secret backend's JSON object, key "alert_webhook_url") into
the secret field of a notification block, and never into a file, a parameter or a line of output.
Whatever the channel, `make alerts` also installs the automation that ends a run whose process
died as Crashed (operations/zombies.py). In a project of several environments (environments.toml)
each environment has alerts of its own (`make alerts ENV=staging`): named after it, matching its
tag too, sent through its own webhook, and saying which environment failed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from uuid import UUID

from prefect_polars_cloud.config.environments import environment_label
from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.credentials.service_account import fetch_optional_text

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.schemas.automations import AutomationCore

WEBHOOK_KEY = "alert_webhook_url"
TOKEN_KEY = "alert_webhook_token"  # noqa: S105 - the key's name, not a token
# Prefect's templates: the block fills the first two when it posts, the server renders the rest
# when an automation fires.
# The block's url names its secret; Slack's incoming webhooks read "text", any other receiver
# gets the same JSON object.
URL = "{{url}}"
PAYLOAD = {"text": "{{body}}", "subject": "{{subject}}"}
SUBJECT = "{{ flow_run.name }} ({{ deployment.name }}): {{ flow_run.state.name }}"
# The range the run was given, or (none given) the day the flow defaults to.
DAYS = (
    "{{ (flow_run.parameters.start or flow_run.parameters.end) ~ ' to '"
    " ~ (flow_run.parameters.end or flow_run.parameters.start)"
    " if (flow_run.parameters.start or flow_run.parameters.end)"
    " else 'the UTC day before ' ~ flow_run.expected_start_time }}"
)
# The run's id, and a link built when `make alerts` runs from the UI (or API) URL it knows: the
# server's own `ui_url` filter renders None on a server without PREFECT_UI_URL.
RUN = "Run id: {{ flow_run.id }}\nRun: <ui>/runs/flow-run/{{ flow_run.id }}"
FAILED_BODY = (
    "Flow run {{ flow_run.name }} of {{ flow.name }}/{{ deployment.name }} is "
    "{{ flow_run.state.name }}.\n"
    f"Days: {DAYS}\n"
    "Message: {{ flow_run.state.message }}\n"
    f"{RUN}"
)
LATE_BODY = (
    "Flow run {{ flow_run.name }} of {{ flow.name }}/{{ deployment.name }} was due at "
    "{{ flow_run.expected_start_time }} and has not started: is a worker polling the work "
    "pool {{ flow_run.work_pool_name }}?\n"
    f"Days: {DAYS}\n"
    f"{RUN}"
)
FAILED_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut"}
# A Late run that reaches any of these within the bound has started (or was stopped on purpose).
STARTED_EVENTS = {
    "prefect.flow-run.Pending",
    "prefect.flow-run.Running",
    "prefect.flow-run.Cancelling",
    "prefect.flow-run.Cancelled",
}


class AlertsError(RuntimeError):
    """The alerts could not be set up; the message says what to do."""


def url_problem(url: str) -> str | None:
    """Say what makes url unusable as a webhook (never quoting it: it is a secret), or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        return "is not an http(s) URL"
    if any(character.isspace() or not character.isprintable() for character in url):
        return "holds a space or a control character"
    if not parts.hostname:
        return "names no host"
    try:
        parts.port  # noqa: B018 - reading it is the check: it raises for a port out of range
    except ValueError:
        return "has a port that is not a number from 1 to 65535"
    return None


def webhook_url(settings: Settings) -> str | None:
    """Return the webhook from the environment, else from the secret backend, else None.

    A malformed URL is refused here, before it can replace the working one in the block.
    """
    if settings.alert_webhook_url is not None:
        url = settings.alert_webhook_url.get_secret_value().strip()
    else:
        url = fetch_optional_text(settings, WEBHOOK_KEY) or ""
    if url and (problem := url_problem(url)):
        raise AlertsError(
            f"the alert webhook URL ({env_prefix()}ALERT_WEBHOOK_URL or {WEBHOOK_KEY!r}) "
            f"{problem}; set the full URL the receiver gave you (the stored one was kept)"
        )
    return url or None


def webhook_token(settings: Settings) -> str | None:
    """Return the optional header token from the environment, else the secret backend."""
    if settings.alert_webhook_token is not None:
        return settings.alert_webhook_token.get_secret_value().strip() or None
    return fetch_optional_text(settings, TOKEN_KEY) or None


def run_link_base() -> str:
    """Return where the UI shows flow runs: PREFECT_UI_URL, else the API's server root."""
    from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL

    ui = PREFECT_UI_URL.value() or (PREFECT_API_URL.value() or "").removesuffix("/api")
    return ui.rstrip("/") or "<your Prefect UI>"


def block_name(settings: Settings) -> str:
    """Return the name of the project's (or its environment's) notification block."""
    environment = environment_label(settings)
    return f"{settings.label}-{environment}-alerts" if environment else f"{settings.label}-alerts"


def automation_names(settings: Settings) -> tuple[str, str]:
    """Return the names of the failed-run and the late-run automations."""
    environment = environment_label(settings)
    owner = f"{settings.label} ({environment})" if environment else settings.label
    return f"{owner}: flow run failed", f"{owner}: flow run late"


def save_webhook_block(
    client: SyncPrefectClient, name: str, url: str | None, token: str | None = None
) -> UUID:
    """Create or update the notification block; keep the stored URL when url is None.

    With a token, the block sends it as a bearer header, a secret like the URL.
    """
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.exceptions import ObjectNotFound

    if url is None:
        try:
            slug = CustomWebhookNotificationBlock.get_block_type_slug()
            return client.read_block_document_by_name(name, slug, include_secrets=False).id
        except ObjectNotFound:
            raise AlertsError(
                f"no alert webhook URL: set {env_prefix()}ALERT_WEBHOOK_URL (or {WEBHOOK_KEY!r} "
                "in the secret backend's JSON object) and run `make alerts` again"
            ) from None
    # The URL sits in `secrets` (stored encrypted, shown masked); `url` only names it.
    secrets, headers = {"url": url}, None
    if token:
        secrets["token"] = token
        headers = {"Authorization": "Bearer {{token}}"}
    block = CustomWebhookNotificationBlock(
        name=name, url=URL, json_data=PAYLOAD, headers=headers, secrets=secrets
    )
    return block.save(name, overwrite=True)


def automations(settings: Settings, block_id: UUID, ui: str) -> list[AutomationCore]:
    """Return the failed-run and late-run automations of every deployment with the project's tag.

    A flow run carries its deployment's tags as related resources: matching the tag, not a
    list of deployment ids, covers deployments created after `make alerts` ran.
    """
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    runs = {"prefect.resource.id": "prefect.flow-run.*"}
    project = {
        "prefect.resource.role": "tag",
        "prefect.resource.id": f"prefect.tag.{settings.label}",
    }
    ours: dict[str, str] | list[dict[str, str]] = project
    subject, heading = SUBJECT, ""
    if environment := environment_label(settings):  # a list matches runs related to each: both tags
        tag = {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{environment}"}
        ours = [project, tag]
        subject, heading = f"[{environment}] {SUBJECT}", f"Environment: {environment}\n"
    failed_name, late_name = automation_names(settings)
    failed = EventTrigger(
        match=runs,
        match_related=ours,
        expect=FAILED_EVENTS,
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(0),
    )
    # Proactive: fires when a run marked Late shows none of STARTED_EVENTS within the bound.
    late = EventTrigger(
        match=runs,
        match_related=ours,
        after={"prefect.flow-run.Late"},
        expect=STARTED_EVENTS,
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(minutes=settings.alert_late_after_mins),
    )
    return [
        AutomationCore(
            name=name,
            description=description,
            tags=[settings.label],
            trigger=trigger,
            actions=[
                SendNotification(
                    block_document_id=block_id,
                    subject=subject,
                    body=heading + body.replace("<ui>", ui),
                )
            ],
        )
        for name, description, trigger, body in (
            (
                failed_name,
                "A run of this project failed, crashed or timed out.",
                failed,
                FAILED_BODY,
            ),
            (late_name, "A scheduled run of this project has not started.", late, LATE_BODY),
        )
    ]


def upsert(client: SyncPrefectClient, automation: AutomationCore) -> str:
    """Create the automation, or update the one of its name (dropping duplicates); say which."""
    named = client.read_automations_by_name(automation.name)
    existing = [item for item in named if item.name == automation.name]
    if not existing:
        client.create_automation(automation)
        return f"created automation {automation.name!r}"
    keep, *duplicates = existing
    client.update_automation(keep.id, automation)
    for duplicate in duplicates:
        client.delete_automation(duplicate.id)
    return f"updated automation {automation.name!r}"


def install_alerts(settings: Settings) -> list[str]:
    """Create or update the zombie automation, the notification block and both alerts; say so."""
    from prefect.client.orchestration import get_client

    from prefect_polars_cloud.operations.zombies import zombie_automation

    with get_client(sync_client=True) as client:
        # Whatever the channel: a run whose process died must end Crashed, not Running.
        zombies = upsert(client, zombie_automation(settings))
        if settings.alerts == "none":
            return [
                zombies,
                f"alerts are off ({env_prefix()}ALERTS=none): none sent; "
                f"set {env_prefix()}ALERTS=webhook to send them",
            ]
        block = block_name(settings)
        block_id = save_webhook_block(client, block, webhook_url(settings), webhook_token(settings))
        done = [upsert(client, item) for item in automations(settings, block_id, run_link_base())]
    return [zombies, f"saved notification block {block!r}", *done]


def alert_status(client: SyncPrefectClient, settings: Settings) -> dict[str, int]:
    """Return how many automations of each of this project's names the API holds."""
    return {
        name: len([item for item in client.read_automations_by_name(name) if item.name == name])
        for name in automation_names(settings)
    }
