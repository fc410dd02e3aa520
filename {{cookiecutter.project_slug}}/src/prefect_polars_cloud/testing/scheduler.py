"""The scheduler of the Polars Cloud simulator: what a cluster does with the queries it receives.

Queries and the rules that script their outcomes, the scheduler's side of the simulator (submit,
run the plan on local Polars, settle, describe the result), the stand-in for the compiled
`SchedulerClient` the real client talks to, and a self-hosted cluster's gRPC greeting.
polars_cloud_sim.py builds the simulator on this (`PolarsCloudSimulator` is a
`SimulatedScheduler`) and installs it below the real client; this module imports neither it nor
control_plane.py's ControlPlane, so the three are no cycle.
"""

from __future__ import annotations

import io
import json
import socket
import threading
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, Literal
from uuid import UUID

import polars as pl
import polars_cloud.polars_cloud as pcr

from prefect_polars_cloud.testing.control_plane import Cluster

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


class SimulatedScheduler:
    """The scheduler's half of the simulator: scripted outcomes, and queries run on local Polars.

    A mixin of PolarsCloudSimulator, which sets the state below in its constructor.
    """

    query_seconds: float
    hosted: dict[str, Cluster]  # self-hosted clusters, by host:port
    queries: dict[UUID, Query]
    rules: list[Rule]
    _settings: dict[int, bool]
    _lineage: dict[int, dict[str, Any]]
    _lock: threading.Lock

    def record(self, name: str, **arguments: object) -> None:
        raise NotImplementedError  # the simulator's

    def cluster(self, compute_id: UUID) -> Cluster:
        raise NotImplementedError  # the simulator's

    def script(
        self,
        matches: Callable[[Query], bool],
        outcome: Outcome,
        error: str = DEFAULT_ERROR,
        times: int | None = None,
    ) -> SimulatedScheduler:
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


def scheduler_client_class(sim: SimulatedScheduler) -> type:
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
