"""This pipeline's test settings; the fixtures are the library's pytest plugin's.

`prefect_polars_cloud.testing.plugin` (pyproject.toml's pytest11 entry point) gives every test
a Prefect server, S3 on moto, the Polars Cloud simulator, the sample inputs, a signal runner and
the input-errors harness (`uv run pytest --fixtures` lists them). What is this project's alone:
the tests that read the report as Parquet folders.
"""

from __future__ import annotations

import pytest

from prefect_polars_cloud import IcebergOutput

from {{ cookiecutter.package_name }}.datasets import DATASETS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "parquet_report: reads the report as Parquet folders")


# The tests that read the report as Parquet folders by day, which an Iceberg report is not:
# these modules, and tests marked parquet_report. test_iceberg.py runs the flow against its
# table instead; the library is the same either way.
PARQUET_REPORT_MODULES = ("test_flow_local.py", "test_flow_cloud.py", "test_crash_recovery.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the Parquet report's tests when the project's report is an Iceberg table."""
    if not isinstance(DATASETS.report, IcebergOutput):
        return
    table = pytest.mark.skip(reason="the report is an Iceberg table: see tests/test_iceberg.py")
    for item in items:
        marked = item.get_closest_marker("parquet_report") is not None
        if item.path.name in PARQUET_REPORT_MODULES or marked:
            item.add_marker(table)
