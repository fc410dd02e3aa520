"""Plain helpers the template's tests share: bake, read what was baked, run commands."""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import prompt_for_config

TEMPLATE = Path(__file__).resolve().parent.parent
# cookiecutter.json renders through local_extensions.py at the template root; cookiecutter's
# own entry points put that folder on sys.path, and answers_for() below renders in-process.
if str(TEMPLATE) not in sys.path:
    sys.path.insert(0, str(TEMPLATE))
BACKENDS = ("env", "aws-secrets-manager", "prefect-secret", "aws-secret-block")
# Environment variables that would point a baked project at a real Prefect server or at the
# template's own virtualenv instead of its own.
LEAKY_VARIABLES = ("VIRTUAL_ENV", "PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILES_PATH")
# Names of the example pipeline, which the library and its tests must never know (as whole words,
# so that "path segments" or AWS's "customer-managed key" are not taken for them).
EXAMPLE_NAMES = re.compile(
    r"\b(orders|customers|customer_id|revenue|segments?|daily[_-]reports?|order_(id|ts|date))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Baked:
    """A generated project and every answer it was generated with."""

    path: Path
    answers: dict[str, str]

    @property
    def package(self) -> Path:
        """Return src/<package_name>."""
        return self.path / "src" / self.answers["package_name"]


def answers_for(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return every answer cookiecutter derives from cookiecutter.json and the overrides."""
    context = generate_context(
        context_file=str(TEMPLATE / "cookiecutter.json"), extra_context=dict(overrides or {})
    )
    answers = prompt_for_config(context, no_input=True)
    return {key: value for key, value in answers.items() if not key.startswith("_")}


def bake(output_dir: Path, answers: Mapping[str, str] | None = None) -> Path:
    """Generate the project with the given answers (the rest default) and return its path."""
    return Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, extra_context=dict(answers or {}), output_dir=str(output_dir)
        )
    )


def generated_files(project: Path) -> set[str]:
    """Return every file of a baked project as a relative posix path, .git/ left out."""
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if path.is_file() and path.relative_to(project).parts[0] != ".git"
    }


def settings_defaults(settings_py: Path) -> dict[str, object]:
    """Read the literal defaults of `class Settings` without importing it.

    `x: T = <literal>` and `x: T = Field(default=<literal>, ...)` are both read.
    """
    tree = ast.parse(settings_py.read_text(encoding="utf-8"))
    settings = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Settings"
    )
    defaults: dict[str, object] = {}
    for statement in settings.body:
        if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
            continue
        value = statement.value
        if isinstance(value, ast.Call):
            value = next((kw.value for kw in value.keywords if kw.arg == "default"), None)
        if value is None:
            continue
        try:
            defaults[statement.target.id] = ast.literal_eval(value)
        except ValueError:
            continue  # not a literal: nothing an answer could have put there
    return defaults


def module_constant(python_file: Path, name: str) -> object:
    """Return the literal value of a module-level `NAME = ...` assignment."""
    tree = ast.parse(python_file.read_text(encoding="utf-8"))
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"{python_file} assigns no {name}")


def render_hook(name: str, answers: Mapping[str, object], directory: Path) -> ModuleType:
    """Render hooks/<name> the way cookiecutter does, write it to directory and import it."""
    context = {"cookiecutter": dict(answers)}
    environment = StrictEnvironment(context=context, keep_trailing_newline=True)
    source = (TEMPLATE / "hooks" / name).read_text(encoding="utf-8")
    rendered = directory / name
    rendered.write_text(environment.from_string(source).render(**context), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"rendered_{rendered.stem}_{id(rendered)}", rendered)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clean_environment(**extra: str) -> dict[str, str]:
    """Return os.environ without the leaky variables, plus extra.

    Without PYTHONDONTWRITEBYTECODE too: the bakes' processes write bytecode, as Python does by
    default on a workstation. Set (as some sandboxes and CI images do), every one of the
    hundreds of processes this suite starts compiles what it imports: `import prefect, polars`
    takes 3.3 s instead of 1.8 s, a third of the slow tests' time (docs/benchmarks.md).
    """
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in LEAKY_VARIABLES and key != "PYTHONDONTWRITEBYTECODE"
    }
    environment.update(extra)
    return environment


def loopback_environment(prefect_home: Path, prefix: str, **extra: str) -> dict[str, str]:
    """Return the environment of a bake's commands against servers on loopback (moto, Prefect).

    Its own Prefect home, moto's throwaway AWS credentials, and none of the project's
    (<prefix>*) or Polars Cloud's variables the shell may hold: the commands take what the test
    gives them.
    """
    environment = clean_environment(
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ALLOW_HTTP="true",
        **extra,
    )
    for name in [name for name in environment if name.startswith((prefix, "POLARS_CLOUD_", "AWS_PROFILE"))]:
        del environment[name]
    return environment


def seed_prefect_database(project: Path, prefect_home: Path) -> None:
    """Start a `prefect server start` in prefect_home from the bake's migrated empty database.

    The bake's test servers keep one per Prefect version (its library's database_template());
    a copy spares the server its migrations, 8 s of CPU and of wall time on two cores. For the
    end-to-end tests, whose subject is deploying and running, not a new machine's first boot
    (tests/test_first_hour.py keeps that). Without a copy yet, the server migrates its own.
    """
    where = "from prefect_polars_cloud.testing.servers import database_template as t; print(t())"
    found = run([str(project / ".venv/bin/python"), "-c", where], project)
    template = Path(found.stdout.strip())
    database = prefect_home / "prefect.db"
    if found.returncode == 0 and template.is_file() and not database.exists():
        prefect_home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, database)


def run(
    command: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command with no stdin and return its result, output captured.

    A command still running after timeout seconds fails the test with what it printed so far.
    """
    try:
        return subprocess.run(
            list(command),
            cwd=cwd,
            env=dict(env) if env is not None else clean_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as timed_out:
        printed = [
            part.decode(errors="replace") if isinstance(part, bytes) else part or ""
            for part in (timed_out.stdout, timed_out.stderr)
        ]
        pytest.fail(
            f"`{' '.join(command)}` still running after {timeout:.0f}s in {cwd}\n"
            f"--- stdout ---\n{printed[0]}\n--- stderr ---\n{printed[1]}",
            pytrace=False,
        )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """Format a finished command for a failure message."""
    command = " ".join(str(part) for part in result.args)
    return (
        f"`{command}` exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


def run_ok(
    command: Sequence[str],
    cwd: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a command and fail the test, showing its output, unless it exits 0."""
    result = run(command, cwd, env=env, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(describe(result), pytrace=False)
    return result
