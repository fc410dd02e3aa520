"""Where files live (local folders or object stores), by day; writes that never leave half a file.

The layout is the project's datasets (datasets.py). A run writes only under its own staging
prefix; `publish` then makes each day's partitions hold exactly the staged files, day by day, and
the staging prefix is removed whatever happened.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .datasets import EXTENSIONS, DailyInput, Datasets, Input, SnapshotInput, SnapshotOutput

logger = logging.getLogger(__name__)

REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "az://", "abfs://", "abfss://")
STAGING = "_staging"


class MissingInputError(ValueError):
    """Inputs of the run are missing; the message names them and where they were looked for."""


# The folder atomic_target writes in, beside a local destination, until the file is complete.
PARTIAL = re.compile(r"^\..+\.[0-9a-f]{32}\.partial$")
# Set when the run is interrupted: writes still in flight are discarded, not published.
_stopping = threading.Event()


class WriteDiscarded(RuntimeError):
    """A write finished after the run was interrupted, so it was thrown away."""


def discard_writes_in_flight() -> None:
    """Make every write that completes from now on remove its file instead of publishing it."""
    _stopping.set()


def remove_stale_partials(folder: str) -> list[Path]:
    """Delete what interrupted writes left in a local folder and its day folders; return it.

    A run that was killed outright (SIGKILL, power loss) cannot clean up after itself; the next
    run does. Only names atomic_target makes are touched.
    """
    if is_remote(folder) or not Path(folder).is_dir():
        return []
    stale = []
    for parent, directories, files in os.walk(folder):
        for name in [*directories, *files]:
            if PARTIAL.match(name):
                stale.append(Path(parent) / name)
        directories[:] = [name for name in directories if not PARTIAL.match(name)]
    for path in stale:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:  # what earlier versions wrote: a file
            path.unlink(missing_ok=True)
    return stale


def is_remote(uri: str) -> bool:
    """Tell whether uri names an object store rather than a local path."""
    return uri.startswith(REMOTE_SCHEMES)


def join(base: str, name: str) -> str:
    """Append a relative key to a folder or prefix."""
    if is_remote(base):
        return f"{base.rstrip('/')}/{name}"
    return str(Path(base) / name)


def _store(uri: str) -> Any:  # noqa: ANN401 - an obstore store
    """Open the store rooted at uri (credentials and endpoint from the environment, as Polars)."""
    import obstore.store

    if is_remote(uri):
        return obstore.store.from_url(uri)
    return obstore.store.LocalStore(str(Path(uri).resolve()), mkdir=True)


def list_keys(uri: str, prefix: str = "") -> list[str]:
    """Return every key below the folder prefix (whole path parts), relative to uri."""
    import obstore

    return sorted(
        meta["path"] for batch in obstore.list(_store(uri), prefix=prefix) for meta in batch
    )


def exists(uri: str, key: str) -> bool:
    """Tell whether one object (file) exists below uri."""
    import obstore

    try:
        obstore.head(_store(uri), key)
    except FileNotFoundError:
        return False
    return True


@dataclass(frozen=True)
class Inputs:
    """The files one run reads: each daily input's files by day, each snapshot's file."""

    daily: dict[str, dict[date, list[str]]]
    snapshots: dict[str, str]

    def files(self, dataset: Input) -> list[str]:
        """Return every file of one input, oldest day first."""
        if isinstance(dataset, SnapshotInput):
            return [self.snapshots[dataset.name]]
        return [uri for _, uris in sorted(self.daily[dataset.name].items()) for uri in uris]


def _day_files(
    datasets: Datasets, dataset: DailyInput, source_uri: str, days: list[date]
) -> dict[date, list[str]]:
    """Return the input's files of each day (days without files are left out)."""
    wanted = {datasets.partition(dataset.name, day): day for day in days}
    found: dict[date, list[str]] = {}
    for key in list_keys(source_uri, f"{dataset.name}/"):
        folder, name = key.rsplit("/", 1)
        if folder in wanted and name.endswith(EXTENSIONS[dataset.format]):
            found.setdefault(wanted[folder], []).append(join(source_uri, key))
    return found


def find_inputs(datasets: Datasets, source_uri: str, days: list[date]) -> Inputs:
    """Return the run's input files, or name every day (and snapshot) that is missing."""
    problems = []
    daily = {}
    for dataset in datasets.daily_inputs:
        daily[dataset.name] = _day_files(datasets, dataset, source_uri, days)
        missing = [str(day) for day in days if day not in daily[dataset.name]]
        if missing:
            extensions = "|".join(EXTENSIONS[dataset.format])
            problems.append(
                f"no {dataset.name} for {', '.join(missing)} under "
                f"{join(source_uri, dataset.name)}/{datasets.partition_key}=YYYY-MM-DD/"
                f"*{extensions}"
            )
    for snapshot in datasets.snapshots:
        if not exists(source_uri, snapshot.path):
            problems.append(f"no {snapshot.name} snapshot at {join(source_uri, snapshot.path)}")
    if problems:
        raise MissingInputError(
            "; ".join(problems) + ": write them (`make sample-data` locally), or run other days"
        )
    snapshots = {item.name: join(source_uri, item.path) for item in datasets.snapshots}
    return Inputs(daily, snapshots)


def new_staging() -> str:
    """Return a fresh run-scoped key, below output_uri, for everything a run writes."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{STAGING}/{stamp}-{uuid.uuid4().hex[:8]}"


def publish(datasets: Datasets, output_uri: str, staging: str, days: list[date]) -> None:
    """Make each day's partitions hold exactly the run's staged files, one day at a time.

    A file replaces its namesake in one step (a rename locally, a copy on an object store), so
    a reader of a day written as one file sees the old or the new version; files the earlier
    run had and this one did not are deleted right after.
    """
    import obstore

    store = _store(output_uri)
    staged = list_keys(output_uri, f"{staging}/")
    for day in days:
        for output in datasets.files:  # Iceberg tables commit on their own (iceberg.py)
            target = datasets.partition(output.name, day)
            old = set(list_keys(output_uri, f"{target}/"))
            # A snapshot serves every day of the run, so it is copied; the rest move.
            shared = isinstance(output, SnapshotOutput)
            source = f"{staging}/{output.name}/" if shared else f"{staging}/{target}/"
            place = obstore.copy if shared else obstore.rename
            new = set()
            for key in staged:
                if key.startswith(source):
                    destination = f"{target}/{key.rsplit('/', 1)[-1]}"
                    place(store, key, destination, overwrite=True)
                    new.add(destination)
            if old - new:
                obstore.delete(store, sorted(old - new))


def discard(output_uri: str, staging: str) -> None:
    """Remove a run's staging prefix, whatever is left in it; never raise."""
    try:
        if not is_remote(output_uri):
            shutil.rmtree(Path(output_uri) / staging, ignore_errors=True)
            return
        import obstore

        leftover = list_keys(output_uri, f"{staging}/")
        if leftover:
            obstore.delete(_store(output_uri), leftover)
    except Exception as error:  # noqa: BLE001 - a leftover staging prefix is harmless
        logger.warning("could not remove %s (%s); it is safe to delete", staging, error)


@contextmanager
def atomic_target(uri: str) -> Iterator[str]:
    """Yield where to write uri so that a failed write leaves the previous file untouched.

    Object stores publish an object only when its upload completes, so a remote uri is written
    in place. A local file is written in a folder beside its destination and renamed over it on
    success. A folder, not a file: when a query fails, Polars' streaming sink may still create
    its file a moment after the error reached us (seen under load); once the folder is gone,
    it cannot.
    """
    if is_remote(uri):
        yield uri
        return
    destination = Path(uri)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.partial")
    staging.mkdir()
    try:
        yield str(staging / destination.name)
        if _stopping.is_set():
            raise WriteDiscarded(f"the run was interrupted: {destination} was left as it was")
        os.replace(staging / destination.name, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
