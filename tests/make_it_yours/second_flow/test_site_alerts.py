"""The second flow's query on a frame made in the test."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from flows.site_alerts import week_deviations

DAY = date(2026, 11, 7)


def test_a_day_far_from_its_week_raises_an_alert() -> None:
    days = [DAY - timedelta(days=back) for back in range(6, -1, -1)]
    stats = pl.LazyFrame(
        {
            "date": days,
            "site": ["north"] * 7,
            "readings": [10] * 7,
            "mean": [1.0] * 6 + [36.0],
        }
    )

    today = week_deviations(stats).filter(pl.col("date") == DAY).collect()

    assert today.to_dicts() == [
        {"date": DAY, "site": "north", "mean": 36.0, "week_mean": 6.0, "alert": True}
    ]
