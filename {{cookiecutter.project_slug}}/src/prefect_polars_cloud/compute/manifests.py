"""Named computes: a preset with `mode = "manifest"` is registered once, then reused by runs.

`make compute` registers each such preset under its compute name ("<project>-<preset>") and
leaves an up-to-date one alone; a run connects to it by name and starts it if it is stopped.
polars_cloud 0.12 shows little of a registered manifest (no idle timeout, requirements or
labels), so the registration carries a fingerprint of the whole spec in its env_vars, and
"up to date" means: same fingerprint. The client itself refuses a manifest registered with
other Polars or Python versions; that one is registered again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_polars_cloud.compute.cloud import ComputeError, login
from prefect_polars_cloud.compute.presets import Preset
from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.config.settings import Settings

logger = logging.getLogger(__name__)


# Set on the manifest's machines too: harmless, and the only field that round-trips whole.
def fingerprint_variable() -> str:
    """Return the env var a manifest's cluster carries its spec's fingerprint in."""
    return f"{env_prefix()}MANIFEST_FINGERPRINT"


def fingerprint(keywords: dict[str, Any]) -> str:
    """Return a short digest of a compute's ComputeContext keywords (requirements by content)."""
    requirements = keywords.get("requirements")
    if requirements is not None and Path(requirements).is_file():
        keywords = keywords | {"requirements": Path(requirements).read_text(encoding="utf-8")}
    text = json.dumps(keywords, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def registration_keywords(settings: Settings, preset: Preset) -> dict[str, Any]:
    """Return the keywords to register the preset with, its fingerprint among the env_vars."""
    keywords = preset.context_keywords(settings)
    env_vars = {**(keywords.get("env_vars") or {}), fingerprint_variable(): fingerprint(keywords)}
    return keywords | {"env_vars": env_vars}


@dataclass(frozen=True)
class Registered:
    """What Polars Cloud holds under a preset's compute name."""

    context: Any  # a named polars_cloud.ComputeContext, or None
    problem: str | None  # why the context could not be loaded (None: loaded, or not registered)

    @property
    def exists(self) -> bool:
        """Tell whether a manifest of that name is registered at all."""
        return self.context is not None or self.problem is not None

    def is_current(self, settings: Settings, preset: Preset) -> bool:
        """Tell whether it was registered from this preset as it is now, by these versions."""
        wanted = fingerprint(preset.context_keywords(settings))
        return self.context is not None and (
            self.context.env_vars.get(fingerprint_variable()) == wanted
        )


def look_up(settings: Settings, preset: Preset) -> Registered:
    """Load the preset's manifest by name (after login); never start it."""
    import polars_cloud as pc
    import polars_cloud.polars_cloud as pcr  # the client's errors are not re-exported

    try:
        context = pc.ComputeContext(
            workspace=settings.workspace, name=preset.compute_name(settings)
        )
    except pcr.NotFoundError:
        return Registered(None, None)
    except pcr.ComputeClusterMisspecified as error:  # other Polars / Python versions
        return Registered(None, str(error))
    return Registered(context, None)


def connect(settings: Settings, preset: Preset) -> Any:  # noqa: ANN401 - ComputeContext
    """Return the preset's named ComputeContext for a run, or say how to register it."""
    name = preset.compute_name(settings)
    registered = look_up(settings, preset)
    if registered.context is not None:
        if not registered.is_current(settings, preset):
            # It still runs, as registered; the change waits for `make compute`.
            logger.warning(
                "[%s] in %s changed since the compute %r was registered; this run uses it as "
                "registered: run `make compute` to apply the change",
                preset.name,
                settings.presets_file,
                name,
            )
        return registered.context
    if registered.problem is not None:
        raise ComputeError(
            f"the compute {name!r} ([{preset.name}] in {settings.presets_file}) was registered "
            f"for another environment: {registered.problem}; run `make compute` to register it "
            f"again for this one"
        )
    raise ComputeError(
        f'no compute is registered as {name!r} ([{preset.name}] has mode = "manifest" in '
        f"{settings.presets_file}); run `make compute` once to register it"
    )


def register(settings: Settings, preset: Preset) -> str:
    """Register or update the preset's manifest; return what was done. Idempotent."""
    import polars_cloud as pc

    name = preset.compute_name(settings)
    registered = look_up(settings, preset)
    if registered.is_current(settings, preset):
        return "unchanged"
    if registered.context is not None and registered.context.get_status().is_available():
        raise ComputeError(
            f"the compute {name!r} is running, so its new spec cannot be registered now; run "
            f"`make compute` again once it has stopped (after its idle timeout, or stop it in "
            f"the Polars Cloud dashboard)"
        )
    context = pc.ComputeContext(
        workspace=settings.workspace, **registration_keywords(settings, preset)
    )
    try:
        context.register(name)  # a taken name: a server may update the registration in place
    except Exception:
        if not registered.exists:
            raise
        # One that refuses a taken name: replace it. register() has named the context
        # already, so unregister() removes the old one.
        context.unregister()
        context.register(name)
    return "updated" if registered.exists else "registered"


def report(settings: Settings, preset: Preset) -> tuple[str, str | None]:
    """Return the doctor's line on a preset's manifest, and a problem when a run would fail."""
    import polars_cloud.polars_cloud as pcr

    name = preset.compute_name(settings)
    registered = look_up(settings, preset)
    if not registered.exists:
        return "NOT REGISTERED", f"no compute is registered as {name!r}; run `make compute`"
    if registered.context is None:
        return "OTHER VERSIONS", (
            f"the compute {name!r} does not fit this environment ({registered.problem}); run "
            f"`make compute` to register it again"
        )
    versions = f"polars {pcr.polars_version()}, python {pcr.python_version()}"
    status = registered.context.get_status().name.lower()
    if not registered.is_current(settings, preset):
        return f"registered ({versions}), {status}, OUT OF DATE", (
            f"presets.toml's [{preset.name}] changed since {name!r} was registered; run "
            f"`make compute`"
        )
    return f"registered, matches presets.toml and {versions}, {status}", None


def register_all(
    settings: Settings, presets: dict[str, Preset], say: Callable[[str], None]
) -> None:
    """Register or update every manifest preset (`make compute`), saying what each needed."""
    wanted = [preset for preset in presets.values() if preset.mode == "manifest"]
    if not wanted:
        say(f'no preset has mode = "manifest" in {settings.presets_file}: nothing to register')
        return
    if settings.compute_mode != "cloud":
        raise ComputeError(
            f"manifests are Polars Cloud computes, and {env_prefix()}COMPUTE_MODE is "
            f"{settings.compute_mode}; run `make compute` with {env_prefix()}COMPUTE_MODE=cloud"
        )
    login(settings)
    refused = []
    for preset in wanted:
        try:
            outcome = register(settings, preset)
        except ComputeError as error:  # the others are still worth registering
            refused.append(str(error))
            outcome = "NOT UPDATED"
        say(f"{preset.name}: {outcome} as {preset.compute_name(settings)!r}")
    if refused:
        raise ComputeError("; ".join(refused))
