"""Prefect's own cost: a flow with one task that returns a string (bench/memory.py measures it).

Run with the baked project's interpreter against a Prefect server (PREFECT_API_URL).
"""

from __future__ import annotations

from prefect import flow, task


@task
def hello() -> str:
    return "hello"


@flow
def hello_flow() -> str:
    return hello()


if __name__ == "__main__":
    hello_flow()
