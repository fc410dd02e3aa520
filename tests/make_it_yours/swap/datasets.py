"""The pipeline's datasets: sensor readings by day and the sensor table, statistics out."""

from __future__ import annotations

import polars as pl

from prefect_polars_cloud import (
    DailyInput,
    DailyOutput,
    Datasets,
    SnapshotInput,
    SnapshotOutput,
)

READINGS = DailyInput(
    "readings",
    format="ndjson",
    schema={"sensor_id": pl.Int64, "ts": pl.String, "value": pl.Float64},
)
SENSORS = SnapshotInput(
    "sensors.csv", format="csv", schema={"sensor_id": pl.Int64, "site": pl.String}
)
VALID_READINGS = DailyOutput("valid_readings")
SENSORS_USED = SnapshotOutput("sensors")
# A float mean differs in its last bits from run to run; declared, it is rounded where written.
SITE_STATS = DailyOutput("site_stats", float_decimals=3)

DATASETS = Datasets(
    inputs=(READINGS, SENSORS),
    outputs=(SITE_STATS, VALID_READINGS, SENSORS_USED),
    report=SITE_STATS,
)
