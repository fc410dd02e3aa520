"""Count GetSecretValue calls in one cloud-mode flow run (moto server, Polars Cloud simulated).

Run inside a baked aws-secrets-manager project: python secret_fetches.py PROJECT_DIR
Prints the count on the last line.
"""

from __future__ import annotations

import sys
import uuid
from datetime import date
from pathlib import Path

from loopback import moto_s3  # bench/, on sys.path as the script's folder


def main(project: Path) -> int:
    """Start moto, store a secret and the inputs, run the flow once, count the reads."""
    sys.path[:0] = [str(project)]
    with moto_s3():
        return count_reads(project)


def count_reads(project: Path) -> int:
    """Store the secret and the inputs, run the flow once in cloud mode, print the reads."""
    import boto3
    import pytest

    from prefect_polars_cloud.config.project import env_prefix
    from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator
    from prefect_polars_cloud.testing.secret_stores import SecretStore, count_secret_reads
    from prefect_polars_cloud.testing.values import CLIENT_ID, CLIENT_SECRET

    package = next(p.name for p in (project / "src").iterdir() if (p / "project.py").exists())
    sample_data = __import__(f"{package}.sample_data", fromlist=["write_sample_data"])
    patcher = pytest.MonkeyPatch()
    SecretStore("aws-secrets-manager", patcher).select().put()
    patcher.setenv(f"{env_prefix()}COMPUTE_MODE", "cloud")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("s3").create_bucket(Bucket=bucket)
    day = date(2026, 11, 1)
    inputs = sample_data.write_sample_data(project / "data" / "bench-secret-fetches", [day], rows=1_000)
    for path in inputs.rglob("*.*"):
        boto3.client("s3").upload_file(str(path), bucket, f"raw/{path.relative_to(inputs).as_posix()}")
    PolarsCloudSimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET).install(patcher)
    reads = count_secret_reads(patcher)
    from flows.daily_report import daily_report

    daily_report(start=day, source_uri=f"s3://{bucket}/raw", output_uri=f"s3://{bucket}/reports")
    patcher.undo()
    print(len(reads))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
