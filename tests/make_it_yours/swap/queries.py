"""Statistics per site and day: pure functions of LazyFrames."""

from __future__ import annotations

import polars as pl

# A reading outside the sensor's range is a fault, not weather.
LOWEST, HIGHEST = -60.0, 60.0


def valid_readings(readings: pl.LazyFrame) -> pl.LazyFrame:
    """Keep readings with a value in the sensor's range; parse their UTC timestamp."""
    return readings.filter(pl.col("value").is_between(LOWEST, HIGHEST)).with_columns(
        pl.col("ts").str.to_datetime(time_unit="us", time_zone="UTC")
    )


def site_stats(readings: pl.LazyFrame, sensors: pl.LazyFrame) -> pl.LazyFrame:
    """Count, average and peak the valid readings per day and site (unknown sensors: `?`)."""
    return (
        readings.join(sensors.unique("sensor_id", keep="last"), on="sensor_id", how="left")
        .with_columns(pl.col("site").fill_null("?"))
        .group_by("date", "site")
        .agg(
            readings=pl.len().cast(pl.Int64),
            mean=pl.col("value").mean(),  # rounded where it is written: datasets.py
            peak=pl.col("value").max(),
        )
        .sort("date", "site")
    )
