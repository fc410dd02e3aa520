"""What a run asked of Polars Cloud: one record per query and per cluster, and what it cost.

vCPU-hours are cpus x nodes x hours from the start request to the stop: what a cluster bills
(idle time included), as far as this process can see it.
"""

from __future__ import annotations

import threading
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any

MAX_LABEL_BYTES = 32  # polars_cloud refuses longer query labels (checked before it sends)


@dataclass
class QueryRecord:
    """One remote query."""

    label: str
    preset: str
    query_id: str
    status: str
    seconds: float
    link: str

    def line(self) -> str:
        """One log line."""
        return (
            f"query {self.label} on {self.preset}: {self.status} in {self.seconds:.1f} s "
            f"({self.query_id}) {self.link}"
        )


@dataclass
class ClusterRecord:
    """One cluster a run started."""

    preset: str
    cpus: int
    nodes: int
    requested: float = field(default_factory=time.monotonic)
    stopped: float | None = None
    confirmed: bool = False  # the stop call succeeded (else the idle timeout ends it)
    mode: str = "ephemeral"  # or "manifest": a named compute that may outlive the run
    reused: bool = False  # a manifest's cluster was up already: joined, not booted
    left_running: bool = False  # a manifest's cluster was left for its idle timeout

    def hours(self) -> float:
        """Hours from the start request (or joining) to the stop (or leaving, or now)."""
        return ((self.stopped or time.monotonic()) - self.requested) / 3600

    def vcpu_hours(self) -> float:
        """What the cluster bills, in vCPU-hours."""
        return self.cpus * self.nodes * self.hours()

    def state(self) -> str:
        """How the run left the cluster."""
        if self.left_running:
            return "left running (idle timeout)"
        return "stopped" if self.confirmed else "NOT confirmed stopped"

    def line(self) -> str:
        """One log line."""
        how = (
            f" ({self.mode}{', joined' if self.reused else ''})" if self.mode != "ephemeral" else ""
        )
        return (
            f"cluster {self.preset}{how}: {self.cpus} vCPUs x {self.nodes} node(s), "
            f"{self.hours() * 60:.1f} min, {self.vcpu_hours():.4f} vCPU-hours, {self.state()}"
        )


@dataclass
class Evidence:
    """Every query and cluster of one compute session."""

    queries: list[QueryRecord] = field(default_factory=list)
    clusters: list[ClusterRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: QueryRecord | ClusterRecord) -> None:
        """Keep a record (tasks finish in several threads)."""
        with self._lock:
            (self.queries if isinstance(record, QueryRecord) else self.clusters).append(record)

    def vcpu_hours(self) -> float:
        """Total vCPU-hours of the run's clusters."""
        return sum(cluster.vcpu_hours() for cluster in self.clusters)

    def markdown(self, price_per_vcpu_hour: float | None) -> str:
        """Render the queries, the clusters and the total for the run's artifact."""
        if not self.clusters:
            return ""
        total = f"**{self.vcpu_hours():.4f} vCPU-hours**"
        if price_per_vcpu_hour is not None:
            cost = self.vcpu_hours() * price_per_vcpu_hour
            total += f", about {cost:,.2f} at {price_per_vcpu_hour} per vCPU-hour"
        lines = [
            "## Polars Cloud",
            "",
            total,
            "",
            "| query | preset | status | seconds | query id |",
            "|---|---|---|---:|---|",
            *[
                f"| {q.label} | {q.preset} | {q.status} | {q.seconds:.1f} | "
                f"[{q.query_id}]({q.link}) |"
                for q in self.queries
            ],
            "",
            "| cluster | mode | vCPUs x nodes | up (min) | vCPU-hours | at the end |",
            "|---|---|---:|---:|---:|---|",
            *[
                f"| {c.preset} | {c.mode}{' (joined)' if c.reused else ''} | {c.cpus} x "
                f"{c.nodes} | {c.hours() * 60:.1f} | {c.vcpu_hours():.4f} | "
                f"{c.state() if c.confirmed or c.left_running else f'**{c.state()}**'} |"
                for c in self.clusters
            ],
        ]
        return "\n".join(lines) + "\n"


def fit_label(text: str) -> str:
    """Make text a valid query label: no control characters, trimmed, at most 32 bytes."""
    text = "".join(c for c in text if unicodedata.category(c) != "Cc").strip()
    while len(text.encode()) > MAX_LABEL_BYTES:
        text = text[:-1]
    return text.strip()


def fit_labels(texts: list[str]) -> list[str]:
    """Fit every label, dropping the ones left empty."""
    return [label for label in map(fit_label, texts) if label]


def query_id(in_flight: Any) -> str:  # noqa: ANN401 - DirectQuery | ProxyQuery
    """Return a remote query's id (0.12 keeps it private; the contract test pins the name)."""
    return str(getattr(in_flight, "_query_id", "?"))


def dashboard_link(context: Any, in_flight: Any) -> str:  # noqa: ANN401
    """Return the query's page in the Polars Cloud dashboard (none for a self-hosted cluster)."""
    import polars_cloud as pc
    from polars_cloud.constants import FRONTEND_DOMAIN

    if not isinstance(context, pc.ComputeContext):
        return "(a self-hosted cluster: no Polars Cloud dashboard)"
    compute_id = getattr(context, "_compute_id", "?")
    return (
        f"https://{FRONTEND_DOMAIN}/portal/{context.workspace.id}/{compute_id}/queries/"
        f"{query_id(in_flight)}"
    )


@dataclass
class Stopped:
    """What a compute session's stop did: for the one line a stopped run prints."""

    queries: list[str] = field(default_factory=list)  # cancelled remote queries
    clusters: list[str] = field(default_factory=list)  # stopped, "(booting)" if not yet up
    left_running: list[str] = field(default_factory=list)  # manifests kept for the next run
    local: bool = False  # a local query was abandoned

    def describe(self) -> str:
        """Say what was stopped, e.g. `stopped the small, large (booting) compute; ...`."""
        parts = []
        if self.clusters:
            parts.append(f"stopped the {', '.join(self.clusters)} compute")
        if self.queries:
            count = f"{len(self.queries)} {'query' if len(self.queries) == 1 else 'queries'}"
            parts.append(f"cancelled {count} ({', '.join(self.queries)})")
        if self.local:
            parts.append("abandoned the local query (it wrote only into staging)")
        if self.left_running:
            parts.append(f"left the {', '.join(self.left_running)} manifest running (idle timeout)")
        return "; ".join(parts) or "no compute was running"
