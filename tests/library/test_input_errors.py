"""A bad input ends a local run with one ERROR line naming the file; a day with no rows only warns.

The toy reads NDJSON by day and a CSV snapshot (a bake's example has them the other way round).
"""

from __future__ import annotations

import logging
import shutil
from datetime import date
from pathlib import Path

import pytest
from prefect.artifacts import Artifact

from prefect_polars_cloud.input_errors import InputError
from prefect_polars_cloud.local_run import run_locally
from prefect_polars_cloud.settings import get_settings

from toy_pipeline.flow import toy_totals
from toy_pipeline.project import DATASETS, ENV_PREFIX, PAGES, VISITS

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
}


@pytest.fixture
def local_mode(monkeypatch: pytest.MonkeyPatch, prefect_api: str) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")


def with_file(sample_dir: Path, tmp_path: Path, name: str, content: bytes) -> Path:
    """Return a copy of the sample inputs with one file replaced."""
    source = tmp_path / "source"
    shutil.copytree(sample_dir, source)
    (source / name).write_bytes(content)
    return source


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_a_bad_input_is_one_error_line_naming_the_file(
    case: str,
    local_mode: None,
    sample_dir: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    name, content, problem = BAD_INPUTS[case]
    source = with_file(sample_dir, tmp_path, name, content)
    output = tmp_path / "output"

    argv = ["--start", DAY, "--source", str(source), "--output", str(output)]
    code = run_locally(toy_totals, argv)

    out, err = capfd.readouterr()
    errors = [line for line in (out + err).splitlines() if line.startswith("ERROR:")]
    assert code == 1
    assert len(errors) == 1, out + err
    assert errors[0].startswith(f"ERROR: {source.resolve() / name}: ")
    assert problem in errors[0]
    assert "Traceback" not in out + err
    assert not list(output.rglob("*.partial"))


def test_debug_shows_the_traceback(
    local_mode: None, sample_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    name, content, _ = BAD_INPUTS["snapshot-without-a-column"]
    source = with_file(sample_dir, tmp_path, name, content)

    code = run_locally(
        toy_totals,
        ["--debug", "--start", DAY, "--source", str(source), "--output", str(tmp_path / "out")],
    )

    assert code == 1
    assert "Traceback" in capfd.readouterr().err


def test_the_failed_state_says_the_same(local_mode: None, sample_dir: Path, tmp_path: Path) -> None:
    # What a deployed run shows in the UI: the file and the problem, not a Polars error.
    name, content, problem = BAD_INPUTS["snapshot-without-a-column"]
    source = with_file(sample_dir, tmp_path, name, content)

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
    sample_dir: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every visit of the day without seconds: the query that cleans them keeps none.
    no_seconds = b'{"visit_id": 1, "page_id": 1, "seconds": null}\n' * 3
    source = with_file(sample_dir, tmp_path, VISITS_FILE, no_seconds)
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
