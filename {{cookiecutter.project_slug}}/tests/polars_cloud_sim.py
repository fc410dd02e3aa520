"""A simulator of Polars Cloud's server side, below the real polars_cloud client.

Polars Cloud cannot be reached from a test, so this replaces exactly what leaves the process and
nothing else. The real `LazyFrame.remote`, `LazyFrameRemote`, `ExecuteRemote`, `prepare_query`,
`spawn`, `ComputeContext`, `DirectQuery` and `QueryResult` run unmodified; what is replaced are
the compiled module's network calls (polars-cloud 0.12.0):

- `polars_cloud.constants.API_CLIENT`: the control plane (authentication, workspaces, compute
  create / status / stop, server info, and the named computes: manifests registered, read,
  started and unregistered);
- `polars_cloud.polars_cloud.resolve_compute_context_specs`: it calls the control plane from
  `ComputeContext(...)` even when cpus and memory are given;
- `polars_cloud.polars_cloud.SchedulerClient`: the direct-mode query client (submit, status,
  result, cancel).

The simulated scheduler deserializes the plan it receives and runs it on local Polars, so a
query writes what Polars Cloud would write, to wherever the plan's sink points (moto S3 in tests).
It can make requests, boots and queries slow, fail or cancel a chosen query, or hold one until it is
cancelled, and it records every call (bound to the real signature: test_polars_cloud_contract
checks that each simulated method has the real method's parameters).

Usage: `sim = PolarsCloudSimulator(client_id=..., client_secret=...).install(monkeypatch)`.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal
from uuid import UUID

import polars as pl
import polars_cloud.constants
import polars_cloud.polars_cloud as pcr

# sink_of() reads a plan through its JSON form, deprecated as a storage format only. A filter,
# not catch_warnings(): queries are submitted from several threads and that is not thread-safe.
warnings.filterwarnings("ignore", "'json' serialization format", UserWarning)

# transport: do_query raises the client's transport RuntimeError, as a network failure does.
Outcome = Literal["succeed", "fail", "cancel", "hang", "transport"]
TRANSPORT_ERROR = "Error setting up gRPC connection, transport error"
# What a scripted failure raises client-side; the client rebuilds it from "<Type>: <message>".
DEFAULT_ERROR = "ComputeError: simulated worker failure"


class SimulatorError(RuntimeError):
    """The client asked the simulator for something the real server would refuse."""


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

    @property
    def preset(self) -> str:
        """The preset, from the session's last two labels ("<slug>", "<slug>-<preset>"), or ''."""
        if len(self.labels) < 2:
            return ""
        return self.labels[-1].removeprefix(f"{self.labels[-2]}-")

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


@dataclass
class Query:
    """One query the scheduler received."""

    id: UUID
    cluster: Cluster
    plan: bytes
    labels: list[str] | None
    distributed: bool
    sink: str
    status: Any = field(default_factory=lambda: pcr.QueryStatusCodeModel.Queued)
    error: str | None = None
    rule: Rule | None = None
    polls: int = 0  # status requests: the client is waiting for this query
    done: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass
class Rule:
    """A scripted outcome for the queries that match (the first `times` of them, if set)."""

    matches: Callable[[Query], bool]
    outcome: Outcome
    error: str = DEFAULT_ERROR
    times: int | None = None


class PolarsCloudSimulator:
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

    # -- scripting and reading -------------------------------------------------------------

    def script(
        self,
        matches: Callable[[Query], bool],
        outcome: Outcome,
        error: str = DEFAULT_ERROR,
        times: int | None = None,
    ) -> PolarsCloudSimulator:
        """Give the queries that match an outcome other than running their plan."""
        self.rules.append(Rule(matches, outcome, error, times))
        return self

    def rule_for(self, query: Query) -> Rule | None:
        """Return the first rule that matches and has uses left, using one."""
        with self._lock:
            for rule in self.rules:
                if (rule.times is None or rule.times > 0) and rule.matches(query):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

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

    def record(self, name: str, **arguments: Any) -> None:
        """Keep one call (secrets are recorded too: the tests compare them, never print them)."""
        with self._lock:
            self.calls.append((name, arguments))
            if self.log is not None:
                preset = arguments.get("preset", "")
                with self.log.open("a") as log:
                    log.write(json.dumps({"name": name, "preset": preset}) + "\n")

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
        inside the first status call keeps simulated latency in the simulator's own hands.
        """
        if cluster.status == pcr.ComputeStatusModel.Starting:
            remaining = cluster.requested_at + self.boot_seconds - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
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

    # -- scheduler -------------------------------------------------------------------------

    def submit(
        self,
        cluster: Cluster,
        plan: bytes,
        settings: Any,  # noqa: ANN401
        labels: Any,  # noqa: ANN401
        lineage_context: Any = None,  # noqa: ANN401
    ) -> UUID:
        """Accept a query on a cluster that is up, and run it in the background."""
        if cluster.status not in (pcr.ComputeStatusModel.Idle, pcr.ComputeStatusModel.Running):
            raise RuntimeError(f"Error setting up gRPC connection, transport error ({cluster.id})")
        query = Query(
            id=uuid.uuid4(),
            cluster=cluster,
            plan=plan,
            labels=labels,
            distributed=self._settings.get(id(settings), False),
            sink=sink_of(plan),
        )
        query.rule = self.rule_for(query)
        if query.rule is not None and query.rule.outcome == "transport":
            self.record("do_query refused", preset=cluster.preset, sink=query.sink)
            raise RuntimeError(TRANSPORT_ERROR)
        self.queries[query.id] = query
        lineage = self._lineage.get(id(lineage_context)) if lineage_context else None
        self.record(
            "do_query", preset=cluster.preset, sink=query.sink, labels=labels, lineage=lineage
        )
        threading.Thread(target=self.execute, args=(query,), daemon=True).start()
        return query.id

    def execute(self, query: Query) -> None:
        """Run one query: latency, then its scripted outcome or its plan on local Polars."""
        query.status = pcr.QueryStatusCodeModel.InProgress
        query.cluster.status = pcr.ComputeStatusModel.Running
        rule = query.rule
        outcome = rule.outcome if rule else "succeed"
        if query.cancelled.wait(self.query_seconds) or outcome == "cancel":
            return self.finish(query, pcr.QueryStatusCodeModel.Canceled)
        if outcome == "hang":
            query.cancelled.wait()
            return self.finish(query, pcr.QueryStatusCodeModel.Canceled)
        if outcome == "fail":
            return self.finish(query, pcr.QueryStatusCodeModel.Failed, rule.error if rule else "")
        try:
            pl.LazyFrame.deserialize(io.BytesIO(query.plan)).collect()
        except Exception as error:  # noqa: BLE001 - a failed plan is a failed query
            return self.finish(
                query, pcr.QueryStatusCodeModel.Failed, f"{type(error).__name__}: {error}"
            )
        return self.finish(query, pcr.QueryStatusCodeModel.Success)

    def finish(self, query: Query, status: Any, error: str | None = None) -> None:  # noqa: ANN401
        """Settle a query and wake whoever waits for it."""
        query.status, query.error = status, error
        if not any(
            q.status not in DONE for q in self.queries.values() if q.cluster is query.cluster
        ):
            query.cluster.status = pcr.ComputeStatusModel.Idle
        query.done.set()

    def result(self, query: Query) -> SimpleNamespace:
        """Describe a settled query with the fields the client reads of a QueryInfoPy."""
        errors = []
        if query.error:
            # The compute plane reports one JSON object per node; the client needs "scheduler".
            errors = [
                json.dumps({"scheduler": "ComputeError: query failed"}),
                json.dumps({"worker-0": query.error}),
            ]
        return SimpleNamespace(
            total_stages=1,
            finished_stages=1 if query.status == pcr.QueryStatusCodeModel.Success else 0,
            failed_stages=1 if query.status == pcr.QueryStatusCodeModel.Failed else 0,
            head=None,
            n_rows_result=None,
            errors=errors,
            sink_dst=[query.sink] if query.sink else [],
            file_type_sink="parquet",
            ir_plan_explain=None,
            ir_plan_dot=None,
            phys_plan_explain=None,
            phys_plan_dot=None,
            stages_stats=None,
            status=query.status,
        )


DONE = (
    pcr.QueryStatusCodeModel.Success,
    pcr.QueryStatusCodeModel.Failed,
    pcr.QueryStatusCodeModel.Canceled,
)


def sink_of(plan: bytes) -> str:
    """Return where a serialized plan writes (its sink's path or partition base), or ''."""
    document = pl.LazyFrame.deserialize(io.BytesIO(plan)).serialize(format="json")
    found = [part.split('"', 1)[0] for part in document.split('"inner":"')[1:]]
    return found[-1] if found else ""


class ControlPlane:
    """Stands in for `polars_cloud.constants.API_CLIENT` (a compiled `ApiClient`).

    Only the methods a ComputeContext's life uses are here: anything else the client calls fails
    with AttributeError, which is how a test learns that the client grew a new network call.
    """

    def __init__(self, sim: PolarsCloudSimulator) -> None:
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
        self.sim.record("stop_compute_cluster", preset=cluster.preset)
        cluster.status = pcr.ComputeStatusModel.Stopped
        cluster.stopped_at = cluster.stopped_at or time.monotonic()
        for manifest in self.sim.manifests.values():
            if manifest.live_cluster_id == compute_id:
                manifest.live_cluster_id = None


def scheduler_client_class(sim: PolarsCloudSimulator) -> type:
    """Build the class that stands in for the compiled `SchedulerClient`, bound to sim."""

    class SchedulerClient:
        """A direct-mode connection to one simulated cluster's scheduler."""

        def __init__(self, scheduler: Any, observatory: Any) -> None:  # noqa: ANN401
            address = scheduler.uri.split("//", 1)[-1].rstrip("/")
            if address in sim.hosted:  # a ClusterContext's self-hosted cluster
                self.cluster = sim.hosted[address]
                return
            try:
                compute_id = UUID(address.split(".", 1)[0])
            except ValueError:
                raise RuntimeError(f"{TRANSPORT_ERROR} ({address})") from None
            self.cluster = sim.cluster(compute_id)

        @staticmethod
        def without_default_auth(scheduler: Any, observatory: Any) -> SchedulerClient:  # noqa: ANN401
            return SchedulerClient(scheduler, observatory)

        def do_query(
            self,
            plan: bytes,
            settings: Any,  # noqa: ANN401
            username: str | None = None,
            labels: list[str] | None = None,
            execution_id: str | None = None,
            lineage_context: Any = None,  # noqa: ANN401
        ) -> UUID:
            return sim.submit(self.cluster, plan, settings, labels, lineage_context)

        def get_direct_query_status(self, query_id: UUID) -> Any:  # noqa: ANN401
            query = sim.queries[query_id]
            query.polls += 1
            if query.polls == 1:
                sim.record("first status poll", preset=query.cluster.preset, sink=query.sink)
            return query.status

        def get_direct_query_result(self, query_id: UUID, timeout_ms: int) -> SimpleNamespace:
            query = sim.queries[query_id]
            if not query.done.wait(timeout_ms / 1000):
                raise TimeoutError(f"POLARS_TIMEOUT_MS has elapsed: time in ms: {timeout_ms}")
            return sim.result(query)

        def cancel_direct_query(self, query_id: UUID) -> None:
            query = sim.queries[query_id]
            sim.record("cancel_direct_query", preset=query.cluster.preset, sink=query.sink)
            query.cancelled.set()

    return SchedulerClient
