"""Operating deployed flows: alerts, the zombie automation, deployments, doctor, backfill.

What `make alerts`, `make doctor`, `make backfill` and `<slug> deployments` do against the Prefect
API and Polars Cloud. Imports every layer below (`config` to `run`); never `local` or `testing`.
"""
