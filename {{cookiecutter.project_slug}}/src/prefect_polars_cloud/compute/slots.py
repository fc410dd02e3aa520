"""One preset's cluster in a compute session: started once, in a thread; stopped, up or booting.

In direct mode polars_cloud's `start()` returns only once the cluster is up (minutes; the wait
has no timeout, and `start(wait=False)` waits all the same in direct mode). A start therefore
runs in a daemon thread of its own, and callers wait for it in short steps, so a signal or a
stop ends their wait at once and an exit never waits for a boot. The compute id is set as soon
as the start request is answered; from then on `stop()` works from any thread, and the boot
thread, polling its cluster, sees it stopped and gives up.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from prefect_polars_cloud.compute.cloud import ComputeError

logger = logging.getLogger(__name__)

WAKE_S = 0.2  # how often a caller waiting for a boot looks whether the session is closing
# How long a stop waits for a start request in flight to be answered with a compute id: a
# request, not a boot (SIGTERM's grace under Kubernetes or ECS, 30 s, is all of the exit's).
START_REQUEST_WAIT_S = 5.0


class Slot:
    """One preset's context and its start; the lock decides who starts it (one boot at a time)."""

    def __init__(self, name: str, closing: threading.Event) -> None:
        self.name = name
        self.lock = threading.Lock()  # held briefly, never for a boot
        self.context: Any = None
        # Set before the boot thread starts: a boot that fails halfway may still have a cluster.
        self.started = False
        self.booted = threading.Event()  # start() returned or raised
        self.start_error: BaseException | None = None
        self._closing = closing  # the session's: set once it stops

    def begin(self, boot: Callable[[], None]) -> bool:
        """Run boot in a daemon thread unless the preset was started; return whether this did."""
        with self.lock:
            if self._closing.is_set():
                raise ComputeError(f"the compute session is closed; not starting {self.name}")
            if self.start_error is not None:
                raise ComputeError(
                    f"the {self.name} compute failed to start: {self.start_error}"
                ) from self.start_error
            if self.started:
                return False
            self.started, self.booted = True, threading.Event()
        # A daemon: an exit never waits for a boot (stopping its cluster is the session's job).
        thread = threading.Thread(
            target=self._boot, args=(boot, self.booted), name=f"boot-{self.name}", daemon=True
        )
        thread.start()
        return True

    def _boot(self, boot: Callable[[], None], booted: threading.Event) -> None:
        try:
            boot()
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for the boot
            self.start_error = error
        finally:
            booted.set()

    def wait(self, first: bool) -> Any:  # noqa: ANN401 - polars_cloud.ComputeContext
        """Wait for the boot in short steps; return the context, or raise the boot's error.

        The caller that started the boot gets the error as it was raised; later callers get a
        ComputeError that names the preset.
        """
        booted = self.booted
        while not booted.wait(WAKE_S):
            if self._closing.is_set():
                raise ComputeError(f"the run is stopping: not waiting for the {self.name} compute")
        error = self.start_error
        if error is not None:
            if first:
                raise error
            raise ComputeError(f"the {self.name} compute failed to start: {error}") from error
        return self.context

    def stop(self, idle_timeout_mins: int) -> bool:
        """Stop the cluster, up or booting; return whether the stop is confirmed. Never raise.

        Until its start request is answered a context has no compute id and stop() says "not
        running": wait (boundedly) for the id, or for the boot to end without a cluster.
        """
        deadline = time.monotonic() + START_REQUEST_WAIT_S
        while True:
            booted = self.booted.is_set()  # read first: a boot over by now has its id set
            confirmed = self._stop_context(idle_timeout_mins)
            if confirmed is not None:
                return confirmed
            if booted:
                # polars_cloud says "not running" when start() failed before any request.
                logger.debug("the %s compute never got a cluster", self.name)
                return True
            if time.monotonic() > deadline:
                logger.warning(
                    "the start request of the %s compute was not answered within %g s; if it "
                    "created a cluster, that stops itself after %d idle minutes",
                    self.name,
                    START_REQUEST_WAIT_S,
                    idle_timeout_mins,
                )
                return False
            self.booted.wait(0.05)

    def _stop_context(self, idle_timeout_mins: int) -> bool | None:
        """Stop the context: True if stopped, False if the stop failed, None if no cluster yet."""
        if self.context is None:  # still being described: nothing requested yet
            return None
        try:
            self.context.stop()
        except Exception as error:  # noqa: BLE001 - stopping must not mask the run's outcome
            if isinstance(error, RuntimeError) and "not running" in str(error):
                return None
            logger.warning(
                "could not stop the %s compute context (%s); it stops itself after %d idle minutes",
                self.name,
                type(error).__name__,
                idle_timeout_mins,
            )
            return False
        return True
