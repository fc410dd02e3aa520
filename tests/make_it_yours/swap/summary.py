"""What the run's artifact totals for each day of the site statistics."""

from __future__ import annotations

import polars as pl


def day_totals(stats: pl.DataFrame) -> dict[str, float | int]:
    """Return one day's valid readings and its highest reading."""
    return {"readings": int(stats["readings"].sum()), "peak": float(stats["peak"].max())}
