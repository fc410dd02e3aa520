"""Hold every call the project makes to polars_cloud against the real, installed signatures.

The double records calls; here each one is bound to the real function it stands in for, so a
renamed parameter or a removed method upstream fails this test instead of a production run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import polars_cloud as real
import pytest

from {{ cookiecutter.package_name }}.compute import ComputeSession
from {{ cookiecutter.package_name }}.settings import Settings

from .polars_cloud_double import PolarsCloudDouble

# Recorded name -> the real callables it stands in for; methods are bound with a stand-in self.
REAL: dict[str, tuple[list[Callable[..., Any]], bool]] = {
    "authenticate": ([real.authenticate], False),
    "ComputeContext": ([real.ComputeContext.__init__], True),
    "ComputeContext.stop": ([real.ComputeContext.stop], True),
    "LazyFrame.remote": ([pl.LazyFrame.remote], False),
    "LazyFrameRemote.distributed": ([real.LazyFrameRemote.distributed], True),
    "LazyFrameRemote.sink_parquet": ([real.LazyFrameRemote.sink_parquet], True),
    "ExecuteRemote.sink_parquet": ([real.ExecuteRemote.sink_parquet], True),
    "Query.await_result": ([real.DirectQuery.await_result, real.ProxyQuery.await_result], True),
}


@pytest.fixture
def recorded_calls(
    monkeypatch: pytest.MonkeyPatch, service_account_env: None, tmp_path: Path
) -> list[Any]:
    """Run a whole session, distributed preset included, under the double."""
    original = PolarsCloudDouble().install(monkeypatch)
    query = pl.LazyFrame({"a": [1]})
    settings = Settings(compute_mode="cloud", secret_backend="env", large_cluster_size=2)
    with ComputeSession(settings) as compute:
        compute.sink_parquet(query, str(tmp_path / "small.parquet"), "small")
        compute.sink_parquet(query, str(tmp_path / "large.parquet"), "large")
    monkeypatch.undo()
    return original.calls


def test_the_session_uses_every_recorded_part_of_the_api(recorded_calls: list[Any]) -> None:
    assert {call.name for call in recorded_calls} == set(REAL)


def test_every_call_binds_to_the_real_signature(recorded_calls: list[Any]) -> None:
    for call in recorded_calls:
        functions, is_method = REAL[call.name]
        for function in functions:
            self_stand_in = (object(),) if is_method else ()
            try:
                inspect.signature(function).bind(*self_stand_in, *call.args, **call.kwargs)
            except TypeError as error:
                where = f"{call.name}{call.args, call.kwargs}"
                pytest.fail(f"{where} no longer fits {function.__qualname__}: {error}")


def test_the_real_api_returns_what_the_session_chains_on() -> None:
    # remote() -> LazyFrameRemote; distributed() -> ExecuteRemote; sink -> DirectQuery | ProxyQuery
    assert "LazyFrameRemote" in str(inspect.signature(pl.LazyFrame.remote).return_annotation)
    assert "ExecuteRemote" in str(
        inspect.signature(real.LazyFrameRemote.distributed).return_annotation
    )
    for sink in (real.LazyFrameRemote.sink_parquet, real.ExecuteRemote.sink_parquet):
        annotation = str(inspect.signature(sink).return_annotation)
        assert "DirectQuery" in annotation and "ProxyQuery" in annotation


def test_stopping_a_context_that_never_started_raises_runtime_error_upstream() -> None:
    # compute.stop_all relies on this: the real stop() raises RuntimeError("... not running").
    source = inspect.getsource(real.ComputeContext.stop)
    assert "RuntimeError" in source and "not running" in source
