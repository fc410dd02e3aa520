"""Cluster lifecycles side by side: the real flow (and the docs' sketch) on simulated Polars Cloud.

Run from a baked project's root, with it on the path, against a running Prefect server:
    PREFECT_API_URL=... PYTHONPATH=. .venv/bin/python .../bench/sim_scenarios.py RESULTS_JSON

Each measurement gets a fresh simulator (prefect_polars_cloud/testing/polars_cloud_sim.py below the real polars_cloud
client, with boot and query latency: bench/sim_lab.py) and runs the project's `daily_report`
flow, or the docs' sketch (bench/seed_flow.py), in cloud mode against one moto S3. A scenario is
one entry in SCENARIOS: its name, what it shows, its settings and a function making its runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

# bench/, on sys.path as the script's folder; sim_lab imports the project's simulator.
from loopback import moto_s3
from sim_lab import (
    ACCOUNT,
    REAL_BOOT_SECONDS,
    REAL_QUERY_SECONDS,
    Lab,
    Scenario,
    measure,
    measure_scenario,
)

FIRST_DAY = date(2026, 11, 1)


def expect_failure(run: Callable[[], None]) -> int:
    """Make one run that must fail (its large query is scripted to); return 1."""
    try:
        run()
    except Exception:  # noqa: BLE001 - any failure is the scripted one; a success is the bug
        return 1
    raise RuntimeError("the run succeeded although its large query was scripted to fail")


def last_day(lab: Lab, output_uri: str) -> int:
    lab.daily_report(output_uri, lab.days[-1])
    return 1


def last_day_failing(lab: Lab, output_uri: str) -> int:
    return expect_failure(lambda: lab.daily_report(output_uri, lab.days[-1]))


def sketch_day(lab: Lab, output_uri: str) -> int:
    lab.seed(output_uri, lab.days[-1])
    return 1


def sketch_day_failing(lab: Lab, output_uri: str) -> int:
    return expect_failure(lambda: lab.seed(output_uri, lab.days[-1]))


def backfill_one_run(lab: Lab, output_uri: str) -> int:
    lab.daily_report(output_uri, lab.days[0], lab.days[-1])
    return 1


def backfill_daily_runs(lab: Lab, output_uri: str) -> int:
    for day in lab.days:
        lab.daily_report(output_uri, day)
    return len(lab.days)


def daily_runs_on_manifests(lab: Lab, output_uri: str) -> int:
    """Register both presets as manifests (`make compute`), then one run per day."""
    settings = lab.module("settings").get_settings()
    presets = lab.module("presets").load_presets(settings)
    lab.module("manifests").register_all(settings, presets, lambda line: None)
    return backfill_daily_runs(lab, output_uri)


def scenarios() -> list[Scenario]:
    """The report's lines, in its order (a new scenario is one more entry)."""
    first_use = {"BOOT_ALL_AT_START": "false"}
    return [
        Scenario(
            "sketch",
            "the docs' sketch: contexts up front, boots in sequence",
            sketch_day,
        ),
        Scenario(
            "sketch, large query fails",
            "its stops are never reached",
            sketch_day_failing,
            large_query_fails=True,
        ),
        Scenario("default", "BOOT_ALL_AT_START=true: the boots side by side", last_day),
        Scenario(
            "default, large query fails",
            "the session stops what it started",
            last_day_failing,
            large_query_fails=True,
        ),
        Scenario(
            "boot on first use",
            "BOOT_ALL_AT_START=false: one boot after the other",
            last_day,
            first_use,
        ),
        Scenario(
            "backfill, one run",
            "the month in one run: each preset boots once",
            backfill_one_run,
        ),
        Scenario(
            "backfill, daily runs",
            "the month as one run per day",
            backfill_daily_runs,
            repeats=1,
        ),
        Scenario(
            "backfill, daily runs, manifests",
            "the same runs on two manifests: each joins the clusters left running",
            daily_runs_on_manifests,
            {"PRESET_SMALL_MODE": "manifest", "PRESET_LARGE_MODE": "manifest"},
            repeats=1,
        ),
    ]


def upload_inputs(lab: Lab, rows: int) -> None:
    """Write rows orders a day for lab.days and put them under lab.source_uri."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=lab.bucket)
    with tempfile.TemporaryDirectory() as scratch:
        folder = lab.module("sample_data").write_sample_data(Path(scratch), lab.days, rows=rows)
        for path in sorted(folder.rglob("*.*")):
            s3.upload_file(str(path), lab.bucket, f"raw/{path.relative_to(folder).as_posix()}")


def run_all(lab: Lab, only: list[str] | None, rows: int) -> list[dict[str, object]]:
    """Upload the inputs, warm up, and measure each chosen scenario."""
    prefix = lab.module("settings").ENV_PREFIX
    os.environ.update(
        {
            f"{prefix}COMPUTE_MODE": "cloud",
            f"{prefix}SECRET_BACKEND": "env",  # the simulator's account, from these two:
            "POLARS_CLOUD_CLIENT_ID": ACCOUNT["client_id"],
            "POLARS_CLOUD_CLIENT_SECRET": ACCOUNT["client_secret"],
        }
    )
    upload_inputs(lab, rows)
    # Unmeasured: the first run of each flow pays imports and the flow's registration.
    for warm_up in [s for s in scenarios() if s.name in ("sketch", "default")]:
        measure(lab, warm_up, prefix, latency=False)
    results = []
    chosen = [s for s in scenarios() if not only or s.name in only]
    for scenario in chosen:
        results.append(measure_scenario(lab, scenario, prefix))
        print(
            f"  {scenario.name}: {results[-1]['seconds']:.1f} s, {results[-1]['boots']} boots",
            flush=True,
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", type=Path)
    parser.add_argument(
        "--scale", type=float, default=0.01, help="simulated seconds per real second"
    )
    parser.add_argument("--days", type=int, default=30, help="days of the backfill")
    parser.add_argument("--rows", type=int, default=1_000, help="orders a day")
    parser.add_argument("--only", nargs="+", help="scenario names (default: all)")
    args = parser.parse_args()
    package = next(p.name for p in Path("src").iterdir() if p.name != "prefect_polars_cloud" and (p / "datasets.py").exists())
    lab = Lab(package, [FIRST_DAY + timedelta(days=n) for n in range(args.days)], args.scale)
    with moto_s3():
        results = run_all(lab, args.only, args.rows)
    latencies = {
        "scale": args.scale,
        "boot_s": REAL_BOOT_SECONDS,
        "query_s": REAL_QUERY_SECONDS,
    }
    args.results.write_text(
        json.dumps(
            {**latencies, "days": args.days, "rows": args.rows, "scenarios": results},
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
