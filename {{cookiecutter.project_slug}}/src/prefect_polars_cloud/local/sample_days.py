"""Which days a local run reports: the days its sample data holds, or the ones asked for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from prefect_polars_cloud.config.datasets import EXTENSIONS, Datasets
from prefect_polars_cloud.config.days import resolve_days
from prefect_polars_cloud.config.project import current


def last_days(count: int, today: date | None = None) -> list[date]:
    """Return the count days ending yesterday (UTC), oldest first."""
    yesterday = (today or datetime.now(UTC).date()) - timedelta(days=1)
    return [yesterday - timedelta(days=back) for back in reversed(range(count))]


def sample_days(folder: Path, datasets: Datasets) -> list[date]:
    """Return the days for which folder holds files of every daily input, oldest first."""
    found: set[date] | None = None
    prefix = f"{datasets.partition_key}="
    for dataset in datasets.daily_inputs:
        days = {
            date.fromisoformat(path.parent.name.removeprefix(prefix))
            for path in (folder / dataset.name).glob(f"{prefix}*/*")
            if path.name.endswith(EXTENSIONS[dataset.format])
        }
        found = days if found is None else found & days
    return sorted(found or ())


def has_sample_data(folder: Path, datasets: Datasets) -> bool:
    """Tell whether folder holds every snapshot and at least one day of every daily input."""
    snapshots = all((folder / item.path).is_file() for item in datasets.snapshots)
    return snapshots and bool(sample_days(folder, datasets))


def chosen_days(start: date | None, end: date | None, count: int) -> list[date]:
    """Return START..END, or the count days ending yesterday when neither is given."""
    if start is None and end is None:
        return last_days(count)
    return resolve_days(start, end, scheduled=None, max_days=100_000)


def write_missing_sample(folder: Path, count: int, rows: int) -> None:
    """Write count days of sample data ending yesterday, unless folder already holds some."""
    project = current()
    if not has_sample_data(folder, project.datasets):
        print(f"no sample data in {folder}: writing {count} days of {rows} rows a day")
        project.write_sample_data(folder, last_days(count), rows)


def days_to_report(folder: Path, start: date | None, end: date | None) -> list[date]:
    """Return START..END, or every day the sample in folder holds (first to last)."""
    if start is None and end is None:
        present = sample_days(folder, current().datasets)
        start, end = present[0], present[-1]
    return resolve_days(start, end, scheduled=None, max_days=100_000)
