"""The generated uv.lock: one Polars runtime, no dependency known to break Prefect (too new or
too old), and the prefect-version prefect.yaml records is the one the lock installs."""

from __future__ import annotations

import tomllib
from collections.abc import Callable

import pytest
import yaml
from helpers import Baked

# Versions known to break the locked Prefect: (package, first broken version, what happens).
# fastapi 0.151 drops `min_items`: Prefect 3.8's server and embedded mode then fail every call.
KNOWN_BREAKS = (("fastapi", (0, 151), "Body() got an unexpected keyword argument 'min_items'"),)
# Versions too old for the locked Prefect: (package, first good version, what happens below it).
# whenever 0.10 on Python 3.11: the server's scheduler never creates a run of a cron deployment.
KNOWN_TOO_OLD = (
    ("whenever", (0, 11), "tzinfo must be of type ZoneInfo (exactly), got Timezone('UTC')"),
)


def release(version: str) -> tuple[int, ...]:
    """Return a version's leading numbers, e.g. 0.150.0 -> (0, 150, 0)."""
    numbers = []
    for part in version.split("."):
        digits = "".join(char for char in part if char.isdigit())
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


@pytest.fixture(scope="module")
def defaults(tmp_path_factory: pytest.TempPathFactory) -> Baked:
    """The defaults bake, whose lock is the template's lock rendered."""
    from helpers import answers_for, bake

    return Baked(bake(tmp_path_factory.mktemp("lock")), answers_for())


@pytest.fixture(scope="module")
def locked(defaults: Baked) -> Callable[[str], list[str]]:
    """Return name -> the versions of that package in the lock."""
    packages = tomllib.loads((defaults.path / "uv.lock").read_text(encoding="utf-8"))["package"]

    def versions(name: str) -> list[str]:
        return [package["version"] for package in packages if package["name"] == name]

    return versions


def test_the_lock_holds_one_polars_runtime(defaults: Baked) -> None:
    packages = tomllib.loads((defaults.path / "uv.lock").read_text(encoding="utf-8"))["package"]
    runtimes = sorted(p["name"] for p in packages if p["name"].startswith("polars-runtime-"))
    # polars-cloud needs the 64-bit one; a second runtime is ~180 MB polars never loads.
    assert runtimes == ["polars-runtime-64"]


def test_no_dependency_known_to_break_prefect_is_locked(locked: Callable[[str], list[str]]) -> None:
    for name, broken, symptom in KNOWN_BREAKS:
        for version in locked(name):
            assert release(version) < broken, f"{name} {version} is locked; it breaks Prefect: {symptom}"


def test_no_dependency_known_too_old_for_prefect_is_locked(
    locked: Callable[[str], list[str]],
) -> None:
    for name, good, symptom in KNOWN_TOO_OLD:
        assert locked(name), f"{name} is not in the lock"
        for version in locked(name):
            assert release(version) >= good, f"{name} {version} is locked; Prefect then: {symptom}"


def test_prefect_version_in_prefect_yaml_is_the_locked_one(
    defaults: Baked, locked: Callable[[str], list[str]]
) -> None:
    recorded = yaml.safe_load((defaults.path / "prefect.yaml").read_text(encoding="utf-8"))
    assert [str(recorded["prefect-version"])] == locked("prefect")


def reachable(packages: list[dict], roots: list[dict]) -> set[str]:
    """Return every package a list of lock requirements can install (extras followed, markers not)."""
    by_name = {package["name"]: package for package in packages}
    seen: set[tuple[str, str]] = set()  # (package, "") and (package, extra)
    todo = list(roots)
    while todo:
        requirement = todo.pop()
        package = by_name[requirement["name"]]
        for extra in ["", *requirement.get("extra", [])]:
            if (package["name"], extra) in seen:
                continue
            seen.add((package["name"], extra))
            todo += package.get("optional-dependencies", {}).get(extra, []) if extra else package.get("dependencies", [])
    return {name for name, _ in seen}


def test_the_iceberg_group_is_locked_and_the_default_runtime_does_not_carry_it(defaults: Baked) -> None:
    packages = tomllib.loads((defaults.path / "uv.lock").read_text(encoding="utf-8"))["package"]
    (root,) = [package for package in packages if package["source"].get("editable") == "."]
    groups = root["dev-dependencies"]
    # Every bake's lock holds the group, so an iceberg bake installs it from the same lock.
    assert [item["name"] for item in groups["iceberg"]] == ["pyiceberg"]
    iceberg = reachable(packages, groups["iceberg"])
    assert {"pyiceberg", "pyarrow", "boto3"} <= iceberg
    # The defaults (parquet) install the runtime and the default groups but dev (the image's
    # `uv sync --no-dev`): none of what only the iceberg group brings.
    default_groups = root.get("default-groups", ["dev"])
    assert "iceberg" not in default_groups
    runtime = reachable(
        packages,
        root["dependencies"] + [item for group in default_groups if group != "dev" for item in groups[group]],
    )
    assert not {"pyiceberg", "pyarrow", "pyroaring", "strictyaml"} & runtime
