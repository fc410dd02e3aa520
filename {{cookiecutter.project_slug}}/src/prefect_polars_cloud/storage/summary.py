"""Summarise a run's published days for people, in Markdown: rows and the project's totals.

The totals are the project's (Project.day_totals: counts, sums): the library reads
each day of the summarised output (Datasets.report, small and aggregated) and adds them up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from prefect_polars_cloud.config.datasets import Datasets
from prefect_polars_cloud.config.days import describe
from prefect_polars_cloud.config.project import DayTotals
from prefect_polars_cloud.storage.files import join, list_keys


@dataclass(frozen=True)
class DaySummary:
    """One published day of the report."""

    day: date
    rows: int
    totals: Mapping[str, float | int]


@dataclass(frozen=True)
class RunSummary:
    """What the Prefect artifact and `make run` show of a run."""

    title: str
    location: str
    days: list[DaySummary]
    # The last day's rows, for `make run` to show (None when that day has none).
    last_day: pl.DataFrame | None = None
    # How the location is shown (default: the folder), and how to read it (Markdown), if needed.
    label: str = ""
    reading: str = ""

    @property
    def where(self) -> str:
        """Return the location as people read it: the folder, or the table's label."""
        return self.label or f"`{self.location}/`"

    def warnings(self) -> list[str]:
        """Return what a reader of this report must be told before trusting it."""
        return [
            f"{d.day} has no rows in {self.location}: check that the run read the intended files"
            for d in self.days
            if d.rows == 0
        ]

    def columns(self) -> list[str]:
        """Return the names of the totals, in the order the project gives them."""
        return list(next((d.totals for d in self.days if d.totals), {}))

    def markdown(self) -> str:
        """Render the summary as the artifact's Markdown."""
        columns = self.columns()
        overall = ", ".join(
            f"{name} {_number(sum(d.totals.get(name, 0) for d in self.days))}" for name in columns
        )
        lines = [
            f"# {self.title} {describe([d.day for d in self.days])}",
            "",
            *[f"**Warning:** {warning}\n" for warning in self.warnings()],
            f"{self.where}: {len(self.days)} day(s)" + (f", {overall}" if overall else ""),
            "",
            "| day | rows |" + "".join(f" {name} |" for name in columns),
            "|---|---:|" + "---:|" * len(columns),
        ]
        for d in self.days:
            cells = "".join(f" {_number(d.totals.get(name, 0))} |" for name in columns)
            empty = " (no rows)" if d.rows == 0 else ""
            lines.append(f"| {d.day}{empty} | {d.rows} |{cells}")
        return "\n".join(lines) + "\n" + (f"\n{self.reading}" if self.reading else "")


def _number(value: float | int) -> str:
    """Show whole numbers as they are and others with two decimals, thousands separated."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def read_day(output_uri: str, partition: str) -> pl.DataFrame | None:
    """Return one day's published partition (`<name>/<key>=<day>`), or None when it is empty."""
    keys = list_keys(output_uri, f"{partition}/")
    return pl.read_parquet([join(output_uri, key) for key in keys]) if keys else None


def summarize(
    title: str,
    datasets: Datasets,
    output_uri: str,
    days: list[date],
    totals: DayTotals | None,
) -> RunSummary:
    """Total each day of the run from its published partition of the report (rows alone when
    there is no totals function)."""
    summaries, frame = [], None
    for day in days:
        frame = read_day(output_uri, datasets.partition(datasets.report.name, day))
        if frame is None:
            summaries.append(DaySummary(day, 0, {}))
        else:
            summaries.append(DaySummary(day, frame.height, totals(frame) if totals else {}))
    return RunSummary(title, join(output_uri, datasets.report.name), summaries, frame)
