"""The control plane of the Polars Cloud simulator: what `polars_cloud.constants.API_CLIENT` does.

Workspaces, compute clusters (start, status, stop, server info) and manifests (named computes:
register, read, start, unregister). scheduler.py holds the scheduler that runs queries, and
polars_cloud_sim.py the simulator that installs both in place of the compiled client.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Protocol
from uuid import UUID

import polars_cloud.polars_cloud as pcr


@dataclass
class Cluster:
    """One compute cluster that `start_compute` booted."""

    id: UUID
    workspace_id: UUID
    cpus: int
    memory: int
    cluster_size: int
    labels: list[str]
    idle_timeout_mins: int | None
    mode: Any
    log_level: Any
    status: Any = field(default_factory=lambda: pcr.ComputeStatusModel.Starting)
    requested_at: float = field(default_factory=time.monotonic)
    booted_at: float | None = None
    stopped_at: float | None = None
    # Set by a stop: a status call waiting out the boot returns at once, as a real poll would
    # see the cluster stopped.
    stop_requested: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def preset(self) -> str:
        """The preset, from the session's last two labels ("<slug>", "<slug>-<preset>"), or ''.

        An environment's compute is "<slug>-<environment>-<preset>", and its environment the
        label before the slug (compute/presets.py).
        """
        if len(self.labels) < 2:
            return ""
        name = self.labels[-1].removeprefix(f"{self.labels[-2]}-")
        return name.removeprefix(f"{self.labels[-3]}-") if len(self.labels) > 2 else name

    def vcpu_seconds(self, now: float) -> float:
        """What the cluster billed: cpus x nodes x seconds from request to stop (or now)."""
        return self.cpus * self.cluster_size * ((self.stopped_at or now) - self.requested_at)


@dataclass
class Manifest:
    """A named compute: a registered spec that starts at most one live cluster at a time."""

    name: str
    workspace_id: UUID
    spec: dict[str, Any]  # start_compute's keywords, as register_compute_cluster_manifest got them
    # The server keeps the versions of the client that registered it; a client with other
    # versions is refused by ComputeContext(name=...) itself.
    polars_version: str = field(default_factory=pcr.polars_version)
    python_version: str = field(default_factory=pcr.python_version)
    id: UUID = field(default_factory=uuid.uuid4)
    live_cluster_id: UUID | None = None


class SimulatorState(Protocol):
    """What the control plane reads and changes of the simulator (a PolarsCloudSimulator).

    A protocol rather than an import: the simulator builds its control plane, so importing it
    back here would make the two modules a cycle.
    """

    client_id: str
    client_secret: str
    authenticated: bool
    request_seconds: float
    workspace: SimpleNamespace
    clusters: dict[UUID, Cluster]
    manifests: dict[str, Manifest]

    def record(self, name: str, **arguments: object) -> None: ...
    def require_login(self, name: str) -> None: ...
    def cluster(self, compute_id: UUID) -> Cluster: ...
    def compute_model(self, cluster: Cluster) -> SimpleNamespace: ...


class ControlPlane:
    """Stands in for `polars_cloud.constants.API_CLIENT` (a compiled `ApiClient`).

    Only the methods a ComputeContext's life uses are here: anything else the client calls fails
    with AttributeError, which is how a test learns that the client grew a new network call.
    """

    def __init__(self, sim: SimulatorState) -> None:
        self.sim = sim

    def authenticate(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        interactive: bool = True,
    ) -> None:
        self.sim.record("authenticate", client_id=client_id, client_secret=client_secret)
        if (client_id, client_secret) != (self.sim.client_id, self.sim.client_secret):
            raise pcr.AuthLoadError("invalid client credentials")
        self.sim.authenticated = True

    def resolve_default_workspace_id(
        self,
        workspace_name: str | None = None,
        workspace_id: UUID | None = None,
        organization_name: str | None = None,
        organization_id: UUID | None = None,
    ) -> UUID | None:
        self.sim.require_login("resolve_default_workspace_id")
        return self.sim.workspace.id

    def get_workspace(self, workspace_id: UUID) -> SimpleNamespace:
        self.sim.require_login("get_workspace")
        if workspace_id != self.sim.workspace.id:
            raise pcr.NotFoundError(f"workspace {workspace_id} not found")
        return self.sim.workspace

    def get_workspaces(
        self, name: str | None = None, organization_id: UUID | None = None
    ) -> list[SimpleNamespace]:
        self.sim.require_login("get_workspaces")
        # The simulated account's one workspace answers to any name, as if it were called so.
        return [SimpleNamespace(**{**vars(self.sim.workspace), "name": name or "simulated"})]

    def start_compute(
        self,
        workspace_id: UUID,
        cluster_size: int,
        mode: Any,  # noqa: ANN401
        cpus: int | None,
        ram_gb: int | None,
        cpu_architectures: Any,  # noqa: ANN401
        instance_type: str | None,
        storage: int | None,
        big_instance_type: str | None,
        big_instance_multiplier: int | None,
        big_instance_storage: int | None,
        requirements_txt: str | None,
        env_vars: dict[str, str],
        labels: list[str] | None,
        log_level: Any,  # noqa: ANN401
        idle_timeout_mins: int | None,
    ) -> SimpleNamespace:
        self.sim.require_login("start_compute")
        spec = {k: v for k, v in locals().items() if k not in ("self", "workspace_id")}
        return SimpleNamespace(id=self._boot(workspace_id, spec, "start_compute").id)

    def _boot(self, workspace_id: UUID, spec: dict[str, Any], call: str) -> Cluster:
        """Request a cluster for a spec (start_compute's keywords); it boots in the background."""
        time.sleep(self.sim.request_seconds)
        idle_timeout_mins = spec.get("idle_timeout_mins")
        if idle_timeout_mins is not None and idle_timeout_mins < 10:
            raise pcr.ComputeClusterMisspecified("idle_timeout_mins must be at least 10")
        cluster = Cluster(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            cpus=spec.get("cpus") or 1,
            memory=spec.get("ram_gb") or 1,
            cluster_size=spec.get("cluster_size") or 1,
            labels=list(spec.get("labels") or []),
            idle_timeout_mins=idle_timeout_mins,
            mode=spec.get("mode"),
            log_level=spec.get("log_level") or pcr.LogLevelModel.Info,
        )
        self.sim.clusters[cluster.id] = cluster
        self.sim.record(call, preset=cluster.preset, cpus=cluster.cpus, nodes=cluster.cluster_size)
        return cluster

    # -- manifests: named computes ---------------------------------------------------------

    def _manifest(self, name: str) -> Manifest:
        """Return a registered manifest, or fail like the API's 404."""
        try:
            return self.sim.manifests[name]
        except KeyError:
            raise pcr.NotFoundError(f"compute cluster manifest {name!r} not found") from None

    def get_compute_cluster_manifest(
        self, workspace_id: UUID, manifest_name: str
    ) -> SimpleNamespace:
        self.sim.require_login("get_compute_cluster_manifest")
        self.sim.record("get_compute_cluster_manifest", manifest=manifest_name)
        m = self._manifest(manifest_name)
        if m.live_cluster_id is not None and self.sim.clusters[m.live_cluster_id].stopped_at:
            m.live_cluster_id = None  # a stopped cluster is no longer the manifest's live one
        spec = m.spec
        return SimpleNamespace(
            id=m.id,
            workspace_id=m.workspace_id,
            name=m.name,
            instance_type=spec.get("instance_type"),
            req_ram_gb=spec.get("ram_gb"),
            req_cpu_cores=spec.get("cpus"),
            cpu_architectures=spec.get("cpu_architectures"),
            req_storage=spec.get("storage"),
            big_instance_type=None,
            req_big_instance_multiplier=None,
            req_big_instance_storage=None,
            cluster_size=spec.get("cluster_size") or 1,
            mode=spec.get("mode"),
            idle_timeout_mins=spec.get("idle_timeout_mins"),
            log_level=spec.get("log_level") or pcr.LogLevelModel.Info,
            polars_version=m.polars_version,
            python_version=m.python_version,
            requirements_txt=spec.get("requirements_txt"),
            env_vars=dict(spec.get("env_vars") or {}),
            live_cluster_id=m.live_cluster_id,
        )

    def register_compute_cluster_manifest(
        self,
        workspace_id: UUID,
        name: str,
        cluster_size: int,
        mode: Any,  # noqa: ANN401
        cpus: int | None,
        ram_gb: int | None,
        cpu_architectures: Any,  # noqa: ANN401
        instance_type: str | None,
        storage: int | None,
        big_instance_type: str | None,
        big_instance_multiplier: int | None,
        big_instance_storage: int | None,
        requirements_txt: str | None,
        env_vars: dict[str, str],
        labels: list[str] | None,
        log_level: Any,  # noqa: ANN401
        idle_timeout_mins: int | None,
    ) -> SimpleNamespace:
        self.sim.require_login("register_compute_cluster_manifest")
        spec = {k: v for k, v in locals().items() if k not in ("self", "workspace_id", "name")}
        self.sim.record("register_compute_cluster_manifest", manifest=name, spec=spec)
        # Names are unique in a workspace. Whether the real server updates in place or refuses
        # is not documented; the simulator refuses, the stricter of the two.
        if name in self.sim.manifests:
            raise RuntimeError(f"a compute cluster manifest named {name!r} already exists")
        self.sim.manifests[name] = Manifest(name, workspace_id, spec)
        return SimpleNamespace(id=self.sim.manifests[name].id, name=name)

    def unregister_compute_cluster_manifest(self, workspace_id: UUID, name: str) -> None:
        self.sim.require_login("unregister_compute_cluster_manifest")
        self.sim.record("unregister_compute_cluster_manifest", manifest=name)
        self._manifest(name)
        del self.sim.manifests[name]

    def start_compute_cluster_manifest(self, workspace_id: UUID, name: str) -> SimpleNamespace:
        self.sim.require_login("start_compute_cluster_manifest")
        manifest = self._manifest(name)
        live = manifest.live_cluster_id
        if live is not None and not self.sim.clusters[live].stopped_at:
            # One live cluster per manifest: starting it again reconnects (Polars Cloud docs).
            return self.sim.compute_model(self.sim.clusters[live])
        cluster = self._boot(workspace_id, manifest.spec, "start_compute_cluster_manifest")
        manifest.live_cluster_id = cluster.id
        return SimpleNamespace(id=cluster.id)

    def get_compute_cluster(self, workspace_id: UUID, compute_id: UUID) -> SimpleNamespace:
        self.sim.require_login("get_compute_cluster")
        return self.sim.compute_model(self.sim.cluster(compute_id))

    def get_compute_server_info(self, workspace_id: UUID, compute_id: UUID) -> SimpleNamespace:
        self.sim.require_login("get_compute_server_info")
        cluster = self.sim.cluster(compute_id)
        endpoint = SimpleNamespace(address=f"{compute_id}.simulated:5051", tls_server_name=None)
        return SimpleNamespace(
            cluster_id=cluster.id,
            public_address=endpoint.address,
            public_server_key="simulated-certificate",
            scheduler=endpoint,
            observatory=endpoint,
        )

    def stop_compute_cluster(self, workspace_id: UUID, compute_id: UUID) -> None:
        self.sim.require_login("stop_compute_cluster")
        cluster = self.sim.cluster(compute_id)
        booted = cluster.booted_at is not None
        self.sim.record("stop_compute_cluster", preset=cluster.preset, booted=booted)
        cluster.status = pcr.ComputeStatusModel.Stopped
        cluster.stopped_at = cluster.stopped_at or time.monotonic()
        cluster.stop_requested.set()
        for manifest in self.sim.manifests.values():
            if manifest.live_cluster_id == compute_id:
                manifest.live_cluster_id = None
