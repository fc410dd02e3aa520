"""Operating deployed flows: alerts, the zombie automation, deployments, doctor, backfill, names,
promotion between environments.

What `make alerts`, `make doctor`, `make backfill` and `<slug> deployments` do against the Prefect
API and Polars Cloud; the names of the flows and deployments, read from flows/ and prefect.yaml.
Imports every layer below (`config` to `run`); never `local` or `testing`.
"""
