"""Say in one line which input file is wrong and how, instead of a page of Polars traceback.

Polars reports a bad input from deep inside the query that reads it, without naming the file
(and with hints about schema inference that do not apply: the queries give the schema). The
task that reads a file wraps its query in `named_input`; a failure becomes an InputError whose
message is the file, what is wrong, and where the library says it is. The Prefect run's failed
state carries the same message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from .storage import is_remote

MAX_DETAIL = 200  # characters of Polars' own words kept in the message
UNPRINTABLE = re.compile(r"\\u\{[0-9a-f]+\}|[^\t\n\x20-\x7e\u00a0-\uffef]|\ufffd")


class InputError(ValueError):
    """An input file cannot be read as the report expects; the message names it."""


def _first_paragraph(message: str) -> str:
    """Return Polars' sentence without its hints, on one line, cut to MAX_DETAIL characters."""
    paragraphs = [part.strip() for part in message.split("\n\n") if part.strip()]
    text = " ".join((paragraphs[0] if paragraphs else message).split())
    offset = re.search(r"current offset in the file is (\d+) bytes", message)
    if offset:
        text += f" (at byte {offset.group(1)})"
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL] + "..."


def _bad_json_line(uri: str) -> int | None:
    """Return the number of the first line of a local NDJSON file that is not a JSON object."""
    if is_remote(uri) or not Path(uri).is_file():
        return None
    with open(uri, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                if not isinstance(json.loads(line), dict):
                    return number
            except ValueError:
                return number
    return None


def describe(uri: str, columns: Sequence[str], error: BaseException) -> str:
    """Return one line: the file, what is wrong with it, and what to do."""
    message = str(error)
    header = ",".join(columns)
    if isinstance(error, FileNotFoundError):
        return f"{uri}: not found; put the file there (make sample-data writes a sample)"
    if isinstance(error, pl.exceptions.NoDataError):
        return f"{uri}: the file is empty; it needs at least the header line {header}"
    if UNPRINTABLE.search(message):
        return f"{uri}: not a text file of the expected kind (its first line should be {header})"
    missing = re.search(r"missing names: \[(.*?)\]", message)
    if missing:
        names = missing.group(1).replace('"', "")
        return f"{uri}: missing column(s) {names}; the header must be {header}"
    extra = re.search(r"extra names: \[(.*?)\]", message)
    if extra:
        names = extra.group(1).replace('"', "")
        return f"{uri}: unexpected column(s) {names}; the header must be {header}"
    if "error parsing line" in message:
        line = _bad_json_line(uri)
        where = f"line {line}" if line else "a line"
        detail = _first_paragraph(message).removeprefix("error parsing line: ")
        return f"{uri}: {where} is not a JSON object with {', '.join(columns)} ({detail})"
    if "parse dates" in message:
        return (
            f"{uri}: a value is not an ISO-8601 datetime (e.g. 2026-11-01T06:30:00Z): "
            f"{_first_paragraph(message)}"
        )
    return f"{uri}: {_first_paragraph(message)}"


@contextmanager
def named_input(uri: str, columns: Sequence[str]) -> Iterator[None]:
    """Turn a Polars error raised while reading uri into an InputError naming uri."""
    try:
        yield
    except (pl.exceptions.PolarsError, FileNotFoundError) as error:
        raise InputError(describe(uri, columns, error)) from error
