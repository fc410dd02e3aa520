"""The compute lifecycle, with polars_cloud replaced by the recording double."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import polars as pl
import pytest
from prefect.exceptions import TerminationSignal

from {{ cookiecutter.package_name }}.compute import ComputeError, ComputeSession
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings

from .conftest import CLIENT_ID, CLIENT_SECRET
from .polars_cloud_double import PolarsCloudDouble

QUERY = pl.LazyFrame({"a": [1, 2, 3]})


def cloud_settings(**overrides: object) -> Settings:
    return Settings(compute_mode="cloud", secret_backend="env", **overrides)  # type: ignore[arg-type]


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch, service_account_env: None) -> PolarsCloudDouble:
    return PolarsCloudDouble().install(monkeypatch)


def stops(double: PolarsCloudDouble) -> list[str | None]:
    return [call.preset for call in double.calls if call.name == "ComputeContext.stop"]


def test_authenticates_before_building_any_context(double: PolarsCloudDouble) -> None:
    with ComputeSession(cloud_settings()) as compute:
        assert double.names() == ["authenticate"]
        compute.context("small")
    assert double.names()[:2] == ["authenticate", "ComputeContext"]
    login = double.calls[0]
    assert login.kwargs == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "interactive": False,
    }


def test_presets_come_from_the_settings(double: PolarsCloudDouble, tmp_path: Path) -> None:
    settings = cloud_settings(
        small_cpus=3, small_memory=6, large_cpus=8, large_memory=32, workspace="analytics"
    )
    with ComputeSession(settings) as compute:
        small, large = compute.context("small"), compute.context("large")
        assert compute.context("small") is small, "a preset's context is built once"
        assert large is not small
    built = {call.preset: call.kwargs for call in double.calls if call.name == "ComputeContext"}
    assert built["small"] | {"labels": None} == {
        "cpus": 3,
        "memory": 6,
        "cluster_size": 1,
        "workspace": "analytics",
        "idle_timeout_mins": settings.idle_timeout_mins,
        "labels": None,
    }
    assert built["large"]["cpus"] == 8 and built["large"]["memory"] == 32
    assert built["large"]["labels"] == [settings.label, f"{settings.label}-large"]


def test_every_started_context_is_stopped_after_success(
    double: PolarsCloudDouble, tmp_path: Path
) -> None:
    with ComputeSession(cloud_settings()) as compute:
        compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")
        compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large")

    assert sorted(stops(double)) == ["large", "small"]
    assert pl.read_parquet(tmp_path / "large.parquet").equals(QUERY.collect())


def test_a_distributed_preset_runs_distributed(double: PolarsCloudDouble, tmp_path: Path) -> None:
    with ComputeSession(cloud_settings(large_cluster_size=3)) as compute:
        compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")
        compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large")

    distributed = [
        call.preset for call in double.calls if call.name == "LazyFrameRemote.distributed"
    ]
    assert distributed == ["large"]
    assert [c.preset for c in double.calls if c.name == "ExecuteRemote.sink_parquet"] == ["large"]
    assert [c.preset for c in double.calls if c.name == "Query.await_result"] == ["small", "large"]


def test_a_context_that_never_started_is_not_an_error(double: PolarsCloudDouble) -> None:
    with ComputeSession(cloud_settings()) as compute:
        compute.context("large")  # built, but no query ever ran on it

    assert stops(double) == ["large"]


@pytest.mark.parametrize(
    "interruption",
    [
        RuntimeError("the task failed"),
        asyncio.CancelledError(),
        KeyboardInterrupt(),
        TerminationSignal(15),
    ],
    ids=["failure", "cancellation", "keyboard-interrupt", "sigterm"],
)
def test_contexts_stop_and_the_original_error_survives(
    double: PolarsCloudDouble, tmp_path: Path, interruption: BaseException
) -> None:
    double.stop_error = ConnectionError("control plane unreachable")

    with pytest.raises(type(interruption)) as raised:
        with ComputeSession(cloud_settings()) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")
            raise interruption

    assert raised.value is interruption
    assert stops(double) == ["small"]


def test_a_failed_remote_query_fails_the_caller(double: PolarsCloudDouble, tmp_path: Path) -> None:
    double.fail_preset = "large"

    with pytest.raises(RuntimeError, match="worker lost"):
        with ComputeSession(cloud_settings()) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large")

    assert stops(double) == ["large"]


def test_a_stop_failure_is_logged_not_raised(
    double: PolarsCloudDouble, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    double.stop_error = ConnectionError("control plane unreachable")

    with caplog.at_level(logging.WARNING):
        with ComputeSession(cloud_settings()) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")

    assert "could not stop the small compute context (ConnectionError)" in caplog.text


def test_an_authentication_error_never_shows_the_secret(
    double: PolarsCloudDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    double.auth_error = ValueError(f"invalid client {CLIENT_ID} with secret {CLIENT_SECRET}")

    with pytest.raises(ComputeError) as raised:
        with ComputeSession(cloud_settings()):
            pass

    message = str(raised.value)
    assert CLIENT_SECRET not in message and CLIENT_ID not in message
    assert "env backend" in message and f"{ENV_PREFIX}COMPUTE_MODE=local" in message
    assert [name for name in double.names() if name == "ComputeContext"] == []


def test_local_mode_needs_no_credentials_and_no_cloud(tmp_path: Path) -> None:
    with ComputeSession(Settings(compute_mode="local")) as compute:
        compute.sink_parquet(QUERY, str(tmp_path / "out" / "q.parquet"), "large")

    assert pl.read_parquet(tmp_path / "out" / "q.parquet").equals(QUERY.collect())


def test_a_local_write_that_fails_midway_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "daily_report.parquet"
    QUERY.collect().write_parquet(target)
    before = target.read_bytes()

    def explode(batch: pl.Series) -> pl.Series:
        raise ValueError("disk on fire")

    failing = pl.LazyFrame({"a": range(100_000)}).with_columns(
        pl.col("a").map_batches(explode, return_dtype=pl.Int64)
    )
    with pytest.raises(Exception, match="disk on fire"):
        with ComputeSession(Settings(compute_mode="local")) as compute:
            compute.sink_parquet(failing, str(target), "large")

    assert target.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["daily_report.parquet"]
