"""Say in one line which input file is wrong and how, instead of a page of Polars traceback.

Polars reports a bad input from deep inside the query that reads it, without naming the file
(and with hints about schema inference that do not apply: the queries give the schema). The
task that reads a file wraps its query in `named_input`; a failure becomes an InputError whose
message is the file, what is wrong, and where the library says it is. The Prefect run's failed
state carries the same message.

A query over several files fails without saying which: a missing required field says it itself
(datasets.all_required puts the file's number in the error); for any other fault of an input,
the files are read again one by one, on this error path only, until the bad one fails alone.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from .datasets import Input, scan_file
from .storage import is_remote

logger = logging.getLogger(__name__)

MAX_DETAIL = 200  # characters of Polars' own words kept in the message
UNPRINTABLE = re.compile(r"\\u\{[0-9a-f]+\}|[^\t\n\x20-\x7e\u00a0-\uffef]|\ufffd")
# The first value Polars quotes from a failed datasets.all_required check (the expression,
# quoted further on, holds every field's text: only the values say which one failed).
MISSING_FIELD = re.compile(r'values: \["required field (\d+) missing in file (\d+)"')
# Words of Polars' errors about a file's content (not about the network or the cluster): only
# these are worth reading the files again one by one.
INPUT_FAULTS = (
    "missing names",
    "extra names",
    "error parsing line",
    "parse",
    "conversion from",
    "utf-8",
    "found more fields",
    "schema",
)


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


def _line_without(uri: str, field: str) -> int | None:
    """Return the number of the first line of a local NDJSON file that lacks field."""
    if is_remote(uri) or not Path(uri).is_file():
        return None
    with open(uri, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                if line.strip() and json.loads(line).get(field) is None:
                    return number
            except (ValueError, AttributeError):
                continue
    return None


def missing_field(dataset: Input, files: Sequence[str], error: BaseException) -> str | None:
    """Return the line for a failed required-field check, or None for any other error."""
    found = MISSING_FIELD.search(str(error))
    if not found:
        return None
    field, uri = dataset.columns[int(found.group(1))], files[int(found.group(2))]
    line = _line_without(uri, field) if dataset.format == "ndjson" else None
    where = f"line {line}" if line else "a row"
    return (
        f"{uri}: {where} has no {field} (missing or empty), which every row needs; "
        f"fix the file, or name {field!r} in the input's nullable= (datasets.py)"
    )


def _is_input_fault(error: BaseException) -> bool:
    """Tell whether error is about a file's content, which reading it alone can reproduce."""
    message = str(error).lower()
    return isinstance(error, (pl.exceptions.NoDataError, FileNotFoundError)) or any(
        word in message for word in INPUT_FAULTS
    )


def find_bad_file(dataset: Input, files: Sequence[str]) -> tuple[str, BaseException] | None:
    """Read each file alone (every column, no output); return the first that fails, and how."""
    logger.info(
        "reading the %d files of %s one by one to name the bad one", len(files), dataset.name
    )
    for index, uri in enumerate(files):
        try:
            scan_file(dataset, uri, index).select(pl.all().null_count()).collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            return uri, error
    return None


@contextmanager
def named_input(dataset: Input, files: Sequence[str]) -> Iterator[None]:
    """Turn a Polars error raised while reading the input's files into an InputError naming one."""
    try:
        yield
    except (pl.exceptions.PolarsError, FileNotFoundError) as error:
        message = missing_field(dataset, files, error)
        if message is None and len(files) == 1:
            message = describe(files[0], dataset.columns, error)
        if message is None and _is_input_fault(error):
            bad = find_bad_file(dataset, files)
            if bad is not None:
                message = missing_field(dataset, files, bad[1]) or describe(
                    bad[0], dataset.columns, bad[1]
                )
        if message is None:  # not reproduced by a file alone: name their folder
            message = describe(files[0].rsplit("/", 2)[0], dataset.columns, error)
        raise InputError(message) from error
