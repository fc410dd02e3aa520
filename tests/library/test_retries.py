"""Only passing network or service failures are retried; the query's and the user's are not."""

from __future__ import annotations

import polars as pl
import pytest

from prefect_polars_cloud.compute.session import ComputeError, QueryTimeout
from prefect_polars_cloud.run.retries import is_transient
from prefect_polars_cloud.storage.input_errors import InputError
from prefect_polars_cloud.testing.polars_cloud_sim import TRANSPORT_ERROR


class SubclassedRuntimeError(RuntimeError):
    pass


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (RuntimeError(TRANSPORT_ERROR), True),
        (RuntimeError("status: Unavailable, message: Service Unavailable"), True),
        (RuntimeError("429 Too Many Requests"), True),
        (TimeoutError("POLARS_TIMEOUT_MS has elapsed: time in ms: 1000"), True),
        (RuntimeError("cannot execute query, context status is STOPPED"), False),
        (SubclassedRuntimeError(TRANSPORT_ERROR), False),
        (ComputeError("the large query 1 ended CANCELED: https://..."), False),
        (QueryTimeout("ran longer than 120 min"), False),
        (pl.exceptions.SchemaError("missing column amount"), False),
        (InputError("pages.csv: missing column(s) section"), False),
        (FileNotFoundError("s3://bucket/raw/pages.csv"), False),
    ],
    ids=[
        "transport",
        "unavailable",
        "throttled",
        "polars-timeout",
        "stopped-context",
        "subclass",
        "cancelled",
        "our-timeout",
        "schema",
        "input",
        "missing-file",
    ],
)
def test_what_counts_as_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient
