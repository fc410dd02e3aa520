"""A run's stops: SIGTERM and Ctrl-C stop its compute first, whatever started the run.

`daily_run` holds a RunStops for the run's whole life. It installs handlers for SIGINT and
SIGTERM when the run starts and puts the previous ones back when the run ends, so a flow started
by `make run`, `python flows/<flow>.py`, a script, a notebook, `serve`, a worker or a container
stops the same way. On the first signal the handler:

1. stops the compute (ComputeSession.stop_all: cancel the queries in flight, stop every cluster,
   up or booting) before any Prefect API call. It runs in a thread of its own, waited for at
   most STOP_WAIT_S: handlers run in the main thread, which may hold a lock the stop needs;
2. prints one INTERRUPTED line naming what it stopped (with os.write: the signal may have
   interrupted a print);
3. hands the signal on to the handler it replaced (Prefect's raises TerminationSignal, Python's
   KeyboardInterrupt), so the run unwinds, drops its staging, and Prefect records its state;
4. bounds that bookkeeping: once the run has unwound (its staging and partial files removed;
   UNWIND_WAIT_S at most), the process ends REPORT_WAIT_S later whatever it is doing, or at
   once if the Prefect API does not answer (a terminal's Ctrl-C or a container stop reaches
   Prefect's temporary server too, and its client retries a dead API for ~70 s).

A second signal while the stops are issued is ignored; after that, one ends the process at once.
In an interactive session (a notebook's kernel, a REPL) the process is never ended: the stop is
raised as KeyboardInterrupt, as Python does.

Prefect's SIGTERM bridge is one of the handlers replaced while the run lasts. Its control channel
acknowledges a cancellation only while its own handler is installed, so a cancellation from the
UI takes Prefect's forced path instead (the worker sends SIGTERM, then marks the run Cancelled):
the compute is stopped either way, which the graceful path could not promise.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from prefect_polars_cloud.storage.files import accept_writes, discard_writes_in_flight

if TYPE_CHECKING:
    from prefect_polars_cloud.compute.session import ComputeSession

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
STOP_WAIT_S = 6.0  # clusters: a start request in flight is waited for up to 5 s (compute/slots.py)
UNWIND_WAIT_S = 3.0  # the run's own cleanup (staging, partial files): done in well under 1 s
REPORT_WAIT_S = 3.0  # then Prefect's state report, when its API answers
API_PROBE_S = 1.0

# Each INTERRUPTED line this process printed: an entry point that reports stops of its own
# (`make run`) says nothing more when the run said it.
interrupted: list[str] = []

Handler = Callable[[int, FrameType | None], Any] | int | None


def interactive() -> bool:
    """Tell whether a person drives this interpreter (a REPL or a notebook's kernel)."""
    return bool(hasattr(sys, "ps1") or sys.flags.interactive or "ipykernel" in sys.modules)


class RunStops:
    """The run's SIGINT and SIGTERM handlers; use it as a `with` block around the whole run."""

    def __init__(self) -> None:
        self.compute: ComputeSession | None = None
        self.phase = "checking its inputs"  # what the run was doing: for the INTERRUPTED line
        self.received: list[int] = []
        self.line = ""  # the INTERRUPTED line, once printed
        self._stopping = False
        self._previous: dict[int, Handler] = {}
        self._handler = self._handle  # one bound method: `is` tells whether it is still in place
        self._unwound = threading.Event()  # set once the run's block has ended

    def watch(self, compute: ComputeSession) -> None:
        """Stop this compute session on a signal (the run's; set once it exists)."""
        self.compute = compute

    def __enter__(self) -> RunStops:
        accept_writes()  # a notebook's kernel outlives a stopped run: the next one may write
        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may set handlers (Prefect then has none either)
        for number in STOP_SIGNALS:
            current = signal.getsignal(number)
            if current in (signal.SIG_IGN, None):
                continue  # ignored on purpose (a background job's SIGINT), or not Python's
            self._previous[number] = signal.signal(number, self._handler)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._unwound.set()
        if self.received and not interactive():
            return  # the process is ending: a later signal must end it at once, not reach Prefect
        for number, handler in self._previous.items():
            if signal.getsignal(number) is self._handler:
                signal.signal(number, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received:
            if self._stopping:
                return  # the stops are being issued: let them finish
            if interactive():
                raise KeyboardInterrupt
            end_process(128 + signum)  # asked twice: the stops are done, end now
        self.received.append(signum)
        self._stopping = True
        discard_writes_in_flight()  # a write completing from now on is thrown away
        try:
            what = self._stop_compute()
        finally:
            self._stopping = False
        self.line = (
            f"INTERRUPTED: {signal.Signals(signum).name} while {self.phase}: {what}; "
            f"{self._outputs()}"
        )
        interrupted.append(self.line)
        os.write(2, f"{self.line}\n".encode())
        if not interactive():
            self._end_later(128 + signum, _api_url())
            _quiet_excepthook()
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)  # Prefect's bridge raises TerminationSignal; Python's raises
        raise KeyboardInterrupt

    def _stop_compute(self) -> str:
        """Stop the compute in a thread, waiting for it at most STOP_WAIT_S; say what stopped."""
        compute = self.compute
        if compute is None:
            return "no compute was started"
        if compute.closed:  # publishing or later: its block ended and stopped everything
            return "its compute had already stopped"
        done: list[str] = []
        stopper = threading.Thread(
            target=lambda: done.append(compute.stop_all().describe()),
            name="stop-compute",
            daemon=True,
        )
        stopper.start()
        stopper.join(STOP_WAIT_S)  # a signal now re-enters _handle, which ignores it
        return done[0] if done else "the compute is still being stopped"

    def _outputs(self) -> str:
        if self.phase == "publishing":
            return "its publish was cut short: the next run finishes it from its plan"
        if self.phase == "summarising":
            return "its days were published"
        return "nothing was published"

    def _end_later(self, code: int, api_url: str | None) -> None:
        """End the process once Prefect had its chance to record the run's state."""

        def watchdog() -> None:
            api_answers = bool(api_url) and answers(api_url)
            self._unwound.wait(UNWIND_WAIT_S)
            if api_answers:
                time.sleep(REPORT_WAIT_S)
            end_process(code)

        threading.Thread(target=watchdog, name="stop-deadline", daemon=True).start()


def answers(api_url: str) -> bool:
    """Tell whether the Prefect API answers its health check within API_PROBE_S."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=API_PROBE_S):  # noqa: S310 - the configured API
            return True
    except OSError:
        return False


def _api_url() -> str | None:
    """Return the API the run reports to (Prefect's temporary server's too), if any."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    client = getattr(context, "client", None)
    url = getattr(client, "api_url", None)
    return str(url) if url else None


def end_process(code: int) -> None:
    """End the process now: its compute is stopped and its outputs safe, so skip the rest."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, RuntimeError):  # closed, or a print the signal interrupted
            pass
    os._exit(code)


def _quiet_excepthook() -> None:
    """Print no traceback for the error a stopped run ends with: the INTERRUPTED line said it."""
    previous = sys.excepthook
    if getattr(previous, "quiet_after_stop", False):
        return

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        logger.debug("the stopped run ended with %s", kind.__name__, exc_info=error)

    hook.quiet_after_stop = True  # type: ignore[attr-defined]
    sys.excepthook = hook
