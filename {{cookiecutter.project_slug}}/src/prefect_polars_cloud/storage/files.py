"""Where files live (local folders or object stores), by day; writes that never leave half a file.

The layout is the project's datasets (config/datasets.py). A run writes only under its own staging
prefix; storage/publish.py then makes each day's partitions hold exactly the staged files, day by
day.
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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect_polars_cloud.config.datasets import (
    EXTENSIONS,
    DailyInput,
    Datasets,
    Input,
    SnapshotInput,
)

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


def accept_writes() -> None:
    """Let writes publish again: a new run starts in a process whose last run was stopped."""
    _stopping.clear()


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


def open_store(uri: str) -> Any:  # noqa: ANN401 - an obstore store
    """Open the store rooted at uri (credentials and endpoint from the environment, as Polars)."""
    import obstore.store

    if is_remote(uri):
        return obstore.store.from_url(uri)
    return obstore.store.LocalStore(str(Path(uri).resolve()), mkdir=True)


def delete_keys(uri: str, keys: list[str]) -> None:
    """Delete these keys below uri (a local folder or an object-store prefix); gone is fine."""
    import obstore

    if keys:
        try:
            obstore.delete(open_store(uri), keys)
        except FileNotFoundError:
            pass


def list_sizes(uri: str, prefix: str = "") -> dict[str, int]:
    """Return every key below the folder prefix (whole path parts), relative to uri: its size."""
    import obstore

    return {
        meta["path"]: meta["size"]
        for batch in obstore.list(open_store(uri), prefix=prefix)
        for meta in batch
    }


def list_keys(uri: str, prefix: str = "") -> list[str]:
    """Return every key below the folder prefix (whole path parts), relative to uri."""
    return sorted(list_sizes(uri, prefix))


def size_of(uri: str, key: str) -> int | None:
    """Return the size of one object (file) below uri, or None when there is none."""
    import obstore

    try:
        return int(obstore.head(open_store(uri), key)["size"])
    except FileNotFoundError:
        return None


def exists(uri: str, key: str) -> bool:
    """Tell whether one object (file) exists below uri."""
    return size_of(uri, key) is not None


def read_start(uri: str, length: int) -> bytes:
    """Return the first length bytes of the file at uri (length at most its size)."""
    import obstore

    folder, name = uri.rsplit("/", 1)
    return bytes(obstore.get_range(open_store(folder), name, start=0, length=length))


def read_chunks(uri: str, size: int = 1 << 20) -> Iterator[bytes]:
    """Yield the file at uri in pieces of about size bytes, first to last, never whole."""
    import obstore

    folder, name = uri.rsplit("/", 1)
    for chunk in obstore.get(open_store(folder), name).stream(min_chunk_size=size):
        yield bytes(chunk)


@dataclass(frozen=True)
class Inputs:
    """The files one run reads: each daily input's files by day, each snapshot's file."""

    daily: dict[str, dict[date, list[str]]]
    snapshots: dict[str, str]
    sizes: dict[str, int] = field(default_factory=dict)  # bytes of each file, by uri

    def files(self, dataset: Input) -> list[str]:
        """Return every file of one input, oldest day first."""
        if isinstance(dataset, SnapshotInput):
            return [self.snapshots[dataset.name]]
        return [uri for _, uris in sorted(self.daily[dataset.name].items()) for uri in uris]


def _day_files(
    datasets: Datasets,
    dataset: DailyInput,
    root: str,
    days: list[date],
    sizes: dict[str, int],
) -> dict[date, list[str]]:
    """Return the input's files of each day (days without files are left out); note sizes."""
    wanted = {datasets.partition(dataset.folder, day): day for day in days}
    extensions = EXTENSIONS[dataset.format]
    found: dict[date, list[str]] = {}
    for key, size in sorted(list_sizes(root, f"{dataset.folder}/").items()):
        folder, name = key.rsplit("/", 1)
        if folder in wanted and name.endswith(extensions):
            found.setdefault(wanted[folder], []).append(join(root, key))
            sizes[join(root, key)] = size
    return found


def input_days(datasets: Datasets, dataset: DailyInput, days: list[date]) -> list[date]:
    """Return the days of an input a run reads: its lookback window, then the run's own."""
    window = [days[0] - timedelta(days=back) for back in range(dataset.lookback_days, 0, -1)]
    return window if datasets.reads_own_output(dataset) else [*window, *days]


def find_inputs(
    datasets: Datasets, source_uri: str, days: list[date], output_uri: str | None = None
) -> Inputs:
    """Return the run's input files, or name every day (and snapshot) that is missing.

    An input declared `from_output` is read from output_uri, where its flow published it. Of a
    lookback window, the days found are read and the others left out.
    """
    problems = []
    daily = {}
    sizes: dict[str, int] = {}
    for dataset in datasets.daily_inputs:
        root = source_uri if dataset.from_output is None else output_uri or source_uri
        wanted = input_days(datasets, dataset, days)
        daily[dataset.name] = _day_files(datasets, dataset, root, wanted, sizes)
        required = [] if datasets.reads_own_output(dataset) else days
        missing = [str(day) for day in required if day not in daily[dataset.name]]
        if missing:
            extensions = "|".join(EXTENSIONS[dataset.format])
            problems.append(
                f"no {dataset.name} for {', '.join(missing)} under "
                f"{join(root, dataset.folder)}/{datasets.partition_key}=YYYY-MM-DD/*{extensions}"
            )
            if dataset.from_output is not None:
                problems[-1] += f" (run the flow that publishes {dataset.folder} first)"
    for snapshot in datasets.snapshots:
        size = size_of(source_uri, snapshot.path)
        if size is None:
            problems.append(f"no {snapshot.name} snapshot at {join(source_uri, snapshot.path)}")
        else:
            sizes[join(source_uri, snapshot.path)] = size
    if problems:
        raise MissingInputError(
            "; ".join(problems) + ": write them (`make sample-data` locally), or run other days"
        )
    snapshots = {item.name: join(source_uri, item.path) for item in datasets.snapshots}
    return Inputs(daily, snapshots, sizes)


def new_staging() -> str:
    """Return a fresh run-scoped key, below output_uri, for everything a run writes."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{STAGING}/{stamp}-{uuid.uuid4().hex[:8]}"


@contextmanager
def atomic_target(uri: str) -> Iterator[str]:
    """Yield where to write uri so that a failed write leaves the previous file untouched.

    Object stores publish an object only when its upload completes, so a remote uri is written
    in place. A local file is written in a folder beside its destination and renamed over it on
    success. A folder, not a file: when a query fails, Polars' streaming sink may still create
    its file a moment after the error reached us (seen under load); once the folder is gone,
    it cannot.

    Args:
        uri: The file's final place: a local path or an object-store uri.

    Yields:
        The path to write to; the file is at uri once the block ends without an error.

    Example:
        ```python
        from prefect_polars_cloud import atomic_target

        with atomic_target("data/sample/stores.ndjson") as path:
            frame.write_ndjson(path)
        ```
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
