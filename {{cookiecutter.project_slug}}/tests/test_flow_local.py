"""The flow in local mode against a real temporary Prefect server."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from prefect.artifacts import Artifact

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

from . import reference


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")


def report_rows(path: Path) -> list[tuple[object, ...]]:
    return pl.read_parquet(path).rows()


def test_report_matches_an_independent_computation(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    report_uri = daily_report(source_uri=str(sample_dir), output_uri=str(tmp_path))

    assert report_uri == str(tmp_path / "daily_report.parquet")
    report = pl.read_parquet(report_uri)
    assert report.columns == ["order_date", "segment", "country", "orders", "revenue"]
    expected = reference.daily_report(sample_dir)
    assert [row[:4] for row in report.rows()] == [row[:4] for row in expected]
    # Exactly, not approximately: money adds up to the cent, whatever order rows arrive in.
    assert report["revenue"].to_list() == [row[4] for row in expected]
    assert ("unknown", "unknown") in {(row[1], row[2]) for row in expected}


def test_the_same_input_gives_the_same_report_bytes(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    first = Path(daily_report(source_uri=str(sample_dir), output_uri=str(tmp_path / "first")))
    second = Path(daily_report(source_uri=str(sample_dir), output_uri=str(tmp_path / "second")))

    assert first.read_bytes() == second.read_bytes()


def test_intermediate_outputs_follow_the_contract(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    daily_report(source_uri=str(sample_dir), output_uri=str(tmp_path))

    orders = pl.read_parquet(tmp_path / "orders.parquet")
    assert orders.height == len(reference.clean_orders(sample_dir))
    assert orders["amount"].null_count() == 0 and orders["amount"].min() >= 0
    assert orders.schema["order_date"] == pl.Date
    customers = pl.read_parquet(tmp_path / "customers.parquet")
    latest = reference.latest_customers(sample_dir)
    assert customers["customer_id"].is_unique().all()
    assert {row[0]: (row[1], row[2]) for row in customers.rows()} == latest


def test_the_run_publishes_a_summary_artifact(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    daily_report(source_uri=str(sample_dir), output_uri=str(tmp_path))

    artifact = Artifact.get("daily-report")
    assert artifact is not None
    orders = sum(row[3] for row in reference.daily_report(sample_dir))
    assert f"{orders} orders" in str(artifact.data)
    assert "| order_date | orders | revenue |" in str(artifact.data)


def test_a_failed_run_keeps_the_previous_report(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    good = tmp_path / "output"
    daily_report(source_uri=str(sample_dir), output_uri=str(good))
    before = (good / "daily_report.parquet").read_bytes()
    broken = tmp_path / "broken"
    shutil.copytree(sample_dir, broken)
    with (broken / "orders.csv").open("a") as orders:
        orders.write("999999,1,not-a-timestamp,10.0\n")

    with pytest.raises(Exception, match="not-a-timestamp|conversion|parse"):
        daily_report(source_uri=str(broken), output_uri=str(good))

    assert (good / "daily_report.parquet").read_bytes() == before
    assert not list(good.glob("*.partial"))


def test_cloud_mode_refuses_local_paths_before_any_compute(
    monkeypatch: pytest.MonkeyPatch, prefect_api: str, sample_dir: Path, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")

    with pytest.raises(Exception, match="COMPUTE_MODE=local"):
        daily_report(source_uri=str(sample_dir), output_uri=str(tmp_path))
