"""A simulator of Polars Cloud's server side, below the real polars_cloud client.

Polars Cloud cannot be reached from a test, so this replaces exactly what leaves the process and
nothing else. The real `LazyFrame.remote`, `LazyFrameRemote`, `ExecuteRemote`, `prepare_query`,
`spawn`, `ComputeContext`, `DirectQuery` and `QueryResult` run unmodified; what is replaced are
the compiled module's network calls (polars-cloud 0.12.0):

- `polars_cloud.constants.API_CLIENT`: the control plane (authentication, workspaces, compute
  create / status / stop, server info, and the named computes: manifests registered, read,
  started and unregistered), in control_plane.py;
- `polars_cloud.polars_cloud.resolve_compute_context_specs`: it calls the control plane from
  `ComputeContext(...)` even when cpus and memory are given;
- `polars_cloud.polars_cloud.SchedulerClient`: the direct-mode query client (submit, status,
  result, cancel).

The simulated scheduler deserializes the plan it receives and runs it on local Polars, so a
query writes what Polars Cloud would write, to wherever the plan's sink points (moto S3 in tests).
It can make requests, boots and queries slow, fail or cancel a chosen query, or hold one until it is
cancelled, and it records every call (bound to the real signature: test_polars_cloud_contract
checks that each simulated method has the real method's parameters).

The control plane is control_plane.py's, the scheduler scheduler.py's; this module holds the
simulator's state, what a test reads of it, and its installation.

Usage: `sim = PolarsCloudSimulator(client_id=..., client_secret=...).install(monkeypatch)`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
import weakref
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import polars as pl
import polars_cloud.constants
import polars_cloud.polars_cloud as pcr

from prefect_polars_cloud.testing.control_plane import Cluster, ControlPlane, Manifest
from prefect_polars_cloud.testing.scheduler import (
    TRANSPORT_ERROR,
    Query,
    Rule,
    SimulatedScheduler,
    greet_as_grpc,
    scheduler_client_class,
)

# What tests and benchmarks import from here, wherever it is defined.
__all__ = ["TRANSPORT_ERROR", "Cluster", "PolarsCloudSimulator", "Query", "scheduler_client_class"]


class PolarsCloudSimulator(SimulatedScheduler):
    """The control plane and the scheduler of Polars Cloud, in process."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        boot_seconds: float = 0.0,
        query_seconds: float = 0.0,
        boot_failure: str | None = None,
        request_seconds: float = 0.0,
        log: Path | None = None,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.boot_seconds, self.query_seconds = boot_seconds, query_seconds
        self.boot_failure = boot_failure  # every boot ends FAILED with this message
        self.request_seconds = request_seconds  # how long a start_compute request takes
        self.log = log
        self.control_plane = ControlPlane(self)
        self.workspace = SimpleNamespace(
            id=uuid.uuid4(),
            organization_id=uuid.uuid4(),
            name="simulated-workspace",
            description="",
            deployment=pcr.WorkspaceDeploymentModel.Aws,
            status=pcr.WorkspaceStateModel.Active,
            idle_timeout_mins=60,
        )
        self.authenticated = False
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.clusters: dict[UUID, Cluster] = {}
        self.hosted: dict[str, Cluster] = {}  # self-hosted clusters, by host:port
        self.manifests: dict[str, Manifest] = {}
        self.queries: dict[UUID, Query] = {}
        self.rules: list[Rule] = []
        self._settings: dict[int, bool] = {}  # id(PyQuerySettings) -> distributed
        self._lineage: dict[int, dict[str, Any]] = {}  # id(PyLineageContext) -> its keywords
        self._lock = threading.Lock()

    # -- reading ----------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Return the names of the calls received, in order."""
        return [name for name, _ in self.calls]

    def started(self, preset: str) -> list[Cluster]:
        """Return the clusters booted for a preset."""
        return [c for c in self.clusters.values() if c.preset == preset]

    def stopped(self, preset: str) -> list[Cluster]:
        """Return the preset's clusters that were stopped."""
        return [c for c in self.started(preset) if c.stopped_at is not None]

    def host_cluster(self, address: str, cpus: int = 8, nodes: int = 1) -> Cluster:
        """Stand up a self-hosted Polars cluster at address (host:port): up, not ours to stop."""
        cluster = Cluster(uuid.uuid4(), uuid.uuid4(), cpus, cpus * 4, nodes, [], None, None, None)
        cluster.status = pcr.ComputeStatusModel.Idle
        self.hosted[address] = cluster
        return cluster

    def serve_cluster(self, cpus: int = 8, nodes: int = 1) -> tuple[str, Cluster]:
        """Host a self-hosted cluster on a loopback port that greets as a gRPC server does.

        The project greets the scheduler before any query (compute/probe.py): the port answers
        that greeting for real; the queries then reach the simulated SchedulerClient. Returns
        the cluster's URI and the cluster.
        """
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        done = threading.Event()
        weakref.finalize(self, done.set)  # the port closes with the simulator
        threading.Thread(target=greet_as_grpc, args=(listener, done), daemon=True).start()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        return f"http://{address}", self.host_cluster(address, cpus, nodes)

    def register_manifest(self, name: str, **changes: Any) -> Manifest:  # noqa: ANN401
        """Register a manifest as someone else did earlier (e.g. with other Polars versions)."""
        spec = {
            "cluster_size": 1,
            "mode": pcr.DBClusterModeModel.Direct,
            "cpus": 2,
            "ram_gb": 8,
            "labels": [],
            "env_vars": {},
            "log_level": pcr.LogLevelModel.Info,
            "idle_timeout_mins": 60,
        }
        versions = {k: changes.pop(k) for k in ("polars_version", "python_version") if k in changes}
        manifest = Manifest(name, self.workspace.id, spec | changes, **versions)
        self.manifests[name] = manifest
        return manifest

    def idle_out(self, name: str) -> None:
        """Stop a manifest's live cluster as its idle timeout would."""
        manifest = self.manifests[name]
        if manifest.live_cluster_id is not None:
            cluster = self.clusters[manifest.live_cluster_id]
            cluster.status = pcr.ComputeStatusModel.Stopped
            cluster.stopped_at = cluster.stopped_at or time.monotonic()
            manifest.live_cluster_id = None

    def running(self) -> list[Cluster]:
        """Return the clusters still billing."""
        return [c for c in self.clusters.values() if c.stopped_at is None]

    # -- installing ------------------------------------------------------------------------

    def install(self, monkeypatch: Any) -> PolarsCloudSimulator:  # noqa: ANN401 - MonkeyPatch
        """Replace the client's network calls with this simulator until monkeypatch.undo()."""
        monkeypatch.setattr(polars_cloud.constants, "API_CLIENT", self.control_plane)
        monkeypatch.setattr(pcr, "resolve_compute_context_specs", self.resolve_specs)
        monkeypatch.setattr(pcr, "SchedulerClient", scheduler_client_class(self))
        # A pass-through: the settings object is opaque, so note whether it is distributed.
        serialize = pcr.serialize_query_settings

        def noting_serialize(**kwargs: Any) -> Any:  # noqa: ANN401 - PyQuerySettings
            settings = serialize(**kwargs)
            self._settings[id(settings)] = kwargs["distributed_settings"] is not None
            return settings

        monkeypatch.setattr(pcr, "serialize_query_settings", noting_serialize)
        # The same for a query's OpenLineage context, also opaque: keep its keywords.
        lineage_context = pcr.PyLineageContext

        def noting_lineage(**kwargs: Any) -> Any:  # noqa: ANN401 - PyLineageContext
            context = lineage_context(**kwargs)
            self._lineage[id(context)] = kwargs
            return context

        monkeypatch.setattr(pcr, "PyLineageContext", noting_lineage)
        return self

    def record(self, name: str, **arguments: object) -> None:
        """Keep one call (secrets are recorded too: the tests compare them, never print them)."""
        with self._lock:
            self.calls.append((name, arguments))
            if self.log is not None:
                # What a test in another process reads: the call, its preset, when (wall
                # clock), and a stopped cluster's fate (a stopped run may end with os._exit).
                line = {"name": name, "preset": arguments.get("preset", ""), "at": time.time()}
                if "booted" in arguments:
                    line["booted"] = arguments["booted"]
                with self.log.open("a") as log:
                    log.write(json.dumps(line) + "\n")

    def require_login(self, name: str) -> None:
        """Refuse control-plane calls before `authenticate`, as the real API does."""
        if not self.authenticated:
            raise pcr.AuthLoadError(f"{name}: not authenticated; call authenticate() first")

    # -- control plane ---------------------------------------------------------------------

    def resolve_specs(
        self,
        workspace_id: UUID,
        cpus: int | None = None,
        memory: int | None = None,
        cpu_architectures: Any = None,  # noqa: ANN401
        instance_type: str | None = None,
        storage: int | None = None,
        big_instance_type: str | None = None,
        big_instance_multiplier: int | None = None,
        big_instance_storage: int | None = None,
        cluster_size: int | None = None,
    ) -> Any:  # noqa: ANN401 - ComputeContextSpecs
        """Stand in for pcr.resolve_compute_context_specs: validate, echo the request."""
        self.require_login("resolve_compute_context_specs")
        self.record("resolve_compute_context_specs", cpus=cpus, memory=memory)
        for name, value in {"cpus": cpus, "memory": memory, "cluster_size": cluster_size}.items():
            if value is not None and value < 1:
                raise pcr.ComputeClusterMisspecified(f"{name} must be at least 1, got {value}")
        return pcr.ComputeContextSpecs(
            cpus=cpus,
            memory=memory,
            cpu_architectures=cpu_architectures,
            instance_type=instance_type,
            storage=storage,
            big_instance_type=big_instance_type,
            big_instance_multiplier=big_instance_multiplier,
            big_instance_storage=big_instance_storage,
            cluster_size=cluster_size or 1,
        )

    def cluster(self, compute_id: UUID) -> Cluster:
        """Return a known cluster, or fail like the API's 404."""
        try:
            return self.clusters[compute_id]
        except KeyError:
            raise pcr.NotFoundError(f"compute {compute_id} not found") from None

    def status_of(self, cluster: Cluster) -> Any:  # noqa: ANN401 - ComputeStatusModel
        """Finish a boot that is due; a status call during a boot waits for it (a slow poll).

        The real client polls a booting cluster again only after 30 s, so a boot that completes
        inside the first status call keeps simulated latency in the simulator's own hands. A
        stop ends the wait: the call then reports the cluster stopped.
        """
        if cluster.status == pcr.ComputeStatusModel.Starting:
            remaining = cluster.requested_at + self.boot_seconds - time.monotonic()
            if remaining > 0:
                cluster.stop_requested.wait(remaining)
            with self._lock:
                if cluster.status != pcr.ComputeStatusModel.Starting:
                    pass
                elif self.boot_failure is not None:
                    cluster.status = pcr.ComputeStatusModel.Failed
                else:
                    cluster.status = pcr.ComputeStatusModel.Idle
                    cluster.booted_at = time.monotonic()
        return cluster.status

    def compute_model(self, cluster: Cluster) -> SimpleNamespace:
        """Describe a cluster with the fields the client reads of a ComputeModel."""
        return SimpleNamespace(
            id=cluster.id,
            workspace_id=cluster.workspace_id,
            status=self.status_of(cluster),
            termination=SimpleNamespace(termination_message=self.boot_failure)
            if cluster.status == pcr.ComputeStatusModel.Failed
            else None,
            req_cpu_cores=cluster.cpus,
            req_ram_gb=cluster.memory,
            cpu_architectures=None,
            instance_type=None,
            req_storage=None,
            cluster_size=cluster.cluster_size,
            mode=cluster.mode,
            log_level=cluster.log_level,
            polars_version=pl.__version__,
            request_time=datetime.now(UTC),
        )
