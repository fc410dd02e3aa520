"""Sample data by day: the same bytes for the same day, every dirty row every day, no partials."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from prefect_polars_cloud.cli import main
from prefect_polars_cloud.sample_days import last_days
from prefect_polars_cloud.sample_days import sample_days as days_in
from prefect_polars_cloud.storage import atomic_target, remove_stale_partials

from {{ cookiecutter.package_name }}.datasets import DATASETS
from {{ cookiecutter.package_name }}.sample_data import customer_count, write_sample_data

from .conftest import SAMPLE_DAYS


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


def test_the_default_days_end_yesterday_utc(tmp_path: Path) -> None:
    assert last_days(3, today=date(2026, 11, 26)) == [
        date(2026, 11, 23),
        date(2026, 11, 24),
        date(2026, 11, 25),
    ]
    assert main(["sample-data", "--rows", "50", "--days", "2", "--out", str(tmp_path)]) == 0
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert days_in(tmp_path, DATASETS) == [yesterday - timedelta(days=1), yesterday]


def test_the_command_line_writes_the_requested_days_and_size(tmp_path: Path) -> None:
    argv = ["--rows", "123", "--start", "2026-10-30", "--end", "2026-11-01", "--out", str(tmp_path)]
    assert main(["sample-data", *argv]) == 0
    expected = [date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1)]
    assert days_in(tmp_path, DATASETS) == expected
    assert pl.read_csv(orders_of(tmp_path, date(2026, 10, 31))).height == 123


def test_stale_partials_are_removed_and_nothing_else(tmp_path: Path) -> None:
    # What a killed run leaves: a staging folder (this version) or a file (earlier ones).
    folder = tmp_path / ".orders.csv.0123456789abcdef0123456789abcdef.partial"
    folder.mkdir()
    (folder / "orders.csv").write_text("order_id\n")
    old_file = tmp_path / ".customers.ndjson.fedcba9876543210fedcba9876543210.partial"
    old_file.write_text("{}\n")
    kept = [tmp_path / "orders.csv", tmp_path / ".orders.csv.not-hex.partial"]
    for path in kept:
        path.write_text("keep\n")

    day = tmp_path / "orders" / "date=2026-11-01"
    day.mkdir(parents=True)
    in_a_day = day / ".orders.csv.00112233445566778899aabbccddeeff.partial"
    in_a_day.mkdir()

    removed = remove_stale_partials(str(tmp_path))

    assert sorted(removed) == sorted([folder, old_file, in_a_day])
    assert sorted(tmp_path.iterdir()) == sorted([*kept, tmp_path / "orders"])
    assert list(day.iterdir()) == []


def test_a_failed_write_leaves_the_previous_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "report.parquet"
    target.write_text("previous\n")

    with pytest.raises(RuntimeError), atomic_target(str(target)) as staging:
        Path(staging).write_text("half")
        raise RuntimeError("the query failed")

    assert target.read_text() == "previous\n"
    assert sorted(tmp_path.iterdir()) == [target]
