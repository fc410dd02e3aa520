"""Where queries run: Polars Cloud presets, or local Polars, behind one helper.

`ComputeSession` authenticates once (cloud mode), or checks a self-hosted cluster is there, then
sends each query to its preset's cluster, which compute/clusters.py starts the first time a query
needs it, and waits for it within the preset's timeout. Whatever ends the block (success,
failure, cancellation, SIGTERM or Ctrl-C, which arrive as BaseExceptions) it cancels the queries
still running and then stops every cluster it started, booted or still booting: the stop is
compute/clusters.py's. How one query is sent and waited for: compute/remote_sink.py; a local
one: compute/local_sink.py.
"""

from __future__ import annotations

import logging
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from prefect_polars_cloud.compute.cloud import ComputeError, QueryTimeout, login
from prefect_polars_cloud.compute.clusters import SessionClusters
from prefect_polars_cloud.compute.evidence import QueryRecord, dashboard_link, fit_labels, query_id
from prefect_polars_cloud.compute.local_sink import run_in_background
from prefect_polars_cloud.compute.presets import PresetName
from prefect_polars_cloud.compute.probe import cluster_problem
from prefect_polars_cloud.compute.remote_sink import Lineage, send, wait_until_done
from prefect_polars_cloud.compute.waits import interruptible_waits
from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.storage.files import atomic_target, is_remote

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)


class ComputeSession(SessionClusters):
    """Run queries on the configured compute; use it as a `with` block."""

    def __enter__(self) -> ComputeSession:
        interruptible_waits()  # Ctrl-C must reach a main thread waiting for a task, as SIGTERM does
        if self.cloud:
            login(self.settings)
        elif self.remote and (problem := cluster_problem(self.settings)):
            # Before any query: the client itself waits minutes on a cluster that is not there.
            raise ComputeError(problem)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def sink_parquet(
        self,
        query: pl.LazyFrame,
        target: str | pl.PartitionBy,
        preset: PresetName,
        labels: list[str] | None = None,
        lineage: Lineage | None = None,
        arrow_schema: Any = None,  # noqa: ANN401 - a pyarrow schema
    ) -> None:
        """Write query to target (one Parquet file, or a folder per day) and wait until done.

        labels tag the query in the Polars Cloud dashboard (the first names it in the records);
        lineage names it in OpenLineage events, which only a self-hosted cluster emits;
        arrow_schema, if given, is the files' schema (an Iceberg table's field ids).
        """
        if preset not in self.presets:  # a typo in a task: say so in local runs too
            raise ComputeError(
                f"no preset [{preset}] in {self.settings.presets_file}; add it there, or use one "
                f"of {', '.join(self.presets)}"
            )
        if not self.remote:
            if isinstance(target, str):
                with atomic_target(target) as path:
                    self._run_local(query.sink_parquet(path, lazy=True, arrow_schema=arrow_schema))
            else:
                self._run_local(query.sink_parquet(target, lazy=True, arrow_schema=arrow_schema))
            return
        remote = query.remote(self.context(preset))
        fitted = fit_labels(labels or [])
        # Lineage: polars_cloud supports it "for on-premises infrastructure only".
        on_premises = lineage if not self.cloud else None
        in_flight = send(remote, target, self.presets[preset], fitted, on_premises, arrow_schema)
        self._await(in_flight, preset, fitted[0] if fitted else preset)

    def _run_local(self, sink: pl.LazyFrame) -> None:
        """Run a local sink in the background, polled: a stop abandons it instead of waiting."""
        with self._lock:
            self._local_running += 1
        try:
            run_in_background(sink, self._closing)
        finally:
            with self._lock:
                self._local_running -= 1

    def _await(self, in_flight: Any, preset: PresetName, label: str) -> None:  # noqa: ANN401
        """Wait for a remote query within the timeout; anything but success fails the caller.

        `await_result()` raises the query's own error when it FAILED, but returns normally for a
        CANCELED query, so the status is checked here. Its only bound is the process-wide
        POLARS_TIMEOUT_MS, so the session polls the status against the preset's own deadline.
        """
        from polars_cloud import QueryStatus

        with self._lock:
            late = self._closed  # sent as the session closed: stop_all has not seen it
            if not late:
                self._in_flight.add(in_flight)
        if late:
            in_flight.cancel()
        started = time.monotonic()
        link = dashboard_link(self._context_of(preset), in_flight)
        status = "FAILED"
        try:
            minutes = self.presets[preset].query_timeout_mins or self.settings.query_timeout_mins
            wait_until_done(
                in_flight,
                started,
                minutes,
                lambda: (
                    f"the {preset} query {query_id(in_flight)} ran longer than {minutes:g} min "
                    f"({env_prefix()}QUERY_TIMEOUT_MINS or the preset's own), so it was cancelled: "
                    f"{link}"
                ),
                self._closing,
            )
            if self._closing.is_set():  # stop_all cancelled it; its status may not say so yet
                status = "CANCELED (run stopped)"
                raise ComputeError(
                    f"the {preset} query {query_id(in_flight)} ended CANCELED (the run is "
                    f"stopping): {link}"
                )
            result = in_flight.await_result()
            status = result.status.name
        except QueryTimeout:
            status = "CANCELED (timeout)"
            self._forget(in_flight)
            raise
        except Exception:
            # The query's own error: it is over, nothing to cancel. An interruption while
            # waiting (SIGTERM, Ctrl-C, cancellation: BaseExceptions) leaves it registered,
            # so that stop_all cancels it before stopping its cluster.
            self._forget(in_flight)
            raise
        finally:
            seconds = time.monotonic() - started
            record = QueryRecord(label, preset, query_id(in_flight), status, seconds, link)
            self.evidence.add(record)
            logger.info(record.line())
        self._forget(in_flight)
        if result.status != QueryStatus.SUCCESS:
            raise ComputeError(f"the {preset} query {query_id(in_flight)} ended {status}: {link}")

    def _context_of(self, preset: PresetName) -> Any:  # noqa: ANN401 - a client context
        """Return the context the preset's queries went to."""
        return self._slots[preset].context if self.cloud else self._self_hosted

    def _forget(self, in_flight: Any) -> None:  # noqa: ANN401 - a query
        with self._lock:
            self._in_flight.discard(in_flight)


def validate_uris(settings: Settings, *uris: str) -> None:
    """Refuse local paths in cloud mode before any compute starts."""
    if settings.compute_mode != "cloud":
        return
    local = [uri for uri in uris if not is_remote(uri)]
    if local:
        raise ComputeError(
            f"cloud mode reads and writes object storage, and {', '.join(map(repr, local))} "
            f"{'is a local path' if len(local) == 1 else 'are local paths'}; give s3:// uris, "
            f"or run locally with {env_prefix()}COMPUTE_MODE=local"
        )
