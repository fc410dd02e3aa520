"""Deterministic sample readings by day, with out-of-range values and an unknown sensor."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import polars as pl

from prefect_polars_cloud import atomic_target

from .datasets import DATASETS, READINGS, SENSORS

SITES = ("north", "south", "west")
SENSOR_COUNT = 12


def readings_of(day: date, rows: int, seed: int) -> pl.DataFrame:
    """Make a day's readings: one in 20 out of range, sensor SENSOR_COUNT + 1 unknown."""
    salt = seed * 1_000_003 + day.toordinal()
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    row = pl.int_range(0, rows, dtype=pl.UInt64)
    return pl.select(
        sensor_id=(row.hash(salt) % (SENSOR_COUNT + 1) + 1).cast(pl.Int64),
        ts=(
            pl.lit(midnight) + pl.duration(seconds=(row.hash(salt + 1) % 86_400).cast(pl.Int64))
        ).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        value=pl.when(row.hash(salt + 2) % 20 == 0)
        .then(999.0)
        .otherwise((row.hash(salt + 3) % 6_000).cast(pl.Float64) / 100 - 20),
    )


def write_sample_data(out_dir: Path, days: list[date], rows: int = 10_000, seed: int = 7) -> Path:
    """Write rows readings for each day and the sensor table."""
    for day in days:
        target = out_dir / DATASETS.partition(READINGS.name, day) / "readings.ndjson"
        with atomic_target(str(target)) as path:
            readings_of(day, rows, seed).write_ndjson(path)
    sensors = pl.DataFrame(
        {
            "sensor_id": list(range(1, SENSOR_COUNT + 1)),
            "site": [SITES[number % len(SITES)] for number in range(SENSOR_COUNT)],
        }
    )
    with atomic_target(str(out_dir / SENSORS.path)) as path:
        sensors.write_csv(path)
    return out_dir
