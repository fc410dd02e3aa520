"""How a declared input's files are read: its schema, its required fields, its days.

The checks run inside the query that reads the file, wherever it runs (locally, on Polars
Cloud): a row lacking a required field fails the query with a text naming the file and the
field, which storage.input_errors turns back into one line for the user.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl

from prefect_polars_cloud.config.datasets import DailyInput, Input


def scan_file(dataset: Input, uri: str, index: int = 0) -> pl.LazyFrame:
    """Scan one input file with its declared schema; a row lacking a required field fails.

    index: the file's place among the run's files of the input, which a failure names.
    """
    if dataset.format == "csv":
        frame = pl.scan_csv(uri, schema=dict(dataset.schema), encoding=dataset.encoding)
    elif dataset.format == "ndjson":
        frame = pl.scan_ndjson(uri, schema=dict(dataset.schema))
    else:
        frame = pl.scan_parquet(uri).select(
            [pl.col(name).cast(dtype) for name, dtype in dataset.schema.items()]
        )
    return frame.filter(all_required(dataset, index)) if dataset.required else frame


def all_required(dataset: Input, index: int) -> pl.Expr:
    """Return a predicate that is true for every row, and fails the query on a missing field.

    Polars itself fills a missing field with null. A strict cast of a text that names the
    field and the file fails wherever the query runs (on Polars Cloud too), and Polars quotes
    the text in its error, which input_errors turns back into the file and the field.
    """
    fields = list(dataset.schema)
    required = [(fields.index(name), name) for name in dataset.required]
    position, name = required[0]
    verdict = pl.when(pl.col(name).is_null()).then(pl.lit(missing_field(position, index)))
    for position, name in required[1:]:
        verdict = verdict.when(pl.col(name).is_null()).then(pl.lit(missing_field(position, index)))
    return verdict.otherwise(None).cast(pl.UInt8, strict=True).is_null()


def missing_field(position: int, index: int) -> str:
    """Return the text a failed check quotes: which field (by position) of which file."""
    return f"required field {position} missing in file {index}"


def scan_days(dataset: DailyInput, files: Mapping[date, list[str]], key: str) -> pl.LazyFrame:
    """Scan a daily input's files, each row carrying its file's day in the column `key`.

    A literal per file, not the day parsed out of each row's path: that costs about a second
    per 16M rows, and the run knows each file's day already. Files are numbered in the order
    Inputs.files lists them.
    """
    ordered = [(day, uri) for day, uris in sorted(files.items()) for uri in uris]
    return pl.concat(
        [
            scan_file(dataset, uri, index).with_columns(pl.lit(day, dtype=pl.Date).alias(key))
            for index, (day, uri) in enumerate(ordered)
        ],
        how="vertical",
    )
