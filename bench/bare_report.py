"""The daily report with no orchestration: the same queries, sunk one after another.

Run with the baked project's interpreter: python bare_report.py PACKAGE SOURCE_DIR OUTPUT_DIR
It reports every day SOURCE_DIR holds, with the layout the flow writes (minus its staging):
the project's own pure queries and declared schemas, scanned and sunk by hand.
"""

from __future__ import annotations

import importlib
import sys
from datetime import date
from pathlib import Path

import polars as pl


def main(package: str, source: str, output: str) -> None:
    """Write cleaned orders, customers and the report by day, as the flow would."""
    queries = importlib.import_module(f"{package}.queries")
    datasets = importlib.import_module(f"{package}.datasets")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    order_scans = [
        pl.scan_csv(path, schema=dict(datasets.ORDERS.schema)).with_columns(
            date=pl.lit(date.fromisoformat(path.parent.name.removeprefix("date=")))
        )
        for path in sorted(Path(source).glob("orders/date=*/*.csv"))
    ]
    by_day = pl.PartitionBy(f"{out / 'orders'}/", key="date", include_key=False)
    queries.clean_orders(pl.concat(order_scans)).sink_parquet(by_day, engine="streaming")
    customers = out / "customers.parquet"
    snapshot = pl.scan_ndjson(f"{source}/customers.ndjson", schema=dict(datasets.CUSTOMERS.schema))
    queries.latest_customers(snapshot).sink_parquet(customers, engine="streaming")
    orders = pl.scan_parquet(f"{out / 'orders'}/", hive_partitioning=True)
    report = queries.daily_report(orders, pl.scan_parquet(customers))
    by_day = pl.PartitionBy(f"{out / 'daily_report'}/", key="date", include_key=False)
    report.sink_parquet(by_day, engine="streaming")


if __name__ == "__main__":
    main(*sys.argv[1:4])
