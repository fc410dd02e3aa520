"""The library's tests: a project of their own (toy_pipeline); the fixtures are the plugin's.

Every test runs with the toy project current (`prefect_polars_cloud.config.project.using`), whatever
project the environment they run in has installed, and with none of the toy's variables set. The
Prefect server, S3 on loopback, the simulator, the sample inputs and the input-errors harness are
`prefect_polars_cloud.testing.plugin`'s, which the bake's environment loads (its pytest11 entry
point), as it does for the bake's own tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from prefect_polars_cloud.config.project import using

from support import SAMPLE_ROWS
from toy_pipeline.project import PROJECT


@pytest.fixture(scope="session", autouse=True)
def toy_project() -> Iterator[None]:
    """Make the toy the library's project for the whole session."""
    with using(PROJECT):
        yield


@pytest.fixture(scope="session")
def sample_rows() -> int:
    """Visits a day of the toy's sample inputs."""
    return SAMPLE_ROWS
