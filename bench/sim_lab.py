"""The simulated Polars Cloud the lifecycle scenarios run against, and what its clusters bill.

Runs in a baked project's environment, with the project's root as working directory and on
sys.path (prefect_polars_cloud.testing.polars_cloud_sim, the project's simulator, unmodified).

Time is scaled: every latency the simulator injects is the real one times `scale` (a 90 s boot
is 0.9 s at 0.01), and so is the idle timeout a cluster that is never stopped bills until. The
client side (Prefect, S3, plan serialization, polling) is not scaled: it takes what it takes, so
each scenario is also measured with no latency at all, to show how much of its time is its own.
"""

from __future__ import annotations

import importlib
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from types import ModuleType
from typing import Any
from uuid import UUID

from prefect_polars_cloud.testing.polars_cloud_sim import Cluster, PolarsCloudSimulator, Query

# Polars Cloud's, roughly: a cluster takes minutes to boot; a small query is scheduled, reads
# and writes object storage in tens of seconds.
REAL_BOOT_SECONDS = 90.0
REAL_QUERY_SECONDS = 30.0
# The one service account the simulator accepts (nothing real is ever read or sent).
ACCOUNT = {"client_id": "bench-client", "client_secret": "bench-secret"}


class BillingSimulator(PolarsCloudSimulator):
    """The project's simulator, noting when each cluster last finished a query.

    A cluster nobody stops is stopped by Polars Cloud after idle_timeout_mins without a query:
    that moment, not the end of the run, is where its bill ends.
    """

    def __init__(self, **options: Any) -> None:  # noqa: ANN401 - the simulator's own options
        super().__init__(**options)
        self.last_work: dict[UUID, float] = {}

    def finish(self, query: Query, status: Any, error: str | None = None) -> None:  # noqa: ANN401
        super().finish(query, status, error)
        self.last_work[query.cluster.id] = time.monotonic()


@dataclass(frozen=True)
class Bill:
    """What a scenario's clusters cost, in simulated vCPU-seconds."""

    boots: int  # clusters requested
    left_running: int  # not stopped when the scenario ended
    vcpu_seconds: float  # from request to stop, or to the scenario's end for those left running
    idle_tail_vcpu_seconds: float  # those left running, from the scenario's end to their timeout


def idle_stop(sim: BillingSimulator, cluster: Cluster, scale: float) -> float:
    """Return when Polars Cloud would stop a cluster left running: its idle timeout, scaled."""
    minutes = cluster.idle_timeout_mins or sim.workspace.idle_timeout_mins  # the sketch sets none
    idle_since = sim.last_work.get(cluster.id, cluster.booted_at or cluster.requested_at)
    return idle_since + minutes * 60 * scale


def bill(sim: BillingSimulator, ended: float, scale: float) -> Bill:
    """Add up every cluster the simulator started, as of ended (time.monotonic())."""
    total = tail = 0.0
    for cluster in sim.clusters.values():
        total += cluster.vcpu_seconds(ended if cluster.stopped_at is None else cluster.stopped_at)
        if cluster.stopped_at is None:
            stops = max(ended, idle_stop(sim, cluster, scale))
            tail += cluster.vcpu_seconds(stops) - cluster.vcpu_seconds(ended)
    return Bill(len(sim.clusters), len(sim.running()), total, tail)


@dataclass
class Lab:
    """What every scenario shares: the project's package, the inputs on S3, the time scale."""

    package: str
    days: list[date]
    scale: float
    bucket: str = "bench-lifecycles"
    source_uri: str = field(init=False)

    def __post_init__(self) -> None:
        self.source_uri = f"s3://{self.bucket}/raw"

    def module(self, name: str) -> ModuleType:
        """Import one of the project's modules."""
        return importlib.import_module(f"{self.package}.{name}")

    def daily_report(self, output_uri: str, start: date, end: date | None = None) -> None:
        """Run the project's flow once, in cloud mode, over start..end."""
        from flows.daily_report import daily_report

        daily_report(start=start, end=end, source_uri=self.source_uri, output_uri=output_uri)

    def seed(self, output_uri: str, day: date) -> None:
        """Run the docs' sketch (bench/seed_flow.py) once over one day."""
        from seed_flow import run_seed  # bench/

        inputs = self.module("storage").find_inputs(self.source_uri, [day])
        run_seed(self.module("queries"), (inputs.orders, inputs.customers), output_uri)


Runs = Callable[[Lab, str], int]  # makes a scenario's runs under an output uri; returns how many


@dataclass(frozen=True)
class Scenario:
    """One line of the report: what it shows, and how to make its runs."""

    name: str
    shows: str
    runs: Runs
    settings: dict[str, str] = field(default_factory=dict)  # without the project's env prefix
    large_query_fails: bool = False  # the report's query (large preset) ends FAILED
    repeats: int = 3  # the median is reported; a scenario of many runs averages itself


@dataclass(frozen=True)
class Measure:
    """One measurement of a scenario."""

    runs: int
    seconds: float
    compute_seconds: float | None  # from the start until the last cluster stopped; None: never
    bill: Bill


def measure(lab: Lab, scenario: Scenario, prefix: str, latency: bool) -> Measure:
    """Run a scenario once on a fresh simulator; return its runs, times and bill.

    latency=False: boots and queries take only the simulation's own time, and a cluster left
    running stops at once (its idle timeout is latency too).
    """
    import pytest

    patcher = pytest.MonkeyPatch()
    for name, value in scenario.settings.items():
        patcher.setenv(f"{prefix}{name}", value)
    get_settings = lab.module("settings").get_settings
    get_settings.cache_clear()  # the settings are read once per process: read this scenario's
    scale = lab.scale if latency else 0.0
    sim = BillingSimulator(
        **ACCOUNT,
        boot_seconds=REAL_BOOT_SECONDS * scale,
        query_seconds=REAL_QUERY_SECONDS * scale,
    ).install(patcher)
    if scenario.large_query_fails:
        report = lab.module("storage").REPORT
        sim.script(lambda query: f"/{report}" in query.sink, "fail")
    output_uri = f"s3://{lab.bucket}/{scenario.name.replace(' ', '-').replace(',', '')}"
    started = time.monotonic()
    try:
        runs = scenario.runs(lab, output_uri)
    finally:
        ended = time.monotonic()
        patcher.undo()
        get_settings.cache_clear()
    stops = [c.stopped_at for c in sim.clusters.values() if c.stopped_at is not None]
    compute = max(stops, default=started) - started if len(stops) == len(sim.clusters) else None
    return Measure(runs, ended - started, compute, bill(sim, ended, scale))


def measure_scenario(lab: Lab, scenario: Scenario, prefix: str) -> dict[str, object]:
    """Measure a scenario with and without latency, alternately; return the medians."""
    timed: list[Measure] = []
    own: list[Measure] = []
    for _ in range(scenario.repeats):
        timed.append(measure(lab, scenario, prefix, latency=True))
        own.append(measure(lab, scenario, prefix, latency=False))
    stops = [m.compute_seconds for m in timed if m.compute_seconds is not None]
    return {
        "name": scenario.name,
        "shows": scenario.shows,
        "runs": timed[0].runs,
        "repeats": scenario.repeats,
        "seconds": statistics.median(m.seconds for m in timed),
        "own_seconds": statistics.median(m.seconds for m in own),
        "compute_seconds": statistics.median(stops) if len(stops) == len(timed) else None,
        **asdict(timed[0].bill),  # boots and clusters left running: the same every time
        "vcpu_seconds": statistics.median(m.bill.vcpu_seconds for m in timed),
        "idle_tail_vcpu_seconds": statistics.median(m.bill.idle_tail_vcpu_seconds for m in timed),
    }
