"""Where queries run: Polars Cloud presets, or local Polars, behind one helper.

`ComputeSession` authenticates once (cloud mode), builds each preset's ComputeContext the first
time a query needs it, and stops every context it built when the block ends, however it ends:
success, failure, cancellation or SIGTERM (Prefect raises a BaseException there).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from .credentials import fetch_service_account
from .settings import ENV_PREFIX, Settings
from .storage import atomic_target, is_remote

if TYPE_CHECKING:
    import polars as pl

logger = logging.getLogger(__name__)

PresetName = Literal["small", "large"]


class ComputeError(RuntimeError):
    """The cloud compute could not be used; the message says what to do."""


@dataclass(frozen=True)
class Preset:
    """One machine size of Polars Cloud."""

    name: PresetName
    cpus: int
    memory: int
    cluster_size: int = 1


def presets(settings: Settings) -> dict[PresetName, Preset]:
    """Return the small and large presets of the settings."""
    return {
        "small": Preset("small", settings.small_cpus, settings.small_memory),
        "large": Preset(
            "large", settings.large_cpus, settings.large_memory, settings.large_cluster_size
        ),
    }


class ComputeSession:
    """Run queries on the configured compute; use it as a `with` block."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.presets = presets(settings)
        self._contexts: dict[PresetName, Any] = {}
        self._lock = threading.Lock()

    @property
    def cloud(self) -> bool:
        """Tell whether queries go to Polars Cloud."""
        return self.settings.compute_mode == "cloud"

    def __enter__(self) -> ComputeSession:
        if self.cloud:
            self._authenticate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def _authenticate(self) -> None:
        """Log in with the service account; contexts can only be built after this."""
        import polars_cloud as pc

        account = fetch_service_account(self.settings)
        try:
            pc.authenticate(
                client_id=account.client_id,
                client_secret=account.client_secret,
                interactive=False,
            )
        except Exception as error:
            raise ComputeError(
                f"Polars Cloud authentication failed with the service account from the "
                f"{self.settings.secret_backend} backend ({self.settings.secret_name}): "
                f"{account.redact(f'{type(error).__name__}: {error}')}; check the account's "
                f"id and secret, or run locally with {ENV_PREFIX}COMPUTE_MODE=local"
            ) from None

    def context(self, preset: PresetName) -> Any:  # noqa: ANN401 - polars_cloud.ComputeContext
        """Return the preset's ComputeContext, building it on first use."""
        import polars_cloud as pc

        with self._lock:
            if preset not in self._contexts:
                spec = self.presets[preset]
                self._contexts[preset] = pc.ComputeContext(
                    cpus=spec.cpus,
                    memory=spec.memory,
                    cluster_size=spec.cluster_size,
                    workspace=self.settings.workspace,
                    idle_timeout_mins=self.settings.idle_timeout_mins,
                    # Shown in the Polars Cloud dashboard: which project, which preset.
                    labels=[self.settings.label, f"{self.settings.label}-{preset}"],
                )
            return self._contexts[preset]

    def sink_parquet(self, query: pl.LazyFrame, uri: str, preset: PresetName) -> None:
        """Run query into a Parquet file and return once it is written (or raise its error)."""
        if not self.cloud:
            with atomic_target(uri) as target:
                query.sink_parquet(target, engine="streaming")
            return
        remote = query.remote(self.context(preset))
        if self.presets[preset].cluster_size > 1:
            remote = remote.distributed()
        # Waiting here makes the task's final state the query's own.
        remote.sink_parquet(uri).await_result()

    def stop_all(self) -> None:
        """Stop every context this session built; never raise, so no error is hidden."""
        with self._lock:
            contexts, self._contexts = self._contexts, {}
        for preset, context in contexts.items():
            try:
                context.stop()
            except Exception as error:  # noqa: BLE001 - stopping must not mask the run's outcome
                if isinstance(error, RuntimeError) and "not running" in str(error):
                    # polars_cloud raises this for a context no query ever started.
                    logger.debug("the %s compute context never started", preset)
                    continue
                logger.warning(
                    "could not stop the %s compute context (%s); it stops itself after %d idle "
                    "minutes",
                    preset,
                    type(error).__name__,
                    self.settings.idle_timeout_mins,
                )
            else:
                logger.info("stopped the %s compute context", preset)


def validate_uris(settings: Settings, *uris: str) -> None:
    """Refuse local paths in cloud mode before any compute starts."""
    if settings.compute_mode != "cloud":
        return
    local = [uri for uri in uris if not is_remote(uri)]
    if local:
        raise ComputeError(
            f"cloud mode reads and writes object storage, and {', '.join(map(repr, local))} "
            f"{'is a local path' if len(local) == 1 else 'are local paths'}; give s3:// uris, "
            f"or run locally with {ENV_PREFIX}COMPUTE_MODE=local"
        )
