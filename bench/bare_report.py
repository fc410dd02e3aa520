"""The daily report with no orchestration: the same queries, sunk one after another.

Run with the baked project's interpreter: python bare_report.py PACKAGE SOURCE_DIR OUTPUT_DIR
It reports every day SOURCE_DIR holds, with the layout the flow writes (minus its staging).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(package: str, source: str, output: str) -> None:
    """Write cleaned orders, customers and the report by day, as the flow would."""
    queries = importlib.import_module(f"{package}.queries")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    order_files = sorted(str(path) for path in Path(source).glob("orders/date=*/*.csv"))
    orders = queries.by_day(str(out / "orders"))
    queries.clean_orders(order_files).sink_parquet(orders, engine="streaming")
    customers = out / "customers.parquet"
    queries.latest_customers(f"{source}/customers.ndjson").sink_parquet(customers, engine="streaming")
    report = queries.daily_report(str(out / "orders"), str(customers))
    report.sink_parquet(queries.by_day(str(out / "daily_report")), engine="streaming")


if __name__ == "__main__":
    main(*sys.argv[1:4])
