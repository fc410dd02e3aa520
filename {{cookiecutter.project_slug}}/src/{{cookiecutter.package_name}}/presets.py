"""The machine sizes queries run on: a small and a large preset, from the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .settings import Settings

PresetName = Literal["small", "large"]


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
