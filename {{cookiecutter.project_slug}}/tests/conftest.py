"""Shared fixtures: isolated settings, sample data, a Prefect API, and S3 on loopback."""

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
from datetime import date
from pathlib import Path

import boto3
import pytest

from prefect_polars_cloud.config.datasets import IcebergOutput
from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from {{ cookiecutter.package_name }}.datasets import DATASETS
from {{ cookiecutter.package_name }}.sample_data import write_sample_data
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from .prefect_server import PrefectServer, drain_workers
from .prefect_server import free_port as _free_port

# The temporary servers tests start need not report usage (tests run offline).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SAMPLE_ROWS = 1_000  # rows a day
# Fixed days, so expectations never depend on today's date.
SAMPLE_DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
# Values that must never show up in a log, a parameter, an error or a file.
CLIENT_ID = "client-id-e2a9c7f3"
CLIENT_SECRET = "client-secret-5b1d8e44"
# Variables whose value is a secret. Leak checks look for these exact names and for secret
# values, never for words such as "secret" or "key", which a project's own name may contain
# ("Secret Santa Reports" has SECRET_SANTA_REPORTS_COMPUTE_MODE).
SECRET_VARIABLES = frozenset(
    {
        "POLARS_CLOUD_CLIENT_ID",
        "POLARS_CLOUD_CLIENT_SECRET",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "PREFECT_API_KEY",
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
    }
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the tests marked slow (tens of seconds each: a real `prefect server "
        "start`, make targets that wait out a bound)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: skipped by `make test`; `uv run pytest --run-slow` runs them too"
    )
    config.addinivalue_line("markers", "parquet_report: reads the report as Parquet folders")


# The tests that read the report as Parquet folders by day, which an Iceberg report is not:
# these modules, and tests marked parquet_report. test_iceberg.py runs the flow against its
# table instead; the library is the same either way.
PARQUET_REPORT_MODULES = ("test_flow_local.py", "test_flow_cloud.py", "test_crash_recovery.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests that need no Prefect API first, while its server boots; skip slow ones.

    Slow tests run only when asked for: `make test` stays quick, and its summary says so. When
    the project's report is an Iceberg table, the Parquet report's tests are skipped.
    """
    items.sort(key=needs_prefect_api)  # stable: file order otherwise
    if isinstance(DATASETS.report, IcebergOutput):
        table = pytest.mark.skip(reason="the report is an Iceberg table: see tests/test_iceberg.py")
        for item in items:
            marked = item.get_closest_marker("parquet_report") is not None
            if item.path.name in PARQUET_REPORT_MODULES or marked:
                item.add_marker(table)
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with `uv run pytest --run-slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def needs_prefect_api(item: pytest.Item) -> bool:
    """Tell whether a test uses the session's Prefect server."""
    return "prefect_api" in getattr(item, "fixturenames", ())


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start every test from the generated defaults, whatever the shell exported."""
    for name in list(os.environ):
        if name.startswith((ENV_PREFIX, "POLARS_CLOUD_")):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def iceberg_catalog(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Give a project with Iceberg outputs a catalog of the test's own (`make doctor` needs one).

    A .pyiceberg.yaml in PYICEBERG_HOME, which pyiceberg reads before the home directory's.
    """
    if not DATASETS.tables:
        return
    home = tmp_path_factory.mktemp("pyiceberg")
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYICEBERG_HOME", str(home))
    (home / ".pyiceberg.yaml").write_text(
        f"catalog:\n  default:\n    type: sql\n    uri: sqlite:///{home / 'catalog.db'}\n"
        f"    warehouse: {(home / 'warehouse').as_uri()}\n"
    )


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
    """Small deterministic inputs, made once."""
    return write_sample_data(tmp_path_factory.mktemp("sample"), SAMPLE_DAYS, rows=SAMPLE_ROWS)


@pytest.fixture(scope="session", autouse=True)
def prefect_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectServer | None]:
    """Start the Prefect server with the session when any of its tests needs one."""
    if not any(needs_prefect_api(item) for item in request.session.items):
        yield None
        return
    server = PrefectServer(tmp_path_factory.mktemp("prefect-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prefect_api(prefect_server: PrefectServer | None) -> Iterator[str]:
    """A real, temporary Prefect server with its own SQLite database: its API URL."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.utilities.asyncutils import run_coro_as_sync

    assert prefect_server is not None, "collected tests that need the API start its server"
    url = prefect_server.wait()
    # No flow-run heartbeats (they detect crashed runs, which no test here is about): the engine
    # joins their thread at the end of every run, which sleeps in 1 s steps.
    updates = {PREFECT_API_URL: url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    with temporary_settings(updates=updates):
        yield url
        # Send what is queued while the server is there to take it (as prefect.testing does).
        run_coro_as_sync(drain_workers())


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
    port = _free_port()
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
def dying_api(prefect_api: str) -> Iterator[subprocess.Popen[str]]:
    """A Prefect API of its own (tests/api_proxy.py before the session's server) to kill -9."""
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tests.api_proxy", prefect_api],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proxy
    finally:
        proxy.kill()
        proxy.wait()


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
def s3_data(aws: str, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket holding the sample inputs under raw/; returns s3://bucket.

    An Iceberg catalog's warehouse moves to the bucket too (Polars Cloud writes there).
    """
    bucket = f"reports-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in sample_dir.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"raw/{path.relative_to(sample_dir).as_posix()}")
    if DATASETS.tables:
        monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__WAREHOUSE", f"s3://{bucket}/warehouse")
    return f"s3://{bucket}"
