"""One cloud-mode run of the baked project's flow on its simulator, for bench/stops.py to signal.

Run from a baked project's root, with it on the path:
    PYTHONPATH=. .venv/bin/python .../bench/stop_runner.py CALLS_JSONL SAMPLE_DIR --start DAY
        [--end DAY] [--boot-seconds S] [--query-seconds S] [--hang PRESET] [--slow-publish S]

Uploads SAMPLE_DIR (the project's sample data) to a fresh bucket, then runs the flow in cloud
mode, as a user's script would: nothing here handles a signal. The project's own simulator
(prefect_polars_cloud/testing/polars_cloud_sim.py, below the real polars_cloud client) appends
each call it receives to CALLS_JSONL: that is how the bench knows when to send its signal, and
what was started, cancelled and stopped. A stopped run may end with os._exit, skipping any
`finally`, so the log is what the bench reads: today's simulator writes the wall-clock time of
each call and, for a stop, whether the cluster had booted. An older bake's log says neither;
for it, each cluster's fate (booted or not, stopped or not) is also written to
CALLS_JSONL.clusters.json when the run ends by an exception. Without PREFECT_API_URL the flow
runs on Prefect's temporary server. Needs the AWS_* variables of an S3 server, the simulator's
account in POLARS_CLOUD_CLIENT_ID and POLARS_CLOUD_CLIENT_SECRET, and the project's
COMPUTE_MODE=cloud and SECRET_BACKEND=env. --hang PRESET makes that preset's queries run until
cancelled; --slow-publish S makes each day's publish take S seconds longer, logged as
"publish day" (an object store slower than the loopback one).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

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
    parser.add_argument("--start", required=True, help="the first day to report, YYYY-MM-DD")
    parser.add_argument("--end", help="the last day to report (default: --start)")
    parser.add_argument("--boot-seconds", type=float, default=0.0)
    parser.add_argument("--query-seconds", type=float, default=0.0)
    parser.add_argument("--hang", help="the preset whose queries run until cancelled")
    parser.add_argument("--slow-publish", type=float, default=0.0)
    args = parser.parse_args()
    sim = PolarsCloudSimulator(
        client_id=os.environ["POLARS_CLOUD_CLIENT_ID"],
        client_secret=os.environ["POLARS_CLOUD_CLIENT_SECRET"],
        boot_seconds=args.boot_seconds,
        query_seconds=args.query_seconds,
        log=args.calls,
    )
    if args.hang:
        sim.script(lambda query: query.cluster.preset == args.hang, "hang")
    sim.install(pytest.MonkeyPatch())
    if args.slow_publish:
        slow_down_publish(sim, args.slow_publish)
    bucket = f"stops-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in sorted(args.sample.rglob("*.*")):
        s3.upload_file(str(path), bucket, f"raw/{path.relative_to(args.sample).as_posix()}")
    from flows.daily_report import daily_report

    base = f"s3://{bucket}"
    try:
        daily_report(start=args.start, end=args.end or args.start, source_uri=f"{base}/raw", output_uri=f"{base}/reports")
    finally:  # an older bake's fates; a stop that ends the process with os._exit skips this
        fates = [{"preset": c.preset, "booted": c.booted_at is not None, "stopped": bool(c.stopped_at)} for c in sim.clusters.values()]
        Path(f"{args.calls}.clusters.json").write_text(json.dumps(fates))


def slow_down_publish(sim: PolarsCloudSimulator, seconds: float) -> None:
    """Log each day's publish, then carry it out `seconds` later (the baseline's module too)."""
    from prefect_polars_cloud.storage import publish

    publish_day = publish.publish_day

    def slow(*args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - publish_day's own
        sim.record("publish day")
        time.sleep(seconds)
        publish_day(*args, **kwargs)

    publish.publish_day = slow  # type: ignore[assignment]


if __name__ == "__main__":
    main()
