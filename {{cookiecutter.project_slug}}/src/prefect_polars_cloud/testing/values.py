"""What every project's tests share: the sample days, a service account never to be shown.

Plain values, no imports beyond the standard library: a test module may import them at once.
"""

from __future__ import annotations

import json
from datetime import date

# Fixed days, so expectations never depend on today's date.
SAMPLE_DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]
SAMPLE_ROWS = 1_000  # rows a day, unless a project's tests override the sample_rows fixture
# Values that must never show up in a log, a parameter, an error or a file.
CLIENT_ID = "client-id-e2a9c7f3"
CLIENT_SECRET = "client-secret-5b1d8e44"  # noqa: S105 - a test value, never a real one
# The service account as the secret stores keep it (one JSON document).
DOCUMENT = json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
# Variables whose value is a secret. Leak checks look for these exact names and for secret
# values, never for words such as "secret" or "key", which a project's own name may contain
# ("Secret Santa Reports" has SECRET_SANTA_REPORTS_COMPUTE_MODE).
SECRET_VARIABLES = frozenset(
    {
        "POLARS_CLOUD_CLIENT_ID",
        "POLARS_CLOUD_CLIENT_SECRET",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "PREFECT_API_KEY",
        "REGISTRY_USERNAME",
        "REGISTRY_PASSWORD",
    }
)
# Throwaway credentials for the moto server, and what points boto3 and Polars at it.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ALLOW_HTTP": "true",
}
