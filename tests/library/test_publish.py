"""The per-day publish, alone: a plan finished late skips the days a later plan published.

No Prefect server and no query: staged files are written by hand, as a run's sinks leave them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prefect_polars_cloud.storage import publish
from prefect_polars_cloud.testing import SAMPLE_DAYS

from toy_pipeline.project import DATASETS, TOTALS

FIRST, SECOND, _ = SAMPLE_DAYS
DAYS = [FIRST, SECOND]


def stage(output: Path, run: str, content: bytes) -> str:
    """Stage one report file a day for the run; return its staging key."""
    staging = f"_staging/{run}"
    for day in DAYS:
        folder = output / staging / DATASETS.partition(TOTALS.name, day)
        folder.mkdir(parents=True)
        (folder / "00000000.parquet").write_bytes(content)
    return staging


def published(output: Path) -> dict[str, bytes]:
    """Return each day's published report file."""
    return {
        str(day): (output / DATASETS.partition(TOTALS.name, day) / "00000000.parquet").read_bytes()
        for day in DAYS
    }


def test_finishing_an_old_plan_skips_a_day_a_later_plan_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = stage(tmp_path, "20261101T060000Z-aaaaaaaa", b"A")
    carry_out_day, calls = publish.publish_day, []

    def killed_before_the_second_day(store: Any, steps: list[publish.Step], again: bool) -> None:  # noqa: ANN401
        calls.append(steps)
        if len(calls) == 2:
            raise OSError("killed")
        carry_out_day(store, steps, again)

    monkeypatch.setattr(publish, "publish_day", killed_before_the_second_day)
    with pytest.raises(OSError, match="killed"):
        publish.publish(DATASETS, str(tmp_path), old, DAYS)
    monkeypatch.setattr(publish, "publish_day", carry_out_day)
    later = stage(tmp_path, "20261101T070000Z-bbbbbbbb", b"B")
    publish.publish(DATASETS, str(tmp_path), later, [SECOND])

    assert publish.finish(str(tmp_path), old) == ([str(FIRST)], [str(SECOND)])

    assert published(tmp_path) == {str(FIRST): b"A", str(SECOND): b"B"}
    assert publish.read_plan(str(tmp_path), old) is None, "the old plan is done"


def test_a_plan_is_carried_out_again_over_its_own_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = stage(tmp_path, "20261101T060000Z-aaaaaaaa", b"A")

    def killed_after_the_stamp(store: Any, steps: list[publish.Step], again: bool) -> None:  # noqa: ANN401
        raise OSError("killed")

    monkeypatch.setattr(publish, "publish_day", killed_after_the_stamp)
    with pytest.raises(OSError, match="killed"):
        publish.publish(DATASETS, str(tmp_path), staging, DAYS)
    monkeypatch.undo()
    assert (tmp_path / publish.stamp_key(str(FIRST))).exists(), "stamped before its first step"

    assert publish.finish(str(tmp_path), staging) == ([str(FIRST), str(SECOND)], [])

    assert published(tmp_path) == {str(FIRST): b"A", str(SECOND): b"A"}
