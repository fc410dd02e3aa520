"""presets.toml: any number of presets, checked when read, overridable from the environment."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from prefect_polars_cloud.compute.presets import PresetError, load_presets
from prefect_polars_cloud.compute.session import ComputeError, ComputeSession
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from toy_pipeline.project import ENV_PREFIX, Settings

GOOD = """
[small]
cpus = 2
memory = 4

[large]
cpus = 4
memory = 16
"""


def settings_for(tmp_path: Path, text: str, **overrides: object) -> Settings:
    path = tmp_path / "presets.toml"
    path.write_text(text)
    return Settings(presets_file=str(path), **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "gpus = 1\n", "[large] gpus: Extra inputs are not permitted"),
        (GOOD.replace("cpus = 2", "cpus = 0"), "[small] cpus: Input should be greater than 0"),
        (GOOD + "idle_timeout_mins = 5\n", "[large] idle_timeout_mins: Input should be greater"),
        (GOOD.replace("memory = 16", "memory = 2"), "[large] (4 CPUs, 2 GB) is smaller than"),
        (GOOD + 'instance_type = "m7i.xlarge"\n', "[large] instance_type: give it, or cpus"),
        ("[tiny]\ncpus = 1\n", "[tiny] cpus and memory (or instance_type) are needed"),
        ("[small\ncpus = 1\n", "not valid TOML"),
        (GOOD + 'mode = "named"\n', "[large] mode: Input should be 'ephemeral' or 'manifest'"),
        (GOOD + "stop_after_run = true\n", '[large] stop_after_run: only for mode = "manifest"'),
        (GOOD + "query_timeout_mins = 0.0001\n", "[large] query_timeout_mins: Input should be gre"),
    ],
    ids=[
        "unknown-key",
        "no-cpus",
        "idle-too-short",
        "large-smaller",
        "type-and-size",
        "no-memory",
        "toml",
        "mode",
        "stop-without-manifest",
        "query-timeout-under-a-minute",
    ],
)
def test_a_wrong_key_or_value_names_the_file_the_preset_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    settings = settings_for(tmp_path, text)

    with pytest.raises(PresetError) as refused:
        load_presets(settings, environ={})

    assert str(refused.value).startswith(f"{tmp_path / 'presets.toml'}: ")
    assert message in str(refused.value)


def test_a_field_is_overridden_from_the_environment(tmp_path: Path) -> None:
    environ = {
        f"{ENV_PREFIX}PRESET_LARGE_CPUS": "16",
        f"{ENV_PREFIX}PRESET_LARGE_CLUSTER_SIZE": "3",
        f"{ENV_PREFIX}PRESET_SMALL_LABELS": '["adhoc"]',
    }

    presets = load_presets(settings_for(tmp_path, GOOD), environ=environ)

    assert (presets["large"].cpus, presets["large"].cluster_size) == (16, 3)
    assert presets["large"].runs_distributed and presets["small"].labels == ["adhoc"]


@pytest.mark.parametrize(
    ("variable", "message"),
    [("PRESET_MEDIUM_CPUS", r"no preset \[medium\]"), ("PRESET_LARGE_GPUS", "no preset field")],
    ids=["unknown-preset", "unknown-field"],
)
def test_a_wrong_override_is_refused(tmp_path: Path, variable: str, message: str) -> None:
    with pytest.raises(PresetError, match=message):
        load_presets(settings_for(tmp_path, GOOD), environ={f"{ENV_PREFIX}{variable}": "8"})


def test_a_missing_file_says_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="presets.toml not found: run from the project"):
        load_presets(Settings(presets_file=str(tmp_path / "presets.toml")), environ={})


def test_a_new_preset_is_a_table_and_a_name(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    medium = '\n[medium]\ninstance_type = "m7i.2xlarge"\ncluster_size = 2\nquery_timeout_mins = 5\n'
    settings = settings_for(tmp_path, GOOD + medium, compute_mode="cloud", secret_backend="env")
    query = pl.LazyFrame({"a": [1, 2]})

    with ComputeSession(settings) as compute:
        compute.sink_parquet(query, str(tmp_path / "out.parquet"), "medium", ["a_new_task"])

    [cluster] = cloud_sim.started("medium")
    assert cluster.cluster_size == 2 and cluster.stopped_at is not None
    [sent] = cloud_sim.queries.values()
    assert sent.distributed and sent.labels == ["a_new_task"]
    assert pl.read_parquet(tmp_path / "out.parquet").equals(query.collect())


def test_a_task_naming_no_preset_is_told_which_exist(tmp_path: Path) -> None:
    with ComputeSession(settings_for(tmp_path, GOOD, compute_mode="local")) as compute:
        with pytest.raises(ComputeError, match=r"no preset \[huge\] .*use one of small, large"):
            compute.sink_parquet(pl.LazyFrame({"a": [1]}), str(tmp_path / "x.parquet"), "huge")
