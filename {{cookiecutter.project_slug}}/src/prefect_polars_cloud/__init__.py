"""Polars Cloud pipelines orchestrated by Prefect: the machinery, whatever the pipeline.

This module is the library's public API: what flows, the project's own package and the docs
import. Everything else (`prefect_polars_cloud.<package>.<module>`) is internal and may change
between template versions; `prefect_polars_cloud.testing` is the public test harness.

    from prefect_polars_cloud import DailyInput, DailyOutput, Datasets  # the declarations
    from prefect_polars_cloud import DailyRun, daily_run, retried, run_name  # a flow's run

The library is a package per concern, each layer importing only those before it:
`config` (settings, the project, its datasets, its days) -> `credentials` -> `storage` ->
`compute` -> `run` -> `operations` -> `local` (the command line) -> `testing`.

Names are imported on first use (PEP 562), so declaring datasets or running a command that
needs no Prefect never loads Prefect.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prefect_polars_cloud.config.datasets import (
        DailyInput,
        DailyOutput,
        Datasets,
        IcebergOutput,
        SnapshotInput,
        SnapshotOutput,
    )
    from prefect_polars_cloud.config.project import DayTotals, Project
    from prefect_polars_cloud.config.settings import (
        Alerts,
        SecretBackend,
        Settings,
        prefect_yaml_label,
    )
    from prefect_polars_cloud.local.runner import run_locally
    from prefect_polars_cloud.run.daily_run import daily_run
    from prefect_polars_cloud.run.flow_run import retried, run_name
    from prefect_polars_cloud.run.handle import DailyRun
    from prefect_polars_cloud.storage.files import atomic_target

# Public name -> the module that defines it.
_EXPORTS = {
    "DailyInput": "prefect_polars_cloud.config.datasets",
    "DailyOutput": "prefect_polars_cloud.config.datasets",
    "Datasets": "prefect_polars_cloud.config.datasets",
    "IcebergOutput": "prefect_polars_cloud.config.datasets",
    "SnapshotInput": "prefect_polars_cloud.config.datasets",
    "SnapshotOutput": "prefect_polars_cloud.config.datasets",
    "DayTotals": "prefect_polars_cloud.config.project",
    "Project": "prefect_polars_cloud.config.project",
    "Alerts": "prefect_polars_cloud.config.settings",
    "SecretBackend": "prefect_polars_cloud.config.settings",
    "Settings": "prefect_polars_cloud.config.settings",
    "prefect_yaml_label": "prefect_polars_cloud.config.settings",
    "run_locally": "prefect_polars_cloud.local.runner",
    "DailyRun": "prefect_polars_cloud.run.handle",
    "daily_run": "prefect_polars_cloud.run.daily_run",
    "retried": "prefect_polars_cloud.run.flow_run",
    "run_name": "prefect_polars_cloud.run.flow_run",
    "atomic_target": "prefect_polars_cloud.storage.files",
}

__all__ = [
    "Alerts",
    "DailyInput",
    "DailyOutput",
    "DailyRun",
    "Datasets",
    "DayTotals",
    "IcebergOutput",
    "Project",
    "SecretBackend",
    "Settings",
    "SnapshotInput",
    "SnapshotOutput",
    "atomic_target",
    "daily_run",
    "prefect_yaml_label",
    "retried",
    "run_locally",
    "run_name",
]


def __getattr__(name: str) -> object:
    """Import a public name from its module the first time it is asked for."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_polars_cloud' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
