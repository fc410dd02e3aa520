"""The pytest plugin: fixtures every project on this library gets in its tests, copying nothing.

Registered in pyproject.toml as a `pytest11` entry point, it loads in every pytest run of the
project's environment; Prefect, moto, boto3 and polars_cloud are imported by the fixtures that
need them. It knows no project: the library's current one gives the prefix, datasets and
sample data. Each test starts from the project's defaults; `--run-slow` runs the slow ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from prefect_polars_cloud.testing.signals import hear_ctrl_c
from prefect_polars_cloud.testing.values import (
    AWS_TEST_ENV,
    CLIENT_ID,
    CLIENT_SECRET,
    SAMPLE_DAYS,
    SAMPLE_ROWS,
)

if TYPE_CHECKING:
    from prefect_polars_cloud.testing.input_errors import InputErrors
    from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator
    from prefect_polars_cloud.testing.servers import MotoServer, PrefectServer
    from prefect_polars_cloud.testing.signals import SignalRunner


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow",
        action="store_true",
        help="also run the tests marked slow (tens of seconds each: a real `prefect server "
        "start`, make targets that wait out a bound)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: skipped unless asked for; `uv run pytest --run-slow` runs them too"
    )
    # The temporary servers tests start need not report usage (tests run offline).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    hear_ctrl_c()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tests that need no Prefect API first, while the servers boot; skip slow ones."""
    items.sort(key=lambda item: uses(item, "prefect_api"))  # stable: file order otherwise
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with `uv run pytest --run-slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def uses(item: pytest.Item, fixture: str) -> bool:
    """Tell whether a test uses a fixture, itself or through another."""
    return fixture in getattr(item, "fixturenames", ())


def needs(request: pytest.FixtureRequest, fixture: str) -> bool:
    """Tell whether any test of the session uses fixture (then its server boots meanwhile)."""
    return any(uses(item, fixture) for item in request.session.items)


# -- the project's settings and data ---------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start every test from the project's defaults, whatever the shell or the last test left."""
    from prefect_polars_cloud.config.project import env_prefix, get_settings
    from prefect_polars_cloud.storage.files import accept_writes

    for name in list(os.environ):
        if name.startswith((env_prefix(), "POLARS_CLOUD_")):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    accept_writes()  # refused if the test stopped a run in this process (storage/files.py)


@pytest.fixture(autouse=True)
def iceberg_catalog(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Give a project with Iceberg outputs a SQLite catalog of the test's own (PYICEBERG_HOME)."""
    from prefect_polars_cloud.config.project import current

    if not current().datasets.tables:
        return
    home = tmp_path_factory.mktemp("pyiceberg")
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYICEBERG_HOME", str(home))  # read before the home directory's
    (home / ".pyiceberg.yaml").write_text(
        f"catalog:\n  default:\n    type: sql\n    uri: sqlite:///{home / 'catalog.db'}\n"
        f"    warehouse: {(home / 'warehouse').as_uri()}\n"
    )


@pytest.fixture(scope="session")
def sample_rows() -> int:
    """Rows a day of the sample inputs (override it in a conftest for other sizes)."""
    return SAMPLE_ROWS


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory, sample_rows: int) -> Path:
    """The project's sample inputs for SAMPLE_DAYS, written once a session."""
    from prefect_polars_cloud.config.project import current

    folder = tmp_path_factory.mktemp("sample")
    current().write_sample_data(folder, SAMPLE_DAYS, sample_rows)
    return folder


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    """Run flows on local Polars, against the session's Prefect server."""
    from prefect_polars_cloud.config.project import env_prefix

    monkeypatch.setenv(f"{env_prefix()}COMPUTE_MODE", "local")


# -- Prefect ---------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def prefect_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectServer | None]:
    """Start the Prefect server with the session when any of its tests needs one."""
    from prefect_polars_cloud.testing.servers import PrefectServer, started_if

    folder = tmp_path_factory.mktemp
    yield from started_if(needs(request, "prefect_api"), lambda: PrefectServer(folder("prefect")))


@pytest.fixture(scope="session")
def prefect_api(prefect_server: PrefectServer | None) -> Iterator[str]:
    """A real, temporary Prefect server with its own SQLite database: its URL, set as the API's."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.utilities.asyncutils import run_coro_as_sync

    from prefect_polars_cloud.testing.servers import drain_workers

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
def dying_api(prefect_api: str) -> Iterator[subprocess.Popen[str]]:
    """A Prefect API to kill -9: a proxy before the session's server, printing its URL first."""
    command = [sys.executable, "-m", "prefect_polars_cloud.testing.api_proxy", prefect_api]
    proxy = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        yield proxy
    finally:
        proxy.kill()
        proxy.wait()


# -- AWS on loopback -------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def moto_server(request: pytest.FixtureRequest) -> Iterator[MotoServer | None]:
    """Start moto with the session when any of its tests needs it."""
    from prefect_polars_cloud.testing.servers import MotoServer, started_if

    yield from started_if(needs(request, "moto_endpoint"), MotoServer)


@pytest.fixture(scope="session")
def moto_endpoint(moto_server: MotoServer | None) -> str:
    """A moto server on loopback: S3 and Secrets Manager for boto3 and Polars alike."""
    assert moto_server is not None, "collected tests that need moto start it"
    return moto_server.wait()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3 and Polars at the moto server (AWS_ENDPOINT_URL), with throwaway credentials."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return moto_endpoint


@pytest.fixture
def s3_data(aws: str, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket holding the sample inputs under raw/; returns s3://bucket.

    An Iceberg catalog's warehouse moves to the bucket too (Polars Cloud writes there).
    """
    import boto3

    from prefect_polars_cloud.config.project import current

    bucket = f"inputs-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=bucket)
    for path in sample_dir.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), bucket, f"raw/{path.relative_to(sample_dir).as_posix()}")
    if current().datasets.tables:
        monkeypatch.setenv("PYICEBERG_CATALOG__DEFAULT__WAREHOUSE", f"s3://{bucket}/warehouse")
    return f"s3://{bucket}"


# -- Polars Cloud ----------------------------------------------------------------------------


@pytest.fixture
def service_account_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hand the env backend the test's service account (CLIENT_ID, CLIENT_SECRET)."""
    from prefect_polars_cloud.config.project import env_prefix

    monkeypatch.setenv("POLARS_CLOUD_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("POLARS_CLOUD_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv(f"{env_prefix()}SECRET_BACKEND", "env")


@pytest.fixture
def cloud_sim(monkeypatch: pytest.MonkeyPatch, service_account_env: None) -> PolarsCloudSimulator:
    """Polars Cloud's server side, simulated below the real client; knows the test account."""
    from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

    simulator = PolarsCloudSimulator(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return simulator.install(monkeypatch)


@pytest.fixture
def cloud_mode(
    monkeypatch: pytest.MonkeyPatch, prefect_api: str, aws: str, cloud_sim: PolarsCloudSimulator
) -> PolarsCloudSimulator:
    """Run flows in cloud mode on the simulator (returned), with S3 on moto and a Prefect server."""
    from prefect_polars_cloud.config.project import env_prefix

    monkeypatch.setenv(f"{env_prefix()}COMPUTE_MODE", "cloud")
    return cloud_sim


# -- processes, ports and inputs -------------------------------------------------------------


@pytest.fixture
def signal_runner() -> Iterator[SignalRunner]:
    """Start commands in process groups of their own, signal them, collect their output."""
    from prefect_polars_cloud.testing.signals import SignalRunner

    runner = SignalRunner()
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def input_errors(
    sample_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> InputErrors:
    """Run flows on the sample inputs with one file made bad: one ERROR line, nothing published."""
    from prefect_polars_cloud.testing.input_errors import InputErrors

    return InputErrors(sample_dir, tmp_path, capfd)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts every connection and never answers: a hung server."""
    from prefect_polars_cloud.testing.servers import silent_server

    with silent_server() as port:
        yield port
