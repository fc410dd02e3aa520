"""The main thread's waits, made interruptible again after Polars' import changed SIGINT.

Lives in compute because starting a compute session is where a run begins to wait; the stops
themselves are the run's (`run.stops`) and the local command's (`local.interrupts`).
"""

from __future__ import annotations

import signal
import threading


def interruptible_waits() -> None:
    """Let Ctrl-C interrupt the main thread wherever it waits, as SIGTERM does.

    Importing Polars installs a SIGINT handler of its own that restarts interrupted system
    calls (SA_RESTART), so a Ctrl-C is acted on only when the main thread's current wait ends:
    Prefect's wait for a task whose cloud query runs for an hour, say. Installing the same
    Python handler again puts Python's own C handler back, and waits interruptible with it.
    (Polars' handler interrupted local queries; the compute session abandons those itself.)
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers; it is the one signals interrupt
    handler = signal.getsignal(signal.SIGINT)
    if handler is not None:  # None: a handler Python did not install; leave it alone
        signal.signal(signal.SIGINT, handler)
