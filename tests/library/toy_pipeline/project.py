"""The toy project as the library sees it: settings, datasets, sample writer, day totals."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
from pydantic_settings import SettingsConfigDict

from prefect_polars_cloud import (
    DailyInput,
    DailyOutput,
    Datasets,
    Project,
    SnapshotInput,
    SnapshotOutput,
    atomic_target,
)
from prefect_polars_cloud import Settings as LibrarySettings

ENV_PREFIX = "TOY_PIPELINE_"
LABEL = "toy-pipeline"
PRESETS_FILE = Path(__file__).with_name("presets.toml")


class Settings(LibrarySettings):
    """The library's settings with the toy's prefix, label and presets."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    label: str = LABEL
    # Wherever the tests run from: the toy's own presets, not a presets.toml in the directory.
    presets_file: str = str(PRESETS_FILE)
    data_uri: str = "s3://toy-bucket/toy"


VISITS = DailyInput(
    "visits",
    format="ndjson",
    schema={"visit_id": pl.Int64, "page_id": pl.Int64, "seconds": pl.Float64},
    nullable=("seconds",),  # one visit in ten has none: the flow drops those
)
PAGES = SnapshotInput("pages.csv", format="csv", schema={"page_id": pl.Int64, "section": pl.String})
CLEAN_VISITS = DailyOutput("visits")
PAGES_USED = SnapshotOutput("pages")
TOTALS = DailyOutput("section_time")

# Another partition key than a bake's: the library must read the declared one.
DATASETS = Datasets(
    inputs=(VISITS, PAGES),
    outputs=(TOTALS, CLEAN_VISITS, PAGES_USED),
    report=TOTALS,
    partition_key="day",
)
SECTIONS = ("news", "sport", "weather")


def write_sample_data(folder: Path, days: list[date], rows: int = 100) -> Path:
    """Write rows visits a day (one in ten with no seconds, one in ten of an unknown page)."""
    for day in days:
        target = folder / DATASETS.partition(VISITS.name, day) / "visits.ndjson"
        with atomic_target(str(target)) as staging:
            lines = [
                {
                    "visit_id": day.toordinal() * 100_000 + row,
                    "page_id": 99 if row % 10 == 9 else row % 4 + 1,
                    "seconds": None if row % 10 == 3 else float(row % 7 + day.day),
                }
                for row in range(rows)
            ]
            Path(staging).write_text("".join(json.dumps(line) + "\n" for line in lines))
    with atomic_target(str(folder / PAGES.path)) as staging:
        pages = [(page, SECTIONS[page % len(SECTIONS)]) for page in range(1, 5)]
        pages.append((4, "archive"))  # a page moved: the last line wins
        Path(staging).write_text("page_id,section\n" + "".join(f"{p},{s}\n" for p, s in pages))
    return folder


def day_totals(report: pl.DataFrame) -> dict[str, float | int]:
    """Return one day's visits and seconds, from that day's totals."""
    return {"visits": int(report["visits"].sum()), "seconds": float(report["seconds"].sum())}


PROJECT = Project(
    settings=Settings,
    datasets=DATASETS,
    write_sample_data=write_sample_data,
    day_totals=day_totals,
)
