"""What a run killed outright leaves under its Iceberg tables, and how the next run sweeps it.

    <output_uri>/_staging/<run>/_tables.json   where the run writes each table's files:
                                               {"catalog", "run", "tables": {identifier: folder}}

A run writes its tables' files under `<table location>/data/<run>/` before it commits them; a
run that is stopped removes them itself, one killed outright (kill -9, an OOM kill, a lost node)
cannot. Its staging prefix says where they are, so the run that finds it gone (storage/leftovers.py)
deletes every file there that no snapshot the table keeps refers to; a run whose commit landed
keeps them all. The same lookup tells whether a killed run's commit landed, which decides
whether its publish plan is carried out (storage/publish.py).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.storage.files import delete_keys, is_remote, list_keys
from prefect_polars_cloud.storage.iceberg.catalog import catalog_config, load, local_path
from prefect_polars_cloud.storage.iceberg.table import run_snapshot
from prefect_polars_cloud.storage.publish import read_json, write_json

logger = logging.getLogger(__name__)

RECORD = "_tables.json"


def record(output_uri: str, staging: str, catalog: str, folders: dict[str, str]) -> None:
    """Say where the run writes each table's files, before it writes any."""
    run = staging.rsplit("/", 1)[-1]
    document = {"catalog": catalog, "run": run, "tables": folders}
    write_json(output_uri, f"{staging}/{RECORD}", document)


def _catalog(settings: Settings, name: str) -> Any:  # noqa: ANN401 - a pyiceberg Catalog
    """Load the catalog a run named (a project's catalog may have been renamed since)."""
    return load(catalog_config(settings.model_copy(update={"iceberg_catalog": name})))


def _snapshot(catalog: Any, identifier: str, run: str) -> tuple[Any, Any] | None:  # noqa: ANN401
    """Return (table, the run's snapshot) or None; a table that was never created has none."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        return run_snapshot(catalog, identifier, run)
    except (NoSuchTableError, NoSuchNamespaceError):
        return None


def landed(settings: Settings, commits: dict[str, Any]) -> bool | None:
    """Tell whether every commit a publish plan waited for landed; None when nobody can tell."""
    try:
        catalog = _catalog(settings, commits["catalog"])
        return all(
            _snapshot(catalog, identifier, commits["run"]) is not None
            for identifier in commits["tables"]
        )
    except Exception as error:  # noqa: BLE001 - unknown: the caller leaves the run alone
        logger.warning("could not look up the commits of run %s: %s", commits.get("run"), error)
        return None


def sweep(settings: Settings | None, output_uri: str, staging: str) -> list[str] | None:
    """Delete a gone run's table files that no snapshot refers to; say what; None on failure.

    Without settings (no catalog to ask), a run that wrote tables is left for a later run.
    """
    document = read_json(output_uri, f"{staging}/{RECORD}")
    if document is None:
        return []
    if settings is None:
        return None
    done = []
    try:
        catalog = _catalog(settings, document["catalog"])
        for identifier, folder in document["tables"].items():
            removed = _sweep_folder(catalog, identifier, folder, document["run"])
            if removed:
                done.append(
                    f"removed {removed} file(s) of {identifier} in {folder}, written by a run "
                    "that is gone and never committed"
                )
    except Exception as error:  # noqa: BLE001 - kept for a later run to try again
        logger.warning("could not sweep the table files of %s: %s", staging, error)
        return None
    return done


def _sweep_folder(catalog: Any, identifier: str, folder: str, run: str) -> int:  # noqa: ANN401
    """Delete the files below folder that the table's snapshots do not refer to; count them."""
    path = local_path(folder)
    if not is_remote(path) and not Path(path).is_dir():
        return 0
    keys = list_keys(path)
    found = _snapshot(catalog, identifier, run) if keys else None
    if not keys or (found is not None):
        return 0  # nothing there, or the run committed: its snapshot refers to every file
    referenced: set[str] = set()
    try:
        table = catalog.load_table(identifier)
    except Exception:  # noqa: BLE001 - no table: nothing refers to anything
        table = None
    if table is not None and table.metadata.snapshots:
        # Every snapshot the table keeps, not only the current one: readers may travel back.
        referenced = {local_path(uri) for uri in table.inspect.all_files()["file_path"].to_pylist()}
    unreferenced = [key for key in keys if f"{path.rstrip('/')}/{key}" not in referenced]
    if len(unreferenced) == len(keys):
        remove_folder(folder)
    else:
        delete_keys(path, unreferenced)
    return len(unreferenced)


def remove_folder(folder: str) -> None:
    """Delete every file below a local folder or an object-store prefix; never raise."""
    try:
        path = local_path(folder)
        if not is_remote(path):
            shutil.rmtree(Path(path), ignore_errors=True)
            return
        keys = list_keys(path)
        if keys:
            delete_keys(path, keys)
    except Exception as error:  # noqa: BLE001 - files no commit names are never read
        logger.warning("could not remove %s (%s); no table references it", folder, error)
