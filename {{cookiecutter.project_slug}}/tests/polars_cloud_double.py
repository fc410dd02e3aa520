"""A recording stand-in for polars_cloud, which tests cannot reach.

Every call is recorded with its arguments; test_polars_cloud_contract binds each recorded call
against the real polars_cloud signature, so an upstream API change fails the tests. Queries
really run: the remote sink executes the LazyFrame on local Polars into the same uri, so a
cloud-mode flow run produces a real report.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl


@dataclass
class Call:
    """One call to the polars_cloud API."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    preset: str | None = None  # the preset whose context ran the call, where there is one


@dataclass
class PolarsCloudDouble:
    """Install with install(monkeypatch); read .calls afterwards.

    log: also append each call's name and keyword arguments to this file (for subprocesses).
    block_preset: a sink on this preset's context waits forever (for cancellation tests).
    fail_preset: a sink on this preset's context fails like a failed remote query.
    stop_error: what stop() raises for a started context (None: stops cleanly).
    """

    log: Path | None = None
    block_preset: str | None = None
    fail_preset: str | None = None
    stop_error: BaseException | None = None
    auth_error: BaseException | None = None
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, *args: Any, on: str | None = None, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append(Call(name, args, kwargs, on))
            if self.log is not None:
                with self.log.open("a") as log:
                    entry = {"name": name, "preset": on}
                    log.write(json.dumps(entry) + "\n")

    def names(self) -> list[str]:
        return [call.name for call in self.calls]

    def module(self) -> types.ModuleType:
        """Build the module that replaces polars_cloud in sys.modules."""
        double = self

        class ComputeContext:
            def __init__(self, **kwargs: Any) -> None:
                # The session labels each context "<slug>-<preset>".
                self.preset = kwargs["labels"][-1].rsplit("-", 1)[-1]
                double.record("ComputeContext", on=self.preset, **kwargs)
                self.started = False

            def stop(self, **kwargs: Any) -> None:
                double.record("ComputeContext.stop", on=self.preset, **kwargs)
                if not self.started:
                    raise RuntimeError("nothing to stop, context is not running")
                if double.stop_error is not None:
                    raise double.stop_error

        def authenticate(**kwargs: Any) -> None:
            double.record("authenticate", **kwargs)
            if double.auth_error is not None:
                raise double.auth_error

        module = types.ModuleType("polars_cloud")
        module.ComputeContext = ComputeContext  # type: ignore[attr-defined]
        module.authenticate = authenticate  # type: ignore[attr-defined]
        return module

    def remote(self, query: pl.LazyFrame, context: Any = None, **kwargs: Any) -> RemoteQuery:
        """Stand in for pl.LazyFrame.remote."""
        self.record("LazyFrame.remote", query, context, on=context.preset, **kwargs)
        context.started = True
        return RemoteQuery(self, query, context)

    def install(self, monkeypatch: Any) -> PolarsCloudDouble:
        """Replace polars_cloud and LazyFrame.remote for the test's duration."""
        monkeypatch.setitem(sys.modules, "polars_cloud", self.module())

        def remote(query: pl.LazyFrame, context: Any = None, **kwargs: Any) -> RemoteQuery:
            return self.remote(query, context, **kwargs)

        # A plain function, so that `query.remote(ctx)` passes the query as it does upstream.
        monkeypatch.setattr(pl.LazyFrame, "remote", remote)
        return self


@dataclass
class RemoteQuery:
    """Stands in for LazyFrameRemote, and for ExecuteRemote once distributed."""

    double: PolarsCloudDouble
    query: pl.LazyFrame
    context: Any
    distributed_: bool = False

    def distributed(self, **kwargs: Any) -> RemoteQuery:
        self.double.record("LazyFrameRemote.distributed", on=self.context.preset, **kwargs)
        return RemoteQuery(self.double, self.query, self.context, distributed_=True)

    def sink_parquet(self, uri: str, **kwargs: Any) -> FinishedQuery:
        kind = "ExecuteRemote" if self.distributed_ else "LazyFrameRemote"
        self.double.record(f"{kind}.sink_parquet", uri, on=self.context.preset, **kwargs)
        if self.context.preset == self.double.block_preset:
            while True:  # a long query; only a signal or cancellation ends it
                time.sleep(0.05)
        if self.context.preset == self.double.fail_preset:
            error = RuntimeError("remote query failed: worker lost")
            return FinishedQuery(self.double, self.context.preset, error)
        self.query.sink_parquet(uri)
        return FinishedQuery(self.double, self.context.preset)


@dataclass
class FinishedQuery:
    """Stands in for DirectQuery / ProxyQuery."""

    double: PolarsCloudDouble
    preset: str
    error: Exception | None = None

    def await_result(self, **kwargs: Any) -> object:
        self.double.record("Query.await_result", on=self.preset, **kwargs)
        if self.error is not None:
            raise self.error
        return object()
