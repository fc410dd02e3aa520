"""The pipeline's datasets: what it reads, what it writes, by day. Everything else reads this.

<source_uri>/orders/date=YYYY-MM-DD/*.csv             ORDERS: a day's orders
<source_uri>/customers.ndjson                         CUSTOMERS: the customer snapshot
{%- if cookiecutter.output_format == "iceberg" %}
<ICEBERG_TABLE> (an Iceberg table, by date)           REPORT: a day's report, one commit a run
{%- else %}
<output_uri>/daily_report/date=YYYY-MM-DD/*.parquet   REPORT: a day's report
{%- endif %}
<output_uri>/orders/date=YYYY-MM-DD/*.parquet         CLEAN_ORDERS: a day's cleaned orders
<output_uri>/customers/date=YYYY-MM-DD/*.parquet      CUSTOMERS_USED: the customers it used
"""

from __future__ import annotations

import polars as pl

from prefect_polars_cloud import (
    DailyInput,
    DailyOutput,
    Datasets,
{%- if cookiecutter.output_format == "iceberg" %}
    IcebergOutput,
{%- endif %}
    SnapshotInput,
    SnapshotOutput,
)

ORDERS = DailyInput(
    "orders",
    format="csv",
    schema={
        "order_id": pl.Int64,
        "customer_id": pl.Int64,
        "order_ts": pl.String,  # ISO-8601, UTC
        "amount": pl.Float64,  # may be empty or negative: such orders are dropped
    },
    nullable=("amount",),  # every other field is required: a row without one fails the run
)
CUSTOMERS = SnapshotInput(
    "customers.ndjson",
    format="ndjson",
    schema={"customer_id": pl.Int64, "segment": pl.String, "country": pl.String},
)
CLEAN_ORDERS = DailyOutput("orders")
CUSTOMERS_USED = SnapshotOutput("customers")
{%- if cookiecutter.output_format == "iceberg" %}
# The table is the ICEBERG_TABLE setting (settings.py); docs/iceberg.md says how it is published.
REPORT = IcebergOutput("daily_report")
{%- else %}
REPORT = DailyOutput("daily_report")
{%- endif %}

DATASETS = Datasets(
    inputs=(ORDERS, CUSTOMERS),
    outputs=(REPORT, CLEAN_ORDERS, CUSTOMERS_USED),
    report=REPORT,  # what the run's artifact and `make run` summarise
    partition_key="date",
)
