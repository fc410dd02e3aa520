"""Which days a run reports: its own scheduled day by default, or the range it was given.

A daily run reports the UTC day before its *scheduled* start, so a run that starts late, or is
retried hours later, still reports the day it was scheduled for.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from prefect_polars_cloud.config.project import env_prefix


class RunDatesError(ValueError):
    """The dates asked for cannot be run; the message says what to pass instead."""


def as_date(value: date | str | None, name: str) -> date | None:
    """Accept a date, an ISO date string (as the Prefect API passes it) or None."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RunDatesError(f"{name}={value!r} is not a date; pass YYYY-MM-DD") from None


def day_before(scheduled: datetime) -> date:
    """Return the UTC day before a scheduled start time."""
    return scheduled.astimezone(UTC).date() - timedelta(days=1)


def resolve_days(
    start: date | str | None,
    end: date | str | None,
    scheduled: datetime | None,
    max_days: int,
) -> list[date]:
    """Return the days of the run, oldest first: the given range, or the scheduled day."""
    first, last = as_date(start, "start"), as_date(end, "end")
    if first is None and last is None:
        if scheduled is None:
            raise RunDatesError("no day to run: pass start (and end), YYYY-MM-DD")
        first = last = day_before(scheduled)
    first = first or last
    last = last or first
    assert first is not None and last is not None  # one of them was given, or both defaulted
    if last < first:
        raise RunDatesError(
            f"end {last} is before start {first}; pass start <= end (both days are included)"
        )
    count = (last - first).days + 1
    if count > max_days:
        raise RunDatesError(
            f"{first}..{last} is {count} days, more than the {max_days} one run accepts; "
            f"split the range, or raise {env_prefix()}MAX_BACKFILL_DAYS"
        )
    return [first + timedelta(days=offset) for offset in range(count)]


def refuse_future_days(days: list[date], allowed: bool, today: date | None = None) -> None:
    """Refuse days after today (UTC) unless allowed: their inputs cannot be complete yet.

    A typo in a year, or a day's folder written early by a test, would otherwise publish a
    report of a day that has not happened.
    """
    today = today or datetime.now(UTC).date()
    future = [day for day in days if day > today]
    if future and not allowed:
        raise RunDatesError(
            f"{describe(future)} {'is' if len(future) == 1 else 'are'} after today ({today}, "
            f"UTC), so the inputs cannot be complete; pass days up to {today}, or set "
            f"{env_prefix()}ALLOW_FUTURE_DAYS=true to run them anyway"
        )


def describe(days: list[date]) -> str:
    """Name a run's days: one day, or first..last."""
    return str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]}"
