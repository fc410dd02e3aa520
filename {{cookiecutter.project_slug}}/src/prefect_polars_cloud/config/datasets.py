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
field. The check runs inside the query that reads the file (storage.scan), wherever it runs.
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
    """Files partitioned by day under `<source_uri>/<name>/<key>=YYYY-MM-DD/`.

    Args:
        name: The input's folder below the source uri.
        format: "csv", "ndjson" or "parquet".
        schema: Each field's Polars type; a row lacking a field not in `nullable` fails the run.
        nullable: Fields a row may leave empty (CSV) or out (NDJSON).
        encoding: CSV only: "utf8-lossy" reads a byte that is not UTF-8 as U+FFFD.
        from_output: Another flow's DailyOutput (or this flow's, with a lookback): read from
            `<output_uri>/<output>/` where that flow published it, instead of the source uri.
        lookback_days: Days before the run's first day read too, for a rolling window: read
            when published, left out when not. The run still writes only its own days.

    Example:
        ```python
        import polars as pl
        from prefect_polars_cloud import DailyInput
        SALES = DailyInput("sales", format="csv", schema={"store": pl.Int64, "amount": pl.Float64})
        # Another flow's published TOTALS, for each run day and the six days before it:
        WEEK = DailyInput("totals", format="parquet", schema={"store": pl.Int64},
                          from_output=TOTALS, lookback_days=6)
        ```
    """

    name: str
    format: Format
    schema: Schema
    nullable: tuple[str, ...] = ()
    encoding: Encoding = "utf8"
    from_output: DailyOutput | None = None
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
    """One file read whole by every run, e.g. a dimension: `<source_uri>/<path>`.

    Args:
        path: The file below the source uri; its name without the extension names the input.
        format, schema, nullable, encoding: As for a DailyInput.

    Example:
        ```python
        from prefect_polars_cloud import SnapshotInput
        STORES = SnapshotInput("stores.ndjson", format="ndjson", schema={"store": pl.Int64})
        ```
    """

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
    """A dataset a query writes per day: `<output_uri>/<name>/<key>=YYYY-MM-DD/*.parquet`.

    Args:
        name: The output's folder below the output uri.
        float_decimals: Rounds every float column to this many decimals where the run writes
            it, so two runs of the same data write the same bytes (see FLOAT_DECIMALS).

    Example:
        ```python
        from prefect_polars_cloud import DailyOutput
        TOTALS = DailyOutput("store_totals")  # its query carries the partition key column
        ```
    """

    name: str
    float_decimals: int | None = None


@dataclass(frozen=True)
class SnapshotOutput:
    """A dataset written once per run and published into every day of the run.

    Args:
        name: The output's folder below the output uri.
        float_decimals: Rounds every float column to this many decimals where the run writes
            it, so two runs of the same data write the same bytes (see FLOAT_DECIMALS).

    Example:
        ```python
        from prefect_polars_cloud import SnapshotOutput
        STORES_USED = SnapshotOutput("stores")  # what the run's days were computed with
        ```
    """

    name: str
    float_decimals: int | None = None


@dataclass(frozen=True)
class IcebergOutput:
    """A dataset a query writes per day into an Iceberg table, partitioned by the day.

    Args:
        name: The output's name, unique among the run's outputs (errors name it).
        table: `namespace.table` in the catalog; None takes the ICEBERG_TABLE setting. The
            table is created from the query's schema (with the partition key) on the first run.
        float_decimals: Rounds every float column to this many decimals where the run writes
            it, so two runs of the same data write the same bytes (see FLOAT_DECIMALS).

    Example:
        ```python
        from prefect_polars_cloud import IcebergOutput
        TOTALS = IcebergOutput("store_totals", table="analytics.store_totals")
        ```
    """

    name: str
    table: str | None = None
    float_decimals: int | None = None


Input = DailyInput | SnapshotInput
Output = DailyOutput | SnapshotOutput | IcebergOutput
# FLOAT_DECIMALS: an output's `float_decimals=N` rounds every float column to N decimals where
# the run sinks it. A float sum or mean is computed in whatever order the engine's threads
# finish, so its last bits can differ between two runs of the same data; rounded, two runs
# write the same bytes. Money is better kept in integer cents; a measurement's mean, rounded.


@dataclass(frozen=True)
class Datasets:
    """Every dataset of the pipeline, and which output the run's summary shows.

    Args:
        inputs: Every input; at least one DailyInput (its days are the days that have data).
        outputs: Every output, each with its own name.
        report: The output whose days the run's artifact and `make run` summarise.
        partition_key: The column, and folder key, that holds each row's day.

    Example:
        ```python
        from prefect_polars_cloud import Datasets
        DATASETS = Datasets(inputs=(SALES, STORES), outputs=(TOTALS,), report=TOTALS)
        ```
    """

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
