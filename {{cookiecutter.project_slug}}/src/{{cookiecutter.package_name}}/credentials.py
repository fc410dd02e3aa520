"""Fetch the Polars Cloud service account from the configured secret backend.

One function per backend and a table from backend name to function. Each backend imports its
libraries lazily, so a project only needs the libraries of the backend it uses. Errors name the
backend and where it looked, never a value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from .settings import ENV_PREFIX, Settings

CLIENT_ID_VARIABLE = "POLARS_CLOUD_CLIENT_ID"
CLIENT_SECRET_VARIABLE = "POLARS_CLOUD_CLIENT_SECRET"  # noqa: S105 - a variable name, not a value
STORE_AS = 'store it as {"client_id": "...", "client_secret": "..."}'


class CredentialsError(RuntimeError):
    """The service account could not be fetched; the message says what to do."""


@dataclass(frozen=True)
class ServiceAccount:
    """A Polars Cloud service account; never shows its values when printed or logged."""

    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)

    def __repr__(self) -> str:
        return "ServiceAccount(client_id='***', client_secret='***')"

    __str__ = __repr__

    def redact(self, text: str) -> str:
        """Replace both values in text, for error messages that come from elsewhere."""
        for value in (self.client_secret, self.client_id):
            text = text.replace(value, "***")
        return text


def parse_service_account(raw: str | bytes | dict[str, object], where: str) -> ServiceAccount:
    """Validate the JSON object {"client_id": ..., "client_secret": ...} found at where."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            # `from None`: the decoder's error keeps the secret text as an attribute.
            raise CredentialsError(f"{where} is not JSON; {STORE_AS}") from None
    if not isinstance(raw, dict):
        raise CredentialsError(f"{where} is not a JSON object; {STORE_AS}")
    missing = [
        key
        for key in ("client_id", "client_secret")
        if not isinstance(raw.get(key), str) or not str(raw.get(key)).strip()
    ]
    if missing:
        raise CredentialsError(f"{where} lacks {' and '.join(missing)}; {STORE_AS}")
    return ServiceAccount(client_id=str(raw["client_id"]), client_secret=str(raw["client_secret"]))


def from_env(settings: Settings) -> ServiceAccount:
    """Read the two POLARS_CLOUD_* variables; an empty variable counts as unset."""
    values = {
        name: os.environ.get(name, "").strip()
        for name in (CLIENT_ID_VARIABLE, CLIENT_SECRET_VARIABLE)
    }
    unset = [name for name, value in values.items() if not value]
    if unset:
        raise CredentialsError(
            f"env backend: {' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set; "
            "export them (see .env.example; `make` targets read .env) or choose another backend "
            f"with {ENV_PREFIX}SECRET_BACKEND"
        )
    return ServiceAccount(
        client_id=values[CLIENT_ID_VARIABLE], client_secret=values[CLIENT_SECRET_VARIABLE]
    )


def _missing_library(backend: str, module: str) -> CredentialsError:
    return CredentialsError(
        f"{backend} backend needs {module}, which is not installed; run "
        f'`uv sync --group {backend}` or add "{backend}" to default-groups in pyproject.toml'
    )


BACKENDS: dict[str, Callable[[Settings], ServiceAccount]] = {
    "env": from_env,
}


def fetch_service_account(settings: Settings) -> ServiceAccount:
    """Fetch the service account once from the configured backend."""
    try:
        backend = BACKENDS[settings.secret_backend]
    except KeyError:
        raise CredentialsError(
            f"secret backend {settings.secret_backend!r} is not available here; "
            f"set {ENV_PREFIX}SECRET_BACKEND to one of {', '.join(BACKENDS)}"
        ) from None
    return backend(settings)
