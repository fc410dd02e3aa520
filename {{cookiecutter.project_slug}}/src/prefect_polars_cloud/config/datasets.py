"""A project's datasets, declared once; everything that lists, scans, stages or publishes reads it.

    <source_uri>/<input>/<key>=YYYY-MM-DD/*.<ext>   a DailyInput: a day's files, one or more
    <source_uri>/<path>                             a SnapshotInput: one file, read whole each run
    <output_uri>/<output>/<key>=YYYY-MM-DD/*.parquet  every output, a partition per day
    <output_uri>/_staging/<run>/...                 a run's outputs until they are published

A DailyOutput is written per day by its query; a SnapshotOutput is written once per run and
published into each day of the run (what those days were computed with). An IcebergOutput is a
table in an Iceberg catalog instead of a folder: each run replaces its days in one commit
(storage/iceberg/writes.py).

Every field of an input's schema is required unless the input names it in `nullable`: a row
whose required field is missing (NDJSON) or empty (CSV) fails the run, naming the file and the
field. The check runs inside the query that reads the file (`all_required`), wherever it runs.
Text is UTF-8: a file with another byte fails the run, naming its line, unless a CSV input
declares `encoding="utf8-lossy"` (such bytes are then read as U+FFFD).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import polars as pl

Format = Literal["csv", "ndjson", "parquet"]
# Polars' CSV encodings: "utf8-lossy" reads a byte that is not UTF-8 as U+FFFD instead of failing.
Encoding = Literal["utf8", "utf8-lossy"]
# What a daily input's files may be called, by format.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "ndjson": (".ndjson", ".jsonl"),
    "parquet": (".parquet",),
}
Schema = Mapping[str, pl.DataType | type[pl.DataType]]


class _Fields:
    """What DailyInput and SnapshotInput share: a schema whose fields are required by default."""

    format: Format
    schema: Schema
    nullable: tuple[str, ...]
    encoding: Encoding

    def _check_fields(self) -> None:
        object.__setattr__(self, "nullable", tuple(self.nullable))  # a list is welcome too
        unknown = [name for name in self.nullable if name not in self.schema]
        if unknown:
            raise ValueError(
                f"nullable names {unknown}, which the schema {list(self.schema)} lacks"
            )
        if self.encoding != "utf8" and self.format != "csv":
            raise ValueError(f"encoding={self.encoding!r} is for CSV only, not {self.format}")

    @property
    def columns(self) -> list[str]:
        """Return the columns (CSV) or fields (NDJSON) every file must have."""
        return list(self.schema)

    @property
    def required(self) -> list[str]:
        """Return the fields every row must fill: all but the nullable ones."""
        return [name for name in self.schema if name not in self.nullable]


@dataclass(frozen=True)
class DailyInput(_Fields):
    """Files partitioned by day under `<source_uri>/<name>/<key>=YYYY-MM-DD/`."""

    name: str
    format: Format
    schema: Schema
    # Fields a row may leave empty (CSV) or out (NDJSON); the others are required.
    nullable: tuple[str, ...] = ()
    encoding: Encoding = "utf8"  # CSV only: "utf8-lossy" reads a byte not UTF-8 as U+FFFD
    # Another dataset's published output (this flow's or another flow's), read from
    # `<output_uri>/<output>/` instead of `<source_uri>/<name>/`: a flow that feeds a flow.
    from_output: DailyOutput | None = None
    # Days before the run's first day read too (a rolling window). Those days are read when
    # published and left out when not (history starts somewhere); the run's own days are
    # required as always (but of the run's own output, whose days it is computing), and the
    # run still writes only its own days.
    lookback_days: int = 0

    def __post_init__(self) -> None:
        self._check_fields()
        if self.lookback_days < 0:
            raise ValueError(f"{self.name}: lookback_days is a number of days >= 0")
        if self.from_output is not None and self.format != "parquet":
            raise ValueError(
                f"{self.name}: an output is Parquet; declare from_output inputs with "
                'format="parquet"'
            )

    @property
    def folder(self) -> str:
        """Return the folder holding the input's days: its own name, or the output's."""
        return self.from_output.name if self.from_output is not None else self.name


@dataclass(frozen=True)
class SnapshotInput(_Fields):
    """One file read whole by every run, e.g. a dimension: `<source_uri>/<path>`."""

    path: str
    format: Format
    schema: Schema
    nullable: tuple[str, ...] = ()
    encoding: Encoding = "utf8"

    def __post_init__(self) -> None:
        self._check_fields()

    @property
    def name(self) -> str:
        """Return the file's name without its extension."""
        return self.path.rsplit("/", 1)[-1].split(".", 1)[0]


@dataclass(frozen=True)
class DailyOutput:
    """A dataset a query writes per day: `<output_uri>/<name>/<key>=YYYY-MM-DD/*.parquet`."""

    name: str
    float_decimals: int | None = None  # see FLOAT_DECIMALS


@dataclass(frozen=True)
class SnapshotOutput:
    """A dataset written once per run and published into every day of the run."""

    name: str
    float_decimals: int | None = None  # see FLOAT_DECIMALS


@dataclass(frozen=True)
class IcebergOutput:
    """A dataset a query writes per day into an Iceberg table, partitioned by the day.

    table: `namespace.table` in the catalog; None takes the ICEBERG_TABLE setting. The query
    must carry the partition key column; the table is created from its schema on the first run.
    """

    name: str
    table: str | None = None
    float_decimals: int | None = None  # see FLOAT_DECIMALS


Input = DailyInput | SnapshotInput
Output = DailyOutput | SnapshotOutput | IcebergOutput
# FLOAT_DECIMALS: an output's `float_decimals=N` rounds every float column to N decimals where
# the run sinks it. A float sum or mean is computed in whatever order the engine's threads
# finish, so its last bits can differ between two runs of the same data; rounded, two runs
# write the same bytes. Money is better kept in integer cents; a measurement's mean, rounded.


@dataclass(frozen=True)
class Datasets:
    """Every dataset of the pipeline, and which output the run's summary shows."""

    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    report: DailyOutput | IcebergOutput
    partition_key: str = "date"

    def __post_init__(self) -> None:
        outputs = [output.name for output in self.outputs]
        if len(set(outputs)) != len(outputs):
            raise ValueError(f"two outputs share a name: {outputs}")
        if self.report not in self.outputs:
            raise ValueError(f"the report {self.report.name!r} is not one of the outputs")
        if not self.daily_inputs:
            raise ValueError("at least one DailyInput is needed: it says which days have data")
        for output in self.outputs:
            if output.float_decimals is not None and output.float_decimals < 0:
                raise ValueError(f"output {output.name!r}: float_decimals is a number >= 0")
        for item in self.daily_inputs:
            if self.reads_own_output(item) and not item.lookback_days:
                raise ValueError(
                    f"input {item.name!r} reads {item.folder!r}, which this run writes: only "
                    "its earlier days can be read (lookback_days); use run.read() for the "
                    "run's own"
                )
        for name in outputs:
            if name.startswith("_") or "/" in name:
                raise ValueError(f"output {name!r}: a plain folder name, not starting with _")
        if sum(1 for table in self.tables if table.table is None) > 1:
            raise ValueError("two IcebergOutputs take the ICEBERG_TABLE setting: name a table")

    @property
    def files(self) -> list[DailyOutput | SnapshotOutput]:
        """Return the outputs published as folders of files (storage.publish)."""
        return [item for item in self.outputs if not isinstance(item, IcebergOutput)]

    @property
    def tables(self) -> list[IcebergOutput]:
        """Return the outputs published as Iceberg tables (storage/iceberg/writes.py)."""
        return [item for item in self.outputs if isinstance(item, IcebergOutput)]

    @property
    def daily_inputs(self) -> list[DailyInput]:
        """Return the inputs partitioned by day."""
        return [item for item in self.inputs if isinstance(item, DailyInput)]

    @property
    def snapshots(self) -> list[SnapshotInput]:
        """Return the inputs read whole."""
        return [item for item in self.inputs if isinstance(item, SnapshotInput)]

    def reads_own_output(self, item: DailyInput) -> bool:
        """Tell whether an input is one of these outputs: then only its lookback days are read."""
        return item.from_output is not None and item.folder in {o.name for o in self.outputs}

    def partition(self, name: str, day: date) -> str:
        """Return the key of one day's partition of a dataset, e.g. `events/date=2026-11-01`."""
        return f"{name}/{self.partition_key}={day.isoformat()}"


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
