"""A compute session's clusters: each preset's started once, and every one stopped at the end.

polars-cloud 0.12's `spawn` starts a context whose compute id is still None, without a lock: two
tasks submitting to one fresh context at once boot two clusters and only the last is ever
stopped. So the session starts each context itself, once per preset (the preset's lock decides
who starts it), before any query is submitted to it (testing/polars_cloud_sim.py runs the real
client code against a simulated server, so this is tested, not assumed). A boot runs in a thread
of its own, and a stop never waits for one: compute/slots.py. Whatever ends the session, its stop
cancels the queries still running, then stops every cluster it started, booted or still booting,
and leaves a manifest's for the next run. How queries are sent to these clusters:
compute/session.py.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from prefect_polars_cloud.compute import manifests
from prefect_polars_cloud.compute.cloud import ComputeError
from prefect_polars_cloud.compute.evidence import ClusterRecord, Evidence, Stopped, query_id
from prefect_polars_cloud.compute.presets import Preset, PresetName, load_presets
from prefect_polars_cloud.compute.slots import Slot
from prefect_polars_cloud.config.settings import Settings

logger = logging.getLogger(__name__)


class SessionClusters:
    """Start each preset's cluster once and stop them all; the stop half of ComputeSession.

    It also keeps what a stop must end first: the remote queries in flight and the local ones
    running, which ComputeSession registers as it submits them.
    """

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
