"""The Iceberg catalog of a project's IcebergOutputs: found as pyiceberg finds it, checked, typed.

The catalog is the one `<PREFIX>ICEBERG_CATALOG` names (default `default`), configured the way
pyiceberg users already do it: a `.pyiceberg.yaml` (in PYICEBERG_HOME, the home directory or the
working directory) or `PYICEBERG_CATALOG__<NAME>__<KEY>` variables. With none configured, a local
run uses a SQLite catalog at data/iceberg/catalog.db with its warehouse in data/iceberg/warehouse/;
a cloud run refuses to start, since Polars Cloud cannot write into a local folder.

pyiceberg is imported inside the functions: it is an optional dependency group, and the library
is the same in projects that publish no table.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import polars as pl

from prefect_polars_cloud.config.datasets import Datasets, IcebergOutput
from prefect_polars_cloud.config.settings import Settings

# Where a local run keeps its table when no catalog is configured (relative to the project root).
LOCAL_CATALOG = Path("data") / "iceberg"
# A catalog that never answers (a REST server that accepts and hangs) must not hold `make doctor`.
DOCTOR_TIMEOUT_S = 30.0


class IcebergError(RuntimeError):
    """An Iceberg output cannot be written or committed; the message says what to do."""


@dataclass(frozen=True)
class CatalogConfig:
    """A catalog's name and properties, as pyiceberg's load_catalog takes them."""

    name: str
    properties: dict[str, Any]
    local_fallback: bool = False

    def describe(self) -> str:
        """Say which catalog this is, without any property that might be a credential."""
        kind = self.properties.get("type") or ("rest" if "uri" in self.properties else "?")
        if self.local_fallback:
            return f"{self.name!r}: none configured, so the local SQLite one in {LOCAL_CATALOG}/"
        where = self.properties.get("warehouse") or self.properties.get("uri") or ""
        shown = where if kind == "sql" or "://" not in str(where) else _without_secrets(str(where))
        return f"{self.name!r}: {kind}" + (f", {shown}" if shown else "")


def _without_secrets(uri: str) -> str:
    """Drop the user:password part of a URI, if any."""
    parsed = urlparse(uri)
    return uri if parsed.password is None else uri.replace(parsed.netloc, parsed.hostname or "")


def require_pyiceberg() -> None:
    """Fail with the command that installs pyiceberg when it is missing."""
    try:
        import pyiceberg  # noqa: F401
    except ImportError:
        raise IcebergError(
            "the project publishes an Iceberg table but pyiceberg is not installed: add the "
            "iceberg group (`uv sync --group iceberg`, or list it in [tool.uv] default-groups)"
        ) from None


def catalog_config(settings: Settings) -> CatalogConfig:
    """Return the configured catalog, or the local fallback for a local run."""
    require_pyiceberg()
    from pyiceberg.utils.config import Config

    name = settings.iceberg_catalog
    configured = Config().get_catalog_config(name)  # read now: the environment may have changed
    if configured:
        properties: dict[str, Any] = dict(configured)
        fallback = False
    elif settings.compute_mode == "local":
        folder = LOCAL_CATALOG.resolve()
        (folder / "warehouse").mkdir(parents=True, exist_ok=True)
        properties = {
            "type": "sql",
            "uri": f"sqlite:///{folder / 'catalog.db'}",
            "warehouse": (folder / "warehouse").as_uri(),
        }
        fallback = True
    else:
        raise IcebergError(
            f"no Iceberg catalog {name!r} is configured, and a {settings.compute_mode} run "
            "writes the table's files to object storage, which a local catalog cannot track: "
            "configure it as pyiceberg reads it, e.g. "
            f"PYICEBERG_CATALOG__{name.upper()}__TYPE=glue (docs/iceberg.md), or point "
            f"{settings.prefix()}ICEBERG_CATALOG at one"
        )
    # boto3 and Polars honour AWS_ENDPOINT_URL (a MinIO, a moto): pyiceberg's S3 client does not.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        properties.setdefault("s3.endpoint", endpoint)
    return CatalogConfig(name, properties, fallback)


def load(config: CatalogConfig) -> Any:  # noqa: ANN401 - a pyiceberg Catalog
    """Load the catalog; a failure names it and says what pyiceberg said."""
    from pyiceberg.catalog import load_catalog

    try:
        return load_catalog(config.name, **config.properties)
    except Exception as error:
        raise IcebergError(
            f"the Iceberg catalog {config.describe()} did not load: {error}; check its "
            "configuration (docs/iceberg.md)"
        ) from error


def table_name(settings: Settings, output: IcebergOutput) -> str:
    """Return the output's `namespace.table`, from the output or the ICEBERG_TABLE setting."""
    name = output.table or settings.iceberg_table
    if not name or "." not in name.strip(".") or " " in name:
        raise IcebergError(
            f"the Iceberg output {output.name!r} has no table `namespace.table` (got {name!r}): "
            f"set {settings.prefix()}ICEBERG_TABLE, or give the IcebergOutput a table"
        )
    return name


def local_path(uri: str) -> str:
    """Return a file:// location as a plain path; leave object-store uris as they are."""
    if uri.startswith("file:"):
        return unquote(urlparse(uri).path)
    return uri


def create_transaction(
    catalog: Any,  # noqa: ANN401 - a pyiceberg Catalog
    identifier: str,
    columns: Mapping[str, pl.DataType],
    key: str,
) -> Any:  # noqa: ANN401 - a CreateTableTransaction
    """Stage a table's creation from a query's columns, partitioned by identity on key."""
    namespace = identifier.rsplit(".", 1)[0]
    try:
        catalog.create_namespace_if_not_exists(namespace)
    except Exception as error:
        raise IcebergError(
            f"the Iceberg namespace {namespace!r} does not exist and could not be created "
            f"({error}): create it (a Glue database, say) or let the worker do so"
        ) from error
    schema = pl.DataFrame(schema=dict(columns)).to_arrow().schema
    creating = catalog.create_table_transaction(identifier, schema=schema)
    with creating.update_spec() as spec:
        spec.add_identity(key)
    return creating


def polars_schema(iceberg_schema: Any) -> dict[str, pl.DataType]:  # noqa: ANN401 - Schema
    """Return the Polars dtypes a table's columns are read as."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return dict(pl.DataFrame(schema_to_pyarrow(iceberg_schema).empty_table()).schema)


def schema_differences(
    query: Mapping[str, pl.DataType], table: Mapping[str, pl.DataType]
) -> list[str]:
    """Return each column that differs between a query's output and a table, with its dtypes."""
    return [
        *(
            f"{name} is not in the table (query: {query[name]})"
            for name in query
            if name not in table
        ),
        *(
            f"{name} is missing from the query (table: {table[name]})"
            for name in table
            if name not in query
        ),
        *(
            f"{name} is {query[name]} in the query but {table[name]} in the table"
            for name in query
            if name in table and query[name] != table[name]
        ),
    ]


def partitioning_problem(table: Any, identifier: str, key: str) -> str | None:  # noqa: ANN401
    """Return why a table is not partitioned by identity on key, as the runs need; or None."""
    spec = table.spec()
    fields = [(table.schema().find_column_name(f.source_id), str(f.transform)) for f in spec.fields]
    if fields == [(key, "identity")]:
        return None
    shown = ", ".join(f"{transform}({column})" for column, transform in fields) or "nothing"
    return (
        f"the Iceberg table {identifier} is partitioned by {shown}, but each run replaces whole "
        f"days by identity({key}): evolve its spec (table.update_spec()) or use another table"
    )


def _bounded(call: Callable[[], Any], timeout_s: float) -> Any:  # noqa: ANN401
    """Run call in a thread and return its result; raise TimeoutError past timeout_s."""
    outcome: list[Any] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            failure.append(error)

    thread = threading.Thread(target=target, name="iceberg-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if failure:
        raise failure[0]
    if not outcome:
        raise TimeoutError(f"no answer within {timeout_s:g} s")
    return outcome[0]


def doctor_report(settings: Settings, datasets: Datasets, say: Callable[[str], None]) -> list[str]:
    """Check that the catalog answers and each table is partitioned as the runs expect."""
    if not datasets.tables:
        return []
    try:
        config = catalog_config(settings)
    except IcebergError as error:
        say("iceberg:        NOT CONFIGURED")
        return [str(error)]
    say(f"iceberg:        catalog {config.describe()}")
    problems = []
    for output in datasets.tables:
        try:
            identifier = table_name(settings, output)
            table = _bounded(
                lambda name=identifier: _table_or_none(load(config), name), DOCTOR_TIMEOUT_S
            )
        except Exception as error:  # noqa: BLE001 - reported, not raised
            say(f"  table {output.name}: NOT CHECKED (the catalog did not answer)")
            problems.append(f"the Iceberg catalog {config.describe()} did not answer: {error}")
            continue
        if table is None:
            say(f"  table {identifier}: not created yet (the first run creates it)")
            continue
        problem = partitioning_problem(table, identifier, datasets.partition_key)
        snapshot = table.current_snapshot()
        state = f"snapshot {snapshot.snapshot_id}" if snapshot else "no snapshot yet"
        say(
            f"  table {identifier}: {'WRONG PARTITIONING' if problem else 'partitioned by '}"
            f"{'' if problem else f'identity({datasets.partition_key})'}, {state}, "
            f"at {table.location()}"
        )
        problems += [problem] if problem else []
    return problems


def _table_or_none(catalog: Any, identifier: str) -> Any:  # noqa: ANN401 - Catalog, Table
    """Return the table, or None when the catalog has no such table (or namespace) yet."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    try:
        return catalog.load_table(identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        return None
