"""This project's sample data: the same bytes for the same day, every dirty row every day.

Which days a folder holds, `make sample-data`'s options and partial files are the library's
(the template's tests/library).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from prefect_polars_cloud.local.sample_days import sample_days as days_in
from prefect_polars_cloud.testing import SAMPLE_DAYS

from {{ cookiecutter.package_name }}.datasets import DATASETS
from {{ cookiecutter.package_name }}.sample_data import customer_count, write_sample_data


def orders_of(folder: Path, day: date) -> Path:
    return folder / "orders" / f"date={day.isoformat()}" / "orders.csv"


def test_a_day_is_a_function_of_its_date_and_rows(tmp_path: Path) -> None:
    one, two = date(2026, 11, 1), date(2026, 11, 2)
    first = write_sample_data(tmp_path / "a", [one, two], rows=2_000)
    alone = write_sample_data(tmp_path / "b", [two], rows=2_000)
    other_seed = write_sample_data(tmp_path / "c", [two], rows=2_000, seed=8)
    assert orders_of(first, two).read_bytes() == orders_of(alone, two).read_bytes()
    assert orders_of(first, one).read_bytes() != orders_of(first, two).read_bytes()
    assert orders_of(alone, two).read_bytes() != orders_of(other_seed, two).read_bytes()
    assert (first / "customers.ndjson").read_bytes() == (alone / "customers.ndjson").read_bytes()


@pytest.mark.parametrize("day", SAMPLE_DAYS, ids=str)
def test_every_day_holds_every_kind_of_dirty_row(sample_dir: Path, day: date) -> None:
    orders = pl.read_csv(orders_of(sample_dir, day))
    customers = pl.read_ndjson(sample_dir / "customers.ndjson")
    assert orders.columns == ["order_id", "customer_id", "order_ts", "amount"]
    assert orders["amount"].null_count() > 0, "empty amounts"
    assert (orders["amount"] < 0).any(), "negative amounts"
    assert customers["customer_id"].is_duplicated().any(), "repeated customers"
    assert not orders["customer_id"].is_in(customers["customer_id"].implode()).all(), (
        "unknown customers"
    )
    assert orders["order_ts"].str.starts_with(day.isoformat()).all(), "orders of that day"


def test_rows_scale_in_chunks_with_nothing_left_over(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("{{ cookiecutter.package_name }}.sample_data.CHUNK_ROWS", 700)
    days = [date(2026, 11, 1), date(2026, 11, 2)]
    out = write_sample_data(tmp_path, days, rows=2_500)
    ids = pl.concat([pl.read_csv(orders_of(out, day)) for day in days])["order_id"]
    assert ids.len() == 5_000 and ids.is_unique().all(), "order ids never repeat across days"
    assert pl.read_ndjson(out / "customers.ndjson")["customer_id"].n_unique() == customer_count(
        2_500
    )
    assert days_in(out, DATASETS) == days
    assert not list(tmp_path.rglob("*.partial"))
