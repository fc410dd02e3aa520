"""`make alerts` against a real Prefect API: idempotent automations, a webhook kept secret.

Whether the server then delivers a notification is tested end to end by the template (a real
server, a failing run, a capture server); here: what `make alerts` leaves on the API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import boto3
import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.blocks.system import Secret
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.operations import alerts
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET

from toy_pipeline.project import ENV_PREFIX, Settings

LABEL = Settings().label
# The webhook is a secret like any other: this token must never be printed.
TOKEN = "hook-token-3f9a1c77"
URL = f"https://hooks.example.com/services/{TOKEN}"


@pytest.fixture
def client(prefect_api: str) -> Iterator[SyncPrefectClient]:
    """A client of the test API."""
    with get_client(sync_client=True) as client:
        yield client


@pytest.fixture
def deployed(client: SyncPrefectClient) -> list[uuid.UUID]:
    """Two deployments with the project's tag, as `make deploy` leaves them."""
    flow_id = client.create_flow_from_name("some-flow")
    tags = [LABEL]
    return [
        client.create_deployment(flow_id=flow_id, name=name, tags=tags)
        for name in ("production", "production-local")
    ]


def failed_and_late() -> tuple[str, str]:
    """Return the names of the project's two automations."""
    return alerts.automation_names(Settings())


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch, service_account_env: None) -> None:
    """Alerts on, the URL in the environment."""
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "webhook")
    monkeypatch.setenv(f"{ENV_PREFIX}ALERT_WEBHOOK_URL", URL)


def ours(client: SyncPrefectClient) -> dict[str, list]:
    """Return this project's automations on the API by name."""
    return {
        name: [item for item in client.read_automations_by_name(name) if item.name == name]
        for name in failed_and_late()
    }


def stored_url() -> str:
    """Return the URL the notification block holds, read with its secrets."""
    block = CustomWebhookNotificationBlock.load(alerts.block_name(Settings()))
    return block.secrets.get_secret_value()["url"]


@pytest.mark.usefixtures("webhook")
def test_make_alerts_twice_leaves_one_automation_per_trigger(
    client: SyncPrefectClient, deployed: list[uuid.UUID], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts"]) == 0
    assert main(["alerts"]) == 0

    found = ours(client)
    failed_name, late_name = failed_and_late()
    assert {name: len(items) for name, items in found.items()} == {failed_name: 1, late_name: 1}
    [failed], [late] = found[failed_name], found[late_name]
    # The project's tag, which every deployment carries: none is listed by id.
    expected = {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{LABEL}"}
    for automation in (failed, late):
        assert automation.trigger.match_related.model_dump() == expected
        [action] = automation.actions
        assert "{{ flow_run.name }}" in action.subject + action.body
    assert failed.trigger.expect == alerts.FAILED_EVENTS
    assert failed.trigger.posture == "Reactive"
    assert late.trigger.posture == "Proactive" and late.trigger.after == {"prefect.flow-run.Late"}
    assert late.trigger.within.total_seconds() == 15 * 60
    out, err = capsys.readouterr()
    assert "updated automation" in out and TOKEN not in out + err


@pytest.mark.usefixtures("webhook", "deployed")
def test_the_url_is_kept_as_a_secret_of_the_block(client: SyncPrefectClient) -> None:
    assert main(["alerts"]) == 0

    assert stored_url() == URL
    block_type = CustomWebhookNotificationBlock.get_block_type_slug()
    name = alerts.block_name(Settings())
    shown = client.read_block_document_by_name(name, block_type, include_secrets=False)
    assert TOKEN not in json.dumps(shown.data, default=str)


@pytest.mark.usefixtures("webhook", "deployed")
def test_without_a_url_the_stored_one_is_kept(
    client: SyncPrefectClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["alerts"]) == 0
    monkeypatch.delenv(f"{ENV_PREFIX}ALERT_WEBHOOK_URL")

    assert main(["alerts"]) == 0

    assert stored_url() == URL
    assert [len(items) for items in ours(client).values()] == [1, 1]


@pytest.mark.usefixtures("deployed")
def test_the_url_can_come_from_the_secret_backend(
    client: SyncPrefectClient, monkeypatch: pytest.MonkeyPatch, aws: str
) -> None:
    name = f"polars-cloud-{uuid.uuid4().hex[:10]}"
    document = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "alert_webhook_url": URL}
    boto3.client("secretsmanager").create_secret(Name=name, SecretString=json.dumps(document))
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_BACKEND", "aws-secrets-manager")
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_NAME", name)
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "webhook")
    # Another URL in the block first, so the test sees the backend's replace it.
    CustomWebhookNotificationBlock(name="old", url="https://old.example.com").save(
        alerts.block_name(Settings()), overwrite=True
    )

    assert main(["alerts"]) == 0

    assert stored_url() == URL


@pytest.mark.usefixtures("prefect_api", "service_account_env")
def test_a_url_that_is_not_a_url_is_refused_without_being_shown(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "webhook")
    monkeypatch.setenv(f"{ENV_PREFIX}ALERT_WEBHOOK_URL", TOKEN)

    assert main(["alerts"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and "not an http(s) URL" in err and TOKEN not in err


@pytest.mark.usefixtures("webhook", "prefect_api")
def test_make_alerts_needs_no_deployment_yet(
    client: SyncPrefectClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A project with nothing deployed: the automations wait for its tag.
    monkeypatch.setenv(f"{ENV_PREFIX}LABEL", f"new-project-{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()

    assert main(["alerts"]) == 0

    assert [len(items) for items in ours(client).values()] == [1, 1]


# `make alerts`, `make blocks` (for a backend with blocks) and `make deploy` (through `check-api`).
@pytest.mark.usefixtures("webhook")
@pytest.mark.parametrize("command", ["alerts", "blocks", "check-api"])
def test_a_target_that_needs_the_api_checks_it_first_with_the_doctors_message(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_BACKEND", "prefect-secret")
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert main([command]) == 1

    err = capsys.readouterr().err
    assert err.startswith("ERROR: ")
    assert "Prefect API at http://127.0.0.1:9/api is unreachable" in err


def test_the_api_check_passes_on_a_healthy_api(
    prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check-api"]) == 0

    assert f"prefect api: healthy ({prefect_api})" in capsys.readouterr().out


@pytest.mark.usefixtures("service_account_env", "prefect_api")
def test_alerts_off_is_said_not_done(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "none")

    assert main(["alerts"]) == 0

    assert "alerts are off" in capsys.readouterr().out


@pytest.mark.usefixtures("webhook", "deployed")
def test_doctor_reports_whether_the_automations_exist(
    client: SyncPrefectClient, capsys: pytest.CaptureFixture[str]
) -> None:
    for automation in [item for items in ours(client).values() for item in items]:
        client.delete_automation(automation.id)
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "alerts:         MISSING" in out and "run `make alerts`" in err

    assert main(["alerts"]) == 0
    assert main(["doctor"]) == 0
    out, err = capsys.readouterr()
    assert f"{failed_and_late()[0]!r}" in out and TOKEN not in out + err


@pytest.mark.usefixtures("webhook", "prefect_api")
def test_doctor_tolerates_missing_automations_until_something_is_deployed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}LABEL", f"never-deployed-{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()

    assert main(["doctor"]) == 0

    assert "alerts:         MISSING (nothing deployed yet" in capsys.readouterr().out


def test_a_prefect_secret_may_hold_the_url_beside_the_account(
    prefect_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect_polars_cloud.config.project import get_settings
    from prefect_polars_cloud.credentials.service_account import (
        fetch_optional_text,
        fetch_service_account,
    )

    name = f"polars-cloud-{uuid.uuid4().hex[:10]}"
    value = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "alert_webhook_url": URL}
    Secret(value=value).save(name)
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_BACKEND", "prefect-secret")
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_NAME", name)

    assert fetch_optional_text(get_settings(), "alert_webhook_url") == URL
    assert fetch_service_account(get_settings()).client_id == CLIENT_ID
