"""The Prefect server a local run starts for itself when no PREFECT_API_URL is configured.

Prefect's own embedded server is a child in the run's process group: Ctrl-C at the terminal
(or a SIGTERM to the group) stops it together with the run, and the run then spends about a
minute retrying an API that is gone. This one runs in a session of its own, so the run can
still record that it was interrupted, and is stopped by the run on the way out. It serves only
the API, with no background services and no usage reporting: a local run needs neither (the
telemetry service also fails offline and fights the run for the SQLite database).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

STARTUP_TIMEOUT_S = 120  # a first start creates the database; a busy 2-core machine is slow
STOP_TIMEOUT_S = 10


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
    with tempfile.TemporaryFile() as output:
        server = subprocess.Popen(
            command,
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
