"""Check that a run would find what it needs (`make doctor`); never prints a secret value."""

from __future__ import annotations

from collections.abc import Callable

from .cloud import login
from .credentials import ServiceAccount, fetch_service_account
from .presets import Preset, PresetError, load_presets
from .settings import Settings


def describe(settings: Settings) -> list[str]:
    """Return the effective settings, one line each."""
    where = ""
    if settings.compute_mode == "cluster":
        where = f" at {settings.cluster_uri or '(CLUSTER_URI not set)'}"
    return [
        f"compute mode:   {settings.compute_mode}{where}",
        f"secret backend: {settings.secret_backend}",
        f"secret name:    {settings.secret_name}",
        f"aws region:     {settings.aws_region}",
        f"workspace:      {settings.workspace or '(the service account default)'}",
        f"presets file:   {settings.presets_file}",
        f"idle timeout:   {settings.idle_timeout_mins} min",
        f"data:           {settings.source_uri} -> {settings.output_uri}",
        f"alert channel:  {settings.alerts}, late after {settings.alert_late_after_mins} min, "
        f"webhook {'set' if settings.alert_webhook_url else 'not set'} in the environment",
    ]


def masked(account: ServiceAccount) -> str:
    """Say the values were found without showing any part of them."""
    return (
        f"found (client_id: {len(account.client_id)} characters, "
        f"client_secret: {len(account.client_secret)} characters)"
    )


def configured_api_url() -> str | None:
    """Return the Prefect API URL from the environment or the active profile, if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def check_prefect_api(url: str) -> str | None:
    """Return a problem with the Prefect API at url, or None when it is healthy."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        error = client.api_healthcheck()
    if error is None:
        return None
    return (
        f"the Prefect API at {url} is unreachable ({type(error).__name__}); "
        "start it or fix PREFECT_API_URL"
    )


class PrefectApiUnreachable(RuntimeError):
    """The configured Prefect API does not answer; the message names it."""


def required_api_problem() -> str | None:
    """Return why the commands that talk to a Prefect API cannot run, or None when they can.

    Without a configured API, `prefect deploy` and block saves would go to a throwaway
    embedded server; with an unreachable one, Prefect ends in a ConnectError that names no URL.
    """
    url = configured_api_url()
    if url is None:
        return (
            "no Prefect API is configured; set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api "
            "for `prefect server start`) or run `uv run --locked prefect cloud login`"
        )
    return check_prefect_api(url)


def alerts_report(settings: Settings) -> tuple[str, str | None]:
    """Return the doctor's alerts line, and a problem when deployed runs would fail unnoticed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    from .alerts import alert_status

    if settings.alerts == "none":
        return "off (make alerts sends none)", None
    with get_client(sync_client=True) as client:
        counts = alert_status(client, settings)
        missing = [name for name, count in counts.items() if count == 0]
        if not missing:
            return f"{settings.alerts}: {', '.join(repr(name) for name in counts)} on the API", None
        tagged = DeploymentFilter(tags=DeploymentFilterTags(all_=[settings.label]))
        if not client.read_deployments(deployment_filter=tagged, limit=1):
            # Nothing deployed yet, so no run can fail unnoticed.
            return "MISSING (nothing deployed yet: run `make alerts`)", None
    names = ", ".join(repr(name) for name in missing)
    return "MISSING", f"the automations {names} are not on the Prefect API; run `make alerts`"


def manifests_report(
    settings: Settings,
    presets: dict[str, Preset],
    account: ServiceAccount,
    say: Callable[[str], None],
) -> list[str]:
    """Check each manifest preset's registration in Polars Cloud (cloud mode only)."""
    from . import manifests

    named = [preset for preset in presets.values() if preset.mode == "manifest"]
    if settings.compute_mode != "cloud" or not named:
        return []
    try:
        login(settings, account)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        say("manifests:      NOT CHECKED (no Polars Cloud login)")
        return [f"could not check the manifests: {error}"]
    problems = []
    for preset in named:
        try:
            line, problem = manifests.report(settings, preset)
        except Exception as error:  # noqa: BLE001 - reported, not raised
            line = "NOT CHECKED"
            problem = f"could not read the compute {preset.compute_name(settings)!r}: {error}"
        say(f"manifest {preset.name + ':':<6} {line}")
        problems += [problem] if problem else []
    return problems


def run_doctor(settings: Settings, say: Callable[[str], None] = print) -> list[str]:
    """Print the checks as they go; return the problems found."""
    problems: list[str] = []
    for line in describe(settings):
        say(line)
    presets: dict[str, Preset] = {}
    try:
        presets = load_presets(settings)
    except PresetError as error:
        problems.append(str(error))
        say("presets:        INVALID")
    for name, preset in presets.items():
        say(f"preset {name + ':':<8} {preset.describe()}")
        if settings.compute_mode == "cloud":
            say(f"  {'':<14}{preset.lifecycle(settings)}")
    try:
        account = fetch_service_account(settings)
    except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
        problems.append(str(error))
        say("credentials:    NOT FOUND")
    else:
        say(f"credentials:    {masked(account)}")
        problems += manifests_report(settings, presets, account, say)
    url = configured_api_url()
    if url is None:
        say("prefect api:    not configured (make run starts a server for its run)")
        return problems
    problem = check_prefect_api(url)
    say(f"prefect api:    {'UNREACHABLE' if problem else 'healthy'} ({url})")
    if problem:
        return [*problems, problem]
    line, problem = alerts_report(settings)
    say(f"alerts:         {line}")
    return problems + ([problem] if problem else [])
