"""Where queries run: Polars Cloud presets, or local Polars, behind one helper.

`ComputeSession` authenticates once (cloud mode), then starts each preset's ComputeContext itself,
once, the first time a query needs it. Whatever ends the block (success, failure, cancellation,
SIGTERM or Ctrl-C, which arrive as BaseExceptions) it cancels the queries still running and then
stops every cluster it started, booted or still booting.

polars-cloud 0.12's `spawn` starts a context whose compute id is still None, without a lock: two
tasks submitting to one fresh context at once boot two clusters and only the last is ever
stopped. So the session starts each context itself, once per preset (the preset's lock decides
who starts it), before any query is submitted to it (testing/polars_cloud_sim.py runs the real
client code against a simulated server, so this is tested, not assumed). A boot runs in a thread
of its own, and a stop never waits for one: compute/slots.py. How one query is sent and waited for:
compute/remote_sink.py; a local one: compute/local_sink.py.
"""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from prefect_polars_cloud.compute import manifests
from prefect_polars_cloud.compute.cloud import ComputeError, QueryTimeout, login
from prefect_polars_cloud.compute.evidence import (
    ClusterRecord,
    Evidence,
    QueryRecord,
    Stopped,
    dashboard_link,
    fit_labels,
    query_id,
)
from prefect_polars_cloud.compute.local_sink import run_in_background
from prefect_polars_cloud.compute.presets import Preset, PresetName, load_presets
from prefect_polars_cloud.compute.probe import cluster_problem
from prefect_polars_cloud.compute.remote_sink import Lineage, send, wait_until_done
from prefect_polars_cloud.compute.slots import Slot
from prefect_polars_cloud.compute.waits import interruptible_waits
from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.storage.files import atomic_target, is_remote

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)


class ComputeSession:
    """Run queries on the configured compute; use it as a `with` block."""

    def __init__(self, settings: Settings, presets: dict[str, Preset] | None = None) -> None:
        self.settings = settings
        # Read (and checked) now: a wrong presets.toml stops the run before anything starts.
        self.presets = load_presets(settings) if presets is None else presets
        self._closing = threading.Event()  # set once it stops: wakes whoever waits
        self._slots = {name: Slot(name, self._closing) for name in self.presets}
        self._in_flight: set[Any] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.evidence = Evidence()
        self._clusters: dict[PresetName, ClusterRecord] = {}
        self._self_hosted: Any = None  # the ClusterContext of compute_mode=cluster
        self._local_running = 0  # local queries under way: a stop abandons them
        self.stopped = Stopped()  # what stop_all did

    @property
    def remote(self) -> bool:
        """Tell whether queries leave this process (Polars Cloud, or a self-hosted cluster)."""
        return self.settings.compute_mode != "local"

    @property
    def closed(self) -> bool:
        """Tell whether the session stopped its compute (its block ended, or a stop came)."""
        return self._closed

    @property
    def cloud(self) -> bool:
        """Tell whether queries go to Polars Cloud."""
        return self.settings.compute_mode == "cloud"

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

    def context(self, preset: PresetName) -> Any:  # noqa: ANN401 - polars_cloud.ComputeContext
        """Return the preset's ComputeContext, started: the first caller starts it, others wait.

        In cluster mode every preset runs on the one self-hosted cluster: nothing to start.
        """
        if not self.cloud:
            return self._cluster_context()
        slot = self._slots[preset]
        return slot.wait(first=slot.begin(lambda: self._boot(preset)))

    def _boot(self, preset: PresetName) -> None:
        """Describe and start the preset's cluster (in its boot thread)."""
        slot = self._slots[preset]
        if slot.context is None:
            slot.context = self._build(preset)
        if self._closing.is_set():  # stopped while it was being described: request nothing
            raise ComputeError(f"the compute session is closed; not starting {preset}")
        self._start(preset, slot.context)

    def _start(self, preset: PresetName, context: Any) -> None:  # noqa: ANN401 - a context
        """Start (or, for a manifest that is up, join) the preset's cluster; keep its record."""
        spec = self.presets[preset]
        # A manifest's live cluster is joined, not booted: the record says so.
        reused = spec.mode == "manifest" and context.get_status().is_available()
        # Billing starts with the request, so the record does too.
        record = ClusterRecord(preset, context.cpus or spec.cpus or 0, context.cluster_size)
        record.mode, record.reused = spec.mode, reused
        self._clusters[preset] = record
        self.evidence.add(record)
        if reused:
            logger.info(
                "joining the running %s compute %s", preset, spec.compute_name(self.settings)
            )
        else:
            logger.info(
                "starting the %s compute: %s; %s",
                preset,
                spec.describe(),
                spec.lifecycle(self.settings),
            )
        context.start()

    def _cluster_context(self) -> Any:  # noqa: ANN401 - polars_cloud.ClusterContext
        """Connect to the self-hosted cluster once; it outlives the run, so it is never stopped."""
        import polars_cloud as pc

        with self._lock:
            if self._closed:
                raise ComputeError("the compute session is closed")
            if self._self_hosted is None:
                self._self_hosted = pc.ClusterContext(uri=self.settings.cluster_uri or "")
            return self._self_hosted

    def start(self, *names: PresetName) -> None:
        """Start the presets' clusters side by side, so their boots overlap (cloud mode only).

        Every boot is requested before any is waited for; a preset started here is not started
        again by its first query.
        """
        if not self.cloud or not names:
            return
        firsts = {name: self._slots[name].begin(lambda n=name: self._boot(n)) for name in names}
        for name, first in firsts.items():
            self._slots[name].wait(first)  # the first boot that failed raises here

    def release(self, preset: PresetName) -> None:
        """Stop the preset's cluster now: the run sends it no more queries, so stop paying.

        Not for a cluster that outlives the run (a manifest's, kept for the next run). Call it
        once the preset's tasks are done; a later query to the preset would boot it again.
        """
        slot = self._slots[preset]
        if not self.cloud or self.presets[preset].outlives_run:
            return
        with slot.lock:
            if slot.started:
                self._stop(preset)
                slot.started = False

    def _build(self, preset: PresetName) -> Any:  # noqa: ANN401 - polars_cloud.ComputeContext
        """Describe the preset to Polars Cloud (this calls the control plane, so: after login)."""
        import polars_cloud as pc

        spec = self.presets[preset]
        if spec.mode == "manifest":
            return manifests.connect(self.settings, spec)
        return pc.ComputeContext(
            workspace=self.settings.workspace, **spec.context_keywords(self.settings)
        )

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

    def stop_all(self) -> Stopped:
        """Cancel running queries, then stop every started cluster, up or booting; never raise.

        Only the first call stops anything (a signal handler's, then the block's exit): later
        ones return what the first did.
        """
        with self._lock:
            if self._closed:
                return self.stopped
            self._closed = True
            in_flight, self._in_flight = list(self._in_flight), set()
        self._closing.set()
        for query in in_flight:
            try:
                query.cancel()
            except Exception as error:  # noqa: BLE001 - the cluster stop below ends it anyway
                logger.warning("could not cancel query %s (%s)", query_id(query), error)
            else:
                logger.info("cancelled query %s", query_id(query))
                self.stopped.queries.append(query_id(query))
        if not self.remote:
            self.stopped.local = self._local_running > 0
        for preset, slot in self._slots.items():
            # The lock is never held for a boot: a boot in progress is stopped, not waited for.
            with slot.lock:
                if not slot.started:
                    continue
                # A manifest's cluster is left for the next run (booting, it finishes its boot
                # and idles out), unless it failed to come up.
                if self.presets[preset].outlives_run and slot.start_error is None:
                    self._leave_running(preset)
                    self.stopped.left_running.append(preset)
                else:
                    booting = not slot.booted.is_set()
                    self._stop(preset)
                    self.stopped.clusters.append(f"{preset} (booting)" if booting else preset)
        return self.stopped

    def _leave_running(self, preset: PresetName) -> None:
        """Leave a manifest's cluster up for the next run; its idle timeout ends it."""
        cluster = self._clusters.get(preset)
        if cluster is None:  # stopped while its context was still being described
            return
        cluster.stopped, cluster.left_running = time.monotonic(), True
        logger.info(
            "left the %s compute %s running for the next run: it stops after its idle timeout "
            "(or set stop_after_run = true in presets.toml)",
            preset,
            self.presets[preset].compute_name(self.settings),
        )
        logger.info(cluster.line())

    def _stop(self, preset: PresetName) -> None:
        """Stop the preset's cluster, up or still booting; record the stop; never raise."""
        # The preset's own idle timeout, else the setting: what its cluster got.
        idle = self.presets[preset].context_keywords(self.settings)["idle_timeout_mins"]
        confirmed = self._slots[preset].stop(idle)
        cluster = self._clusters.get(preset)
        if cluster is not None:
            cluster.stopped, cluster.confirmed = time.monotonic(), confirmed
            logger.info(cluster.line())


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
