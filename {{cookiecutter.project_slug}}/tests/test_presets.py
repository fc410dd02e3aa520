"""presets.toml as generated: the answers, valid by the library's own rules.

How presets are checked, overridden and used is the library's (the template's tests/library).
"""

from __future__ import annotations

from pathlib import Path

from prefect_polars_cloud.compute.presets import load_presets

from {{ cookiecutter.package_name }}.settings import Settings

PROJECT = Path(__file__).resolve().parent.parent


def test_the_generated_file_holds_the_answers() -> None:
    presets = load_presets(Settings(presets_file=str(PROJECT / "presets.toml")), environ={})
    assert sorted(presets) == ["large", "small"]
    small, large = presets["small"], presets["large"]
    assert (small.cpus, small.memory) == ({{ cookiecutter.small_cpus | int }}, {{ cookiecutter.small_memory | int }})
    assert (large.cpus, large.memory) == ({{ cookiecutter.large_cpus | int }}, {{ cookiecutter.large_memory | int }})
    assert large.cluster_size == {{ cookiecutter.large_cluster_size | int }}
    assert large.runs_distributed == ({{ cookiecutter.large_cluster_size | int }} > 1)
