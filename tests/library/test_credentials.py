"""The env backend and the rules every backend's secret follows."""

from __future__ import annotations

import json

import pytest

from prefect_polars_cloud.credentials.service_account import (
    CredentialsError,
    ServiceAccount,
    fetch_service_account,
    parse_service_account,
)
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET

from support import shown
from toy_pipeline.project import ENV_PREFIX, Settings


def test_the_env_backend_reads_both_variables(service_account_env: None) -> None:
    account = fetch_service_account(Settings(secret_backend="env"))
    assert (account.client_id, account.client_secret) == (CLIENT_ID, CLIENT_SECRET)


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({}, "POLARS_CLOUD_CLIENT_ID and POLARS_CLOUD_CLIENT_SECRET are not set"),
        ({"POLARS_CLOUD_CLIENT_ID": CLIENT_ID}, "POLARS_CLOUD_CLIENT_SECRET is not set"),
        (
            {"POLARS_CLOUD_CLIENT_ID": CLIENT_ID, "POLARS_CLOUD_CLIENT_SECRET": "  "},
            "POLARS_CLOUD_CLIENT_SECRET is not set",
        ),
    ],
    ids=["none", "no-secret", "blank-secret"],
)
def test_the_env_backend_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str], missing: str
) -> None:
    for name, value in present.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(CredentialsError, match=missing) as raised:
        fetch_service_account(Settings(secret_backend="env"))
    assert f"{ENV_PREFIX}SECRET_BACKEND" in str(raised.value)
    assert CLIENT_ID not in str(raised.value)


def test_a_service_account_never_shows_its_values() -> None:
    account = ServiceAccount(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    for text in (repr(account), str(account), f"{account}", repr([account])):
        assert CLIENT_ID not in text and CLIENT_SECRET not in text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (f"not json {CLIENT_SECRET}", "is not JSON"),
        (json.dumps([CLIENT_ID, CLIENT_SECRET]), "is not a JSON object"),
        (json.dumps({"client_id": CLIENT_ID}), "lacks client_secret"),
        (json.dumps({"client_id": "", "client_secret": CLIENT_SECRET}), "lacks client_id"),
    ],
    ids=["not-json", "not-object", "no-secret", "empty-id"],
)
def test_a_malformed_secret_is_explained_without_its_value(raw: str, reason: str) -> None:
    with pytest.raises(CredentialsError, match=reason) as raised:
        parse_service_account(raw, "secret 'x'")
    printed = shown(raised.value)
    assert CLIENT_SECRET not in printed and CLIENT_ID not in printed


def test_a_well_formed_secret_parses_from_text_bytes_or_mapping() -> None:
    document = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    for raw in (json.dumps(document), json.dumps(document).encode(), document):
        assert parse_service_account(raw, "here") == ServiceAccount(CLIENT_ID, CLIENT_SECRET)
