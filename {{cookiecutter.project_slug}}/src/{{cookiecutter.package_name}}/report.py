"""Summarise a run's published days for people: rows, orders and revenue per day, in Markdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from .run_dates import describe
from .storage import REPORT, join, list_keys, partition


@dataclass(frozen=True)
class DaySummary:
    """One day of the report."""

    day: date
    rows: int
    orders: int
    revenue: float


@dataclass(frozen=True)
class ReportSummary:
    """What the Prefect artifact and `make run` show of a run."""

    location: str
    days: list[DaySummary]

    def warnings(self) -> list[str]:
        """Return what a reader of this report must be told before trusting it."""
        return [
            f"the report of {d.day} is empty: its input has no order with an amount >= 0; "
            "check that the run read the intended files"
            for d in self.days
            if d.rows == 0
        ]

    def markdown(self) -> str:
        """Render the summary as the artifact's Markdown."""
        lines = [
            f"# Daily report {describe([d.day for d in self.days])}",
            "",
            *[f"**Warning:** {warning}\n" for warning in self.warnings()],
            f"`{self.location}/`: {len(self.days)} day(s), {sum(d.orders for d in self.days)} "
            f"orders, revenue {sum(d.revenue for d in self.days):,.2f}",
            "",
            "| day | rows | orders | revenue |",
            "|---|---:|---:|---:|",
        ]
        for d in self.days:
            empty = " (empty: no valid orders)" if d.rows == 0 else ""
            lines.append(f"| {d.day}{empty} | {d.rows} | {d.orders} | {d.revenue:,.2f} |")
        return "\n".join(lines) + "\n"


def read_day(output_uri: str, day: date) -> pl.DataFrame | None:
    """Return one day's published report, or None when that day has no rows."""
    keys = list_keys(output_uri, f"{partition(REPORT, day)}/")
    return pl.read_parquet([join(output_uri, key) for key in keys]) if keys else None


def summarize(output_uri: str, days: list[date]) -> ReportSummary:
    """Total each day of the run from the (small, aggregated) published report."""
    totals = []
    for day in days:
        frame = read_day(output_uri, day)
        if frame is None:
            totals.append(DaySummary(day, 0, 0, 0.0))
        else:
            totals.append(
                DaySummary(
                    day, frame.height, int(frame["orders"].sum()), float(frame["revenue"].sum())
                )
            )
    return ReportSummary(join(output_uri, REPORT), totals)
