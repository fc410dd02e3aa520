"""Manifest mode: `make compute` registers named computes, runs reuse them (simulated server)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import polars_cloud.polars_cloud as pcr
import pytest

from prefect_polars_cloud.compute.presets import load_presets
from prefect_polars_cloud.compute.session import ComputeError, ComputeSession
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from toy_pipeline.project import ENV_PREFIX, Settings

QUERY = pl.LazyFrame({"a": [1, 2, 3]})
NAME = f"{Settings().label}-large"  # the large preset's compute name


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch, cloud_sim: PolarsCloudSimulator) -> PolarsCloudSimulator:
    """Cloud mode, the large preset in manifest mode (set as a user would, from the env)."""
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")
    monkeypatch.setenv(f"{ENV_PREFIX}PRESET_LARGE_MODE", "manifest")
    monkeypatch.setenv(f"{ENV_PREFIX}ALERTS", "none")  # the doctor checks no automations here
    return cloud_sim


def run_large(folder: Path) -> ComputeSession:
    """One session that sends a query to the large preset; return it for its evidence."""
    with ComputeSession(Settings()) as compute:
        compute.sink_parquet(QUERY, str(folder / "large.parquet"), "large")
    return compute


def test_make_compute_registers_each_manifest_preset_once(
    sim: PolarsCloudSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compute"]) == 0
    assert main(["compute"]) == 0, "a second time: nothing to do"

    out = capsys.readouterr().out
    assert f"large: registered as '{NAME}'" in out and f"large: unchanged as '{NAME}'" in out
    assert "small:" not in out, "an ephemeral preset has nothing to register"
    assert sim.names().count("register_compute_cluster_manifest") == 1
    large = load_presets(Settings())["large"]
    spec = sim.manifests[NAME].spec
    assert (spec["cpus"], spec["ram_gb"], spec["cluster_size"]) == (
        large.cpus,
        large.memory,
        large.cluster_size,
    )
    assert spec["labels"][-2:] == [Settings().label, NAME]
    assert sim.clusters == {}, "registering starts nothing"
    assert CLIENT_SECRET not in out and CLIENT_ID not in out


def test_make_compute_updates_a_changed_or_outdated_manifest(
    sim: PolarsCloudSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compute"]) == 0
    large = load_presets(Settings())["large"]
    monkeypatch.setenv(f"{ENV_PREFIX}PRESET_LARGE_IDLE_TIMEOUT_MINS", "45")

    assert main(["compute"]) == 0
    assert f"large: updated as '{NAME}'" in capsys.readouterr().out
    assert sim.manifests[NAME].spec["idle_timeout_mins"] == 45, "a field the client never shows"
    assert sim.manifests[NAME].spec["cpus"] == large.cpus

    sim.manifests[NAME].polars_version = "1.99.0"  # registered before a Polars upgrade
    assert main(["compute"]) == 0
    assert f"large: updated as '{NAME}'" in capsys.readouterr().out
    assert sim.manifests[NAME].polars_version == pcr.polars_version()
    assert list(sim.manifests) == [NAME]


def test_make_compute_leaves_a_running_manifest_alone(
    sim: PolarsCloudSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert main(["compute"]) == 0
    run_large(tmp_path)  # leaves it running for its idle timeout
    before = dict(sim.manifests[NAME].spec)
    monkeypatch.setenv(f"{ENV_PREFIX}PRESET_LARGE_STORAGE", "200")

    assert main(["compute"]) == 1

    out, err = capsys.readouterr()
    assert f"large: NOT UPDATED as '{NAME}'" in out
    assert err.startswith("ERROR: ") and "is running" in err and "idle timeout" in err
    assert sim.manifests[NAME].spec == before


def test_a_run_starts_a_stopped_manifest_and_the_next_run_joins_it(
    sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    assert main(["compute"]) == 0

    first = run_large(tmp_path)
    second = run_large(tmp_path)
    (cluster,) = sim.started("large")
    assert sim.running() == [cluster], "left for its idle timeout, not stopped"
    assert [(c.mode, c.reused, c.left_running) for c in first.evidence.clusters] == [
        ("manifest", False, True)
    ]
    assert [c.reused for c in second.evidence.clusters] == [True], "joined, not booted"
    assert "| manifest (joined) |" in second.evidence.markdown(None)
    assert len(sim.queries) == 2 and {q.cluster.id for q in sim.queries.values()} == {cluster.id}

    sim.idle_out(NAME)
    run_large(tmp_path)
    assert len(sim.started("large")) == 2, "started again once its idle timeout stopped it"
    assert sim.names().count("start_compute") == 0, "never booted from a spec"


def test_stop_after_run_stops_the_manifest_with_the_run(
    sim: PolarsCloudSimulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}PRESET_LARGE_STOP_AFTER_RUN", "true")
    assert main(["compute"]) == 0

    compute = run_large(tmp_path)

    assert sim.running() == [] and sim.manifests[NAME].live_cluster_id is None
    assert [c.confirmed for c in compute.evidence.clusters] == [True]


def test_a_run_on_an_out_of_date_manifest_says_so_and_uses_it_as_registered(
    sim: PolarsCloudSimulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    assert main(["compute"]) == 0
    monkeypatch.setenv(f"{ENV_PREFIX}PRESET_LARGE_CPUS", "64")

    run_large(tmp_path)

    assert "changed since the compute" in caplog.text and "run `make compute`" in caplog.text
    assert [c.cpus for c in sim.started("large")] == [sim.manifests[NAME].spec["cpus"]]


def test_a_manifest_that_fails_to_boot_is_not_reported_left_running(
    sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    assert main(["compute"]) == 0
    sim.boot_failure = "no capacity in the region"

    with pytest.raises(Exception, match="no capacity"):
        run_large(tmp_path)

    assert sim.running() == []
    assert sim.manifests[NAME].live_cluster_id is None


def test_a_run_says_to_run_make_compute_before_anything_boots(
    sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    with pytest.raises(ComputeError, match=f"no compute is registered as '{NAME}'.*make compute"):
        run_large(tmp_path)
    assert sim.clusters == {}

    assert main(["compute"]) == 0
    sim.manifests[NAME].python_version = "3.10.0"
    with pytest.raises(ComputeError, match=r"another environment: .*python.*run `make compute`"):
        run_large(tmp_path)
    assert sim.clusters == {}


def test_the_doctor_checks_each_manifest_against_presets_and_versions(
    sim: PolarsCloudSimulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "manifest large: NOT REGISTERED" in out and "run `make compute`" in err
    assert f"manifest {NAME!r}: registered by `make compute`" in out
    assert "ephemeral: started with each run, stopped at its end" in out  # the small preset

    assert main(["compute"]) == 0
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert f"manifest large: registered, matches presets.toml and polars {pl.__version__}" in out

    monkeypatch.setenv(f"{ENV_PREFIX}PRESET_LARGE_CPUS", "64")
    assert main(["doctor"]) == 1
    assert "OUT OF DATE" in capsys.readouterr().out

    monkeypatch.delenv(f"{ENV_PREFIX}PRESET_LARGE_CPUS")
    sim.manifests[NAME].polars_version = "1.99.0"
    assert main(["doctor"]) == 1
    out, err = capsys.readouterr()
    assert "manifest large: OTHER VERSIONS" in out and "1.99.0" in err
    assert sim.clusters == {}, "the doctor starts nothing"


def test_make_compute_outside_cloud_mode_says_what_to_set(
    sim: PolarsCloudSimulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")
    assert main(["compute"]) == 1
    assert f"with {ENV_PREFIX}COMPUTE_MODE=cloud" in capsys.readouterr().err
    monkeypatch.delenv(f"{ENV_PREFIX}PRESET_LARGE_MODE")
    assert main(["compute"]) == 0
    assert "nothing to register" in capsys.readouterr().out
    assert sim.calls == []
