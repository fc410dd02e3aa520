"""Polars Cloud login, and the errors this project raises about compute."""

from __future__ import annotations

from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.credentials.service_account import ServiceAccount, fetch_service_account


class ComputeError(RuntimeError):
    """The cloud compute could not be used; the message says what to do."""


class QueryTimeout(ComputeError):
    """A query ran past its timeout and was cancelled."""


def login(settings: Settings, account: ServiceAccount | None = None) -> None:
    """Log in with the service account (fetched, unless given); build contexts only after this."""
    import polars_cloud as pc

    account = account or fetch_service_account(settings)
    try:
        pc.authenticate(
            client_id=account.client_id,
            client_secret=account.client_secret,
            interactive=False,
        )
    except Exception as error:
        raise ComputeError(
            f"Polars Cloud authentication failed with the service account from the "
            f"{settings.secret_backend} backend ({settings.secret_name}): "
            f"{account.redact(f'{type(error).__name__}: {error}')}; check the account's "
            f"id and secret, or run locally with {env_prefix()}COMPUTE_MODE=local"
        ) from None
