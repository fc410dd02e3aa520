"""Say in one line which input file is wrong and how, instead of a page of Polars traceback.

Polars reports a bad input from deep inside the query that reads it, without naming the file
(and with hints about schema inference that do not apply: the queries give the schema). The
task that reads a file wraps its query in `named_input`; a failure becomes an InputError whose
message is the file, what is wrong, and where the library says it is. The Prefect run's failed
state carries the same message.

A query over several files fails without saying which: a missing required field says it itself
(storage.scan.all_required puts the file's number in the error); for any other fault of an input,
the files are read again one by one, on this error path only, until the bad one fails alone.
A query over several inputs (a task's nested `run.scan` blocks) may fail for any of them, and the
innermost block sees the error first: each input's files are read alone, innermost first, and
only one that fails alone is named; if none does, the line says so and names no file. A text
file that is not UTF-8 is read again too, to name the line and offset of its first bad byte.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import chain
from pathlib import Path

import polars as pl

from prefect_polars_cloud.config.datasets import Input
from prefect_polars_cloud.storage.files import is_remote, read_chunks
from prefect_polars_cloud.storage.scan import scan_file

logger = logging.getLogger(__name__)

MAX_DETAIL = 200  # characters of Polars' own words kept in the message
UNPRINTABLE = re.compile(r"\\u\{[0-9a-f]+\}|[^\t\n\x20-\x7e\u00a0-\uffef]|\ufffd")
# The first value Polars quotes from a failed storage.scan.all_required check (the expression,
# quoted further on, holds every field's text: only the values say which one failed).
MISSING_FIELD = re.compile(r'values: \["required field (\d+) missing in file (\d+)"')
# What Polars says of a file that is not Parquet, or cut short (its plans say "Parquet SCAN").
NOT_PARQUET = re.compile(r"parquet: |out of specification", flags=re.IGNORECASE)
# Words of Polars' errors about a file's content (not about the network or the cluster): only
# these are worth reading the files again one by one.
INPUT_FAULTS = (
    "unable to find column",
    "out of specification",
    "missing names",
    "extra names",
    "error parsing line",
    "parse",
    "conversion from",
    "utf-8",
    "found more fields",
    "schema",
)


# The inputs whose `named_input` blocks are open in this task, innermost first (a task's
# context is its own: tasks running side by side never see each other's).
_open_inputs: ContextVar[tuple[tuple[Input, tuple[str, ...]], ...]] = ContextVar(
    "open_inputs", default=()
)


class InputError(ValueError):
    """An input cannot be read as expected; the message names the file, or says why none."""


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


def _first_bad_utf8(uri: str) -> tuple[int, int, int] | None:
    """Return (line, byte offset, byte) of the first byte of a file that is not UTF-8, if any."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line = 0, 1  # bytes and lines before the chunk at hand
    try:
        for chunk in chain(read_chunks(uri), [b""]):  # b"": the end, where a cut sequence fails
            pending = decoder.getstate()[0]  # a sequence the last chunk began: never a newline
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as bad:  # bad.start counts from the pending bytes
                data = pending + chunk
                at = offset - len(pending) + bad.start
                return line + data[: bad.start].count(b"\n"), at, data[bad.start]
            offset, line = offset + len(chunk), line + chunk.count(b"\n")
    except Exception:  # gone, or unreadable from here (any store's error): say what Polars said
        return None
    return None


def _not_utf8(uri: str, error: BaseException) -> str:
    """Return the line for a text file with a byte that is not UTF-8: where, and what to do."""
    found = _first_bad_utf8(uri)
    if found is None:
        return f"{uri}: {_first_paragraph(str(error))}"
    line, offset, byte = found
    return (
        f"{uri}: line {line} is not UTF-8 (byte 0x{byte:02x} at offset {offset}); re-encode "
        "the file as UTF-8 (e.g. iconv -f latin1 -t utf-8 if it is Latin-1) or declare "
        'encoding="utf8-lossy" on its CSV input (config/datasets.py) to read such bytes as U+FFFD'
    )


def describe(uri: str, dataset: Input, error: BaseException) -> str:
    """Return one line: the file, what is wrong with it, and what to do."""
    message = str(error)
    header = ",".join(dataset.columns)
    if isinstance(error, FileNotFoundError):
        return f"{uri}: not found; put the file there (make sample-data writes a sample)"
    if isinstance(error, pl.exceptions.NoDataError):
        return f"{uri}: the file is empty; it needs at least the header line {header}"
    if dataset.format == "parquet" and NOT_PARQUET.search(message):
        return (
            f"{uri}: not a valid Parquet file (truncated or corrupt); write or copy it again, "
            f"whole, from its source (Polars: {_first_paragraph(message)})"
        )
    if UNPRINTABLE.search(message):
        return f"{uri}: not a text file of the expected kind (its first line should be {header})"
    if "utf-8" in message.lower():
        return _not_utf8(uri, error)
    absent = re.search(r'unable to find column "(.*?)"', message)
    if absent and absent.group(1) in dataset.columns:  # else the query's own name: no file's
        return (
            f"{uri}: missing column(s) {absent.group(1)}; every file of {dataset.name} needs "
            f"the columns {', '.join(dataset.columns)}"
        )
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
        return f"{uri}: {where} is not a JSON object with {', '.join(dataset.columns)} ({detail})"
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
        f"fix the file, or name {field!r} in the input's nullable= (config/datasets.py)"
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


def _explain_one(dataset: Input, files: Sequence[str], error: BaseException) -> str:
    """Return the line for an error of a query over one input: its bad file, else its folder."""
    message = missing_field(dataset, files, error)
    if message is None and len(files) == 1:
        message = describe(files[0], dataset, error)
    if message is None and _is_input_fault(error):
        bad = find_bad_file(dataset, files)
        if bad is not None:
            message = missing_field(dataset, files, bad[1]) or describe(bad[0], dataset, bad[1])
    if message is None:  # not reproduced by a file alone: name their folder
        message = describe(files[0].rsplit("/", 2)[0], dataset, error)
    return message


def explain(inputs: Sequence[tuple[Input, Sequence[str]]], error: BaseException) -> str:
    """Return the line for an error of a query over inputs (innermost first): the one to blame.

    Polars' error need not say which input it is about, and a file's number in a failed
    required-field check is ambiguous among several inputs: so each input is read alone.
    """
    if len(inputs) == 1:
        return _explain_one(inputs[0][0], inputs[0][1], error)
    names = " and ".join(dataset.name for dataset, _ in inputs[::-1])  # in the task's order
    detail = _first_paragraph(str(error))
    if not _is_input_fault(error):  # the network or the compute, most likely: no file to read
        return f"a query over {names} failed: {detail}"
    for dataset, files in inputs:
        bad = find_bad_file(dataset, files)
        if bad is not None:
            return missing_field(dataset, files, bad[1]) or describe(bad[0], dataset, bad[1])
    return (
        f"a query over {names} failed, but no file of theirs fails when read alone, so "
        f"look at the query (or at how the inputs meet in it): {detail}"
    )


@contextmanager
def named_input(dataset: Input, files: Sequence[str]) -> Iterator[None]:
    """Turn a Polars error raised while reading the input's files into an InputError naming one.

    Nested, the blocks share the work: the innermost one explains the error over every open
    input, and the outer ones let its InputError through.
    """
    token = _open_inputs.set(((dataset, tuple(files)), *_open_inputs.get()))
    try:
        yield
    except (pl.exceptions.PolarsError, FileNotFoundError) as error:
        raise InputError(explain(_open_inputs.get(), error)) from error
    finally:
        _open_inputs.reset(token)
