"""The report's three queries, as LazyFrames: where they run is compute.py's business."""

from __future__ import annotations

import polars as pl

from .storage import join

ORDERS_SCHEMA = {
    "order_id": pl.Int64,
    "customer_id": pl.Int64,
    "order_ts": pl.String,
    "amount": pl.Float64,
}
CUSTOMERS_SCHEMA = {"customer_id": pl.Int64, "segment": pl.String, "country": pl.String}
REPORT_KEYS = ("order_date", "segment", "country")
UNKNOWN = "unknown"


def clean_orders(source_uri: str) -> pl.LazyFrame:
    """Drop orders with a null or negative amount and add the UTC order date."""
    return (
        pl.scan_csv(join(source_uri, "orders.csv"), schema=ORDERS_SCHEMA)
        .filter(pl.col("amount").is_not_null() & (pl.col("amount") >= 0))
        .with_columns(pl.col("order_ts").str.to_datetime(time_unit="us", time_zone="UTC"))
        .with_columns(order_date=pl.col("order_ts").dt.date())
    )


def latest_customers(source_uri: str) -> pl.LazyFrame:
    """Keep one row per customer: the last line of the file wins."""
    return pl.scan_ndjson(join(source_uri, "customers.ndjson"), schema=CUSTOMERS_SCHEMA).unique(
        subset="customer_id", keep="last", maintain_order=True
    )


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


def daily_report(orders_uri: str, customers_uri: str) -> pl.LazyFrame:
    """Count orders and sum revenue per day, segment and country; unknown customers included."""
    customers = pl.scan_parquet(customers_uri)
    return (
        pl.scan_parquet(orders_uri)
        .join(customers, on="customer_id", how="left")
        .with_columns(pl.col("segment", "country").fill_null(UNKNOWN))
        .group_by(REPORT_KEYS)
        .agg(orders=pl.len().cast(pl.Int64), revenue=revenue())
        .sort(REPORT_KEYS)
    )
