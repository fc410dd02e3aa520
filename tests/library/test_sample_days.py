"""Sample data by day, as the library handles any project's: the days, the command, no partials."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.local.sample_days import (
    days_to_report,
    has_sample_data,
    last_days,
    sample_days,
    write_missing_sample,
)
from prefect_polars_cloud.storage.files import atomic_target, remove_stale_partials

from toy_pipeline.project import DATASETS, PAGES, VISITS


def visits_of(folder: Path, day: date) -> list[dict[str, object]]:
    path = folder / DATASETS.partition(VISITS.name, day) / "visits.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_default_days_end_yesterday_utc(tmp_path: Path) -> None:
    assert last_days(3, today=date(2026, 11, 26)) == [
        date(2026, 11, 23),
        date(2026, 11, 24),
        date(2026, 11, 25),
    ]
    assert main(["sample-data", "--rows", "50", "--days", "2", "--out", str(tmp_path)]) == 0
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert sample_days(tmp_path, DATASETS) == [yesterday - timedelta(days=1), yesterday]


def test_the_command_line_writes_the_requested_days_and_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--rows", "123", "--start", "2026-10-30", "--end", "2026-11-01", "--out", str(tmp_path)]
    assert main(["sample-data", *argv]) == 0
    expected = [date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1)]
    assert sample_days(tmp_path, DATASETS) == expected
    assert len(visits_of(tmp_path, date(2026, 10, 31))) == 123
    assert "for 2026-10-30..2026-11-01" in capsys.readouterr().out


def test_a_day_counts_only_with_files_of_every_daily_input_in_its_format(tmp_path: Path) -> None:
    # The declared partition key ("day") and format (.ndjson): other folders and files do not count.
    (tmp_path / "visits" / "day=2026-11-01").mkdir(parents=True)
    (tmp_path / "visits" / "day=2026-11-01" / "visits.ndjson").write_text("{}\n")
    (tmp_path / "visits" / "day=2026-11-02").mkdir()
    (tmp_path / "visits" / "day=2026-11-02" / "visits.csv").write_text("a\n")
    (tmp_path / "visits" / "date=2026-11-03").mkdir()
    (tmp_path / "visits" / "date=2026-11-03" / "visits.ndjson").write_text("{}\n")

    assert sample_days(tmp_path, DATASETS) == [date(2026, 11, 1)]
    assert not has_sample_data(tmp_path, DATASETS), f"no {PAGES.path} yet"
    (tmp_path / PAGES.path).write_text("page_id,section\n")
    assert has_sample_data(tmp_path, DATASETS)
    assert days_to_report(tmp_path, None, None) == [date(2026, 11, 1)]
    assert days_to_report(tmp_path, date(2026, 11, 5), None) == [date(2026, 11, 5)]


def test_missing_sample_data_is_written_and_present_data_is_kept(
    tmp_path: Path, sample_dir: Path
) -> None:
    write_missing_sample(tmp_path / "new", count=2, rows=10)
    assert sample_days(tmp_path / "new", DATASETS) == last_days(2)

    before = sorted(sample_dir.rglob("*"))
    write_missing_sample(sample_dir, count=2, rows=10)
    assert sorted(sample_dir.rglob("*")) == before


def test_stale_partials_are_removed_and_nothing_else(tmp_path: Path) -> None:
    # What a killed run leaves: a staging folder (this version) or a file (earlier ones).
    folder = tmp_path / ".visits.ndjson.0123456789abcdef0123456789abcdef.partial"
    folder.mkdir()
    (folder / "visits.ndjson").write_text("{}\n")
    old_file = tmp_path / ".pages.csv.fedcba9876543210fedcba9876543210.partial"
    old_file.write_text("page_id\n")
    kept = [tmp_path / "visits.ndjson", tmp_path / ".visits.ndjson.not-hex.partial"]
    for path in kept:
        path.write_text("keep\n")

    day = tmp_path / "visits" / "day=2026-11-01"
    day.mkdir(parents=True)
    in_a_day = day / ".visits.ndjson.00112233445566778899aabbccddeeff.partial"
    in_a_day.mkdir()

    removed = remove_stale_partials(str(tmp_path))

    assert sorted(removed) == sorted([folder, old_file, in_a_day])
    assert sorted(tmp_path.iterdir()) == sorted([*kept, tmp_path / "visits"])
    assert list(day.iterdir()) == []


def test_a_failed_write_leaves_the_previous_file_and_no_partial(tmp_path: Path) -> None:
    target = tmp_path / "totals.parquet"
    target.write_text("previous\n")

    with pytest.raises(RuntimeError), atomic_target(str(target)) as staging:
        Path(staging).write_text("half")
        raise RuntimeError("the query failed")

    assert target.read_text() == "previous\n"
    assert sorted(tmp_path.iterdir()) == [target]
