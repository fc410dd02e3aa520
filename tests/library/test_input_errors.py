"""A bad input ends a local run with one ERROR line naming the file; a day with no rows only warns.

The toy reads NDJSON by day and a CSV snapshot (a bake's example has them the other way round);
its second flow (toy_pipeline.timings) reads Parquet by day and the snapshot in one task.
"""

from __future__ import annotations

import logging
import shutil
from datetime import date
from pathlib import Path

import boto3
import polars as pl
import pytest
from prefect.artifacts import Artifact

from prefect_polars_cloud.config.datasets import DailyInput, SnapshotInput
from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.storage.input_errors import InputError, named_input
from prefect_polars_cloud.storage.scan import scan_file
from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.input_errors import InputErrors, published
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from toy_pipeline.flow import toy_totals
from toy_pipeline.project import DATASETS, ENV_PREFIX, PAGES, VISITS
from toy_pipeline.timings import TIMINGS, TIMINGS_DATASETS, toy_timings, write_timings

DAY = "2026-11-01"  # one day: its one visits file is the one a message can name
VISITS_FILE = f"{DATASETS.partition(VISITS.name, date.fromisoformat(DAY))}/visits.ndjson"
GOOD_VISIT = b'{"visit_id": 1, "page_id": 1, "seconds": 3.0}\n'
# (file, its content, what the ERROR line must say about it)
BAD_INPUTS = {
    "snapshot-without-a-column": (PAGES.path, b"page_id\n1\n", "missing column(s) section"),
    "one-malformed-json-line": (
        VISITS_FILE,
        GOOD_VISIT + b'{"visit_id": 2, , "seconds": 1.0}\n' + GOOD_VISIT,
        "line 2 is not a JSON object",
    ),
    "binary-snapshot": (PAGES.path, bytes(range(256)) * 12, "not a text file"),
    "blank-snapshot": (PAGES.path, b"\n\n", "no rows: every day of the run"),
    "blank-day": (VISITS_FILE, b"\n\n", f"no rows for {DAY}"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_a_bad_input_is_one_error_line_naming_the_file(
    case: str, local_mode: None, input_errors: InputErrors
) -> None:
    name, content, problem = BAD_INPUTS[case]

    input_errors.assert_refused(toy_totals, name, content, problem, start=DAY)


def test_debug_shows_the_traceback(local_mode: None, input_errors: InputErrors) -> None:
    name, content, _ = BAD_INPUTS["snapshot-without-a-column"]
    source = input_errors.with_file(name, content)

    run = input_errors.run(toy_totals, source, start=DAY, extra=["--debug"])

    assert run.code == 1
    assert "Traceback" in run.err


def test_the_failed_state_says_the_same(
    local_mode: None, input_errors: InputErrors, tmp_path: Path
) -> None:
    # What a deployed run shows in the UI: the file and the problem, not a Polars error.
    name, content, problem = BAD_INPUTS["snapshot-without-a-column"]
    source = input_errors.with_file(name, content)

    state = toy_totals(
        start=DAY, source_uri=str(source), output_uri=str(tmp_path / "out"), return_state=True
    )

    assert state.is_failed()
    assert f"InputError: {source / name}: {problem}" in str(state.message)
    with pytest.raises(InputError):
        state.result()


def test_a_day_with_no_rows_is_refused_unless_allowed_then_published_empty_with_a_warning(
    local_mode: None,
    monkeypatch: pytest.MonkeyPatch,
    input_errors: InputErrors,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every visit of the day without seconds: the query that cleans them keeps none.
    no_seconds = b'{"visit_id": 1, "page_id": 1, "seconds": null}\n' * 3
    source = input_errors.with_file(VISITS_FILE, no_seconds)
    caplog.set_level(logging.WARNING)
    with pytest.raises(InputError, match=f"{ENV_PREFIX}ALLOW_EMPTY_DAYS=true"):
        toy_totals(start=DAY, source_uri=str(source), output_uri=str(tmp_path / "out"))
    monkeypatch.setenv(f"{ENV_PREFIX}ALLOW_EMPTY_DAYS", "true")
    get_settings.cache_clear()

    location = toy_totals(start=DAY, source_uri=str(source), output_uri=str(tmp_path / "out"))

    assert not list((Path(location) / f"day={DAY}").glob("*.parquet")), "no rows, no files"
    artifact = Artifact.get("toy-totals")
    assert artifact is not None and f"**Warning:** {DAY} has no rows" in str(artifact.data)
    assert f"{DAY} has no rows" in caplog.text


# The cases a message used to leave short: (flow, file, its content, what the line must say).
LATIN1_PAGES = b"page_id,section\n1,news\n2,caf\xe9\n3,weather\n"
TIMINGS_FILE = f"{TIMINGS_DATASETS.partition(TIMINGS.name, SAMPLE_DAYS[1])}/timings.parquet"
NOT_PARQUET = "not a valid Parquet file (truncated or corrupt)"
SHORT_INPUTS = {
    "csv-not-utf-8": (
        toy_totals,
        PAGES.path,
        LATIN1_PAGES,
        "line 3 is not UTF-8 (byte 0xe9 at offset 28); re-encode the file as UTF-8 "
        '(e.g. iconv -f latin1 -t utf-8 if it is Latin-1) or declare encoding="utf8-lossy"',
    ),
    # Too short to hold a row but for its footer, which the check for empty days reads.
    "parquet-truncated": (toy_timings, TIMINGS_FILE, None, NOT_PARQUET),
    # Long enough to be read by the query alone, among the other days' good files.
    "parquet-garbage": (toy_timings, TIMINGS_FILE, b"not parquet\n" * 8000, NOT_PARQUET),
    "parquet-day-without-a-column": (
        toy_timings,
        TIMINGS_FILE,
        pl.DataFrame({"visit_id": [1], "page_id": [1]}),
        "missing column(s) seconds; every file of timings needs the columns visit_id, page_id",
    ),
    # Scanned in the same task as the timings, inside their block: the snapshot is named.
    "csv-not-utf-8-beside-parquet": (toy_timings, PAGES.path, LATIN1_PAGES, "line 3 is not UTF-8"),
}


@pytest.fixture(scope="module")
def timings_dir(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy's sample inputs and the same visits as Parquet timings."""
    source = tmp_path_factory.mktemp("timings") / "source"
    shutil.copytree(sample_dir, source)
    return write_timings(source, SAMPLE_DAYS)


@pytest.mark.parametrize("case", SHORT_INPUTS, ids=list(SHORT_INPUTS))
def test_a_bad_file_of_a_run_of_days_is_named_with_what_to_do_and_nothing_is_published(
    case: str, local_mode: None, timings_dir: Path, tmp_path: Path, input_errors: InputErrors
) -> None:
    flow, name, content, problem = SHORT_INPUTS[case]
    days = {"start": str(SAMPLE_DAYS[0]), "end": str(SAMPLE_DAYS[-1])}
    assert input_errors.run(flow, timings_dir, **days).code == 0
    assert published(input_errors.output), "the good run published its days"
    if content is None:  # the day's own file, cut in half
        content = (timings_dir / name).read_bytes()[:200]
    elif isinstance(content, pl.DataFrame):
        content.write_parquet(tmp_path / "written.parquet")
        content = (tmp_path / "written.parquet").read_bytes()

    input_errors.assert_refused(flow, name, content, problem, base=timings_dir, **days)


def test_of_two_inputs_read_in_one_query_the_one_that_fails_alone_is_named(
    timings_dir: Path, input_errors: InputErrors
) -> None:
    # The timings' block is the outer one: the snapshot's (inner) sees the error first.
    source = input_errors.with_file(TIMINGS_FILE, b"not parquet\n" * 8000, base=timings_dir)
    timings = [str(path) for path in sorted((source / TIMINGS.name).rglob("*.parquet"))]
    pages = [str(source / PAGES.path)]
    frames = [scan_file(TIMINGS, uri, index) for index, uri in enumerate(timings)]

    with pytest.raises(InputError) as named:
        with named_input(TIMINGS, timings), named_input(PAGES, pages):
            pl.concat(frames).join(scan_file(PAGES, pages[0]), on="page_id").collect()

    assert str(named.value).startswith(f"{source / TIMINGS_FILE}: {NOT_PARQUET}")


def test_a_query_over_two_inputs_that_fails_with_neither_alone_blames_none(
    timings_dir: Path,
) -> None:
    timings = [str(path) for path in sorted((timings_dir / TIMINGS.name).rglob("*.parquet"))]
    pages = [str(timings_dir / PAGES.path)]
    frames = [scan_file(TIMINGS, uri, index) for index, uri in enumerate(timings)]
    # The query's own fault: a section is not a number.
    joined = pl.concat(frames).join(scan_file(PAGES, pages[0]), on="page_id")

    with pytest.raises(InputError) as unblamed:
        with named_input(TIMINGS, timings), named_input(PAGES, pages):
            joined.select(pl.col("section").cast(pl.Int64, strict=True)).collect()

    message = str(unblamed.value)
    assert message.startswith("a query over timings and pages failed, but no file of theirs")
    assert str(timings_dir) not in message


def test_in_cloud_mode_a_csv_not_utf_8_in_s3_is_named_with_its_line(
    monkeypatch: pytest.MonkeyPatch,
    prefect_api: str,
    cloud_sim: PolarsCloudSimulator,
    s3_data: str,
) -> None:
    # The query fails on the (simulated) cluster; the line is found reading the object from here.
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")
    bucket = s3_data.removeprefix("s3://")
    boto3.client("s3").put_object(Bucket=bucket, Key=f"raw/{PAGES.path}", Body=LATIN1_PAGES)

    with pytest.raises(InputError) as named:
        toy_totals(start=DAY, source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/out")

    assert str(named.value).startswith(f"{s3_data}/raw/{PAGES.path}: line 3 is not UTF-8")


def test_a_csv_input_may_declare_that_bytes_not_utf_8_are_read_as_replacement_characters(
    tmp_path: Path,
) -> None:
    lossy = SnapshotInput(PAGES.path, format="csv", schema=PAGES.schema, encoding="utf8-lossy")
    (tmp_path / PAGES.path).write_bytes(LATIN1_PAGES)

    sections = scan_file(lossy, str(tmp_path / PAGES.path)).collect()["section"]

    assert sections.to_list() == ["news", "caf\ufffd", "weather"]
    with pytest.raises(ValueError, match="for CSV only"):
        DailyInput("visits", format="ndjson", schema=VISITS.schema, encoding="utf8-lossy")
