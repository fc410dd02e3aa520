"""Polars Cloud pipelines orchestrated by Prefect: the machinery, whatever the pipeline.

A project declares its datasets (datasets.Datasets) and itself (project.Project, found through
an entry point); its flows open a `daily_run.daily_run` and sink pure queries on presets. Each
module is imported where it is used, so a command that needs no Prefect never loads it.
"""
