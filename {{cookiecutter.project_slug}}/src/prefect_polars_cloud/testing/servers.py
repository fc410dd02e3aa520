"""Servers the tests start on loopback: a Prefect API, moto (S3 and Secrets Manager), a silent port.

Each runs in a subprocess or a thread of its own and is stopped by whoever started it (the
plugin's fixtures). Prefect is imported only where its workers are drained.
"""

from __future__ import annotations

import inspect
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from importlib.metadata import version
from pathlib import Path
from typing import Protocol, TypeVar

# The server services a test server does not run (see PrefectServer.start).
UNRECORDED = ("TASK_RUN_RECORDER", "EVENT_PERSISTER")


class Server(Protocol):
    """A server a test session starts early and waits for when a test first needs it."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


AnyServer = TypeVar("AnyServer", bound=Server)


def started_if(needed: bool, server: Callable[[], AnyServer]) -> Iterator[AnyServer | None]:
    """Yield a server started now and stopped after, or None when no test needs one."""
    if not needed:
        yield None
        return
    started = server()
    started.start()
    try:
        yield started
    finally:
        started.stop()


def database_template() -> Path:
    """Return where an empty database migrated for the installed Prefect is kept.

    In the user's cache folder (XDG_CACHE_HOME, else ~/.cache), as uv keeps its downloads: it
    depends on Prefect's version alone, so every project and test run on this machine shares
    it. Migrating a new SQLite database is about 5 s of CPU, half of a test server's boot.
    """
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "prefect-polars-cloud" / f"prefect-{version('prefect')}.db"


def free_port() -> int:
    """Return a loopback port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrefectServer:
    """A temporary Prefect API in a subprocess, with its own SQLite database.

    What prefect.testing's harness starts, but not waited for: it boots (database migrations,
    seconds of CPU) while the tests that need no API run. It starts from a copy of the
    database_template(), and the first server without one leaves its new database there. It
    stores no task runs and no events (UNRECORDED): a test that reads them starts `prefect
    server start`, as tests/test_scheduler.py does.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.database = folder / "prefect.db"
        self.template = database_template()
        self.log = folder / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        """Start the server on a free port; return at once."""
        if self.template.is_file() and not self.database.exists():
            shutil.copyfile(self.template, self.database)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        environment = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
        environment |= {
            "PREFECT_HOME": str(self.folder / "home"),
            "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{self.database}",
            "PREFECT_UI_ENABLED": "0",
            # Not every installed collection's block types at boot (about 2.5 s of CPU): a
            # block registers its own type when a test saves one, as it does on any server.
            "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
            "PREFECT__SERVER_EPHEMERAL": "1",  # the services an embedded server runs, no more
            "PREFECT__SERVER_FINAL": "1",
            # Nor those that store what flows emit as events: task runs and the events
            # themselves. Their writes race each flow's own calls for SQLite's lock: a run of
            # the example took 1.2 s with them, 0.4 s without. Flow runs, their states, logs,
            # artifacts, blocks and variables are the API's own; automations still fire.
            **{f"PREFECT_SERVER_SERVICES_{service}_ENABLED": "false" for service in UNRECORDED},
        }
        command = [sys.executable, "-m", "uvicorn", "--factory"]
        command += ["prefect.server.api.server:create_app", "--host", "127.0.0.1"]
        command += ["--port", str(port), "--log-level", "error", "--lifespan", "on"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def wait(self, timeout: float = 120) -> str:
        """Return the API URL once the server answers; start again if its port was taken."""
        deadline = time.monotonic() + timeout
        for _ in range(3):
            assert self.process is not None
            while self.process.poll() is None and time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"{self.url}/health", timeout=2)  # noqa: S310 - loopback
                except OSError:
                    time.sleep(0.2)
                    continue
                self.keep_template()
                return self.url
            if self.process.poll() is None:
                break  # still starting at the deadline
            self.start()  # it exited: most likely the free port was taken meanwhile
        self.stop()
        raise RuntimeError(f"the Prefect server did not start:\n{self.log.read_text()[-3000:]}")

    def keep_template(self) -> None:
        """Leave the new, still empty database as the template, if there is none yet.

        Called once the server answers and before any test used it. SQLite's backup copies a
        database in use consistently (a file copy could catch its write-ahead log half-way);
        written beside and renamed, so a template is whole or absent, whoever else writes one.
        """
        if self.template.exists():
            return
        partial = self.template.with_name(f"{self.template.name}.{os.getpid()}")
        try:
            self.template.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.database)) as source:
                with closing(sqlite3.connect(partial)) as copy:
                    source.backup(copy)
            partial.replace(self.template)
        except (OSError, sqlite3.Error):
            # A cache: one that cannot be written costs the next boot its migrations, no more.
            with suppress(OSError):
                partial.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def drain_workers() -> None:
    """Send every queued log line and event to the API."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    try:
        drained = APILogWorker.instance().drain()
        if inspect.isawaitable(drained):
            await drained
    except RuntimeError:
        pass  # the worker never started: nothing was logged to the API
    drained = EventsWorker.drain_all()
    if inspect.isawaitable(drained):
        await drained


class MotoServer:
    """moto on loopback (S3 and Secrets Manager) in a subprocess: started early, waited for late.

    Like PrefectServer, it boots (about 1.5 s of CPU importing moto) while other tests run.
    """

    def __init__(self) -> None:
        self.endpoint = ""
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server on a free port; return at once."""
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def wait(self, timeout: float = 30) -> str:
        """Return the endpoint URL once the server answers."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1)  # noqa: S310 - loopback
                return self.endpoint
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextmanager
def moto_server(timeout: float = 30) -> Iterator[str]:
    """Run a moto server on loopback (S3 and Secrets Manager); yield its endpoint URL."""
    server = MotoServer()
    server.start()
    try:
        yield server.wait(timeout)
    finally:
        server.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """Listen on a loopback port that accepts every connection and never answers; yield it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)  # kept open and never read: the client waits for a reply

    acceptor = threading.Thread(target=accept, name="silent-server", daemon=True)
    acceptor.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        acceptor.join()
        for connection in held:
            connection.close()
        listener.close()
