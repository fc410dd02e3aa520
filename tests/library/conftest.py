"""The library's tests: a project of their own (toy_pipeline), a Prefect API, S3 on loopback.

Every test runs with the toy project current (`prefect_polars_cloud.config.project.using`), whatever
project the environment they run in has installed, and with none of the toy's variables set.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from prefect_polars_cloud.config.project import get_settings, using
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from support import CLIENT_ID, CLIENT_SECRET, SAMPLE_DAYS, SAMPLE_ROWS
from toy_pipeline.project import ENV_PREFIX, PROJECT, write_sample_data

# The temporary servers tests start need not report usage (tests run offline).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session", autouse=True)
def toy_project() -> Iterator[None]:
    """Make the toy the library's project for the whole session."""
    with using(PROJECT):
        yield


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start every test from the toy's defaults, whatever the shell exported."""
    for name in list(os.environ):
        if name.startswith((ENV_PREFIX, "POLARS_CLOUD_")):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def service_account_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand the env backend a known service account."""
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_BACKEND", "env")


@pytest.fixture
def cloud_sim(monkeypatch: pytest.MonkeyPatch, service_account_env: None) -> PolarsCloudSimulator:
    """Polars Cloud's server side, simulated below the real client; knows the test account."""
    simulator = PolarsCloudSimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return simulator.install(monkeypatch)


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small deterministic toy inputs, made once."""
    return write_sample_data(tmp_path_factory.mktemp("sample"), SAMPLE_DAYS, SAMPLE_ROWS)


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A real, temporary Prefect server with its own SQLite database."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        # No flow-run heartbeats (they detect crashed runs, which no test here is about): the
        # engine joins their thread at the end of every run, which sleeps in 1 s steps.
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield str(PREFECT_API_URL.value())


def free_port() -> int:
    """Return a loopback port nothing listens on (yet)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts every connection and never answers: a hung server."""
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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on loopback: S3 and Secrets Manager for boto3 and Polars alike."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)  # noqa: S310 - loopback
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 and Polars at the moto server, with throwaway credentials."""
    for name, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


@pytest.fixture
def s3_data(aws: str, sample_dir: Path) -> str:
    """A fresh bucket holding the toy's sample inputs under raw/; returns s3://bucket."""
    bucket = f"toy-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in sample_dir.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"raw/{path.relative_to(sample_dir).as_posix()}")
    return f"s3://{bucket}"
