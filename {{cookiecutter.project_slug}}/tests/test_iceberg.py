"""The report as an Iceberg table: one commit per run, by day, locally and on S3 (moto).

A day's intermediates follow its commit: a commit that fails leaves them as they were, and a run
killed at its commit is finished (or dropped, files and all) by the next run.

Each test gets its own SQLite catalog, configured as pyiceberg reads it: a .pyiceberg.yaml in
PYICEBERG_HOME (the local runs) or PYICEBERG_CATALOG__DEFAULT__* variables (the S3 runs).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from prefect.artifacts import Artifact
from pyiceberg.catalog import load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException

from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.operations.doctor import run_doctor
from prefect_polars_cloud.storage.files import list_keys
from prefect_polars_cloud.storage.iceberg import writes as iceberg
from prefect_polars_cloud.storage.iceberg.catalog import IcebergError, local_path
from prefect_polars_cloud.storage.iceberg.writes import TableWrites
from prefect_polars_cloud.storage.input_errors import InputError
from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from {{ cookiecutter.package_name }} import queries
from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from flows.daily_report import daily_report

from . import reference
from .test_crash_recovery import kill_when_paused, with_new_customers

FIRST, SECOND, THIRD = SAMPLE_DAYS
PROJECT = Path(__file__).resolve().parent.parent
INTERMEDIATES = ("orders", "customers")
TABLE = get_settings().iceberg_table or ""
LOCATION = f"iceberg://default/{TABLE}"
COLUMNS = ["date", "order_date", "segment", "country", "orders", "revenue"]
# Where a run writes its files below the table: data/<run key>/<sink>/date=YYYY-MM-DD/.
RUN_FOLDER = re.compile(r"^data/[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}/")


def clear_pyiceberg_variables(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Hide the shell's catalogs: no PYICEBERG_ variable, and a home of the test's own."""
    for name in list(os.environ):
        if name.upper().startswith("PYICEBERG_"):
            monkeypatch.delenv(name)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PYICEBERG_HOME", str(home))
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture
def catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[], Any]:
    """A SQLite catalog `default` in .pyiceberg.yaml; returns a loader of it."""
    home = tmp_path / "pyiceberg-home"
    clear_pyiceberg_variables(monkeypatch, home)
    properties = {
        "type": "sql",
        "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
        "warehouse": (tmp_path / "warehouse").as_uri(),
    }
    (tmp_path / "warehouse").mkdir()
    (home / ".pyiceberg.yaml").write_text(
        "catalog:\n  default:\n" + "".join(f"    {k}: {v}\n" for k, v in properties.items())
    )
    return lambda: load_catalog("default", **properties)


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")


def table_of(catalog: Callable[[], Any]) -> Any:
    return catalog().load_table(TABLE)


def snapshot_id(catalog: Callable[[], Any]) -> int | None:
    try:
        current = table_of(catalog).current_snapshot()
    except Exception:  # noqa: BLE001 - no table yet
        return None
    return current.snapshot_id if current else None


def data_files(catalog: Callable[[], Any]) -> dict[date, set[str]]:
    """The current snapshot's data files, by day."""
    files: dict[date, set[str]] = {}
    for row in table_of(catalog).inspect.files().to_pylist():
        files.setdefault(row["partition"]["date"], set()).add(row["file_path"])
    return files


def files_below(location: str) -> set[str]:
    """Every file under the table's location (local or S3), referenced or not."""
    return set(list_keys(local_path(location)))


def assert_days_match_the_reference(table: Any, source: Path, days: list[date]) -> None:
    # Polars' own reader needs the field ids in the files; it is the one asked for here.
    report = pl.scan_iceberg(table, reader_override="native").collect()
    assert report.columns == COLUMNS
    assert sorted(set(report["date"].to_list())) == sorted(days)
    for day in days:
        rows = report.filter(pl.col("date") == day).sort("order_date", "segment", "country")
        expected = reference.daily_report(source, day)
        assert [row[1:5] for row in rows.rows()] == [row[:4] for row in expected]
        assert rows["revenue"].to_list() == [row[4] for row in expected]


def run(source: Path, output: Path, start: date, end: date | None = None) -> str:
    return daily_report(start=start, end=end, source_uri=str(source), output_uri=str(output))


def test_a_local_run_commits_the_report_that_every_reader_sees(
    local_mode: None, catalog: Callable[[], Any], sample_dir: Path, tmp_path: Path
) -> None:
    location = run(sample_dir, tmp_path / "out", FIRST, THIRD)

    assert location == LOCATION
    table = table_of(catalog)
    assert_days_match_the_reference(table, sample_dir, SAMPLE_DAYS)
    assert len(table.snapshots()) == 1, "one commit for the whole run"
    assert [str(f.transform) for f in table.spec().fields] == ["identity"]
    # The files are the queries' own, under the table, each with its day inside.
    for day, paths in data_files(catalog).items():
        for path in paths:
            assert path.startswith(table.location()) and f"/date={day}/" in path
            assert pl.read_parquet(local_path(path))["date"].unique().to_list() == [day]
    # The intermediates stay Parquet folders; the report is not among them.
    assert (tmp_path / "out" / "orders").is_dir()
    assert not (tmp_path / "out" / "daily_report").exists()


def test_the_snapshot_names_the_flow_run_its_deployment_and_days(
    local_mode: None, catalog: Callable[[], Any], sample_dir: Path, tmp_path: Path
) -> None:
    state = daily_report(
        start=FIRST,
        end=SECOND,
        source_uri=str(sample_dir),
        output_uri=str(tmp_path),
        return_state=True,
    )

    summary = table_of(catalog).current_snapshot().summary
    assert summary["prefect.flow-run-id"] == str(state.state_details.flow_run_id)
    assert summary["prefect.flow-run-name"] == f"daily-report {FIRST}..{SECOND}"
    assert summary["prefect.flow"] == "daily-report"
    assert summary["prefect.deployment"] == "none"  # called directly, not deployed
    assert summary["prefect.days"] == f"{FIRST},{SECOND}"
    artifact = str(Artifact.get("daily-report").data)  # type: ignore[union-attr]
    snapshot = table_of(catalog).current_snapshot().snapshot_id
    assert f"Iceberg table `{TABLE}`" in artifact and f"snapshot `{snapshot}`" in artifact
    assert "pl.scan_iceberg(" in artifact and "iceberg_scan(" in artifact


def test_a_rerun_of_one_day_replaces_it_alone_in_one_commit(
    local_mode: None, catalog: Callable[[], Any], sample_dir: Path, tmp_path: Path
) -> None:
    run(sample_dir, tmp_path, FIRST, THIRD)
    before, history = data_files(catalog), len(table_of(catalog).snapshots())

    run(sample_dir, tmp_path, SECOND)

    after = data_files(catalog)
    table = table_of(catalog)
    assert len(table.snapshots()) == history + 1
    assert table.current_snapshot().summary.operation.value == "overwrite"
    untouched = (FIRST, THIRD)
    assert {day: after[day] for day in untouched} == {day: before[day] for day in untouched}
    assert after[SECOND].isdisjoint(before[SECOND])
    assert_days_match_the_reference(table, sample_dir, SAMPLE_DAYS)


def test_two_runs_on_different_days_both_land(
    local_mode: None, catalog: Callable[[], Any], sample_dir: Path, tmp_path: Path
) -> None:
    run(sample_dir, tmp_path, FIRST)
    run(sample_dir, tmp_path, THIRD)

    table = table_of(catalog)
    assert [s.summary["prefect.days"] for s in table.snapshots()] == [str(FIRST), str(THIRD)]
    assert_days_match_the_reference(table, sample_dir, [FIRST, THIRD])


def broken_copy(sample_dir: Path, tmp_path: Path) -> Path:
    broken = tmp_path / "broken"
    shutil.copytree(sample_dir, broken)
    with next((broken / "orders" / "date=2026-11-03").glob("*.csv")).open("a") as orders:
        orders.write("999999,1,not-a-timestamp,10.0\n")
    return broken


def test_a_failed_query_commits_nothing_and_leaves_no_file(
    local_mode: None, catalog: Callable[[], Any], sample_dir: Path, tmp_path: Path
) -> None:
    run(sample_dir, tmp_path, FIRST, THIRD)
    snapshot, files = snapshot_id(catalog), files_below(table_of(catalog).location())

    with pytest.raises(Exception, match="not-a-timestamp|conversion|parse"):
        run(broken_copy(sample_dir, tmp_path), tmp_path, FIRST, THIRD)

    assert snapshot_id(catalog) == snapshot
    assert files_below(table_of(catalog).location()) == files


def test_a_run_cancelled_before_its_commit_commits_nothing_and_leaves_no_file(
    local_mode: None,
    catalog: Callable[[], Any],
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(sample_dir, tmp_path, FIRST)
    snapshot, files = snapshot_id(catalog), files_below(table_of(catalog).location())

    def cancelled(self: TableWrites) -> None:
        # Every query wrote its files: the cancellation arrives just before the commit.
        assert any(entry.parts for entry in self._tables.values())
        # What `make run` turns SIGTERM and Ctrl-C into (local/interrupts.py).
        raise KeyboardInterrupt

    monkeypatch.setattr(TableWrites, "commit", cancelled)
    with pytest.raises(KeyboardInterrupt):
        run(sample_dir, tmp_path, FIRST, SECOND)

    assert snapshot_id(catalog) == snapshot
    assert files_below(table_of(catalog).location()) == files


def test_a_query_that_no_longer_matches_the_table_is_refused_before_anything_is_written(
    local_mode: None,
    catalog: Callable[[], Any],
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(sample_dir, tmp_path, FIRST)
    snapshot, files = snapshot_id(catalog), files_below(table_of(catalog).location())
    report = queries.daily_report

    def changed(orders: pl.LazyFrame, customers: pl.LazyFrame) -> pl.LazyFrame:
        return report(orders, customers).with_columns(
            pl.col("orders").cast(pl.Float64), margin=pl.lit(0.1)
        )

    monkeypatch.setattr(queries, "daily_report", changed)
    with pytest.raises(IcebergError) as refused:
        run(sample_dir, tmp_path, FIRST)

    message = str(refused.value)
    assert "margin is not in the table" in message
    assert "orders is Float64 in the query but Int64 in the table" in message
    assert "Fix the query" in message and "update_schema" in message
    assert snapshot_id(catalog) == snapshot
    assert files_below(table_of(catalog).location()) == files


def test_a_day_without_a_valid_row_is_refused_unless_allowed_then_emptied_in_one_commit(
    local_mode: None,
    catalog: Callable[[], Any],
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(sample_dir, tmp_path, FIRST, SECOND)
    snapshot = snapshot_id(catalog)
    source = tmp_path / "no-valid-order"
    shutil.copytree(sample_dir, source)
    for orders in (source / "orders" / f"date={SECOND}").glob("*.csv"):
        orders.write_text("order_id,customer_id,order_ts,amount\n1,1,2026-11-02T10:00:00Z,-5.0\n")

    with pytest.raises(InputError, match=f"no valid row for {SECOND}"):
        run(source, tmp_path, FIRST, SECOND)
    assert snapshot_id(catalog) == snapshot

    monkeypatch.setenv(f"{ENV_PREFIX}ALLOW_EMPTY_DAYS", "true")
    get_settings.cache_clear()
    run(source, tmp_path, FIRST, SECOND)
    table = table_of(catalog)
    assert len(table.snapshots()) == 2
    assert sorted(data_files(catalog)) == [FIRST], "the day is empty now, as the run found it"


@pytest.fixture
def concurrent_writer(
    monkeypatch: pytest.MonkeyPatch, catalog: Callable[[], Any]
) -> Callable[[date], None]:
    """Make another writer append a row of a day while the run's commit is on its way."""
    days: list[date] = []
    commit = SqlCatalog.commit_table

    def racing(self: SqlCatalog, table: Any, requirements: Any, updates: Any) -> Any:  # noqa: ANN401
        if days:
            day = days.pop()
            other = table_of(catalog)
            row = pl.DataFrame(
                {"date": [day], "order_date": [day], "segment": ["x"], "country": ["x"]}
            ).with_columns(orders=pl.lit(1, pl.Int64), revenue=pl.lit(1.0))
            other.append(row.to_arrow().cast(other.schema().as_arrow()))
        return commit(self, table, requirements, updates)

    monkeypatch.setattr(SqlCatalog, "commit_table", racing)
    return days.append


def test_a_commit_that_races_a_writer_of_other_days_is_retried_and_both_land(
    local_mode: None,
    catalog: Callable[[], Any],
    concurrent_writer: Callable[[date], None],
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    run(sample_dir, tmp_path, FIRST, THIRD)
    other_day = date(2026, 11, 20)
    concurrent_writer(other_day)

    run(sample_dir, tmp_path, SECOND)

    table = table_of(catalog)
    writers = [s.summary.get("prefect.days") or "other" for s in table.snapshots()]
    assert writers == [f"{FIRST},{SECOND},{THIRD}", "other", str(SECOND)]
    report = pl.scan_iceberg(table).collect()
    assert report.filter(pl.col("date") == other_day).height == 1
    expected = reference.daily_report(sample_dir, SECOND)
    assert report.filter(pl.col("date") == SECOND).height == len(expected)


def test_a_commit_that_races_a_writer_of_the_same_day_fails_clearly_and_commits_nothing(
    local_mode: None,
    catalog: Callable[[], Any],
    concurrent_writer: Callable[[date], None],
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    run(sample_dir, tmp_path, FIRST, THIRD)
    concurrent_writer(SECOND)

    with pytest.raises(IcebergError, match=f"another writer changed {SECOND} of {TABLE}"):
        run(sample_dir, tmp_path, SECOND)

    table = table_of(catalog)
    assert table.current_snapshot().summary.get("prefect.days") is None, "the other's is last"
    runs = {key.split("/")[1] for key in files_below(table.location()) if RUN_FOLDER.match(key)}
    assert len(runs) == 1, f"only the first run's files remain: {runs}"


def test_no_catalog_means_a_local_sqlite_one_in_data_iceberg(
    local_mode: None,
    monkeypatch: pytest.MonkeyPatch,
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    clear_pyiceberg_variables(monkeypatch, tmp_path / "home")
    monkeypatch.setenv(f"{ENV_PREFIX}PRESETS_FILE", str(Path("presets.toml").resolve()))
    monkeypatch.chdir(tmp_path)

    run(sample_dir, tmp_path / "out", FIRST)

    assert (tmp_path / "data" / "iceberg" / "catalog.db").is_file()
    catalog = SqlCatalog(
        "default",
        uri=f"sqlite:///{tmp_path / 'data' / 'iceberg' / 'catalog.db'}",
        warehouse=(tmp_path / "data" / "iceberg" / "warehouse").as_uri(),
    )
    table = catalog.load_table(TABLE)
    assert table.location().startswith((tmp_path / "data" / "iceberg" / "warehouse").as_uri())
    assert_days_match_the_reference(table, sample_dir, [FIRST])


def test_doctor_checks_the_catalog_answers_and_the_tables_partitioning(
    local_mode: None,
    catalog: Callable[[], Any],
    sample_dir: Path,
    tmp_path: Path,
) -> None:
    lines: list[str] = []
    problems = run_doctor(get_settings(), lines.append)
    assert not [p for p in problems if "Iceberg" in p], problems
    assert any("not created yet" in line for line in lines), lines

    run(sample_dir, tmp_path, FIRST)
    lines.clear()
    problems = run_doctor(get_settings(), lines.append)
    assert not [p for p in problems if "Iceberg" in p], problems
    assert any("partitioned by identity(date)" in line for line in lines), lines

    # A table partitioned otherwise: the doctor says so, and a run refuses it before compute.
    catalog().purge_table(TABLE)
    schema = pl.DataFrame(schema={"date": pl.Date, "orders": pl.Int64}).to_arrow().schema
    catalog().create_table(TABLE, schema=schema)
    problems = run_doctor(get_settings(), lines.append)
    assert [p for p in problems if "partitioned by nothing" in p], problems
    with pytest.raises(IcebergError, match="partitioned by nothing"):
        run(sample_dir, tmp_path, FIRST)


def intermediates(output: Path, days: list[date]) -> dict[str, bytes]:
    """Return every published intermediate file of the days, by path below the output."""
    return {
        str(path.relative_to(output)): path.read_bytes()
        for name in INTERMEDIATES
        for day in days
        for path in (output / name / f"date={day}").glob("*")
    }


def run_snapshots(catalog: Callable[[], Any], run_key: str) -> list[int]:
    summaries = [(s.snapshot_id, s.summary or {}) for s in table_of(catalog).snapshots()]
    return [sid for sid, summary in summaries if summary.get("prefect-polars-cloud.run") == run_key]


def test_a_commit_that_fails_leaves_the_days_intermediates_as_they_were(
    local_mode: None,
    catalog: Callable[[], Any],
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    output = tmp_path / "out"
    run(sample_dir, output, FIRST, THIRD)
    before, snapshot = intermediates(output, SAMPLE_DAYS), snapshot_id(catalog)
    files = files_below(table_of(catalog).location())

    def lost(*args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        raise CommitFailedException("another writer won, again and again")

    monkeypatch.setattr(iceberg, "overwrite_days", lost)
    with pytest.raises(IcebergError, match="kept losing to other writers"):
        run(with_new_customers(sample_dir, tmp_path / "new"), output, SECOND, THIRD)

    assert intermediates(output, SAMPLE_DAYS) == before, "no day's intermediates changed"
    assert snapshot_id(catalog) == snapshot
    assert files_below(table_of(catalog).location()) == files
    assert not (output / "_staging").exists(), "the plan was dropped with the staging"


# Runs SECOND..THIRD and is killed at its commit: before it ({commits} false) or right after.
KILLED_AT_COMMIT = """
import sys, time
from pathlib import Path

sys.path[:0] = [{project!r}]
from prefect_polars_cloud.storage.iceberg import writes as iceberg

commit = iceberg.overwrite_days


def commit_then_hang(*args, **kwargs):
    if {commits}:
        commit(*args, **kwargs)
    Path(sys.argv[3]).write_text("paused at the commit")
    time.sleep(600)


iceberg.overwrite_days = commit_then_hang
from flows.daily_report import daily_report

daily_report(start="{second}", end="{third}", source_uri=sys.argv[1], output_uri=sys.argv[2])
"""


def kill_at_commit(
    prefect_api: str, source: Path, output: Path, tmp_path: Path, commits: bool
) -> str:
    """Run SECOND..THIRD and kill it at its commit; return its run key."""
    script, paused = tmp_path / "killed_run.py", tmp_path / "paused"
    script.write_text(
        KILLED_AT_COMMIT.format(project=str(PROJECT), second=SECOND, third=THIRD, commits=commits)
    )
    command = [sys.executable, str(script), str(source), str(output), str(paused)]
    kill_when_paused(command, os.environ | {"PREFECT_API_URL": prefect_api}, paused, "its commit")
    [prefix] = [path.name for path in (output / "_staging").iterdir()]
    return prefix


def test_a_run_killed_before_its_commit_is_swept_by_the_next_run(
    local_mode: None, prefect_api: str, catalog: Callable[[], Any], sample_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out"
    run(sample_dir, output, FIRST, THIRD)
    before, files = intermediates(output, SAMPLE_DAYS), files_below(table_of(catalog).location())
    new = with_new_customers(sample_dir, tmp_path / "new")

    killed = kill_at_commit(prefect_api, new, output, tmp_path, commits=False)
    left = {key for key in files_below(table_of(catalog).location()) if f"/{killed}/" in key}
    assert left, "the killed run's files are under the table"
    assert intermediates(output, SAMPLE_DAYS) == before

    run(sample_dir, output, FIRST)

    after = files_below(table_of(catalog).location())
    assert not [key for key in after if f"/{killed}/" in key], "swept"
    assert files - after == set(), "no file a snapshot refers to was deleted"
    assert run_snapshots(catalog, killed) == []
    unchanged = {key: value for key, value in before.items() if f"date={FIRST}" not in key}
    assert intermediates(output, [SECOND, THIRD]) == unchanged, "the plan was dropped"
    assert not (output / "_staging").exists()


def test_a_run_killed_right_after_its_commit_is_published_whole_by_the_next_run(
    local_mode: None, prefect_api: str, catalog: Callable[[], Any], sample_dir: Path, tmp_path: Path
) -> None:
    new, output = with_new_customers(sample_dir, tmp_path / "new"), tmp_path / "out"
    run(new, tmp_path / "new-expected", SECOND, THIRD)
    expected = intermediates(tmp_path / "new-expected", [SECOND, THIRD])
    run(sample_dir, output, FIRST, THIRD)
    before = intermediates(output, [SECOND, THIRD])
    assert before != expected

    killed = kill_at_commit(prefect_api, new, output, tmp_path, commits=True)
    assert run_snapshots(catalog, killed), "its commit landed"
    assert intermediates(output, [SECOND, THIRD]) == before, "killed before its first step"

    run(sample_dir, output, FIRST)

    assert intermediates(output, [SECOND, THIRD]) == expected, "finished after its commit"
    table = table_of(catalog)
    referenced = {local_path(uri) for uri in table.inspect.all_files()["file_path"].to_pylist()}
    assert all(Path(path).exists() for path in referenced), "every committed file is kept"
    assert not (output / "_staging").exists()


# --- the cloud path: the real client, the simulated server, the table's files on moto S3 -----


@pytest.fixture
def s3_catalog(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3_data: str) -> Callable[[], Any]:
    """A SQLite catalog whose warehouse is on S3, in PYICEBERG_CATALOG__DEFAULT__* variables."""
    clear_pyiceberg_variables(monkeypatch, tmp_path / "pyiceberg-home")
    properties = {
        "type": "sql",
        "uri": f"sqlite:///{tmp_path / 'catalog.db'}",
        "warehouse": f"{s3_data}/warehouse",
        "s3.endpoint": os.environ["AWS_ENDPOINT_URL"],
    }
    for key, value in properties.items():
        if key != "s3.endpoint":  # the library takes it from AWS_ENDPOINT_URL, as boto3 does
            monkeypatch.setenv(f"PYICEBERG_CATALOG__DEFAULT__{key.upper()}", value)
    return lambda: load_catalog("default", **properties)


@pytest.fixture
def cloud_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "cloud")


def test_a_cloud_run_writes_the_tables_files_on_s3_and_commits_them(
    cloud_mode: None,
    cloud_sim: PolarsCloudSimulator,
    s3_catalog: Callable[[], Any],
    s3_data: str,
    sample_dir: Path,
) -> None:
    run_ = {"source_uri": f"{s3_data}/raw", "output_uri": f"{s3_data}/reports"}
    assert daily_report(start=FIRST, end=THIRD, **run_) == LOCATION

    table = table_of(s3_catalog)
    assert table.location().startswith(f"{s3_data}/warehouse/")
    assert_days_match_the_reference(table, sample_dir, SAMPLE_DAYS)
    # The report's query wrote straight under the table, on the cluster.
    (report,) = [q for q in cloud_sim.queries.values() if q.cluster.preset == "large"]
    assert report.sink.startswith(f"{table.location()}/data/")
    assert cloud_sim.running() == []

    daily_report(start=SECOND, **run_)  # a rerun on S3: one more commit, the day alone
    assert len(table_of(s3_catalog).snapshots()) == 2
    assert_days_match_the_reference(table_of(s3_catalog), sample_dir, SAMPLE_DAYS)


def test_a_cancelled_cloud_query_commits_nothing_and_leaves_no_file_on_s3(
    cloud_mode: None,
    cloud_sim: PolarsCloudSimulator,
    s3_catalog: Callable[[], Any],
    s3_data: str,
) -> None:
    run_ = {"source_uri": f"{s3_data}/raw", "output_uri": f"{s3_data}/reports"}
    daily_report(start=FIRST, **run_)
    snapshot, files = snapshot_id(s3_catalog), files_below(table_of(s3_catalog).location())
    cloud_sim.script(lambda q: "/data/" in q.sink, "cancel")

    with pytest.raises(Exception, match="CANCELED"):
        daily_report(start=FIRST, end=SECOND, **run_)

    assert snapshot_id(s3_catalog) == snapshot
    assert files_below(table_of(s3_catalog).location()) == files


def test_a_cloud_run_without_a_catalog_stops_before_any_compute(
    cloud_mode: None,
    cloud_sim: PolarsCloudSimulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    s3_data: str,
) -> None:
    clear_pyiceberg_variables(monkeypatch, tmp_path / "home")

    with pytest.raises(IcebergError, match="no Iceberg catalog 'default' is configured"):
        daily_report(start=FIRST, source_uri=f"{s3_data}/raw", output_uri=f"{s3_data}/reports")

    assert cloud_sim.names() == [], "no login, no cluster"


def test_a_commit_whose_outcome_is_unknown_is_looked_up_and_swept_by_the_next_run_on_s3(
    cloud_mode: None,
    cloud_sim: PolarsCloudSimulator,
    s3_catalog: Callable[[], Any],
    s3_data: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_ = {"source_uri": f"{s3_data}/raw", "output_uri": f"{s3_data}/reports"}
    daily_report(start=FIRST, end=SECOND, **run_)
    orders = f"{s3_data}/reports/orders/date={SECOND}/"
    before = pl.read_parquet(orders)

    def lost(*args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        raise RuntimeError("the catalog's reply was lost")

    commit, history = iceberg.overwrite_days, iceberg.run_snapshot
    monkeypatch.setattr(iceberg, "overwrite_days", lost)
    monkeypatch.setattr(iceberg, "run_snapshot", lost)  # nor can the history be read
    with pytest.raises(RuntimeError, match="reply was lost"):
        daily_report(start=SECOND, end=THIRD, **run_)
    monkeypatch.setattr(iceberg, "overwrite_days", commit)
    monkeypatch.setattr(iceberg, "run_snapshot", history)
    [staging] = {key.split("/")[1] for key in list_keys(f"{s3_data}/reports", "_staging/")}
    location = table_of(s3_catalog).location()
    kept = [key for key in files_below(location) if f"/{staging}/" in key]
    assert kept, "its files are kept: the commit may have landed"
    staged = list_keys(f"{s3_data}/reports", "_staging/")
    assert f"_staging/{staging}/_publish.json" in staged, "and its plan, for the next run"
    assert pl.read_parquet(orders).equals(before)

    # This process lives on, but the failed run's flow run has ended: the next run looks it up.
    daily_report(start=FIRST, **run_)

    assert not [key for key in files_below(location) if f"/{staging}/" in key], "swept"
    assert list_keys(f"{s3_data}/reports", "_staging/") == []
    assert pl.read_parquet(orders).equals(before)
