"""A user's script: a flow called directly in cloud mode, on the simulator, for stop tests.

    python -m prefect_polars_cloud.testing.flow_script CALLS_JSONL S3_BASE [--flow NAME]
        [--boot-seconds S] [--hang PRESET] [--start DAY] [--end DAY] [--slow-publish S]

Run from the project's folder: NAME is flows/NAME.py's flow (default: the only module there).
Nothing here handles a signal: the run must stop its compute however it was started. The
simulator appends each call it receives to CALLS_JSONL (one JSON object a line, with the wall
clock time and, for a stop, whether the cluster had booted): the test reads it to know when to
signal and what was stopped, since a stopped run may end without running any `finally`. Without
PREFECT_API_URL the flow runs on Prefect's temporary server. Needs the AWS_* variables of the S3
server holding S3_BASE/raw, COMPUTE_MODE=cloud with the env backend, and the simulator's account
in POLARS_CLOUD_CLIENT_ID and POLARS_CLOUD_CLIENT_SECRET. --slow-publish makes each day's publish
take S seconds longer (an object store slower than the loopback one), logged as "publish day".
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import pytest

from prefect_polars_cloud.local.runner import load_flow
from prefect_polars_cloud.operations.names import default_flow_module
from prefect_polars_cloud.storage import publish
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator


def main() -> None:
    """Run the flow on the simulator, as a script of the user's would."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("calls", type=Path)
    parser.add_argument("base", help="s3://bucket holding raw/")
    parser.add_argument("--flow", help="the module of flows/ to run (default: the only one)")
    parser.add_argument("--boot-seconds", type=float, default=0.0)
    parser.add_argument("--hang", help="the preset whose queries run until cancelled")
    parser.add_argument("--start", default="2026-11-01")
    parser.add_argument("--end")
    parser.add_argument("--slow-publish", type=float, default=0.0)
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
    if args.slow_publish:
        slow_down_publish(sim, args.slow_publish)
    flow = load_flow(args.flow or default_flow_module())
    flow(
        start=args.start,
        end=args.end,
        source_uri=f"{args.base}/raw",
        output_uri=f"{args.base}/reports",
    )


def slow_down_publish(sim: PolarsCloudSimulator, seconds: float) -> None:
    """Log each day's publish, then carry it out `seconds` later."""
    publish_day = publish.publish_day

    def slow(*args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - publish_day's own
        sim.record("publish day")
        time.sleep(seconds)
        publish_day(*args, **kwargs)

    publish.publish_day = slow  # type: ignore[assignment]


if __name__ == "__main__":
    main()
