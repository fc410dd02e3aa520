"""A flow that feeds a flow: an input declared from another flow's output, with a lookback.

toy_trend reads what toy_totals published (`from_output=TOTALS`) for each run day and the two
days before it, and writes only its own days, its float column rounded as declared.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from prefect_polars_cloud import DailyInput, DailyOutput, Datasets
from prefect_polars_cloud.storage.files import MissingInputError
from prefect_polars_cloud.testing import SAMPLE_DAYS

from toy_pipeline.flow import toy_totals
from toy_pipeline.project import DATASETS, TOTALS
from toy_pipeline.rolling import ROLLING, TREND, toy_trend

FIRST, SECOND, THIRD = SAMPLE_DAYS
ROUNDED_BADLY = DailyOutput("t", float_decimals=-2)


@pytest.fixture
def published(local_mode: None, sample_dir: Path, tmp_path: Path) -> Path:
    """An output folder holding the toy's totals of the three sample days, published."""
    output = tmp_path / "output"
    toy_totals(start=FIRST, end=THIRD, source_uri=str(sample_dir), output_uri=str(output))
    return output


def totals_of(output: Path) -> pl.DataFrame:
    return pl.read_parquet(output / TOTALS.name, hive_partitioning=True)


def test_a_day_reads_the_published_days_of_its_window_and_writes_its_own(
    published: Path, sample_dir: Path
) -> None:
    location = toy_trend(start=THIRD, source_uri=str(sample_dir), output_uri=str(published))

    assert location == str(published / TREND.name)
    assert sorted(p.name for p in (published / TREND.name).iterdir()) == [f"day={THIRD}"]
    trend = pl.read_parquet(published / ROLLING.partition(TREND.name, THIRD))
    totals = totals_of(published).group_by("section").agg(pl.col("visits", "seconds").sum())
    expected = dict(totals.select("section", "visits").iter_rows())
    assert dict(trend.select("section", "visits").iter_rows()) == expected, "all three days"


def test_lookback_days_not_published_yet_are_left_out(published: Path, sample_dir: Path) -> None:
    toy_trend(start=FIRST, source_uri=str(sample_dir), output_uri=str(published))

    trend = pl.read_parquet(published / ROLLING.partition(TREND.name, FIRST))
    first = pl.read_parquet(published / DATASETS.partition(TOTALS.name, FIRST))
    assert dict(trend.select("section", "visits").iter_rows()) == dict(
        first.select("section", "visits").iter_rows()
    )


def test_a_run_day_the_other_flow_has_not_published_is_named_with_what_to_run(
    published: Path, sample_dir: Path
) -> None:
    later = THIRD + timedelta(days=1)
    with pytest.raises(MissingInputError) as refused:
        toy_trend(start=later, source_uri=str(sample_dir), output_uri=str(published))

    message = str(refused.value)
    assert (
        f"no totals for {later} under {published / TOTALS.name}/day=YYYY-MM-DD/*.parquet" in message
    )
    assert f"run the flow that publishes {TOTALS.name} first" in message
    assert not (published / TREND.name).exists()


def test_a_declared_float_precision_is_applied_where_the_run_sinks(
    published: Path, sample_dir: Path
) -> None:
    toy_trend(start=SECOND, end=THIRD, source_uri=str(sample_dir), output_uri=str(published))
    written = {p: p.read_bytes() for p in sorted((published / TREND.name).rglob("*.parquet"))}

    trend = pl.read_parquet(published / TREND.name, hive_partitioning=True)
    assert (trend["per_visit"] == trend["per_visit"].round(TREND.float_decimals or 0)).all()
    toy_trend(start=SECOND, end=THIRD, source_uri=str(sample_dir), output_uri=str(published))
    again = {p: p.read_bytes() for p in sorted((published / TREND.name).rglob("*.parquet"))}
    assert again == written, "the same published days give the same bytes"


@pytest.mark.parametrize(
    ("declare", "message"),
    [
        (
            lambda: DailyInput("t", format="csv", schema={"a": pl.Int64}, from_output=TOTALS),
            'declare from_output inputs with format="parquet"',
        ),
        (
            lambda: DailyInput("t", format="parquet", schema={"a": pl.Int64}, lookback_days=-1),
            "lookback_days is a number of days >= 0",
        ),
        (
            lambda: Datasets(
                inputs=(
                    DailyInput("t", format="parquet", schema={"a": pl.Int64}, from_output=TREND),
                ),
                outputs=(TREND,),
                report=TREND,
            ),
            "only its earlier days can be read (lookback_days)",
        ),
        (
            lambda: Datasets(inputs=ROLLING.inputs, outputs=(ROUNDED_BADLY,), report=ROUNDED_BADLY),
            "float_decimals is a number >= 0",
        ),
    ],
    ids=["not-parquet", "negative-lookback", "own-output-without-lookback", "negative-decimals"],
)
def test_a_declaration_that_cannot_be_read_is_refused_with_what_to_write(
    declare: object, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        declare()  # type: ignore[operator]
    assert message in str(refused.value)
