"""The daily report with no orchestration: the same queries, sunk one after another.

Run with the baked project's interpreter: python bare_report.py SOURCE_DIR OUTPUT_DIR
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path


def main(package: str, source: str, output: str) -> None:
    """Write orders, customers and the report exactly where the flow would."""
    queries = importlib.import_module(f"{package}.queries")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    queries.clean_orders(source).sink_parquet(out / "orders.parquet", engine="streaming")
    queries.latest_customers(source).sink_parquet(out / "customers.parquet", engine="streaming")
    report = queries.daily_report(str(out / "orders.parquet"), str(out / "customers.parquet"))
    report.sink_parquet(out / "daily_report.parquet", engine="streaming")


if __name__ == "__main__":
    main(*sys.argv[1:4])
