"""The alerts' webhook URL is checked before it replaces a working one; alerts name their run."""

from __future__ import annotations

import uuid

import pytest
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.settings import PREFECT_UI_URL, temporary_settings

from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.operations import alerts

from toy_pipeline.project import ENV_PREFIX, Settings

GOOD = "https://hooks.example.com/services/good-token-71c2"


def stored_url() -> str:
    block = CustomWebhookNotificationBlock.load(alerts.block_name(Settings()))
    return block.secrets.get_secret_value()["url"]


@pytest.mark.usefixtures("prefect_api", "service_account_env")
@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://exa mple.com/x-bad-token-1", "holds a space"),
        ("https://example.com:99999/x-bad-token-2", "port"),
        ("https://", "names no host"),
        ("ftp://example.com/x-bad-token-3", "not an http(s) URL"),
    ],
)
def test_a_malformed_url_is_refused_and_the_working_one_kept(
    url: str, problem: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "webhook")
    monkeypatch.setenv(f"{ENV_PREFIX}ALERT_WEBHOOK_URL", GOOD)
    assert main(["alerts"]) == 0
    monkeypatch.setenv(f"{ENV_PREFIX}ALERT_WEBHOOK_URL", url)
    get_settings.cache_clear()  # the commands read the settings once per process

    assert main(["alerts"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("ERROR: ") and problem in err and url not in err
    assert stored_url() == GOOD


def test_the_alert_names_its_run_by_id_and_links_it_without_the_servers_ui_url() -> None:
    with temporary_settings({PREFECT_UI_URL: "https://prefect.example.com"}):
        ui = alerts.run_link_base()
    for automation in alerts.automations(Settings(), uuid.uuid4(), ui):
        [action] = automation.actions
        assert "Run id: {{ flow_run.id }}" in action.body
        assert "Run: https://prefect.example.com/runs/flow-run/{{ flow_run.id }}" in action.body
        assert "ui_url" not in action.body


@pytest.mark.usefixtures("prefect_api", "service_account_env")
def test_a_token_goes_in_a_header_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    token = "header-token-90d4e1"
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "webhook")
    monkeypatch.setenv(f"{ENV_PREFIX}ALERT_WEBHOOK_URL", "https://hooks.example.com/in")
    monkeypatch.setenv(f"{ENV_PREFIX}ALERT_WEBHOOK_TOKEN", token)

    assert main(["alerts"]) == 0

    block = CustomWebhookNotificationBlock.load(alerts.block_name(Settings()))
    assert block.headers == {"Authorization": "Bearer {{token}}"}
    assert block.secrets.get_secret_value()["token"] == token
    assert token not in block.model_dump_json()  # shown masked, as the URL
