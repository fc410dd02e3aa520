"""The machine sizes queries run on, read from presets.toml (and the environment's overrides).

Any number of presets; each is validated when it is read, so a typo stops the run before a
cluster starts, with the file, the preset and the key in the message.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

from prefect_polars_cloud.config.environments import (
    PRODUCTION,
    current_environment,
    environment_label,
)
from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.config.settings import MIN_QUERY_TIMEOUT_MINS, Settings

PresetName = str
# ephemeral: a cluster started with the run and stopped at its end. manifest: a named compute
# registered once (`make compute`) that runs connect to, start if stopped, and leave running.
Mode = Literal["ephemeral", "manifest"]


def override_prefix() -> str:
    """Return the prefix of the variables that override one field of one preset."""
    return f"{env_prefix()}PRESET_"


class PresetError(ValueError):
    """presets.toml cannot be used; the message names the file, the preset and the key."""


class Preset(BaseModel):
    """One preset: the ComputeContext keywords a user sets, and how its queries run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    cpus: PositiveInt | None = None
    memory: PositiveInt | None = None  # GB
    instance_type: str | None = None
    storage: PositiveInt | None = None  # GB
    cluster_size: PositiveInt = 1
    cpu_architectures: list[Literal["x86", "arm64"]] | None = None
    requirements: str | None = None  # a requirements.txt to install on the machines
    env_vars: dict[str, str] | None = None
    labels: list[str] = Field(default_factory=list)
    log_level: Literal["info", "debug", "trace"] | None = None
    # Polars Cloud refuses idle timeouts under ten minutes.
    idle_timeout_mins: int | None = Field(default=None, ge=10)
    # This project's own.
    distributed: bool | None = None
    query_timeout_mins: float | None = Field(default=None, ge=MIN_QUERY_TIMEOUT_MINS)
    mode: Mode = "ephemeral"
    stop_after_run: bool = False  # manifest mode: stop it with the run, not at its idle timeout

    @property
    def outlives_run(self) -> bool:
        """Tell whether the preset's cluster is left running at the end of a run (a manifest's)."""
        return self.mode == "manifest" and not self.stop_after_run

    @property
    def runs_distributed(self) -> bool:
        """Tell whether queries run distributed: as set, else when there are several machines."""
        return self.cluster_size > 1 if self.distributed is None else self.distributed

    def context_options(self) -> dict[str, Any]:
        """Return the polars_cloud.ComputeContext keywords this preset sets."""
        fields = (
            "cpus",
            "memory",
            "instance_type",
            "storage",
            "cluster_size",
            "cpu_architectures",
            "requirements",
            "env_vars",
            "log_level",
            "idle_timeout_mins",
        )
        return {name: getattr(self, name) for name in fields if getattr(self, name) is not None}

    def context_keywords(self, settings: Settings) -> dict[str, Any]:
        """Return every ComputeContext keyword: the preset's, the default idle timeout, labels.

        The labels (the preset's own, the environment's when the project declares several, the
        project, the compute's name) show in the Polars Cloud dashboard.
        """
        # Which environment started it, when there are several; before the two labels that
        # name the compute, which stay last.
        environment = environment_label(settings)
        labels = [*self.labels, *([environment] if environment else [])]
        labels += [settings.label, self.compute_name(settings)]
        defaults = {"idle_timeout_mins": settings.idle_timeout_mins}
        return defaults | self.context_options() | {"labels": labels}

    def compute_name(self, settings: Settings) -> str:
        """Return the name of this preset's compute: its label, and its manifest's name."""
        if settings.env != PRODUCTION:  # staging's manifest is not production's, whose name stays
            return f"{settings.label}-{settings.env}-{self.name}"
        return f"{settings.label}-{self.name}"

    def describe(self) -> str:
        """One line for `make doctor`."""
        size = self.instance_type or f"{self.cpus} CPUs, {self.memory} GB"
        scaling = "distributed" if self.runs_distributed else "single node"
        return f"{size}, {self.cluster_size} machine(s), {scaling}"

    def lifecycle(self, settings: Settings) -> str:
        """Say what a run does with this preset's compute, for `make doctor`."""
        if self.mode == "ephemeral":
            return "ephemeral: started with each run, stopped at its end"
        ending = "stopped after each run" if self.stop_after_run else "left to its idle timeout"
        return (
            f"manifest {self.compute_name(settings)!r}: registered by `make compute`; a run "
            f"connects, starts it if stopped, {ending}"
        )


def _overrides(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Read <PREFIX>PRESET_<NAME>_<FIELD>=value into {name: {field: value}} (TOML values)."""
    fields = sorted(Preset.model_fields, key=len, reverse=True)  # longest first: cluster_size
    found: dict[str, dict[str, Any]] = {}
    for variable, text in environ.items():
        if not variable.startswith(override_prefix()):
            continue
        rest = variable.removeprefix(override_prefix()).lower()
        field = next((f for f in fields if rest.endswith(f"_{f}")), None)
        if field is None or field == "name":
            raise PresetError(
                f"{variable}: no preset field ends the name; use "
                f"{override_prefix()}<NAME>_<FIELD> with a field of presets.toml"
            )
        try:
            value = tomllib.loads(f"value = {text}")["value"]
        except tomllib.TOMLDecodeError:
            value = text  # a bare word: a string
        found.setdefault(rest.removesuffix(f"_{field}"), {})[field] = value
    return found


def load_presets(settings: Settings, environ: dict[str, str] | None = None) -> dict[str, Preset]:
    """Read, override and validate every preset of the settings' presets file."""
    path = Path(settings.presets_file)
    try:
        tables = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PresetError(
            f"{path.resolve()} not found: run from the project directory, or set "
            f"{env_prefix()}PRESETS_FILE"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise PresetError(f"{path}: not valid TOML ({error})") from None
    # Where a key's value came from when not from the file, to blame it there: {preset: {key: ...}}.
    blamed: dict[str, dict[str, str]] = {}
    environment = current_environment(settings)  # its presets: over the file, under variables
    for name, fields in (environment.presets if environment else {}).items():
        table = f"{settings.environments_file}: [{environment.name}.presets.{name}]"
        if name not in tables:
            raise PresetError(f"{table} names no preset of {path}; use one of {', '.join(tables)}")
        tables[name] = {**tables[name], **fields}
        blamed.setdefault(name, {}).update({key: f"{table} {key}" for key in fields})
    overrides = _overrides(dict(os.environ if environ is None else environ))
    for name, fields in overrides.items():
        if name not in tables:
            raise PresetError(f"{path}: no preset [{name}] for {override_prefix()}{name.upper()}_*")
        tables[name] = {**tables[name], **fields}
        variables = {key: f"{override_prefix()}{name.upper()}_{key.upper()}" for key in fields}
        blamed.setdefault(name, {}).update(variables)
    presets = {
        name: _preset(path, name, fields, blamed.get(name)) for name, fields in tables.items()
    }
    _check_large_is_not_smaller(path, presets)
    return presets


def _preset(path: Path, name: str, fields: object, blamed: dict[str, str] | None = None) -> Preset:
    """Validate one table, naming the file, the preset and the key on failure.

    A key whose value came from elsewhere (blamed: an environment's table, a variable) is
    blamed there, not on the file.
    """
    if not isinstance(fields, dict):
        raise PresetError(f"{path}: [{name}] must be a table of keys")
    try:
        preset = Preset(name=name, **fields)
    except ValidationError as error:
        problem = error.errors()[0]
        key = ".".join(str(part) for part in problem["loc"]) or "?"
        where = (blamed or {}).get(str(problem["loc"][0]) if problem["loc"] else "")
        if where is not None:
            raise PresetError(
                f"{where} (overriding [{name}] {key} of {path}): {problem['msg']}"
            ) from None
        raise PresetError(f"{path}: [{name}] {key}: {problem['msg']}") from None
    if preset.instance_type and (preset.cpus or preset.memory):
        raise PresetError(f"{path}: [{name}] instance_type: give it, or cpus and memory, not both")
    if not preset.instance_type and not (preset.cpus and preset.memory):
        raise PresetError(f"{path}: [{name}] cpus and memory (or instance_type) are needed")
    if preset.stop_after_run and preset.mode != "manifest":
        raise PresetError(
            f'{path}: [{name}] stop_after_run: only for mode = "manifest" (an ephemeral '
            f"compute always stops with its run)"
        )
    return preset


def _check_large_is_not_smaller(path: Path, presets: dict[str, Preset]) -> None:
    """Refuse a large preset smaller than the small one (a swapped pair of numbers)."""
    small, large = presets.get("small"), presets.get("large")
    if not small or not large or not (small.cpus and small.memory and large.cpus and large.memory):
        return
    if large.cpus < small.cpus or large.memory < small.memory:
        raise PresetError(
            f"{path}: [large] ({large.cpus} CPUs, {large.memory} GB) is smaller than [small] "
            f"({small.cpus} CPUs, {small.memory} GB); raise large's cpus and memory"
        )
