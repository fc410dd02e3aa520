"""Count GetSecretValue calls in one cloud-mode flow run (moto server, polars_cloud doubled).

Run inside a baked aws-secrets-manager project: python secret_fetches.py PROJECT_DIR
Prints the count on the last line.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

from loopback import free_port, serving  # bench/, on sys.path as the script's folder


def main(project: Path) -> int:
    """Start moto, store a secret and the inputs, run the flow once, count the reads."""
    sys.path[:0] = [str(project)]
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with serving(moto, f"{endpoint}/moto-api/"):
        os.environ.update(
            AWS_ENDPOINT_URL=endpoint,
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",  # noqa: S105 - moto's throwaway key
            AWS_REGION="us-east-1",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ALLOW_HTTP="true",
        )
        return count_reads(project)


def count_reads(project: Path) -> int:
    import boto3
    import pytest

    from tests.polars_cloud_double import PolarsCloudDouble

    package = next(p.name for p in (project / "src").iterdir() if (p / "credentials.py").exists())
    credentials = __import__(f"{package}.credentials", fromlist=["x"])
    settings = __import__(f"{package}.settings", fromlist=["x"])
    sample_data = __import__(f"{package}.sample_data", fromlist=["x"])

    bucket, secret = f"bench-{uuid.uuid4().hex[:8]}", "bench/polars-cloud"
    boto3.client("s3").create_bucket(Bucket=bucket)
    boto3.client("secretsmanager").create_secret(
        Name=secret, SecretString=json.dumps({"client_id": "bench-id", "client_secret": "bench-secret"})
    )
    inputs = sample_data.write_sample_data(project / "data" / "bench-secret-fetches", rows=1_000)
    for name in ("orders.csv", "customers.ndjson"):
        boto3.client("s3").upload_file(str(inputs / name), bucket, f"raw/{name}")

    prefix = settings.ENV_PREFIX
    os.environ.update(
        {f"{prefix}COMPUTE_MODE": "cloud", f"{prefix}SECRET_BACKEND": "aws-secrets-manager", f"{prefix}SECRET_NAME": secret}
    )
    reads: list[str] = []
    build_client = credentials.secrets_manager_client

    def counting_client(current: object) -> object:
        client = build_client(current)
        client.meta.events.register("before-call.secrets-manager.GetSecretValue", lambda **_: reads.append("read"))
        return client

    patcher = pytest.MonkeyPatch()
    PolarsCloudDouble().install(patcher)
    patcher.setattr(credentials, "secrets_manager_client", counting_client)
    from flows.daily_report import daily_report

    daily_report(source_uri=f"s3://{bucket}/raw", output_uri=f"s3://{bucket}/reports")
    patcher.undo()
    print(len(reads))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
