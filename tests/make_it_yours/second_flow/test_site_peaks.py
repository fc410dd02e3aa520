"""The second flow's query on a frame made in the test."""

from __future__ import annotations

from datetime import date

import polars as pl

from flows.site_peaks import sensor_peaks

DAY = date(2026, 11, 1)


def test_the_peak_ignores_faulty_readings() -> None:
    readings = pl.LazyFrame(
        {
            "sensor_id": [1, 1, 1],
            "ts": ["2026-11-01T01:00:00Z"] * 3,
            "value": [10.0, 999.0, 12.5],
            "date": [DAY] * 3,
        }
    )

    assert sensor_peaks(readings).collect().to_dicts() == [
        {"date": DAY, "sensor_id": 1, "peak": 12.5}
    ]
