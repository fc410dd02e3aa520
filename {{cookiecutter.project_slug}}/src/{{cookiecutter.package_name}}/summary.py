"""What the run's artifact and `make run` total for each day of the report."""

from __future__ import annotations

import polars as pl


def day_totals(report: pl.DataFrame) -> dict[str, float | int]:
    """Return one day's orders and revenue, from that day's report rows."""
    return {"orders": int(report["orders"].sum()), "revenue": float(report["revenue"].sum())}
