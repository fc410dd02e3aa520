"""One cloud-mode flow run on the simulator, in a process of its own, for tests that signal it.

    python -m tests.signal_runner CALLS_JSONL S3_BASE [--boot-seconds S] [--hang PRESET]

The simulator appends each call it receives to CALLS_JSONL (one JSON object a line): the test
reads it to know when to send its signal. Whatever ends the run, the clusters' fates are written
last to CALLS_JSONL.clusters.json: booted or not, stopped or not. Needs PREFECT_API_URL, the
AWS_* variables of the S3 server holding S3_BASE/raw, COMPUTE_MODE=cloud with the env backend,
and the simulator's account in POLARS_CLOUD_CLIENT_ID and POLARS_CLOUD_CLIENT_SECRET.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator


def main() -> None:
    """Run the flow for one day on the simulator; record the clusters however it ends."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("calls", type=Path)
    parser.add_argument("base", help="s3://bucket holding raw/")
    parser.add_argument("--boot-seconds", type=float, default=0.0)
    parser.add_argument("--hang", help="the preset whose queries run until cancelled")
    args = parser.parse_args()
    sim = PolarsCloudSimulator(
        client_id=os.environ["POLARS_CLOUD_CLIENT_ID"],
        client_secret=os.environ["POLARS_CLOUD_CLIENT_SECRET"],
        boot_seconds=args.boot_seconds,
        log=args.calls,
    )
    if args.hang:
        sim.script(lambda query: query.cluster.preset == args.hang, "hang")
    sim.install(pytest.MonkeyPatch())
    # Prefect handles SIGTERM during the flow, then signals the process again to end it with
    # the previous handler: let that be an exit that runs the `finally` below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    from flows.daily_report import daily_report

    try:
        daily_report(
            start="2026-11-01", source_uri=f"{args.base}/raw", output_uri=f"{args.base}/reports"
        )
    finally:
        fates = [
            {"preset": c.preset, "booted": c.booted_at is not None, "stopped": bool(c.stopped_at)}
            for c in sim.clusters.values()
        ]
        Path(f"{args.calls}.clusters.json").write_text(json.dumps(fates))


if __name__ == "__main__":
    main()
