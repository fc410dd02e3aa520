"""Deterministic sample inputs, a partition per day, with the dirty rows the report must survive.

Rows are made chunk by chunk from hashes of the row number and the day, so any size streams to
disk in bounded memory and the same (day, rows, seed) gives the same bytes with the locked Polars
version. Every day has its dirty rows: empty and negative amounts and orders of customers that
are not in customers.ndjson; customers repeat there (the last line wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path

import polars as pl

from prefect_polars_cloud import atomic_target

from .datasets import CUSTOMERS, DATASETS, ORDERS

CHUNK_ROWS = 500_000
# A day's order ids start at its ordinal times this, so ids never repeat across days.
IDS_PER_DAY = 1_000_000_000
SEGMENTS = ("consumer", "smb", "enterprise")
COUNTRIES = ("DE", "FR", "GB", "NL", "US")


MAX_CUSTOMERS = 100_000


def customer_count(rows: int) -> int:
    """Return how many distinct known customers a sample of rows orders has.

    A tenth of the orders, up to MAX_CUSTOMERS: ROWS scales the order volume, as days of
    trading do, while the customer base (the join's and the dedup's state) stays a dimension.
    """
    return min(MAX_CUSTOMERS, max(10, rows // 10))


def _draw(salt: int, seed: int, modulo: int) -> pl.Expr:
    """A pseudo-random whole number in [0, modulo) per row, derived from the row number."""
    return pl.col("row").hash(seed * 1_000 + salt) % modulo


def _pick(values: tuple[str, ...], draw: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(values)).gather(draw)


def orders_chunk(day: date, start: int, stop: int, customers: int, seed: int) -> pl.DataFrame:
    """Make a day's orders start+1..stop: ~2% empty, ~2% negative amounts, ~5% unknown customers."""
    seed = seed * 1_000_003 + day.toordinal()  # each day its own draws
    kind = _draw(3, seed, 50)
    cents = _draw(4, seed, 100_000).cast(pl.Int64) + 1
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    return pl.select(row=pl.int_range(start, stop, dtype=pl.UInt64)).select(
        order_id=(pl.col("row") + 1 + day.toordinal() * IDS_PER_DAY).cast(pl.Int64),
        customer_id=(_draw(1, seed, customers + customers // 20 + 1) + 1).cast(pl.Int64),
        order_ts=(
            pl.lit(midnight) + pl.duration(seconds=_draw(2, seed, 86_400).cast(pl.Int64))
        ).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        amount=pl.when(kind == 0)
        .then(None)
        .when(kind == 1)
        .then(-cents / 100)
        .otherwise(cents / 100),
    )


def customers_chunk(start: int, stop: int, seed: int, repeat: bool) -> pl.DataFrame:
    """Make customers start+1..stop; with repeat, every tenth again with a new segment."""
    frame = pl.select(row=pl.int_range(start, stop, dtype=pl.UInt64))
    if repeat:
        frame = frame.filter(_draw(5, seed, 10) == 0)
    shift = 1 if repeat else 0
    return frame.select(
        customer_id=(pl.col("row") + 1).cast(pl.Int64),
        segment=_pick(SEGMENTS, (_draw(6, seed, len(SEGMENTS)) + shift) % len(SEGMENTS)),
        country=_pick(COUNTRIES, _draw(7, seed, len(COUNTRIES))),
    )


def _orders_chunks(day: date, rows: int, seed: int) -> Iterator[pl.DataFrame]:
    customers = customer_count(rows)
    for start in range(0, rows, CHUNK_ROWS):
        yield orders_chunk(day, start, min(rows, start + CHUNK_ROWS), customers, seed)


def _customers_chunks(rows: int, seed: int) -> Iterator[pl.DataFrame]:
    customers = customer_count(rows)
    # Originals first, repeats after them, so a repeat is always the later line.
    for repeat in (False, True):
        for start in range(0, customers, CHUNK_ROWS):
            yield customers_chunk(start, min(customers, start + CHUNK_ROWS), seed, repeat)


def write_sample_data(out_dir: Path, days: list[date], rows: int = 10_000, seed: int = 7) -> Path:
    """Write rows orders for each day (orders/date=D/orders.csv) and customers.ndjson."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    for day in days:
        target_file = out_dir / DATASETS.partition(ORDERS.name, day) / "orders.csv"
        with atomic_target(str(target_file)) as target, open(target, "wb") as sink:
            for index, chunk in enumerate(_orders_chunks(day, rows, seed)):
                chunk.write_csv(sink, include_header=index == 0)
    with atomic_target(str(out_dir / CUSTOMERS.path)) as target, open(target, "wb") as sink:
        for chunk in _customers_chunks(rows, seed):
            chunk.write_ndjson(sink)
    return out_dir
