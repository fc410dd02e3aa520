"""Fetch the Polars Cloud service account, once, from the configured secret backend.

One function per backend and a table from backend name to function. Each backend imports its
libraries lazily, so a project only needs the libraries of the backend it uses. Errors name the
backend and where it looked, never a value.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.config.settings import Settings

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


def decode_stored(raw: str | bytes | dict[str, object], where: str) -> object:
    """Decode what a secret store returned (bytes, JSON text, or an object already)."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        # `from None`: the decoder's error keeps the secret text as an attribute.
        raise CredentialsError(f"{where} is not JSON; {STORE_AS}") from None


def parse_service_account(raw: str | bytes | dict[str, object], where: str) -> ServiceAccount:
    """Validate the JSON object {"client_id": ..., "client_secret": ...} found at where."""
    raw = decode_stored(raw, where)
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
            f"with {env_prefix()}SECRET_BACKEND"
        )
    return ServiceAccount(
        client_id=values[CLIENT_ID_VARIABLE], client_secret=values[CLIENT_SECRET_VARIABLE]
    )


def missing_library(backend: str, module: str) -> CredentialsError:
    """Say which library a backend lacks and how to install it."""
    return CredentialsError(
        f"{backend} backend needs {module}, which is not installed; run "
        f'`uv sync --group {backend}` or add "{backend}" to default-groups in pyproject.toml'
    )


def block_name(secret_name: str) -> str:
    """Derive a valid Prefect block name (lowercase letters, digits, dashes) from a secret id."""
    return re.sub(r"[^a-z0-9]+", "-", secret_name.lower()).strip("-") or "polars-cloud"


# What to do about each Secrets Manager error code; `where` names the secret and region.
AWS_ERROR_ADVICE = {
    "ResourceNotFoundException": "does not exist; create it with `aws secretsmanager create-secret "
    "--name {name} --region {region} --secret-string file://service-account.json`",
    "AccessDeniedException": "cannot be read: access denied; grant secretsmanager:GetSecretValue "
    "on it, and kms:Decrypt for a customer-managed key",
    "DecryptionFailure": "cannot be decrypted with its KMS key; grant kms:Decrypt on that key to "
    "the role reading it",
    "ThrottlingException": "is throttled by Secrets Manager even after retries; try again later",
}
# AWS answers InvalidRequestException for a secret marked for deletion (among other causes).
SCHEDULED_FOR_DELETION = (
    "is scheduled for deletion; restore it with "
    "`aws secretsmanager restore-secret --secret-id {name} --region {region}`"
)


def _aws_error(error: Exception, where: str, settings: Settings) -> CredentialsError:
    """Explain a botocore error without quoting anything the response carried."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(error, NoCredentialsError):
        return CredentialsError(
            f"{where} cannot be read: no AWS credentials found; set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an IAM role"
        )
    if not isinstance(error, ClientError):
        return CredentialsError(
            f"{where} cannot be reached ({type(error).__name__}); "
            "check the network and AWS_ENDPOINT_URL"
        )
    code = error.response.get("Error", {}).get("Code", "Unknown")
    message = error.response.get("Error", {}).get("Message", "")
    if code == "InvalidRequestException" and "delet" in message.lower():
        advice = SCHEDULED_FOR_DELETION
    else:
        advice = AWS_ERROR_ADVICE.get(code, f"cannot be read ({code})")
    return CredentialsError(
        f"{where} " + advice.format(name=settings.secret_name, region=settings.aws_region)
    )


class RedactSecretResponses(logging.Filter):
    """At DEBUG, botocore logs every response body, GetSecretValue's plaintext included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Response body") and "Secret" in str(record.args):
            record.args = ("<a Secrets Manager response, redacted>",)
        return True


def hide_secret_responses_from_logs() -> None:
    """Install the redaction on botocore's response logger, once."""
    botocore_parsers = logging.getLogger("botocore.parsers")
    if not any(isinstance(f, RedactSecretResponses) for f in botocore_parsers.filters):
        botocore_parsers.addFilter(RedactSecretResponses())


def secrets_manager_client(settings: Settings) -> Any:  # noqa: ANN401 - a boto3 client
    """Build a Secrets Manager client that retries throttling (standard retry mode)."""
    import boto3
    from botocore.config import Config

    hide_secret_responses_from_logs()
    retries = Config(retries={"mode": "standard", "max_attempts": 5})
    return boto3.client("secretsmanager", region_name=settings.aws_region, config=retries)


def read_aws_secrets_manager(settings: Settings) -> tuple[str | bytes, str]:
    """Return the secret's raw value with one GetSecretValue call, and where it was read."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise missing_library("aws-secrets-manager", "boto3") from None
    where = f"aws-secrets-manager backend: secret {settings.secret_name!r} in {settings.aws_region}"
    try:
        response = secrets_manager_client(settings).get_secret_value(SecretId=settings.secret_name)
    except (BotoCoreError, ClientError) as error:
        raise _aws_error(error, where, settings) from None
    return response.get("SecretString") or response.get("SecretBinary", b""), where


def from_aws_secrets_manager(settings: Settings) -> ServiceAccount:
    """Read both values with one GetSecretValue call."""
    return parse_service_account(*read_aws_secrets_manager(settings))


def _prefect_api_error(error: Exception, where: str) -> CredentialsError:
    from prefect.settings import PREFECT_API_URL

    return CredentialsError(
        f"{where} cannot be read: the Prefect API at {PREFECT_API_URL.value() or '(embedded)'} "
        f"is unreachable ({type(error).__name__}); start it or set PREFECT_API_URL"
    )


def _load_block(block_type: type, name: str, where: str) -> Any:  # noqa: ANN401 - a Block
    """Load a block, telling a missing block apart from an unreachable API."""
    import httpx

    try:
        return block_type.load(name)
    except ValueError:
        raise CredentialsError(f"{where} does not exist; create it with `make blocks`") from None
    except (httpx.HTTPError, OSError) as error:
        raise _prefect_api_error(error, where) from None


def read_prefect_secret(settings: Settings) -> tuple[Any, str]:
    """Return the value kept in the Prefect Secret block named secret_name, and where."""
    from prefect.blocks.system import Secret

    where = f"prefect-secret backend: Secret block {settings.secret_name!r}"
    return _load_block(Secret, settings.secret_name, where).get(), where


def from_prefect_secret(settings: Settings) -> ServiceAccount:
    """Read the JSON object kept in a Prefect Secret block named secret_name."""
    return parse_service_account(*read_prefect_secret(settings))


def read_aws_secret_block(settings: Settings) -> tuple[str | bytes, str]:
    """Return the secret's raw value through prefect-aws's AwsSecret block, and where."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError
        from prefect_aws.secrets_manager import AwsSecret
    except ImportError:
        raise missing_library("aws-secret-block", "prefect-aws") from None
    name = block_name(settings.secret_name)
    where = f"aws-secret-block backend: AwsSecret block {name!r}"
    block = _load_block(AwsSecret, name, where)
    secret = f"secret {block.secret_name!r} in {settings.aws_region}"
    where = f"aws-secret-block backend (block {name!r}): {secret}"
    hide_secret_responses_from_logs()
    try:
        return block.read_secret(), where
    except (BotoCoreError, ClientError) as error:
        raise _aws_error(error, where, settings) from None


def from_aws_secret_block(settings: Settings) -> ServiceAccount:
    """Read the secret through prefect-aws's AwsSecret block (it returns the raw string)."""
    return parse_service_account(*read_aws_secret_block(settings))


BACKENDS: dict[str, Callable[[Settings], ServiceAccount]] = {
    "env": from_env,
    "aws-secrets-manager": from_aws_secrets_manager,
    "prefect-secret": from_prefect_secret,
    "aws-secret-block": from_aws_secret_block,
}


# The stores that keep one JSON object, read whole: other keys may sit beside the account's.
RAW_READERS: dict[str, Callable[[Settings], tuple[Any, str]]] = {
    "aws-secrets-manager": read_aws_secrets_manager,
    "prefect-secret": read_prefect_secret,
    "aws-secret-block": read_aws_secret_block,
}


def fetch_optional_text(settings: Settings, key: str) -> str | None:
    """Return one more text value kept in the backend's JSON object, or None where there is none.

    The env backend has no object to look in. A value that is not JSON says so without
    quoting anything it held.
    """
    reader = RAW_READERS.get(settings.secret_backend)
    if reader is None:
        return None
    raw, where = reader(settings)
    document = decode_stored(raw, where)
    value = document.get(key) if isinstance(document, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def fetch_service_account(settings: Settings) -> ServiceAccount:
    """Fetch the service account once from the configured backend."""
    try:
        backend = BACKENDS[settings.secret_backend]
    except KeyError:
        raise CredentialsError(
            f"secret backend {settings.secret_backend!r} is not available here; "
            f"set {env_prefix()}SECRET_BACKEND to one of {', '.join(BACKENDS)}"
        ) from None
    return backend(settings)
