"""Deterministic sample inputs with the dirty rows the report must survive.

Rows are made chunk by chunk from hashes of the row number, so any size streams to disk in
bounded memory and the same (rows, seed) gives the same bytes with the locked Polars version.
Dirty rows: empty and negative amounts, customers that repeat (the last line wins), and orders
of customers that are not in customers.ndjson.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from .storage import atomic_target

CHUNK_ROWS = 500_000
START = datetime(2026, 11, 1, tzinfo=UTC)
DAYS = 7
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


def orders_chunk(start: int, stop: int, customers: int, seed: int) -> pl.DataFrame:
    """Make orders start+1..stop: about 2% empty and 2% negative amounts, 5% unknown customers."""
    kind = _draw(3, seed, 50)
    cents = _draw(4, seed, 100_000).cast(pl.Int64) + 1
    return pl.select(row=pl.int_range(start, stop, dtype=pl.UInt64)).select(
        order_id=(pl.col("row") + 1).cast(pl.Int64),
        customer_id=(_draw(1, seed, customers + customers // 20 + 1) + 1).cast(pl.Int64),
        order_ts=(
            pl.lit(START) + pl.duration(seconds=_draw(2, seed, DAYS * 86_400).cast(pl.Int64))
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


def _orders_chunks(rows: int, seed: int) -> Iterator[pl.DataFrame]:
    customers = customer_count(rows)
    for start in range(0, rows, CHUNK_ROWS):
        yield orders_chunk(start, min(rows, start + CHUNK_ROWS), customers, seed)


def _customers_chunks(rows: int, seed: int) -> Iterator[pl.DataFrame]:
    customers = customer_count(rows)
    # Originals first, repeats after them, so a repeat is always the later line.
    for repeat in (False, True):
        for start in range(0, customers, CHUNK_ROWS):
            yield customers_chunk(start, min(customers, start + CHUNK_ROWS), seed, repeat)


def write_sample_data(out_dir: Path, rows: int = 10_000, seed: int = 7) -> Path:
    """Write orders.csv and customers.ndjson into out_dir and return out_dir."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    with atomic_target(str(out_dir / "orders.csv")) as target, open(target, "wb") as sink:
        for index, chunk in enumerate(_orders_chunks(rows, seed)):
            chunk.write_csv(sink, include_header=index == 0)
    with atomic_target(str(out_dir / "customers.ndjson")) as target, open(target, "wb") as sink:
        for chunk in _customers_chunks(rows, seed):
            chunk.write_ndjson(sink)
    return out_dir


def has_sample_data(folder: Path) -> bool:
    """Tell whether folder already holds both inputs."""
    return (folder / "orders.csv").is_file() and (folder / "customers.ndjson").is_file()
