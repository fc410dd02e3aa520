"""Which failures are worth a retry: the network's, never the query's or the user's.

polars-cloud 0.12 has no transient error class: a transport failure surfaces as a plain
RuntimeError ("Error setting up gRPC connection, transport error"), and an elapsed
POLARS_TIMEOUT_MS as TimeoutError. So the classification is narrow, by exact type and message;
test_polars_cloud_contract pins what it relies on. Everything else (a bad schema, a missing input,
authentication, a cancelled or timed-out query) fails at once: retrying would fail the same way.
"""

from __future__ import annotations

from typing import Any

from prefect_polars_cloud.compute.session import ComputeError

TRANSIENT_MESSAGES = (
    "transport error",
    "error setting up grpc connection",
    "connection refused",
    "connection reset",
    "broken pipe",
    "too many requests",
    "throttl",
    "service unavailable",
    "bad gateway",
    "gateway timeout",
    "internal server error",
)


def is_transient(error: BaseException) -> bool:
    """Tell whether error is a passing network or service failure."""
    if isinstance(error, ComputeError):  # our own verdicts: cancelled, timed out, refused
        return False
    if isinstance(error, TimeoutError):
        return True
    message = str(error).lower()
    return type(error) is RuntimeError and any(word in message for word in TRANSIENT_MESSAGES)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:  # noqa: ANN401 - Prefect's
    """Prefect's retry_condition_fn: retry a task only when it failed transiently."""
    try:
        state.result()
    except Exception as error:  # noqa: BLE001 - the state's own exception, classified
        return is_transient(error)
    return False
