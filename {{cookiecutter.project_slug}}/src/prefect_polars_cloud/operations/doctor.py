"""Check that a run would find what it needs (`make doctor`); never prints a secret value."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

from prefect_polars_cloud.compute.cloud import login
from prefect_polars_cloud.compute.presets import Preset, PresetError, load_presets
from prefect_polars_cloud.compute.probe import cluster_problem
from prefect_polars_cloud.config.project import current
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.credentials.service_account import ServiceAccount, fetch_service_account
from prefect_polars_cloud.storage.iceberg.catalog import doctor_report

# One health request: a server that answers replies in milliseconds, Prefect Cloud in well under
# a second (the post-gen hook allows 5 s too). Every command that needs the API checks it first,
# so, with Python's start on a busy machine, it fails within 20 s.
API_TIMEOUT_S = 5.0
PROBE_GRACE_S = 1.0  # for the client's own setup, before the request's timeout starts
# The secret backends that load a Prefect block, so read through the Prefect API.
API_BACKENDS = ("prefect-secret", "aws-secret-block")


def describe(settings: Settings) -> list[str]:
    """Return the effective settings, one line each."""
    where = ""
    if settings.compute_mode == "cluster":
        where = f" at {settings.cluster_uri or '(CLUSTER_URI not set)'}"
    return [
        f"environment:    {settings.env}",
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


def _healthcheck(timeout_s: float) -> BaseException | None:
    """Ask the configured API for /health once, each step bounded by timeout_s."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    # Prefect's client retries a read timeout five times, each of PREFECT_API_REQUEST_TIMEOUT
    # (60 s): a server that accepts and never answers would hold a command for minutes.
    try:
        with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
            with get_client(sync_client=True, httpx_settings={"timeout": timeout_s}) as client:
                return client.api_healthcheck()
    except Exception as error:  # noqa: BLE001 - returned, as api_healthcheck returns its own
        return error


def check_prefect_api(url: str, timeout_s: float | None = None) -> str | None:
    """Return a problem with the Prefect API at url, or None when it answers in time.

    timeout_s defaults to API_TIMEOUT_S.
    """
    import httpx

    timeout_s = API_TIMEOUT_S if timeout_s is None else timeout_s
    outcome: list[BaseException | None] = []
    # The caller's Prefect settings (temporary_settings included) hold in the probe's thread.
    context = contextvars.copy_context()
    probe = threading.Thread(
        target=lambda: outcome.append(context.run(_healthcheck, timeout_s)),
        name="prefect-api-probe",
        daemon=True,  # what httpx cannot bound (a name lookup) must not keep the process alive
    )
    probe.start()
    probe.join(timeout_s + PROBE_GRACE_S)
    error = outcome[0] if outcome else TimeoutError()
    if error is None:
        return None
    if isinstance(error, TimeoutError | httpx.TimeoutException):
        # ReadTimeout: something accepts connections there but never replies (a hung server).
        return (
            f"the Prefect API at {url} did not answer within {timeout_s:g} s "
            f"({type(error).__name__}); restart it or fix PREFECT_API_URL"
        )
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

    from prefect_polars_cloud.operations.alerts import alert_status

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
    from prefect_polars_cloud.compute import manifests

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
    url = configured_api_url()
    # Checked before the credentials: the block backends read them through this API, and a
    # silent API would otherwise hold the doctor for minutes.
    api_problem = check_prefect_api(url) if url else None
    if settings.compute_mode == "cluster":
        # A self-hosted cluster needs no Polars Cloud account: greet it instead.
        problem = cluster_problem(settings)
        say(f"cluster:        {'UNREACHABLE' if problem else 'answers'}")
        problems += [problem] if problem else []
    elif api_problem and settings.secret_backend in API_BACKENDS:
        say("credentials:    NOT CHECKED (the backend's block is on the Prefect API)")
    else:
        try:
            account = fetch_service_account(settings)
        except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
            problems.append(str(error))
            say("credentials:    NOT FOUND")
        else:
            say(f"credentials:    {masked(account)}")
            problems += manifests_report(settings, presets, account, say)
    problems += doctor_report(settings, current().datasets, say)  # the Iceberg tables, if any
    if url is None:
        say("prefect api:    not configured (make run starts a server for its run)")
        return problems
    say(f"prefect api:    {'UNREACHABLE' if api_problem else 'healthy'} ({url})")
    if api_problem:
        return [*problems, api_problem]
    line, problem = alerts_report(settings)
    say(f"alerts:         {line}")
    return problems + ([problem] if problem else [])
