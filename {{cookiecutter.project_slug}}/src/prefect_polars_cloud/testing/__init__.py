"""Test harness for projects on this library (as `prefect.testing` is Prefect's).

polars_cloud_sim: Polars Cloud's server side, simulated below the real polars_cloud client.
simulated_run: `make run CLOUD=sim`, a flow on the cloud path against the simulator and moto S3.
Needs the dev dependencies (moto, pytest).
"""
