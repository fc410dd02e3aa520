"""The project that uses the library: found once, through its package's entry point.

The library knows no project: a project's package declares itself in its pyproject.toml,

    [project.entry-points."prefect_polars_cloud"]
    project = "my_package.project:PROJECT"

and `current()` returns that `Project`: its settings class, its datasets, its sample data and
the summary of its report. Tests hand the library a project of their own with `using()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from prefect_polars_cloud.config.environments import apply_environment
from prefect_polars_cloud.config.settings import Settings, SettingsError, settings_problem

if TYPE_CHECKING:
    import polars as pl

    from prefect_polars_cloud.config.datasets import Datasets

ENTRY_POINT_GROUP = "prefect_polars_cloud"

# Write sample inputs for these days into a folder: (folder, days, rows a day).
SampleWriter = Callable[[Path, list[date], int], object]
# Totals of one day of the summarised output, for the run's artifact: {"rows_in": 42, "total": 9.5}.
DayTotals = Callable[["pl.DataFrame"], Mapping[str, float | int]]


class ProjectError(RuntimeError):
    """No project, or more than one, declares itself to the library."""


@dataclass(frozen=True)
class Project:
    """What the library needs to know of the project that uses it.

    The project's package declares one, and names it in its pyproject.toml under
    `[project.entry-points."prefect_polars_cloud"]` as `project = "<package>.project:PROJECT"`.

    Args:
        settings: The project's Settings subclass (its prefix and defaults).
        datasets: The pipeline's Datasets.
        write_sample_data: Writes sample inputs for the given days into a folder:
            `(folder, days, rows_a_day)`; `make sample-data` and `make run` call it.
        day_totals: Totals one day of the report for the run's artifact, e.g.
            `{"rows": 42, "amount": 9.5}`.

    Example:
        ```python
        from prefect_polars_cloud import Project

        PROJECT = Project(
            settings=Settings,
            datasets=DATASETS,
            write_sample_data=write_sample_data,
            day_totals=day_totals,
        )
        ```
    """

    settings: type[Settings]
    datasets: Datasets
    write_sample_data: SampleWriter
    day_totals: DayTotals


_override: list[Project] = []


@lru_cache(maxsize=1)
def _installed() -> Project:
    found = list(entry_points(group=ENTRY_POINT_GROUP, name="project"))
    if len(found) != 1:
        raise ProjectError(
            f"{'no' if not found else len(found)} package(s) declare a project to "
            f"prefect_polars_cloud; pyproject.toml names it under "
            f'[project.entry-points."{ENTRY_POINT_GROUP}"] project = "<package>.project:PROJECT"; '
            "run `uv sync` after changing it"
        )
    project = found[0].load()
    if not isinstance(project, Project):
        raise ProjectError(f"{found[0].value} is not a prefect_polars_cloud.Project")
    return project


def current() -> Project:
    """Return the project in use: the one `using()` set, else the installed one."""
    return _override[-1] if _override else _installed()


@contextmanager
def using(project: Project) -> Iterator[Project]:
    """Make project the current one inside the block (tests of the library, benchmarks)."""
    _override.append(project)
    get_settings.cache_clear()
    try:
        yield project
    finally:
        _override.pop()
        get_settings.cache_clear()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the project's settings once per process; a bad variable is one SettingsError.

    The run's environment (<PREFIX>ENV, environments.toml) sets its prefix, secret and workspace.
    """
    settings = current().settings
    try:
        return apply_environment(settings())
    except ValidationError as error:
        raise SettingsError(settings_problem(settings, error)) from None


def env_prefix() -> str:
    """Return the prefix of the project's variables (for messages that name a setting)."""
    return current().settings.prefix()
