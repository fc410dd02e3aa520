"""The environments a project runs in (production, staging, ...), read from environments.toml.

Each table declares one environment: its data prefix, secret, Polars Cloud workspace, work pool,
schedule and preset overrides. `<PREFIX>ENV` names the environment a run belongs to (unset:
production); `apply_environment` hands that environment's prefix, secret and workspace to the
run's settings, and `refuse_other_environments` stops a run that would read or write another
environment's prefix, or use its secret, before anything boots. With no environments.toml there
is one environment, production, and the settings are used as they are.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from prefect_polars_cloud.config.settings import Settings, SettingsError

PRODUCTION = "production"
NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# "off", or five cron fields; Prefect checks the fields themselves when it deploys.
SCHEDULE = re.compile(r"^(off|\S+ \S+ \S+ \S+ \S+)$")


class EnvironmentsError(SettingsError):
    """environments.toml cannot be used, or a run crosses into another environment."""


class Environment(BaseModel):
    """One environment: where its data is, which secret and workspace, where and when it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME.pattern)
    data_uri: str = Field(min_length=1)
    secret_name: str = Field(min_length=1)
    workspace: str | None = None
    work_pool: str = Field(min_length=1)
    schedule: str = Field(pattern=SCHEDULE.pattern)  # a cron in UTC, or "off"
    # An Iceberg report's `namespace.table`: a catalog (AWS Glue) is shared by every prefix, so
    # each environment names a table of its own.
    iceberg_table: str | None = None
    # {preset: {field: value}}: applied over presets.toml, under <PREFIX>PRESET_* variables.
    presets: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("data_uri")
    @classmethod
    def strip_trailing_slash(cls, value: str) -> str:
        """Compare prefixes without a trailing slash."""
        return value.rstrip("/")

    @field_validator("workspace", mode="before")
    @classmethod
    def empty_workspace_means_default(cls, value: object) -> object:
        """Treat an empty workspace as the service account's default one."""
        return None if isinstance(value, str) and not value.strip() else value

    def owns(self, uri: str) -> bool:
        """Tell whether uri is this environment's prefix or lies under it."""
        return uri.rstrip("/") == self.data_uri or uri.startswith(f"{self.data_uri}/")


def override_prefix(settings: Settings) -> str:
    """Return the prefix of the variables that override one field of one environment."""
    return f"{settings.prefix()}ENVIRONMENT_"


def _overrides(
    settings: Settings, names: list[str], environ: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Read <PREFIX>ENVIRONMENT_<NAME>_<FIELD>=value into {name: {field: value}}."""
    prefix = override_prefix(settings)
    fields = sorted(
        (f for f in Environment.model_fields if f not in ("name", "presets")), key=len, reverse=True
    )
    by_variable = {name.upper().replace("-", "_"): name for name in names}
    found: dict[str, dict[str, str]] = {}
    for variable, text in environ.items():
        if not variable.startswith(prefix):
            continue
        rest = variable.removeprefix(prefix)
        field = next((f for f in fields if rest.endswith(f"_{f.upper()}")), None)
        name = by_variable.get(rest.removesuffix(f"_{field.upper()}")) if field else None
        if field is None or name is None:
            raise EnvironmentsError(
                f"{variable}: no environment and field of {settings.environments_file} end "
                f"the name; use {prefix}<NAME>_<FIELD> with one of {', '.join(by_variable)} "
                f"and one of {', '.join(f.upper() for f in fields)}"
            )
        found.setdefault(name, {})[field] = text
    return found


def load_environments(
    settings: Settings, environ: dict[str, str] | None = None
) -> dict[str, Environment]:
    """Read, override and validate environments.toml; {} when the project has none."""
    path = Path(settings.environments_file)
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as error:
        raise EnvironmentsError(f"{path}: not valid TOML ({error})") from None
    overrides = _overrides(settings, list(tables), dict(os.environ if environ is None else environ))
    environments = {}
    for name, fields in tables.items():
        if not isinstance(fields, dict):
            raise EnvironmentsError(f"{path}: [{name}] must be a table of keys")
        try:
            environments[name] = Environment(name=name, **{**fields, **overrides.get(name, {})})
        except ValidationError as error:
            problem = error.errors()[0]
            key = ".".join(str(part) for part in problem["loc"]) or "?"
            raise EnvironmentsError(f"{path}: [{name}] {key}: {problem['msg']}") from None
    if PRODUCTION not in environments:
        raise EnvironmentsError(f"{path}: no [{PRODUCTION}] table; production is always declared")
    return environments


def current_environment(
    settings: Settings, environments: dict[str, Environment] | None = None
) -> Environment | None:
    """Return the run's environment (<PREFIX>ENV), or None when the project declares none.

    environments: load_environments(settings), when the caller has read them already.
    """
    environments = load_environments(settings) if environments is None else environments
    if not environments:
        if settings.env != PRODUCTION:
            raise EnvironmentsError(
                f"{settings.prefix()}ENV={settings.env} but {settings.environments_file} does not "
                f"exist: unset {settings.prefix()}ENV, or declare the environment there"
            )
        return None
    if settings.env not in environments:
        raise EnvironmentsError(
            f"{settings.prefix()}ENV={settings.env} is not declared in "
            f"{settings.environments_file}; set it to one of {', '.join(environments)}"
        )
    return environments[settings.env]


def environment_label(settings: Settings) -> str | None:
    """Return the run's environment as a label of its queries and clusters, None with one.

    Every environment's, production's too, once the project declares environments: each
    cluster and query in Polars Cloud says which environment started it. A project with none
    labels them as it always has.
    """
    return settings.env if load_environments(settings) else None


def apply_environment(settings: Settings) -> Settings:
    """Return settings with the environment's prefix, secret and workspace, unless set by variable.

    A variable set explicitly (<PREFIX>DATA_URI, ...) still wins, and the run refuses it when it
    points into another environment (refuse_other_environments).
    """
    environment = current_environment(settings)
    if environment is None:
        return settings
    values = {
        "data_uri": environment.data_uri,
        "secret_name": environment.secret_name,
        "workspace": environment.workspace,
    }
    if environment.iceberg_table:
        values["iceberg_table"] = environment.iceberg_table
    update = {key: value for key, value in values.items() if key not in settings.model_fields_set}
    return settings.model_copy(update=update)


def refuse_other_environments(settings: Settings, *uris: str) -> None:
    """Refuse, before anything boots, a uri under another environment's prefix or its secret.

    A uri belongs to the environment with the longest prefix that holds it, so a staging prefix
    nested under production's (s3://bucket/reports/staging) is staging's.
    """
    environments = load_environments(settings)
    own = current_environment(settings, environments)
    if own is None:  # one environment: nothing to cross into
        return
    env = f"{settings.prefix()}ENV"
    for uri in uris:
        owners = [e for e in environments.values() if e.owns(uri)]
        owner = max(owners, key=lambda e: len(e.data_uri), default=None)
        if owner is not None and owner.name != own.name:
            raise EnvironmentsError(
                f"a {own.name} run may not use {uri!r}: it is under {owner.name}'s prefix "
                f"{owner.data_uri!r}; give a uri under {own.data_uri!r}, or run it as {owner.name} "
                f"({env}={owner.name})"
            )
    table = settings.iceberg_table
    for other in environments.values():
        if other.name != own.name and table and other.iceberg_table == table != own.iceberg_table:
            raise EnvironmentsError(
                f"a {own.name} run may not write {other.name}'s Iceberg table {table!r}; unset "
                f"{settings.prefix()}ICEBERG_TABLE to use {own.name}'s {own.iceberg_table!r}, or "
                f"run it as {other.name} ({env}={other.name})"
            )
        if other.name != own.name and other.secret_name == settings.secret_name != own.secret_name:
            raise EnvironmentsError(
                f"a {own.name} run may not use {other.name}'s secret {settings.secret_name!r}; "
                f"unset {settings.prefix()}SECRET_NAME to use {own.name}'s "
                f"{own.secret_name!r}, or run it as {other.name} ({env}={other.name})"
            )
