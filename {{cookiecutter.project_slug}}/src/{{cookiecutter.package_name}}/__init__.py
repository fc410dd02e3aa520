"""Daily reports on Polars Cloud, orchestrated by Prefect."""
