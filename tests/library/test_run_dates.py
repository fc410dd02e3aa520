"""Which days a run reports: the scheduled day by default, a given day, or a range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from prefect_polars_cloud.config.days import (
    RunDatesError,
    describe,
    refuse_future_days,
    resolve_days,
)
from prefect_polars_cloud.local.cli import main

from toy_pipeline.project import ENV_PREFIX

SCHEDULED = datetime(2026, 11, 25, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("scheduled", "expected"),
    [
        (SCHEDULED, date(2026, 11, 24)),
        (datetime(2026, 11, 25, 0, 0, tzinfo=UTC), date(2026, 11, 24)),
        (datetime(2026, 11, 25, 23, 59, tzinfo=UTC), date(2026, 11, 24)),
        # 00:30 in Berlin is still the 24th in UTC: the day before that is the 23rd.
        (datetime(2026, 11, 25, 0, 30, tzinfo=timezone(timedelta(hours=1))), date(2026, 11, 23)),
    ],
    ids=["06:00", "midnight", "23:59", "berlin-00:30"],
)
def test_no_dates_is_the_utc_day_before_the_schedule(scheduled: datetime, expected: date) -> None:
    assert resolve_days(None, None, scheduled, max_days=366) == [expected]


def test_one_date_alone_is_that_day() -> None:
    assert resolve_days(date(2026, 11, 1), None, SCHEDULED, 366) == [date(2026, 11, 1)]
    assert resolve_days(None, date(2026, 11, 1), SCHEDULED, 366) == [date(2026, 11, 1)]


def test_a_range_includes_both_ends_and_accepts_iso_strings() -> None:
    days = resolve_days("2026-10-30", "2026-11-02", SCHEDULED, 366)
    assert days == [date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)]
    assert describe(days) == "2026-10-30..2026-11-02" and describe(days[:1]) == "2026-10-30"


def test_end_before_start_is_refused_with_what_to_pass() -> None:
    with pytest.raises(
        RunDatesError, match=r"end 2026-11-01 is before start 2026-11-02; pass start <= end"
    ):
        resolve_days(date(2026, 11, 2), date(2026, 11, 1), SCHEDULED, 366)


def test_a_range_longer_than_the_setting_is_refused() -> None:
    with pytest.raises(
        RunDatesError, match=f"367 days, more than the 366.*{ENV_PREFIX}MAX_BACKFILL_DAYS"
    ):
        resolve_days(date(2025, 1, 1), date(2026, 1, 2), SCHEDULED, 366)
    assert len(resolve_days(date(2025, 1, 1), date(2026, 1, 1), SCHEDULED, 366)) == 366


def test_a_date_that_is_not_one_is_refused() -> None:
    with pytest.raises(RunDatesError, match="start='yesterday' is not a date; pass YYYY-MM-DD"):
        resolve_days("yesterday", None, SCHEDULED, 366)


TODAY = date(2026, 11, 25)


def test_days_up_to_today_run_and_days_after_it_need_the_setting() -> None:
    refuse_future_days([TODAY - timedelta(days=1), TODAY], allowed=False, today=TODAY)
    later = [TODAY, TODAY + timedelta(days=1), TODAY + timedelta(days=2)]

    with pytest.raises(RunDatesError) as refused:
        refuse_future_days(later, allowed=False, today=TODAY)

    assert str(refused.value) == (
        "2026-11-26..2026-11-27 are after today (2026-11-25, UTC), so the inputs cannot be "
        f"complete; pass days up to 2026-11-25, or set {ENV_PREFIX}ALLOW_FUTURE_DAYS=true to run "
        "them anyway"
    )
    refuse_future_days(later, allowed=True, today=TODAY)


def test_a_backfill_of_a_future_day_is_refused_before_the_api_is_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)

    argv = ["--start", tomorrow.isoformat(), "--deployment", "a-flow/a-deployment"]
    assert main(["backfill", *argv]) == 1

    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"ERROR: {tomorrow} is after today ({tomorrow - timedelta(days=1)}, UTC), so the inputs "
        f"cannot be complete; pass days up to {tomorrow - timedelta(days=1)}, or set "
        f"{ENV_PREFIX}ALLOW_FUTURE_DAYS=true to run them anyway"
    ]
