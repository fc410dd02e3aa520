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

Usage: `sim = PolarsCloudSimulator(client_id=..., client_secret=...).install(monkeypatch)`.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import uuid
import warnings
import weakref
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

from prefect_polars_cloud.testing.control_plane import Cluster, ControlPlane, Manifest

# sink_of() reads a plan through its JSON form, deprecated as a storage format only. A filter,
# not catch_warnings(): queries are submitted from several threads and that is not thread-safe.
warnings.filterwarnings("ignore", "'json' serialization format", UserWarning)

# transport: do_query raises the client's transport RuntimeError, as a network failure does.
Outcome = Literal["succeed", "fail", "cancel", "hang", "transport"]
TRANSPORT_ERROR = "Error setting up gRPC connection, transport error"
# What a scripted failure raises client-side; the client rebuilds it from "<Type>: <message>".
DEFAULT_ERROR = "ComputeError: simulated worker failure"


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


# An empty HTTP/2 SETTINGS frame: what a gRPC server sends first on every connection.
SETTINGS_FRAME = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])


def greet_as_grpc(listener: socket.socket, done: threading.Event) -> None:
    """Answer each connection with a SETTINGS frame until done; then close the port."""
    with listener:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                connection.sendall(SETTINGS_FRAME)
                try:  # read until the client hangs up: closing on unread bytes resets
                    while connection.recv(1024):
                        pass
                except OSError:
                    pass


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
