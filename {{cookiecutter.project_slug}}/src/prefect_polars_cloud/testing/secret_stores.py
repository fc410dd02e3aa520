"""Each secret backend's store of the service account, as the tests fill and empty it.

The settings' variables are named with the current project's prefix
(`prefect_polars_cloud.config.project.env_prefix`): the same stores serve any project.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3

from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.credentials import service_account as credentials
from prefect_polars_cloud.testing.values import CLIENT_ID, CLIENT_SECRET, DOCUMENT


@dataclass
class SecretStore:
    """Where one backend keeps the service account; select() points the settings at it."""

    backend: str
    monkeypatch: Any  # a pytest.MonkeyPatch: its changes end with the test
    name: str = field(default_factory=lambda: f"polars-cloud-{uuid.uuid4().hex[:10]}")

    def select(self) -> SecretStore:
        """Point the project's settings at this backend and name."""
        prefix = env_prefix()
        self.monkeypatch.setenv(f"{prefix}SECRET_BACKEND", self.backend)
        self.monkeypatch.setenv(f"{prefix}SECRET_NAME", self.name)
        self.monkeypatch.setenv(f"{prefix}AWS_REGION", "us-east-1")
        return self

    def put(self) -> None:
        """Store the test account where the backend reads it."""
        if self.backend == "env":
            self.monkeypatch.setenv("POLARS_CLOUD_CLIENT_ID", CLIENT_ID)
            self.monkeypatch.setenv("POLARS_CLOUD_CLIENT_SECRET", CLIENT_SECRET)
        elif self.backend == "prefect-secret":
            from prefect.blocks.system import Secret

            Secret(value=json.loads(DOCUMENT)).save(self.name, overwrite=True)
        else:  # both AWS backends keep the value in Secrets Manager
            boto3.client("secretsmanager").create_secret(Name=self.name, SecretString=DOCUMENT)

    def remove(self) -> None:
        """Delete the stored account."""
        if self.backend == "env":
            self.monkeypatch.delenv("POLARS_CLOUD_CLIENT_ID", raising=False)
            self.monkeypatch.delenv("POLARS_CLOUD_CLIENT_SECRET", raising=False)
        elif self.backend == "prefect-secret":
            from prefect.blocks.system import Secret

            Secret.delete(self.name)
        else:
            boto3.client("secretsmanager").delete_secret(
                SecretId=self.name, ForceDeleteWithoutRecovery=True
            )

    @property
    def missing_hint(self) -> str:
        """What `make doctor` must name once the secret is gone."""
        if self.backend == "env":
            return "POLARS_CLOUD_CLIENT_ID and POLARS_CLOUD_CLIENT_SECRET are not set"
        if self.backend == "prefect-secret":
            return f"Secret block {self.name!r} does not exist"
        return f"secret {self.name!r} in us-east-1 does not exist"


def count_secret_reads(monkeypatch: Any) -> list[str]:  # noqa: ANN401 - a pytest.MonkeyPatch
    """Record every GetSecretValue call the credentials module makes from now on."""
    reads: list[str] = []
    build_client = credentials.secrets_manager_client

    def counting_client(settings: object) -> object:
        client = build_client(settings)  # type: ignore[arg-type]
        client.meta.events.register(
            "before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read")
        )
        return client

    monkeypatch.setattr(credentials, "secrets_manager_client", counting_client)
    return reads
