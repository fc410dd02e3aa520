"""This project, as the library sees it (pyproject.toml's entry point names PROJECT)."""

from __future__ import annotations

from prefect_polars_cloud import Project

from .datasets import DATASETS
from .sample_data import write_sample_data
from .settings import Settings
from .summary import day_totals

PROJECT = Project(
    settings=Settings,
    datasets=DATASETS,
    write_sample_data=write_sample_data,
    day_totals=day_totals,
)
