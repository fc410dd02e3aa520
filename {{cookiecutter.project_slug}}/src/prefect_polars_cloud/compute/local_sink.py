"""One local query, run in the background so that a stop never waits for it.

A local Polars query ignores Ctrl-C while it runs once a Python signal handler is installed
(Polars' own SIGINT handler is then gone), and `InProcessQuery.cancel()` does not stop a
streaming sink in Polars 2.0 (measured at 16M rows: the sink ran to its end and wrote the whole
file). So the query runs in Polars' thread pool (`collect(background=True)`) while the caller
polls it; when the run stops (a signal raised in this thread, or the session closing) the caller
asks Polars to cancel and stops waiting. An abandoned query can only write into a `.partial`
folder (storage.atomic_target) or the run's staging prefix, never into published output, and
it ends with the process.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from prefect_polars_cloud.compute.cloud import ComputeError

if TYPE_CHECKING:
    import polars as pl

FIRST_POLL_S = 0.005  # a short query is seen done at once ...
MAX_POLL_S = 0.05  # ... and a stop is seen within this


class QueryAbandoned(ComputeError):
    """The run stopped while a local query ran: it was left to end with the process."""


def run_in_background(query: pl.LazyFrame, stopping: threading.Event) -> None:
    """Run query (a lazy sink) on the streaming engine; raise its error, or QueryAbandoned."""
    handle = query.collect(background=True, engine="streaming")
    poll = FIRST_POLL_S
    try:
        while handle.fetch() is None:  # fetch() raises the query's own error
            if stopping.wait(poll):
                raise QueryAbandoned("the run is stopping: its local query was abandoned")
            poll = min(MAX_POLL_S, poll * 1.5)
    except BaseException:
        handle.cancel()  # honoured by Polars at its next check, where it checks at all
        raise
