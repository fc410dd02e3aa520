"""A run of any project's flow: its days, its declared partition key, published day by day.

The toy declares `day=` partitions, an NDJSON input by day and a CSV snapshot: the library must
read all of that from the declaration, and its artifact must show the toy's own totals.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.flow_engine import run_flow
from prefect.states import Scheduled

from prefect_polars_cloud.config.days import RunDatesError
from prefect_polars_cloud.storage.files import MissingInputError
from prefect_polars_cloud.storage.input_errors import InputError
from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from support import expected_totals
from toy_pipeline.flow import toy_totals
from toy_pipeline.project import CLEAN_VISITS, DATASETS, ENV_PREFIX, PAGES_USED, TOTALS, VISITS

FIRST, SECOND, THIRD = SAMPLE_DAYS


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_range_is_published_by_day_under_the_declared_key(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    location = toy_totals(
        start=FIRST, end=THIRD, source_uri=str(sample_dir), output_uri=str(tmp_path)
    )

    assert location == str(tmp_path / TOTALS.name)
    for output in (TOTALS, CLEAN_VISITS, PAGES_USED):
        days = sorted(p.name for p in (tmp_path / output.name).iterdir())
        assert days == [f"day={day}" for day in SAMPLE_DAYS], output
    for day in SAMPLE_DAYS:
        totals = pl.read_parquet(tmp_path / DATASETS.partition(TOTALS.name, day))
        assert totals.columns == ["section", "visits", "seconds"], "the key is the folder's"
        assert totals.rows() == expected_totals(sample_dir, day)
    assert not (tmp_path / "_staging").exists(), "nor an empty staging folder"
    artifact = str(Artifact.get("toy-totals").data)  # type: ignore[union-attr]
    assert "| day | rows | visits | seconds |" in artifact
    assert f"`{tmp_path / TOTALS.name}/`: 3 day(s)" in artifact


def test_rerunning_a_day_replaces_exactly_that_day(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    toy_totals(start=FIRST, end=THIRD, source_uri=str(sample_dir), output_uri=str(tmp_path))
    stale = tmp_path / DATASETS.partition(TOTALS.name, SECOND)
    shutil.copy(next(stale.glob("*.parquet")), stale / "from-an-older-run.parquet")
    others = {
        day: snapshot(tmp_path / DATASETS.partition(TOTALS.name, day)) for day in (FIRST, THIRD)
    }

    toy_totals(start=SECOND, source_uri=str(sample_dir), output_uri=str(tmp_path))

    assert not (stale / "from-an-older-run.parquet").exists()
    assert pl.read_parquet(stale).rows() == expected_totals(sample_dir, SECOND)
    assert {
        day: snapshot(tmp_path / DATASETS.partition(TOTALS.name, day)) for day in (FIRST, THIRD)
    } == others


def test_a_missing_day_is_named_with_the_declared_layout(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    shutil.copytree(sample_dir, source)
    shutil.rmtree(source / DATASETS.partition(VISITS.name, SECOND))

    with pytest.raises(MissingInputError) as refused:
        toy_totals(start=FIRST, end=THIRD, source_uri=str(source), output_uri=str(tmp_path / "out"))

    assert f"no visits for {SECOND} under {source / 'visits'}/day=YYYY-MM-DD/*.ndjson" in str(
        refused.value
    )
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.parquet"))


def test_a_failed_run_leaves_every_partition_as_it_was(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "output"
    toy_totals(start=FIRST, end=THIRD, source_uri=str(sample_dir), output_uri=str(output))
    before = snapshot(output)
    broken = tmp_path / "broken"
    shutil.copytree(sample_dir, broken)
    with (broken / DATASETS.partition(VISITS.name, THIRD) / "visits.ndjson").open("a") as visits:
        visits.write('{"visit_id": 9, , "seconds": 1.0}\n')  # not JSON: the third day fails

    with pytest.raises(InputError):
        toy_totals(start=FIRST, end=THIRD, source_uri=str(broken), output_uri=str(output))

    assert snapshot(output) == before


def test_no_dates_means_the_day_before_the_scheduled_start(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    # Scheduled for 06:00 on the 3rd and executed now, weeks late: it still totals the 2nd.
    scheduled = datetime(2026, 11, 3, 6, tzinfo=UTC)
    parameters = {"source_uri": str(sample_dir), "output_uri": str(tmp_path)}
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run(
            toy_totals, parameters=parameters, state=Scheduled(scheduled_time=scheduled)
        )
    state = run_flow(toy_totals, flow_run=flow_run, parameters=parameters, return_type="state")

    assert state.is_completed(), state.message
    assert sorted(p.name for p in (tmp_path / TOTALS.name).iterdir()) == ["day=2026-11-02"]
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).name == "toy-totals 2026-11-02"


def test_dates_that_cannot_run_are_refused_with_what_to_pass(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(RunDatesError, match="before start"):
        toy_totals(start=THIRD, end=FIRST, source_uri=str(sample_dir), output_uri=str(tmp_path))


def test_cloud_mode_refuses_local_paths_before_any_compute(
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: str,
    cloud_sim: PolarsCloudSimulator,
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")

    with pytest.raises(Exception, match=f"{ENV_PREFIX}COMPUTE_MODE=local"):
        toy_totals(start=FIRST, source_uri=str(sample_dir), output_uri=str(tmp_path))

    assert cloud_sim.calls == []
