"""The flow in local mode, by day, against a real temporary Prefect server.

How any flow's run replaces its days, refuses dates and missing inputs and leaves the outputs
of a failed run alone is the library's (the template's tests/library).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow
from prefect.states import Scheduled

from prefect_polars_cloud.config.days import RunDatesError
from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.testing import SAMPLE_DAYS

from {{ cookiecutter.package_name }}.sample_data import write_sample_data
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

from . import reference

FIRST, SECOND, THIRD = SAMPLE_DAYS


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")


def day_folder(output: Path, day: date, name: str = "daily_report") -> Path:
    return output / name / f"date={day.isoformat()}"


def assert_day_matches_the_oracle(output: Path, source: Path, day: date) -> None:
    report = pl.read_parquet(day_folder(output, day))
    expected = reference.daily_report(source, day)
    assert report.columns == ["order_date", "segment", "country", "orders", "revenue"]
    assert [row[:4] for row in report.rows()] == [row[:4] for row in expected]
    # Exactly, not approximately: money adds up to the cent, whatever order rows arrive in.
    assert report["revenue"].to_list() == [row[4] for row in expected]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_the_same_input_gives_the_same_report_bytes(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    run = {"start": FIRST, "end": THIRD, "source_uri": str(sample_dir)}
    first = Path(daily_report(**run, output_uri=str(tmp_path / "first")))
    second = Path(daily_report(**run, output_uri=str(tmp_path / "second")))

    assert snapshot(first) == snapshot(second)


def test_a_range_writes_each_day_from_its_own_partition(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    location = daily_report(
        start=FIRST, end=THIRD, source_uri=str(sample_dir), output_uri=str(tmp_path)
    )

    assert location == str(tmp_path / "daily_report")
    for day in SAMPLE_DAYS:
        assert_day_matches_the_oracle(tmp_path, sample_dir, day)
        cleaned = pl.read_parquet(day_folder(tmp_path, day, "orders"))
        assert cleaned.height == len(reference.clean_orders(sample_dir, day))
        customers = pl.read_parquet(day_folder(tmp_path, day, "customers"))
        assert {r[0]: (r[1], r[2]) for r in customers.rows()} == reference.latest_customers(
            sample_dir
        )
    history = pl.scan_parquet(f"{tmp_path}/daily_report/", hive_partitioning=True).collect()
    assert sorted(set(history["date"].to_list())) == SAMPLE_DAYS
    assert not (tmp_path / "_staging").exists(), "no empty staging folder is left"


def test_no_dates_means_the_day_before_the_scheduled_start(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    # Scheduled for 06:00 on the 3rd and executed now, weeks late: it still reports the 2nd.
    scheduled = datetime(2026, 11, 3, 6, tzinfo=UTC)
    parameters = {"source_uri": str(sample_dir), "output_uri": str(tmp_path)}
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(
            daily_report, parameters=parameters, state=Scheduled(scheduled_time=scheduled)
        )
    state = run_flow(daily_report, flow_run=flow_run, parameters=parameters, return_type="state")

    assert state.is_completed(), state.message
    assert sorted(p.name for p in (tmp_path / "daily_report").iterdir()) == ["date=2026-11-02"]
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).name == "daily-report 2026-11-02"


def test_one_date_alone_is_that_single_day(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    daily_report(end=THIRD, source_uri=str(sample_dir), output_uri=str(tmp_path))

    assert [p.name for p in (tmp_path / "daily_report").iterdir()] == ["date=2026-11-03"]
    assert_day_matches_the_oracle(tmp_path, sample_dir, THIRD)


def test_days_after_today_need_the_setting_even_when_their_input_exists(
    local_mode: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    source = write_sample_data(tmp_path / "source", [tomorrow], rows=200)
    run = {"start": tomorrow, "source_uri": str(source), "output_uri": str(tmp_path / "out")}

    with pytest.raises(RunDatesError, match=f"{ENV_PREFIX}ALLOW_FUTURE_DAYS=true"):
        daily_report(**run)
    assert not (tmp_path / "out").exists()

    monkeypatch.setenv(f"{ENV_PREFIX}ALLOW_FUTURE_DAYS", "true")
    get_settings.cache_clear()
    daily_report(**run)
    assert_day_matches_the_oracle(tmp_path / "out", source, tomorrow)


def test_the_run_publishes_its_days_as_an_artifact(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    daily_report(start=FIRST, end=SECOND, source_uri=str(sample_dir), output_uri=str(tmp_path))

    artifact = Artifact.get("daily-report")
    assert artifact is not None
    text = str(artifact.data)
    assert "| day | rows | orders | revenue |" in text
    for day in (FIRST, SECOND):
        orders = sum(row[3] for row in reference.daily_report(sample_dir, day))
        rows = len(reference.daily_report(sample_dir, day))
        assert f"| {day} | {rows} | {orders} |" in text
    assert f"`{tmp_path / 'daily_report'}/`" in text
