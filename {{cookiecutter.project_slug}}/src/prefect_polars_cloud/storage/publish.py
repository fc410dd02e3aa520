"""Publish a run's staged outputs day by day, so that a publish cut short can be finished.

    <output_uri>/_staging/<run>/_publish.json   every step of the publish, day by day, written
                                                before the first file moves
    <output_uri>/_published/YYYY-MM-DD.json     which run's plan last published the day, and
                                                when that plan was made

Each day's partitions are made to hold exactly the run's staged files: a file replaces its namesake
in one step (a rename locally, a copy on an object store), so a reader of a day written as one file
sees the old or the new version; files the earlier run had and this one did not are deleted right
after. A process killed in the middle (kill -9, an OOM kill, a lost node) leaves some days new and
some old, or a day's new report beside its old intermediates. The plan survives it: every step can
be done again, so the next run (storage/leftovers.py) carries the plan out to the end, and each day
ends as the interrupted run would have published it, unless a later plan has published the day
since: a day's stamp is written before its first step, and a plan skips a day whose stamp is newer
than itself (the stamp of a day half published by a later run names that run, whose own plan is then
finished).

With Iceberg tables (a Commit), the plan is written first, then the tables are committed, then
the plan is carried out: a commit that fails leaves every day as it was (its plan is dropped), a
commit that lands is followed by the intermediates day by day, by this run or, killed, the next.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from prefect_polars_cloud.config.datasets import Datasets, SnapshotOutput
from prefect_polars_cloud.storage.files import delete_keys, exists, is_remote, list_keys, open_store

logger = logging.getLogger(__name__)

PLAN = "_publish.json"
PUBLISHED = "_published"  # a stamp per day: the plan that last published it


@dataclass(frozen=True)
class Step:
    """One file operation of a publish, keys relative to the output uri."""

    action: Literal["move", "copy", "delete"]
    key: str
    target: str = ""  # where a move or copy puts the file


Plan = dict[str, list[Step]]  # the steps of each day, by ISO date


def plan_publish(datasets: Datasets, output_uri: str, staging: str, days: list[date]) -> Plan:
    """Return, for each day, the moves of its staged files and the deletes of the files replaced."""
    staged = list_keys(output_uri, f"{staging}/")
    plan: Plan = {}
    for day in days:
        steps = []
        # Iceberg tables commit on their own (storage/iceberg/writes.py)
        for output in datasets.files:
            target = datasets.partition(output.name, day)
            old = set(list_keys(output_uri, f"{target}/"))
            # A snapshot serves every day of the run, so it is copied; the rest move.
            shared = isinstance(output, SnapshotOutput)
            source = f"{staging}/{output.name}/" if shared else f"{staging}/{target}/"
            new = set()
            for key in staged:
                if key.startswith(source):
                    destination = f"{target}/{key.rsplit('/', 1)[-1]}"
                    steps.append(Step("copy" if shared else "move", key, destination))
                    new.add(destination)
            steps += [Step("delete", key) for key in sorted(old - new)]
        plan[day.isoformat()] = steps
    return plan


def write_json(output_uri: str, key: str, document: dict[str, Any]) -> None:
    """Write a small JSON object in one step (an object store's put, a local rename)."""
    import obstore

    obstore.put(open_store(output_uri), key, json.dumps(document, indent=1).encode())


def read_json(output_uri: str, key: str) -> dict[str, Any] | None:
    """Return a small JSON object, or None when there is none (or it is not one)."""
    import obstore

    try:
        document = json.loads(bytes(obstore.get(open_store(output_uri), key).bytes()))
    except (FileNotFoundError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def _same(store: Any, key: str, target: str) -> bool:  # noqa: ANN401 - an obstore store
    """Tell whether target already is a copy of key (a local copy is a hard link: same tag)."""
    import obstore

    try:
        return bool(obstore.head(store, key)["e_tag"] == obstore.head(store, target)["e_tag"])
    except FileNotFoundError:
        return False


def publish_day(store: Any, steps: list[Step], again: bool = False) -> None:  # noqa: ANN401
    """Carry out one day's steps; again: skip what an interrupted run already did."""
    import obstore

    for step in steps:
        try:
            if step.action == "move":
                obstore.rename(store, step.key, step.target, overwrite=True)
            elif step.action == "copy":
                # Copying a file again onto its own hard link leaves a stray `<name>#0` beside
                # it (rename(2) does nothing between two links of one file): skip it instead.
                if not (again and _same(store, step.key, step.target)):
                    obstore.copy(store, step.key, step.target, overwrite=True)
            else:
                obstore.delete(store, step.key)
        except FileNotFoundError:
            pass  # moved or deleted before the interruption


def stamp_key(day: str) -> str:
    """Return where the stamp of a day (ISO date) is kept, relative to the output uri."""
    return f"{PUBLISHED}/{day}.json"


def _newer(stamp: dict[str, Any] | None, planned: str, run: str) -> bool:
    """Tell whether a day's stamp is of a later plan than (planned, run)."""
    if stamp is None:
        return False
    try:
        theirs = datetime.fromisoformat(str(stamp.get("planned")))
        # A plan of an older version has no time: any stamp is of a later run.
        ours = datetime.fromisoformat(planned) if planned else datetime.min.replace(tzinfo=UTC)
    except ValueError:
        return False  # a stamp no run wrote: ignore it
    return (theirs, str(stamp.get("run"))) > (ours, run)


def carry_out(
    output_uri: str, plan: Plan, planned: str, run: str, again: bool = False
) -> list[str]:
    """Carry out a plan, one day at a time (again: the rest of one cut short); return days skipped.

    A day is stamped before its first step, and skipped when a later plan stamped it.
    """
    store, skipped = open_store(output_uri), []
    for day in sorted(plan):
        if _newer(read_json(output_uri, stamp_key(day)), planned, run):
            skipped.append(day)  # a later run published the day: its files stay
            continue
        write_json(output_uri, stamp_key(day), {"run": run, "planned": planned})
        publish_day(store, plan[day], again)
    return skipped


@dataclass(frozen=True)
class Commit:
    """The table commits a publish makes after writing its plan and before the plan's first step."""

    record: dict[str, Any]  # what the plan keeps of them, for the next run to look them up
    make: Callable[[], None]  # commits; raises when a commit failed
    landed: Callable[[], bool | None]  # after a failure: did every commit land (None: unknown)


def publish(
    datasets: Datasets,
    output_uri: str,
    staging: str,
    days: list[date],
    commit: Commit | None = None,
) -> list[str]:
    """Make each day's partitions hold exactly the run's staged files; return days skipped.

    With a commit, the tables are committed between the plan's writing and its first step; a
    commit that surely did not land drops the plan, so nothing is published.
    """
    plan = plan_publish(datasets, output_uri, staging, days)
    planned = datetime.now(UTC).isoformat()
    document: dict[str, Any] = {
        "run": staging,
        "planned": planned,
        "days": {day: [asdict(step) for step in plan[day]] for day in plan},
    }
    if commit is not None:
        document["commits"] = commit.record
    write_json(output_uri, f"{staging}/{PLAN}", document)
    if commit is not None:
        try:
            commit.make()
        except BaseException:
            if commit.landed() is False:  # nothing of the run's is visible: keep it so
                delete_keys(output_uri, [f"{staging}/{PLAN}"])
            raise  # else the plan stays: the next run looks the commit up (storage/leftovers.py)
    skipped = carry_out(output_uri, plan, planned, staging)
    delete_keys(output_uri, [f"{staging}/{PLAN}"])  # done: nothing left to finish
    return skipped


def read_plan(output_uri: str, staging: str) -> dict[str, Any] | None:
    """Return the publish plan a staging prefix holds, or None."""
    return read_json(output_uri, f"{staging}/{PLAN}")


def drop(output_uri: str, staging: str) -> None:
    """Remove a publish plan without carrying it out (its tables' commit never landed)."""
    delete_keys(output_uri, [f"{staging}/{PLAN}"])


def finish(output_uri: str, staging: str) -> tuple[list[str], list[str]] | None:
    """Carry out the rest of a publish cut short, if the staging prefix holds one.

    Returns (days carried out, days skipped because a later run published them).
    """
    document = read_plan(output_uri, staging)
    if document is None:
        return None
    plan = {day: [Step(**step) for step in steps] for day, steps in document["days"].items()}
    planned, run = str(document.get("planned") or ""), str(document.get("run") or staging)
    skipped = carry_out(output_uri, plan, planned, run, again=True)
    delete_keys(output_uri, [f"{staging}/{PLAN}"])
    return [day for day in sorted(plan) if day not in skipped], skipped


def discard(output_uri: str, staging: str) -> None:
    """Remove a run's staging prefix, unless it holds a publish cut short; never raise."""
    try:
        if exists(output_uri, f"{staging}/{PLAN}"):
            # The days are half published: only carrying the plan out mends them.
            logger.warning("the publish of %s did not finish; the next run finishes it", staging)
            return
        if not is_remote(output_uri):
            shutil.rmtree(Path(output_uri) / staging, ignore_errors=True)
            # The last run's prefix gone, `_staging/` is an empty folder (object stores have none).
            with suppress(OSError):  # not empty: another run stages there
                (Path(output_uri) / staging).parent.rmdir()
            return
        delete_keys(output_uri, list_keys(output_uri, f"{staging}/"))
    except Exception as error:  # noqa: BLE001 - a leftover staging prefix is harmless
        logger.warning("could not remove %s (%s); it is safe to delete", staging, error)
