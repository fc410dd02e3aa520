"""The Prefect server a local run starts for itself when no PREFECT_API_URL is configured.

Prefect's own embedded server is a child in the run's process group: Ctrl-C at the terminal
(or a SIGTERM to the group) stops it together with the run, and the run then spends about a
minute retrying an API that is gone. This one runs in a session of its own, so the run can
still record that it was interrupted, and is stopped by the run on the way out. It serves only
the API, with no background services and no usage reporting: a local run needs neither (the
telemetry service also fails offline and fights the run for the SQLite database).

A run killed outright (`kill -9`, the OOM killer) cannot stop it, so the server watches the run
itself: it is started through this module, which runs Prefect's server in-process beside a
thread that stops it once its parent is gone (portable, unlike Linux's PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

STARTUP_TIMEOUT_S = 120  # a first start creates the database; a busy 2-core machine is slow
STOP_TIMEOUT_S = 10
WATCH_INTERVAL_S = 0.5  # how soon a server notices that its run is gone


class LocalServerError(RuntimeError):
    """The local Prefect server did not start; the message says why."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group: SIGTERM, then SIGKILL if it lingers."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


@contextmanager
def local_prefect_api() -> Iterator[str]:
    """Start a Prefect server on loopback for one run; yield its API URL; always stop it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    # Through this interpreter: the environment's `prefect` script need not be on PATH.
    command = [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-ui",
        "--no-services",
        "--analytics-off",
    ]
    environment = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    # `python -m <this module> <run pid> server start ...`: the same server, watching this run.
    watched = [sys.executable, "-m", __name__, str(os.getpid()), *command[3:]]
    with tempfile.TemporaryFile() as output:
        server = subprocess.Popen(
            watched,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while not _healthy(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    printed = output.read().decode(errors="replace").strip().splitlines()
                    raise LocalServerError(
                        f"the local Prefect server did not start ({' '.join(command)}): "
                        + (printed[-1] if printed else "no output")
                        + "; set PREFECT_API_URL to a running server to use that one instead"
                    )
                time.sleep(0.2)
            yield url
        finally:
            _stop(server)


def _stop_when_orphaned(parent: int) -> None:
    """Stop this server, as the run's SIGTERM would, once the run that started it is gone."""
    while os.getppid() == parent:  # a dead parent's children are handed to another process
        time.sleep(WATCH_INTERVAL_S)
    os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down on it
    time.sleep(STOP_TIMEOUT_S)
    os._exit(1)  # still here: a shutdown that hangs must not hold the port


def _serve(parent: int, arguments: list[str]) -> None:
    """Run `prefect <arguments>` in this process while the process `parent` lives."""
    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
    sys.argv = ["prefect", *arguments]
    runpy.run_module("prefect", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _serve(int(sys.argv[1]), sys.argv[2:])
