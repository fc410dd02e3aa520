"""The report's queries: pure functions of LazyFrames. The flow's tasks scan and sink.

Each query covers every day of a run at once. `date` is the input partition a row came from
(the scan adds it); the cleaned orders and the report are written partitioned by it, so a day's
report is computed from that day's input partition alone, whatever dates its orders carry.
"""

from __future__ import annotations

import polars as pl

REPORT_KEYS = ("order_date", "segment", "country")
UNKNOWN = "unknown"
PARTITION = "date"


def clean_orders(orders: pl.LazyFrame) -> pl.LazyFrame:
    """Drop orders with a null or negative amount; parse the UTC timestamp, add its date."""
    return (
        orders.filter(pl.col("amount").is_not_null() & (pl.col("amount") >= 0))
        .with_columns(pl.col("order_ts").str.to_datetime(time_unit="us", time_zone="UTC"))
        .with_columns(order_date=pl.col("order_ts").dt.date())
    )


def latest_customers(customers: pl.LazyFrame) -> pl.LazyFrame:
    """Keep one row per customer: the last line of the file wins."""
    return customers.unique(subset="customer_id", keep="last", maintain_order=True)


def revenue() -> pl.Expr:
    """Sum amounts exactly: in whole cents, as integers, then back to currency units.

    A float sum depends on the order rows arrive in, which parallel and distributed engines
    vary: two runs on one input differed in the 11th decimal. Integer addition does not.
    Amounts are rounded to the cent first. The total goes back through a two-place decimal
    because Polars divides a float by a literal as a multiplication by its reciprocal
    (983013 / 100 gives 9830.130000000001); the decimal's cast is the float nearest 9830.13.
    """
    cents = (pl.col("amount") * 100).round(0).cast(pl.Int64)
    return cents.sum().cast(pl.Decimal(38, 2)).truediv(100).cast(pl.Float64)


def daily_report(orders: pl.LazyFrame, customers: pl.LazyFrame) -> pl.LazyFrame:
    """Count orders and sum revenue per day, segment and country; unknown customers included."""
    return (
        orders.join(customers, on="customer_id", how="left")
        .with_columns(pl.col("segment", "country").fill_null(UNKNOWN))
        .group_by(PARTITION, *REPORT_KEYS)
        .agg(orders=pl.len().cast(pl.Int64), revenue=revenue())
        .sort(PARTITION, *REPORT_KEYS)
    )
