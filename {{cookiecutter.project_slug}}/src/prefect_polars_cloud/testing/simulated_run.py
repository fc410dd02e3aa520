"""`make run CLOUD=sim FLOW=...`: a flow on the cloud code path, with Polars Cloud simulated.

Everything the deployed flow does in cloud mode runs for real: the service account is read, the
real polars_cloud client authenticates, starts one cluster per preset, sends each query and
stops the clusters. Only Polars Cloud's server side is simulated (polars_cloud_sim.py): it runs
each query on local Polars. The inputs are uploaded to an S3 server in this process (moto), and
the summarised output is copied back to data/output/simulated/. An Iceberg output is committed to
a throwaway SQLite catalog whose warehouse is on that S3 (whatever catalog is configured is left
alone), and its rows are copied back by day too. Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import socket
import sys
import uuid
from pathlib import Path

import boto3
import polars as pl
import pytest
from moto.server import ThreadedMotoServer

from prefect_polars_cloud.compute.manifests import register_all
from prefect_polars_cloud.compute.presets import load_presets
from prefect_polars_cloud.config.datasets import Datasets
from prefect_polars_cloud.config.days import describe
from prefect_polars_cloud.config.project import current, env_prefix, get_settings
from prefect_polars_cloud.local.options import OUTPUT_DIR, SAMPLE_DIR, add_day_options
from prefect_polars_cloud.local.runner import load_flow, prefect_api
from prefect_polars_cloud.local.sample_days import days_to_report, write_missing_sample
from prefect_polars_cloud.run.daily_run import last_summary
from prefect_polars_cloud.storage.files import list_keys
from prefect_polars_cloud.storage.iceberg.catalog import catalog_config, load, local_path
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

BANNER = "SIMULATION: Polars Cloud is simulated in this process; nothing is sent or billed."


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    """Run a flow of flows/ in cloud mode against the simulator and a local S3."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--flow", help="a module of flows/ (make run FLOW=...); default: the only one there is"
    )
    add_day_options(parser, " of missing sample data")
    args = parser.parse_args()
    flow = load_flow(args.flow)
    write_missing_sample(SAMPLE_DIR, args.days, args.rows)
    days = days_to_report(SAMPLE_DIR, args.start, args.end)

    print(BANNER)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log: noise here
    port = free_port()
    s3_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    s3_server.start()
    patch = pytest.MonkeyPatch()
    try:
        # A throwaway account the simulator accepts: no real credential is needed or read.
        account = {"client_id": f"sim-{uuid.uuid4().hex[:8]}", "client_secret": secrets.token_hex()}
        for name, value in {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "simulated",
            "AWS_SECRET_ACCESS_KEY": "simulated",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ALLOW_HTTP": "true",
            f"{env_prefix()}COMPUTE_MODE": "cloud",
            f"{env_prefix()}SECRET_BACKEND": "env",
            "POLARS_CLOUD_CLIENT_ID": account["client_id"],
            "POLARS_CLOUD_CLIENT_SECRET": account["client_secret"],
        }.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        sim = PolarsCloudSimulator(**account).install(patch)
        # What `make compute` would have registered, for presets with mode = "manifest".
        get_settings.cache_clear()  # read with the variables above
        settings = get_settings()
        presets = load_presets(settings)
        if any(preset.mode == "manifest" for preset in presets.values()):
            register_all(settings, presets, lambda line: print(f"simulated make compute: {line}"))
        bucket = "simulated-runs"
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=bucket)
        if current().datasets.tables:
            simulated_catalog(patch, settings.iceberg_catalog, f"s3://{bucket}/warehouse", port)
        for path in sorted(SAMPLE_DIR.rglob("*")):
            if path.is_file():
                s3.upload_file(str(path), bucket, f"raw/{path.relative_to(SAMPLE_DIR).as_posix()}")
        for folder in upload_outputs_read(flow, s3, bucket):
            print(f"uploaded {folder}/ (an output the flow reads) to the simulated S3")

        output_uri = f"s3://{bucket}/reports"
        with prefect_api():  # as `make run`: the configured API, or a local server of its own
            report_uri = flow(
                start=days[0], end=days[-1], source_uri=f"s3://{bucket}/raw", output_uri=output_uri
            )
        # The output the flow's own run summarised (its datasets' report), else the project's.
        summarised = last_summary[-1].location if last_summary else report_uri
        report = summarised.rstrip("/").rsplit("/", 1)[-1]
        if summarised.startswith("iceberg://"):
            local_copy = copy_table_back(report, OUTPUT_DIR / "simulated")
            report = current().datasets.report.name
        else:
            local_copy = copy_back(s3, bucket, output_uri, report, OUTPUT_DIR / "simulated")
        print(f"\n{BANNER}")
        print(summary(sim))
        if last_summary and last_summary[-1].label:
            print(f"\n{last_summary[-1].markdown()}")
        print(f"{report} of {describe(days)} written to {report_uri} (simulated S3),")
        print(f"copied to {local_copy}/; its first rows:")
        print(pl.scan_parquet(f"{local_copy}/", hive_partitioning=True).head(10).collect())
    finally:
        patch.undo()
        s3_server.stop()
    return 0


def outputs_read(flow: object) -> list[str]:
    """Return the published outputs the flow's datasets read (inputs declared from_output)."""
    module = sys.modules[getattr(flow, "fn", flow).__module__]
    declared = [value for value in vars(module).values() if isinstance(value, Datasets)]
    folders = {
        item.folder
        for datasets in [*declared, current().datasets]
        for item in datasets.daily_inputs
        if item.from_output is not None
    }
    return sorted(folders)


def upload_outputs_read(flow: object, s3: object, bucket: str) -> list[str]:
    """Upload the local copies of the outputs the flow reads, as the deployed flow finds them.

    The simulated copy (data/output/simulated/, from `make run CLOUD=sim`) is preferred to the
    local run's (data/output/); an output in neither is left out, and the run names it.
    """
    uploaded = []
    for name in outputs_read(flow):
        copies = [folder / name for folder in (OUTPUT_DIR / "simulated", OUTPUT_DIR)]
        local = next((copy for copy in copies if copy.is_dir()), None)
        if local is None:
            continue
        for path in sorted(local.rglob("*.parquet")):
            if any(part.startswith((".", "_")) for part in path.relative_to(local).parts):
                continue  # a write in progress, or staging
            key = f"reports/{name}/{path.relative_to(local).as_posix()}"
            s3.upload_file(str(path), bucket, key)  # type: ignore[attr-defined]
        uploaded.append(str(local))
    return uploaded


def copy_back(s3: object, bucket: str, output_uri: str, name: str, folder: Path) -> Path:
    """Download an output's day folders from the in-process S3, replacing an earlier copy."""
    target, partial = folder / name, folder / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for key in list_keys(output_uri, f"{name}/"):
        local = partial / key.removeprefix(f"{name}/")
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, f"reports/{key}", str(local))  # type: ignore[attr-defined]
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def simulated_catalog(patch: pytest.MonkeyPatch, name: str, warehouse: str, port: int) -> None:
    """Point the catalog `name` at a fresh SQLite catalog whose warehouse is on the local S3.

    PYICEBERG_HOME is searched first: a .pyiceberg.yaml there hides the user's own (in the home
    or working directory), and the PYICEBERG_ variables are cleared, so no real catalog is used.
    """
    folder = (OUTPUT_DIR / "simulated" / "iceberg").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for variable in list(os.environ):
        if variable.upper().startswith("PYICEBERG_"):
            patch.delenv(variable)
    (folder / ".pyiceberg.yaml").write_text(
        "catalog:\n"
        f"  {name}:\n"
        "    type: sql\n"
        f"    uri: sqlite:///{folder / 'catalog.db'}\n"
        f"    warehouse: {warehouse}\n"
        f"    s3.endpoint: http://127.0.0.1:{port}\n",
        encoding="utf-8",
    )
    patch.setenv("PYICEBERG_HOME", str(folder))


def copy_table_back(identifier: str, folder: Path) -> Path:
    """Copy the simulated table's rows to folder/<report>/<key>=<day>/, replacing an old copy."""
    datasets = current().datasets
    table = load(catalog_config(get_settings())).load_table(identifier)
    rows = pl.scan_iceberg(table).collect()
    target = folder / datasets.report.name
    partial = folder / f".{datasets.report.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if rows.height:
        rows.write_parquet(local_path(str(partial)), partition_by=datasets.partition_key)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def summary(sim: PolarsCloudSimulator) -> str:
    """Say what the run asked of Polars Cloud: clusters, queries, simulated vCPU time."""
    lines = ["clusters (simulated):"]
    for cluster in sim.clusters.values():
        manifest = any(m.live_cluster_id == cluster.id for m in sim.manifests.values())
        state = (
            "stopped"
            if cluster.stopped_at
            else "left running (a manifest)"
            if manifest
            else "STILL RUNNING"
        )
        lines.append(
            f"  {cluster.preset:<6} {cluster.cpus} CPUs x {cluster.cluster_size} node(s), {state}"
        )
    lines.append("queries (simulated):")
    for query in sim.queries.values():
        mode = "distributed" if query.distributed else "single node"
        status = str(query.status).rsplit(".", 1)[-1]
        lines.append(f"  {query.cluster.preset:<6} {mode:<12} {status:<8} {query.sink}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
