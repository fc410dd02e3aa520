"""One remote query: how it is sent (labels, lineage, scaling mode, sink) and waited for.

polars-cloud 0.12's `remote()` defaults to scaling mode "auto", which is `distributed()`, and a
distributed sink to a file-like uri is refused unless `sink_to_single_file` is set. So every
query names its scaling mode, and a single output file is asked for explicitly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect_polars_cloud.compute.cloud import QueryTimeout
from prefect_polars_cloud.compute.presets import Preset

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class Lineage:
    """A query's OpenLineage job, with the Prefect flow run that sent it as the parent run."""

    namespace: str  # the project
    job: str  # the task
    parent_run_id: str  # the flow run's id
    parent_job: str  # the flow run's deployment (or flow)


def send(
    remote: Any,  # noqa: ANN401 - polars_cloud's LazyFrameRemote
    target: str | pl.PartitionBy,
    preset: Preset,
    labels: list[str],
    lineage: Lineage | None,
    arrow_schema: Any = None,  # noqa: ANN401 - a pyarrow schema: the files' own (field ids)
) -> Any:  # noqa: ANN401 - the query in flight
    """Tag the query (labels already fitted), pick its scaling mode, and start its sink."""
    if labels:
        remote = remote.labels(labels)
    if lineage is not None:
        remote = remote.with_lineage(
            job_namespace=lineage.namespace,
            job_name=lineage.job,
            parent_run_id=lineage.parent_run_id,
            parent_job_namespace=lineage.namespace,
            parent_job_name=lineage.parent_job,
        )
    if preset.runs_distributed:
        # Several machines: run distributed. A folder per day suits a distributed sink; a
        # single file it writes only when asked explicitly (polars-cloud refuses to guess).
        single_file = True if isinstance(target, str) else None
        return remote.distributed().sink_parquet(
            target, sink_to_single_file=single_file, arrow_schema=arrow_schema
        )
    # One machine: say so. The default, "auto", would plan the query distributed.
    return remote.single_node().sink_parquet(target, arrow_schema=arrow_schema)


def wait_until_done(
    in_flight: Any,  # noqa: ANN401 - the query in flight
    started: float,
    minutes: float,
    timed_out: Callable[[], str],
    stopping: threading.Event,
) -> None:
    """Poll until the query is done, or `stopping` is set; past `minutes`, cancel it and raise.

    The interval starts at 50 ms and grows by half each time up to 5 s (as the client's own
    status loop does): a short query is seen done at once, a long one costs few requests. The
    wait is on `stopping`, so a stop (which cancels the query itself) ends it at once.
    """
    limit = minutes * 60
    poll = 0.05
    while not in_flight.get_status().is_done():
        if time.monotonic() - started > limit:
            in_flight.cancel()
            raise QueryTimeout(timed_out())
        if stopping.wait(min(poll, max(0.0, limit - (time.monotonic() - started)) + 0.01)):
            return
        poll = min(5.0, poll * 1.5)
