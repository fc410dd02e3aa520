"""What runs that are gone left under `<output_uri>/_staging/`: finished or removed by the next run.

    <output_uri>/_staging/<run>/_run.json      who stages there: flow run id, machine, pid, start
    <output_uri>/_staging/<run>/_tables.json   where it writes its Iceberg tables' files, if any

A run removes its staging prefix itself, unless it is killed (kill -9, an OOM kill, a lost
node): then its prefix stays, tens of megabytes or more, its tables' uncommitted files stay
under the tables, and if it was publishing, its days are half published. Every run starts by
looking at the other prefixes. One whose run is gone is finished (its publish carried out to the
end, publish.finish, unless the table commits it waited for never landed: then it is dropped),
its tables' files that no snapshot refers to are deleted (storage/iceberg/leftovers.py), and it is
removed. A prefix whose tables cannot be looked up (the catalog does not answer) is kept for a
later run. A run is gone when its process is no longer alive (same machine), its Prefect flow
run has ended (Crashed, Failed, ...: the zombie automation of `make alerts` ends a run whose
heartbeats stopped), or it started longer ago than <PREFIX>STAGING_EXPIRY_HOURS. A run that
may still be alive is left alone: its publish is its own.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect_polars_cloud.config.settings import Settings
from prefect_polars_cloud.storage.files import STAGING, open_store
from prefect_polars_cloud.storage.iceberg import leftovers as iceberg_leftovers
from prefect_polars_cloud.storage.publish import (
    discard,
    drop,
    finish,
    read_json,
    read_plan,
    write_json,
)

logger = logging.getLogger(__name__)

RUN_MARKER = "_run.json"
STAMP = "%Y%m%dT%H%M%SZ"  # how storage.new_staging names a prefix: <stamp>-<random>


def machine() -> str:
    """Return what tells this machine (and container) apart: host, boot and process namespace.

    Two containers may share a host name; a process id means something only in its namespace.
    """
    parts = [socket.gethostname()]
    try:
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
        parts.append(os.readlink("/proc/self/ns/pid"))
    except OSError:
        pass  # not Linux: the host name alone
    return " ".join(parts)


def mark_run(output_uri: str, staging: str, flow_run_id: str | None) -> None:
    """Say who stages under the prefix, before anything is staged there."""
    write_json(
        output_uri,
        f"{staging}/{RUN_MARKER}",
        {
            "flow_run_id": flow_run_id,
            "machine": machine(),
            "pid": os.getpid(),
            "started": datetime.now(UTC).isoformat(),
        },
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _run_ended(flow_run_id: str) -> bool | None:
    """Tell whether the flow run has ended, or None when the Prefect API does not know it."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(flow_run_id)).state
    except (ObjectNotFound, ValueError):
        return None
    except Exception as error:  # noqa: BLE001 - an API that cannot tell is no answer
        logger.debug("could not read flow run %s: %s", flow_run_id, error)
        return None
    return state is not None and state.is_final()


def started(prefix: str, marker: dict[str, Any] | None) -> datetime | None:
    """Return when the run of a staging prefix started: its marker, else the prefix's name."""
    try:
        if marker and marker.get("started"):
            return datetime.fromisoformat(marker["started"])
        return datetime.strptime(prefix.rsplit("/", 1)[-1].split("-", 1)[0], STAMP).replace(
            tzinfo=UTC
        )
    except (TypeError, ValueError):
        return None


def gone(prefix: str, marker: dict[str, Any] | None, expiry: timedelta) -> str | None:
    """Return why the run of a staging prefix is gone, or None if it may still be running."""
    began = started(prefix, marker)
    if began is not None and datetime.now(UTC) - began > expiry:
        hours = f"{expiry.total_seconds() / 3600:g}"
        return f"it started {began:%Y-%m-%d %H:%M} UTC, over {hours} hours ago"
    if marker is None:
        return None
    pid = int(marker.get("pid") or 0)
    if marker.get("machine") == machine() and not (pid > 0 and _alive(pid)):
        return f"its process {pid} is gone"
    # A process that lives on (one that serves many runs) may be done with this one.
    run = marker.get("flow_run_id")
    if run and _run_ended(str(run)):
        return f"its flow run {run} has ended"
    return None


def staging_prefixes(output_uri: str) -> list[str]:
    """Return every run's staging prefix under the output, e.g. `_staging/20261101T060000Z-ab12`."""
    import obstore

    try:
        listing = obstore.list_with_delimiter(open_store(output_uri), prefix=f"{STAGING}/")
    except FileNotFoundError:
        return []
    return sorted(prefix.rstrip("/") for prefix in listing["common_prefixes"])


def clean_up(output_uri: str, expiry: timedelta, settings: Settings | None = None) -> list[str]:
    """Finish and remove the staging prefixes of runs that are gone; say what was done.

    Call it before the run stages anything of its own. settings: the catalog of Iceberg tables.
    """
    done = []
    for prefix in staging_prefixes(output_uri):
        marker = read_json(output_uri, f"{prefix}/{RUN_MARKER}")
        reason = gone(prefix, marker, expiry)
        if reason is None:
            logger.info("left %s alone: its run may still be running", prefix)
            continue
        tidied = _tidy(output_uri, prefix, reason, settings)
        if tidied is None:
            logger.warning("left %s for a later run: its tables could not be looked up", prefix)
            continue
        discard(output_uri, prefix)
        done += [*tidied, f"removed {prefix}, left by a run that is gone ({reason})"]
    return done


def _tidy(output_uri: str, prefix: str, reason: str, settings: Settings | None) -> list[str] | None:
    """Finish or drop a gone run's publish, then sweep its tables' files; None: cannot tell."""
    done, plan = [], read_plan(output_uri, prefix)
    commits = plan.get("commits") if plan else None
    if commits:
        landed = iceberg_leftovers.landed(settings, commits) if settings else None
        if landed is None:
            return None
        if not landed:
            drop(output_uri, prefix)
            done.append(f"dropped the publish of {prefix}: its table commit never landed")
    finished = finish(output_uri, prefix)
    if finished and finished[0]:
        done.append(
            f"finished the publish of {', '.join(finished[0])} that a run cut short ({prefix}: "
            f"{reason})"
        )
    if finished and finished[1]:
        done.append(f"left {', '.join(finished[1])} as a later run published them ({prefix})")
    swept = iceberg_leftovers.sweep(settings, output_uri, prefix)
    return None if swept is None else done + swept
