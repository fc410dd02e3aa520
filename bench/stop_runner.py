"""One cloud-mode run of the baked project's flow on its simulator, for bench/stops.py to signal.

Run from a baked project's root, with it on the path:
    PYTHONPATH=. .venv/bin/python .../bench/stop_runner.py CALLS_JSONL SAMPLE_DIR [options]

Uploads SAMPLE_DIR (the project's sample data) to a fresh bucket, then runs the flow in cloud
mode. The project's own simulator (prefect_polars_cloud/testing/polars_cloud_sim.py, below the real polars_cloud
client) appends each call it receives to CALLS_JSONL: that is how the bench knows when to send
its signal, and what was started, cancelled and stopped; however the run ends, each cluster's
fate (booted or not, stopped or not) is written last to CALLS_JSONL.clusters.json. Needs PREFECT_API_URL, the AWS_*
variables of an S3 server, the simulator's account in POLARS_CLOUD_CLIENT_ID and
POLARS_CLOUD_CLIENT_SECRET, and the project's COMPUTE_MODE=cloud and SECRET_BACKEND=env.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import boto3
import pytest

try:
    from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator
except ImportError:  # a bake from before the library moved (the benchmark's baseline)
    from tests.polars_cloud_sim import PolarsCloudSimulator  # type: ignore[no-redef]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("calls", type=Path)
    parser.add_argument("sample", type=Path, help="the sample data to upload")
    parser.add_argument("--day", required=True, help="the day to report, YYYY-MM-DD")
    parser.add_argument("--boot-seconds", type=float, default=0.0)
    parser.add_argument("--query-seconds", type=float, default=0.0)
    args = parser.parse_args()
    sim = PolarsCloudSimulator(
        client_id=os.environ["POLARS_CLOUD_CLIENT_ID"],
        client_secret=os.environ["POLARS_CLOUD_CLIENT_SECRET"],
        boot_seconds=args.boot_seconds,
        query_seconds=args.query_seconds,
        log=args.calls,
    ).install(pytest.MonkeyPatch())
    # Prefect handles SIGTERM during the flow, then signals the process again to end it with
    # the previous handler: let that be an exit that runs the `finally` below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    bucket = f"stops-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in sorted(args.sample.rglob("*.*")):
        s3.upload_file(str(path), bucket, f"raw/{path.relative_to(args.sample).as_posix()}")
    from flows.daily_report import daily_report

    base = f"s3://{bucket}"
    try:
        daily_report(start=args.day, source_uri=f"{base}/raw", output_uri=f"{base}/reports")
    finally:
        fates = [{"booted": c.booted_at is not None, "stopped": bool(c.stopped_at)} for c in sim.clusters.values()]
        Path(f"{args.calls}.clusters.json").write_text(json.dumps(fates))


if __name__ == "__main__":
    main()
