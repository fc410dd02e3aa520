"""Ctrl-C and SIGTERM stop a local command the same way: once, cleanly, outputs untouched.

Python's default SIGTERM ends the process on the spot, so no `finally` runs and a half-written
`.partial` file stays behind; raising KeyboardInterrupt instead lets every cleanup run, and the
Prefect engine records the flow run as crashed on its way out.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn

from prefect_polars_cloud.storage.files import discard_writes_in_flight

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals() -> Iterator[list[int]]:
    """Turn the first SIGINT or SIGTERM into KeyboardInterrupt; yield the signals received.

    Later copies are ignored while cleanup runs: a terminal's Ctrl-C or a `kill` of the process
    group also reaches `uv run`, which forwards it again.
    """
    received: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        if received:
            return
        received.append(signum)
        # Tasks still writing in other threads finish into their .partial file, then drop it.
        discard_writes_in_flight()
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def exit_code(received: list[int]) -> int:
    """Return the shell's exit code for a process stopped by the first signal received."""
    return 128 + (received[0] if received else signal.SIGINT)


def exit_now(code: int) -> NoReturn:
    """End an interrupted run's process with code, its cleanup done, skipping Python's teardown.

    A local query the stop abandoned (compute/local_sink.py) keeps every core busy until the process
    ends, and the interpreter's teardown, a garbage collection of all Prefect loaded, then took
    1-4 s on 2 cores. The exit handlers still run (Prefect drains its log and event queues in
    them); only the teardown is skipped.
    """
    atexit._run_exitfuncs()  # noqa: SLF001 - what a normal exit runs first
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
