"""What holds for any pipeline: derived from the project's flows and datasets, never listed here.

Every flow of flows/ (a flow reading another's output after it), every output it writes, every
input it reads from the source: swap in another pipeline by the README's steps and these tests
exercise it unchanged. Where the sample data cannot produce a case, the test says what to add.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from prefect_polars_cloud import DailyInput, SnapshotInput
from prefect_polars_cloud.config.project import current
from prefect_polars_cloud.local.runner import load_flow
from prefect_polars_cloud.operations.names import declared_flows
from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.input_errors import InputErrors

from .test_stops import PROJECT, datasets_of

FIRST, *_, LAST = SAMPLE_DAYS


def flows_in_order() -> list[str]:
    """Return the modules of flows/, each after the flows whose outputs it reads."""
    modules = sorted({flow.module for flow in declared_flows(PROJECT / "flows")})
    writes = {m: {o.name for d in datasets_of(m) for o in d.outputs} for m in modules}
    reads = {
        m: {i.folder for d in datasets_of(m) for i in d.daily_inputs if i.from_output is not None}
        for m in modules
    }
    ordered: list[str] = []
    while len(ordered) < len(modules):
        ready = [
            m
            for m in modules
            if m not in ordered
            and not any(reads[m] & writes[o] for o in modules if o != m and o not in ordered)
        ]
        ordered.append((ready or [m for m in modules if m not in ordered])[0])
    return ordered


FLOWS = flows_in_order()


def outputs() -> list[tuple[str, Any]]:
    """Return every output of every flow, with its flow."""
    return [(m, o) for m in FLOWS for d in datasets_of(m) for o in d.files]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below folder (staging and stamps aside) and its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not any(part.startswith(("_", ".")) for part in path.parts)
    }


def run_every_flow(source: Path, output: Path) -> None:
    """Run each flow of flows/ in turn over the sample days, from source into output."""
    for module in FLOWS:
        load_flow(module, PROJECT / "flows")(
            start=FIRST, end=LAST, source_uri=str(source), output_uri=str(output)
        )


def float_columns(files: dict[str, bytes], folder: Path) -> list[str]:
    """The float columns of the Parquet files among files."""
    found: set[str] = set()
    for name in files:
        if name.endswith(".parquet"):
            schema = pl.read_parquet_schema(folder / name)
            found |= {column for column, kind in schema.items() if kind.is_float()}
    return sorted(found)


def test_the_same_input_gives_the_same_bytes_for_every_output(
    local_mode: None, sample_dir: Path, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    run_every_flow(sample_dir, first)
    run_every_flow(sample_dir, second)

    for module, output in outputs():
        written = snapshot(first / output.name)
        again = snapshot(second / output.name)
        assert written, f"flows/{module}.py wrote nothing to {output.name} on the sample data"
        if written != again:
            floats = float_columns(written, first / output.name)
            hint = (
                f"its float columns {floats} differ in the last bits (a sum's order): declare "
                f"float_decimals=N on {output.name}'s output in its datasets"
                if floats and output.float_decimals is None
                else "the rows' order or content depends on the run: sort the query's result"
            )
            pytest.fail(f"flows/{module}.py: {output.name} differs between two runs; {hint}")


def test_the_sample_data_of_a_day_is_the_same_bytes_whatever_else_is_written(
    tmp_path: Path,
) -> None:
    # The tests above compare runs of the sample data, and `make run` writes it only once.
    written = {}
    for name, days in {"both": [FIRST, LAST], "alone": [LAST], "again": [LAST]}.items():
        current().write_sample_data(tmp_path / name, days, 500)
        written[name] = snapshot(tmp_path / name)
    both, alone, again = written["both"], written["alone"], written["again"]
    assert alone == again, "the same day and rows, other bytes: seed the sample data's random"
    assert alone and all(both.get(name) == content for name, content in alone.items()), (
        "a day's files depend on the other days written with it"
    )


def source_inputs() -> list[tuple[str, DailyInput | SnapshotInput]]:
    """Every input a flow reads from the source (not another flow's output), with its flow."""
    found = []
    for module in FLOWS:
        for datasets in datasets_of(module):
            for item in datasets.inputs:
                if getattr(item, "from_output", None) is None and (module, item) not in found:
                    found.append((module, item))
    return found


def sample_file(sample_dir: Path, item: DailyInput | SnapshotInput) -> tuple[Path, date]:
    """Return the first sample file of an input and the day a run reads it on."""
    if isinstance(item, SnapshotInput):
        return sample_dir / item.path, FIRST
    path = sample_dir / item.name
    first = sorted(p for p in path.rglob("*") if p.is_file())[0]
    day = next(part.split("=", 1)[1] for part in first.parts if "=" in part)
    return first, date.fromisoformat(day)


@pytest.mark.parametrize(
    ("module", "item"), source_inputs(), ids=[f"{m}-{i.name}" for m, i in source_inputs()]
)
def test_a_row_missing_a_required_field_is_one_error_line(
    module: str,
    item: DailyInput | SnapshotInput,
    local_mode: None,
    sample_dir: Path,
    input_errors: InputErrors,
) -> None:
    if not item.required:
        pytest.skip(f"{item.name}: every field is nullable; nothing to leave out")
    if item.format not in ("csv", "ndjson"):
        pytest.skip(f"{item.name}: a {item.format} input; write a test of its own bad file")
    path, day = sample_file(sample_dir, item)
    read = pl.read_csv if item.format == "csv" else pl.read_ndjson
    row = read(path, n_rows=1) if item.format == "csv" else read(path).head(1)
    field = item.required[0]
    bad = row.with_columns(pl.lit(None).alias(field))
    content = bad.write_csv() if item.format == "csv" else bad.write_ndjson()

    input_errors.assert_refused(
        load_flow(module, PROJECT / "flows"),
        str(path.relative_to(sample_dir)),
        content.encode(),
        f"no {field}",
        start=day.isoformat(),
    )


# The first flow over SECOND..LAST, killed (kill -9) once LAST's first publish step is done:
# SECOND published whole, LAST half, the run's plan left in its staging (issue 18).
KILLED_RUN = """
import sys, time
from pathlib import Path

from prefect_polars_cloud.config.project import current
from prefect_polars_cloud.local.runner import load_flow
from prefect_polars_cloud.storage import publish

carry_out_day, days = publish.publish_day, []


def publish_day_then_hang(store, steps, *rest):
    days.append(steps)
    if len(days) == 1:
        return carry_out_day(store, steps, *rest)
    carry_out_day(store, steps[:1], *rest)
    Path(sys.argv[4]).write_text("paused mid-publish")
    time.sleep(600)


publish.publish_day = publish_day_then_hang
flow = load_flow(sys.argv[1])
flow(start="{second}", end="{last}", source_uri=sys.argv[2], output_uri=sys.argv[3])
"""


@pytest.mark.parquet_report  # an Iceberg report's commits: tests/test_iceberg.py
def test_a_run_killed_mid_publish_is_finished_by_the_next_run(
    local_mode: None, prefect_api: str, sample_dir: Path, tmp_path: Path
) -> None:
    module = FLOWS[0]
    flow = load_flow(module, PROJECT / "flows")
    output, expected = tmp_path / "output", tmp_path / "expected"
    flow(start=FIRST, end=LAST, source_uri=str(sample_dir), output_uri=str(expected))
    paused, script = tmp_path / "paused", tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN.format(second=SAMPLE_DAYS[1], last=LAST))
    command = [sys.executable, str(script), module, str(sample_dir), str(output), str(paused)]
    environment = os.environ | {"PREFECT_API_URL": prefect_api}
    killed = subprocess.Popen(
        command, cwd=PROJECT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 240
    while not paused.exists():
        assert killed.poll() is None, killed.communicate()[0].decode()
        assert time.monotonic() < deadline, "the run never reached its publish"
        time.sleep(0.2)
    killed.kill()
    killed.communicate(timeout=30)
    assert list((output / "_staging").rglob("*")), "the killed run left its plan"

    flow(start=FIRST, source_uri=str(sample_dir), output_uri=str(output))

    # The next run (of another day) finished the killed run's plan: every day as a whole run.
    assert snapshot(output) == snapshot(expected)
    assert not [path for path in (output / "_staging").rglob("*") if path.is_file()]
