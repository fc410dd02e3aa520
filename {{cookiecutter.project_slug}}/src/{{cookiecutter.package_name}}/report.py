"""Summarise a written report for people: totals and a per-day table in Markdown."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ReportSummary:
    """What the Prefect artifact and `make run` show of a report."""

    uri: str
    rows: int
    orders: int
    revenue: float
    per_day: pl.DataFrame

    def warnings(self) -> list[str]:
        """Return what a reader of this report must be told before trusting it."""
        if self.rows == 0:
            return [
                f"the report {self.uri} is empty: the input has no order with an amount >= 0; "
                "check that the run read the intended files"
            ]
        return []

    def markdown(self) -> str:
        """Render the summary as the artifact's Markdown."""
        lines = [
            "# Daily report",
            "",
            *[f"**Warning:** {warning}\n" for warning in self.warnings()],
            f"`{self.uri}`: {self.rows} rows, {self.orders} orders, revenue {self.revenue:,.2f}",
            "",
            "| order_date | orders | revenue |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {day} | {orders} | {revenue:,.2f} |"
            for day, orders, revenue in self.per_day.iter_rows()
        ]
        return "\n".join(lines) + "\n"


def summarize(report_uri: str) -> ReportSummary:
    """Read the (small, aggregated) report and total it per day."""
    report = pl.read_parquet(report_uri)
    per_day = (
        report.group_by("order_date")
        .agg(pl.col("orders").sum(), pl.col("revenue").sum())
        .sort("order_date")
    )
    return ReportSummary(
        uri=report_uri,
        rows=report.height,
        orders=int(report["orders"].sum()),
        revenue=float(report["revenue"].sum()),
        per_day=per_day,
    )
