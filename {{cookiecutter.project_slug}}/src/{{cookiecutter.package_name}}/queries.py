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


def daily_report(orders_uri: str, customers_uri: str) -> pl.LazyFrame:
    """Count orders and sum revenue per day, segment and country; unknown customers included."""
    customers = pl.scan_parquet(customers_uri)
    return (
        pl.scan_parquet(orders_uri)
        .join(customers, on="customer_id", how="left")
        .with_columns(pl.col("segment", "country").fill_null(UNKNOWN))
        .group_by(REPORT_KEYS)
        .agg(orders=pl.len().cast(pl.Int64), revenue=pl.col("amount").sum())
        .sort(REPORT_KEYS)
    )
