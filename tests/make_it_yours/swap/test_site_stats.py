"""The site statistics' queries on frames made in the test: seconds, no Prefect."""

from __future__ import annotations

from datetime import date

import polars as pl

from PACKAGE import queries

DAY = date(2026, 11, 1)


def test_out_of_range_readings_are_dropped_and_unknown_sensors_counted_apart() -> None:
    readings = pl.LazyFrame(
        {
            "sensor_id": [1, 1, 2, 9],
            "ts": ["2026-11-01T01:00:00Z"] * 4,
            "value": [10.0, 999.0, -5.0, 20.0],
            "date": [DAY] * 4,
        }
    )
    sensors = pl.LazyFrame({"sensor_id": [1, 2], "site": ["north", "south"]})

    stats = queries.site_stats(queries.valid_readings(readings), sensors).collect()

    assert stats.to_dicts() == [
        {"date": DAY, "site": "?", "readings": 1, "mean": 20.0, "peak": 20.0},
        {"date": DAY, "site": "north", "readings": 1, "mean": 10.0, "peak": 10.0},
        {"date": DAY, "site": "south", "readings": 1, "mean": -5.0, "peak": -5.0},
    ]
