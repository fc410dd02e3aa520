"""The aws-secret-block backend: prefect-aws blocks in a real Prefect server, the secret in moto.

Needs prefect-aws, which only a bake of this backend (or of the ecs pool type) installs:
tests/test_library.py runs this file in the aws-secret-block bake, the rest in the defaults bake.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from prefect_aws.secrets_manager import AwsSecret

from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.credentials.service_account import (
    CredentialsError,
    block_name,
    fetch_service_account,
)
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET
from prefect_polars_cloud.testing.secret_stores import SecretStore

from test_no_leak import exercise_and_search
from toy_pipeline.project import Settings


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, aws: str, prefect_api: str) -> SecretStore:
    return SecretStore("aws-secret-block", monkeypatch).select()


def test_blocks_twice_then_the_secret_reads_through_them(
    store: SecretStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put()

    assert main(["blocks"]) == 0 and main(["blocks"]) == 0

    assert AwsSecret.load(block_name(store.name)).secret_name == store.name
    account = fetch_service_account(get_settings())
    assert (account.client_id, account.client_secret) == (CLIENT_ID, CLIENT_SECRET)
    assert CLIENT_SECRET not in capsys.readouterr().out


def test_doctor_names_the_missing_aws_secret(
    store: SecretStore, capsys: pytest.CaptureFixture[str]
) -> None:
    store.put()
    assert main(["blocks"]) == 0
    assert main(["doctor"]) == 0
    store.remove()

    assert main(["doctor"]) == 1

    assert store.missing_hint in capsys.readouterr().err


def test_a_missing_block_says_to_run_make_blocks(prefect_api: str) -> None:
    settings = Settings(secret_backend="aws-secret-block", secret_name="never-registered")

    with pytest.raises(
        CredentialsError, match="'never-registered' does not exist; create it with `make blocks`"
    ):
        fetch_service_account(settings)


def test_no_secret_value_leaks(
    store: SecretStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    s3_data: str,
    tmp_path: Path,
) -> None:
    assert main(["blocks"]) == 0
    exercise_and_search(store, s3_data, tmp_path / "work", monkeypatch, caplog, capfd)
