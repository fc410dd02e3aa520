"""Where files live (local folders or object stores); writes that never leave half a file."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REMOTE_SCHEMES = ("s3://", "gs://", "gcs://", "az://", "abfs://", "abfss://")


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
    in place. A local file is written beside its destination and renamed over it on success.
    """
    if is_remote(uri):
        yield uri
        return
    destination = Path(uri)
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.partial")
    try:
        yield str(temporary)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
