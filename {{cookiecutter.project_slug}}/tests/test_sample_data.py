"""Sample data: the same bytes every time, every dirty row the contract names, no partials."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.sample_data import customer_count, write_sample_data
from {{ cookiecutter.package_name }}.storage import atomic_target, remove_stale_partials


def test_the_same_rows_and_seed_give_the_same_bytes(tmp_path: Path) -> None:
    first = write_sample_data(tmp_path / "a", rows=5_000)
    second = write_sample_data(tmp_path / "b", rows=5_000)
    other_seed = write_sample_data(tmp_path / "c", rows=5_000, seed=8)
    for name in ("orders.csv", "customers.ndjson"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
        assert (first / name).read_bytes() != (other_seed / name).read_bytes()


def test_the_sample_holds_every_kind_of_dirty_row(sample_dir: Path) -> None:
    orders = pl.read_csv(sample_dir / "orders.csv")
    customers = pl.read_ndjson(sample_dir / "customers.ndjson")
    assert orders.columns == ["order_id", "customer_id", "order_ts", "amount"]
    assert orders["amount"].null_count() > 0, "empty amounts"
    assert (orders["amount"] < 0).any(), "negative amounts"
    assert customers["customer_id"].is_duplicated().any(), "repeated customers"
    assert not orders["customer_id"].is_in(customers["customer_id"].implode()).all(), (
        "unknown customers"
    )
    assert orders["order_ts"].str.ends_with("Z").all()


def test_rows_scale_in_chunks_with_nothing_left_over(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("{{ cookiecutter.package_name }}.sample_data.CHUNK_ROWS", 700)
    out = write_sample_data(tmp_path, rows=2_500)
    orders = pl.read_csv(out / "orders.csv")
    assert orders.height == 2_500 and orders["order_id"].to_list() == list(range(1, 2_501))
    assert pl.read_ndjson(out / "customers.ndjson")["customer_id"].n_unique() == customer_count(
        2_500
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["customers.ndjson", "orders.csv"]


def test_the_command_line_writes_the_requested_size(tmp_path: Path) -> None:
    assert main(["sample-data", "--rows", "123", "--out", str(tmp_path)]) == 0
    assert pl.read_csv(tmp_path / "orders.csv").height == 123


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

    removed = remove_stale_partials(str(tmp_path))

    assert sorted(removed) == sorted([folder, old_file])
    assert sorted(tmp_path.iterdir()) == sorted(kept)


def test_a_failed_write_leaves_the_previous_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "report.parquet"
    target.write_text("previous\n")

    with pytest.raises(RuntimeError), atomic_target(str(target)) as staging:
        Path(staging).write_text("half")
        raise RuntimeError("the query failed")

    assert target.read_text() == "previous\n"
    assert sorted(tmp_path.iterdir()) == [target]
