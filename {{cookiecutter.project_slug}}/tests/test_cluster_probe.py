"""Cluster mode greets the self-hosted cluster first: one ERROR within 20 s when it is not there.

Without the greeting the real client waits 375 s on a closed port, then prints a gRPC traceback
that names neither the URI nor the setting. These tests use the real client (no simulator) on
loopback ports, except where a cluster must answer: the simulator's, which greets for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from prefect_polars_cloud.compute import probe as cluster_probe
from prefect_polars_cloud.compute.session import ComputeError, ComputeSession
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator
from prefect_polars_cloud.testing.servers import free_port

from {{ cookiecutter.package_name }}.settings import (
    ENV_PREFIX,
    Settings,
)

PROJECT = Path(__file__).resolve().parent.parent
# A hang, not a time: the probe gives up after seconds, while a command importing Prefect on a
# loaded two-core machine took 33 s (the test measures the whole `make doctor` process).
BOUND_S = 90
SETTING = f"{ENV_PREFIX}CLUSTER_URI"
MAKE = shutil.which("make")


def cluster_settings(uri: str) -> Settings:
    """Cluster mode at uri."""
    return Settings(compute_mode="cluster", cluster_uri=uri)


def session_error(uri: str, tmp_path: Path) -> tuple[str, float]:
    """Run one query in cluster mode at uri; return the error and how long it took to come."""
    started = time.monotonic()
    with pytest.raises(ComputeError) as raised:
        with ComputeSession(cluster_settings(uri)) as compute:
            compute.sink_parquet(pl.LazyFrame({"x": [1]}), str(tmp_path / "x.parquet"), "small")
    return str(raised.value), time.monotonic() - started


@pytest.fixture
def quick_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """One second for the greeting: the real bound is tested through `make doctor`."""
    monkeypatch.setattr(cluster_probe, "PROBE_TIMEOUT_S", 1.0)


def test_a_closed_port_fails_before_any_query_naming_the_uri_and_the_setting(
    tmp_path: Path,
) -> None:
    uri = f"http://127.0.0.1:{free_port()}"

    error, elapsed = session_error(uri, tmp_path)

    assert error.startswith(f"the Polars cluster at {uri} is unreachable (ConnectionRefusedError")
    assert error.endswith(f"start it, or fix {SETTING}")
    assert elapsed < BOUND_S
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_port_that_accepts_and_never_answers_fails_within_the_bound(
    scheme: str, silent_port: int, quick_bound: None, tmp_path: Path
) -> None:
    uri = f"{scheme}://127.0.0.1:{silent_port}"

    error, elapsed = session_error(uri, tmp_path)

    assert error.endswith(f"{uri} did not answer within 1 s; start it, or fix {SETTING}")
    assert elapsed < 1 + cluster_probe.PROBE_GRACE_S + 1


@pytest.mark.parametrize("uri", ["polars.internal:5051", "ftp://polars.internal", "http://h:99999"])
def test_a_uri_that_is_not_a_schedulers_says_what_to_set(uri: str) -> None:
    problem = cluster_probe.cluster_problem(cluster_settings(uri))

    assert problem == f"{SETTING}={uri!r} is not a scheduler's URI; set it as https://host:5051"


# Slow: `make doctor` in a process of its own waits out the probe's bound; the probe itself is
# tested above. `make test-all` and CI run it.
@pytest.mark.slow
@pytest.mark.skipif(MAKE is None, reason="make is not installed")
def test_make_doctor_probes_the_cluster_and_needs_no_polars_cloud_account(
    silent_port: int, tmp_path: Path
) -> None:
    uri = f"http://127.0.0.1:{silent_port}"
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POLARS_CLOUD_", "PREFECT_API_URL"))
    }
    environment |= {
        f"{ENV_PREFIX}COMPUTE_MODE": "cluster",
        SETTING: uri,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        # The Makefile's commands, from this environment: no uv, no network.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    started = time.monotonic()
    result = subprocess.run(
        [str(MAKE), "--no-print-directory", "doctor", "UV_RUN="],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started

    assert result.returncode != 0
    assert elapsed < BOUND_S, f"`make doctor` took {elapsed:.1f} s"
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert errors == [
        f"ERROR: the Polars cluster at {uri} did not answer within "
        f"{cluster_probe.PROBE_TIMEOUT_S:g} s; start it, or fix {SETTING}"
    ], result.stderr
    assert "cluster:        UNREACHABLE" in result.stdout
    assert "credentials" not in result.stdout, "cluster mode needs no Polars Cloud account"


def test_doctor_passes_when_the_cluster_greets_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = PolarsCloudSimulator(client_id="", client_secret="").install(monkeypatch)
    uri, _ = sim.serve_cluster()
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cluster")
    monkeypatch.setenv(SETTING, uri)

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["doctor"]) == 0

    out = capsys.readouterr().out
    assert f"compute mode:   cluster at {uri}" in out
    assert "cluster:        answers" in out
    assert "credentials" not in out and sim.names() == [], "no Polars Cloud call"
