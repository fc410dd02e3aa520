"""The AWS Secrets Manager and Prefect Secret backends against real stores on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest
from botocore.stub import Stubber
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_polars_cloud.credentials import service_account as credentials
from prefect_polars_cloud.credentials.service_account import CredentialsError, fetch_service_account
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET
from prefect_polars_cloud.testing.values import DOCUMENT

from support import shown
from toy_pipeline.project import Settings


def aws_settings(name: str) -> Settings:
    return Settings(secret_backend="aws-secrets-manager", secret_name=name, aws_region="us-east-1")


@pytest.fixture
def secret_id(aws: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A secret name unique to the test, removed afterwards."""
    name = f"polars-cloud/{request.node.name}"[:200]
    yield name
    client = boto3.client("secretsmanager")
    try:
        client.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)
    except client.exceptions.ResourceNotFoundException:
        pass


def test_aws_secrets_manager_reads_both_values(secret_id: str) -> None:
    boto3.client("secretsmanager").create_secret(Name=secret_id, SecretString=DOCUMENT)

    account = fetch_service_account(aws_settings(secret_id))

    assert (account.client_id, account.client_secret) == (CLIENT_ID, CLIENT_SECRET)


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (None, "does not exist; create it with `aws secretsmanager create-secret --name"),
        (f"{CLIENT_SECRET} not json", "is not JSON"),
        (json.dumps({"client_id": CLIENT_ID}), "lacks client_secret"),
        (
            "deleted",
            "is scheduled for deletion; restore it with `aws secretsmanager restore-secret",
        ),
    ],
    ids=["missing", "not-json", "missing-key", "scheduled-for-deletion"],
)
def test_aws_secrets_manager_explains_each_failure(
    secret_id: str, stored: str | None, reason: str
) -> None:
    client = boto3.client("secretsmanager")
    if stored == "deleted":
        client.create_secret(Name=secret_id, SecretString=DOCUMENT)
        client.delete_secret(SecretId=secret_id, RecoveryWindowInDays=7)
    elif stored is not None:
        client.create_secret(Name=secret_id, SecretString=stored)

    with pytest.raises(CredentialsError, match=reason) as raised:
        fetch_service_account(aws_settings(secret_id))

    assert f"secret {secret_id!r} in us-east-1" in str(raised.value)
    assert CLIENT_SECRET not in shown(raised.value) and CLIENT_ID not in shown(raised.value)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("AccessDeniedException", "grant secretsmanager:GetSecretValue on it, and kms:Decrypt"),
        ("DecryptionFailure", "grant kms:Decrypt on that key"),
        ("ThrottlingException", "throttled by Secrets Manager even after retries"),
    ],
)
def test_aws_errors_say_what_to_grant(
    monkeypatch: pytest.MonkeyPatch, code: str, reason: str
) -> None:
    client = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    stubber = Stubber(client)
    stubber.add_client_error("get_secret_value", code, http_status_code=400)
    stubber.activate()
    monkeypatch.setattr(credentials, "secrets_manager_client", lambda settings: client)

    with pytest.raises(CredentialsError, match=reason):
        fetch_service_account(aws_settings("polars-cloud-service-account"))


class ThrottleTwice(BaseHTTPRequestHandler):
    """Answer GetSecretValue with two throttling errors, then the secret."""

    requests = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests += 1
        if type(self).requests <= 2:
            status, body = 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        else:
            body = {
                "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf",
                "Name": "s",
                "SecretString": DOCUMENT,
            }
            status = 200
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def test_throttling_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    server = HTTPServer(("127.0.0.1", 0), ThrottleTwice)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        account = fetch_service_account(aws_settings("s"))
    finally:
        server.shutdown()
        server.server_close()

    assert account.client_secret == CLIENT_SECRET
    assert ThrottleTwice.requests == 3


def test_prefect_secret_reads_the_block(prefect_api: str) -> None:
    Secret(value={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).save(
        "polars-cloud-test-block", overwrite=True
    )

    settings = Settings(secret_backend="prefect-secret", secret_name="polars-cloud-test-block")
    account = fetch_service_account(settings)

    assert (account.client_id, account.client_secret) == (CLIENT_ID, CLIENT_SECRET)


def test_prefect_secret_names_a_missing_block(prefect_api: str) -> None:
    settings = Settings(secret_backend="prefect-secret", secret_name="no-such-block")

    with pytest.raises(
        CredentialsError,
        match="Secret block 'no-such-block' does not exist; create it with `make blocks`",
    ):
        fetch_service_account(settings)


def test_prefect_secret_says_when_the_api_is_unreachable(prefect_api: str) -> None:
    settings = Settings(secret_backend="prefect-secret", secret_name="any-block")

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        with pytest.raises(
            CredentialsError, match="Prefect API at http://127.0.0.1:9/api is unreachable"
        ):
            fetch_service_account(settings)


def test_a_backend_without_its_library_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "prefect_aws", None)
    monkeypatch.setitem(__import__("sys").modules, "prefect_aws.secrets_manager", None)
    settings = Settings(secret_backend="aws-secret-block")

    with pytest.raises(CredentialsError, match="uv sync --group aws-secret-block"):
        fetch_service_account(settings)
