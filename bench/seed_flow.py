"""The Polars Cloud docs' Prefect sketch (the "seed"), on the real polars_cloud client.

Its compute lifecycle is kept as written: both ComputeContexts are built up front, the small one
is the default, each boots when its first query is sent (so the boots happen one after the
other), the tasks run one after another, and both contexts are stopped after the flow returns,
so a failing flow leaves both clusters running until their idle timeout. Three changes were
needed for it to run at all on polars-cloud 0.12, none of them touching that lifecycle:
- the contexts are built after `authenticate()`: the constructor calls the control plane, and
  the sketch builds them at import, before its flow logs in, which fails "not authenticated";
- each query is awaited: `sink_parquet` returns a query in progress, so the sketch's tasks
  would return at once and the join would read outputs that do not exist yet;
- the queries are the project's own, each written to a folder through a `pl.PartitionBy`:
  `remote()` plans "auto", i.e. distributed, which refuses a single-file sink (and the simulator,
  which runs plans on local Polars, writes a plain folder uri as one object named like it).

Imported by bench/sim_scenarios.py, in a baked project's environment.
"""

from __future__ import annotations

import os
from types import ModuleType

import polars as pl
from polars_cloud import ComputeContext, authenticate, set_compute_context
from prefect import Flow, flow, task

ONE_FILE = 10**9  # rows: a folder with one file for the customers, whatever their number


def service_account_from_env() -> dict[str, str | None]:
    """Read the service account from the environment, as the sketch's second snippet does."""
    return {
        "client_id": os.getenv("POLARS_CLOUD_CLIENT_ID"),
        "client_secret": os.getenv("POLARS_CLOUD_CLIENT_SECRET"),
    }


def report_flow(
    queries: ModuleType, vm_large: ComputeContext, inputs: tuple[list[str], str], output_uri: str
) -> Flow:
    """Define the sketch's tasks and flow around the project's queries.

    inputs: the day's order files and the customers file, as `storage.find_inputs` finds them.
    """
    order_files, customers_file = inputs
    orders_uri, customers_uri = f"{output_uri}/orders/", f"{output_uri}/customers/"

    @task
    def prepare_dataset_1() -> None:
        query = queries.clean_orders(order_files)
        query.remote().sink_parquet(queries.by_day(orders_uri)).await_result()

    @task
    def prepare_dataset_2() -> None:
        query = queries.latest_customers(customers_file)
        query.remote().sink_parquet(
            pl.PartitionBy(customers_uri, max_rows_per_file=ONE_FILE)
        ).await_result()

    # use a bigger machine for this operation
    @task
    @set_compute_context(vm_large)
    def join_datasets() -> None:
        query = queries.daily_report(orders_uri, customers_uri)
        query.remote().sink_parquet(queries.by_day(f"{output_uri}/daily_report/")).await_result()

    @flow(name="Daily report")
    def report() -> None:
        # authenticate to polars cloud with the secrets created above
        authenticate(**service_account_from_env())
        prepare_dataset_1()
        prepare_dataset_2()
        join_datasets()

    return report


def run_seed(queries: ModuleType, inputs: tuple[list[str], str], output_uri: str) -> None:
    """Run the sketch's module level, in its order: contexts, default, flow, stops."""
    authenticate(**service_account_from_env())  # moved up: see the module's docstring
    # define two compute contexts (two instance sizes)
    vm_small = ComputeContext(cpus=2, memory=4)
    vm_large = ComputeContext(cpus=4, memory=16)
    # queries will execute on the small vm by default
    set_compute_context(vm_small)
    try:
        report_flow(queries, vm_large, inputs, output_uri)()
        # stop the instances
        vm_small.stop()
        vm_large.stop()
    finally:
        set_compute_context(None)  # the bench's hygiene, not the sketch's: forget the default
