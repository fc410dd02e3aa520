"""The bare queries (bare_report.py) as one Prefect task: Prefect's cost around Polars work.

Run with the baked project's interpreter: python bare_flow.py PACKAGE SOURCE_DIR OUTPUT_DIR,
against a Prefect server (PREFECT_API_URL). No library code: between this and bare_report.py
is Prefect alone; between this and the flow is what the project's flow and library add.
"""

from __future__ import annotations

import sys

from bare_report import main  # bench/, on sys.path as the script's folder
from prefect import flow, task
from prefect.cache_policies import NONE


@task(cache_policy=NONE)
def queries(package: str, source: str, output: str) -> None:
    main(package, source, output)


@flow
def bare_flow(package: str, source: str, output: str) -> None:
    queries(package, source, output)


if __name__ == "__main__":
    bare_flow(*sys.argv[1:4])
