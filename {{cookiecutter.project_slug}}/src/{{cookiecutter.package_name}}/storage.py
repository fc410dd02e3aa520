"""Where files live (local folders or object stores); writes that never leave half a file."""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "az://", "abfs://", "abfss://")
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
    """Delete what interrupted writes left in a local folder; return what was removed.

    A run that was killed outright (SIGKILL, power loss) cannot clean up after itself; the next
    run does. Only names atomic_target makes are touched.
    """
    if is_remote(folder) or not Path(folder).is_dir():
        return []
    stale = [path for path in Path(folder).iterdir() if PARTIAL.match(path.name)]
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
    """Append a file name to a folder or prefix."""
    if is_remote(base):
        return f"{base.rstrip('/')}/{name}"
    return str(Path(base) / name)


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
