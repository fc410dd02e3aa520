"""The names of the project's flows and deployments, read from flows/ and prefect.yaml alone.

A flow is a `@flow` function of a module of flows/ (read with `ast`: nothing is imported); its
name is the decorator's `name=`, else Prefect's default, the function's with `-` for `_`. The
deployments are prefect.yaml's. `make run` and `make backfill` take their defaults from here, so
no other file writes a name down, and `stale_references` finds each line of the project that
names a flow module, flow or deployment that no longer exists. The standard library and PyYAML
only: the template's tests run it without installing a project.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_polars_cloud.operations.deployments import (
    PREFECT_FILE,
    PRODUCTION,
    environment_deployments,
    is_local,
    read_deployments,
)

FLOWS_DIR = Path("flows")
# Folders that hold no reference of the project's own: tools' caches, data, the environment.
SKIPPED_FOLDERS = {".git", ".venv", "data", "dist", "build", "node_modules", "__pycache__"}
SKIPPED_FILES = {"uv.lock"}
LIBRARY = __name__.split(".")[0]
NAME = r"(?:[A-Za-z0-9][A-Za-z0-9_.-]*)?[A-Za-z0-9]"
MODULE = r"[A-Za-z_]\w*"
# A Python list's option ("--flow", "<value>"), an assignment (X=v, X ?= v, X = "v"), a quote.
_LISTED = r"[\"']--{}[\"'],\s*(?=[\"'])"
_ASSIGNED = r"\b{}(?:\s*[?:]=\s*|=|\s*=\s*(?=[\"']))"
_QUOTE = r"(?:f?[\"'`]|(?!f?[\"'`]))"


class NamesError(ValueError):
    """A default cannot be derived (none, or several to choose from); the message lists them."""


@dataclass(frozen=True)
class FlowDef:
    """One `@flow` function of flows/: its module, its function and its flow name."""

    module: str
    function: str
    name: str


def flow_modules(folder: Path = FLOWS_DIR) -> list[str]:
    """Return the modules of flows/ (what `make run FLOW=` takes), sorted."""
    return sorted(path.stem for path in folder.glob("*.py") if not path.stem.startswith("_"))


def _functions(path: Path) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {node.name: node for node in tree.body if isinstance(node, kinds)}


def _flow_name(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """Return the flow name a function's `@flow` gives it, or None when it is not a flow."""
    for decorator in function.decorator_list:
        call = decorator if isinstance(decorator, ast.Call) else None
        target = call.func if call else decorator
        if ast.unparse(target).rpartition(".")[2] != "flow":
            continue
        for keyword in call.keywords if call else []:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                return str(keyword.value.value)
        return function.name.replace("_", "-")  # Prefect's default
    return None


def declared_flows(folder: Path = FLOWS_DIR) -> list[FlowDef]:
    """Return every `@flow` function of flows/, in module order."""
    found = []
    for module in flow_modules(folder):
        for function, node in _functions(folder / f"{module}.py").items():
            if (name := _flow_name(node)) is not None:
                found.append(FlowDef(module, function, name))
    return found


def flow_of(deployment: dict[str, Any], folder: Path = FLOWS_DIR) -> str | None:
    """Return the flow name of a deployment's entrypoint, or None when it names no flow."""
    path, _, function = str(deployment.get("entrypoint", "")).partition(":")
    module = Path(path)
    if module.parent.name != folder.name:
        return None
    flows = {(item.module, item.function): item.name for item in declared_flows(folder)}
    return flows.get((module.stem, function))


def full_name(deployment: dict[str, Any], folder: Path = FLOWS_DIR) -> str:
    """Return `<flow>/<deployment>` (the bare name when the entrypoint names no flow)."""
    flow = flow_of(deployment, folder)
    return f"{flow}/{deployment['name']}" if flow else str(deployment["name"])


def default_flow_module(folder: Path = FLOWS_DIR) -> str:
    """Return the one module of flows/: what `make run` runs when FLOW is not given."""
    modules = flow_modules(folder)
    if len(modules) != 1:
        raise NamesError(
            f"{folder}/ holds {len(modules)} flow modules ({', '.join(modules) or 'none'}): "
            "say which to run, e.g. `make run FLOW=<module>`"
        )
    return modules[0]


def default_deployment(
    prefect_file: Path = PREFECT_FILE,
    folder: Path = FLOWS_DIR,
    environment: str | None = None,
    prefix: str = "",
) -> str:
    """Return `<flow>/<deployment>` of the one production deployment (`make backfill`'s default).

    Given an environment, the one deployment whose runs belong to it (its job's <prefix>ENV).
    """
    if environment is None:
        deployments = [item for item in read_deployments(prefect_file) if not is_local(item)]
    else:
        deployments = environment_deployments(prefect_file, environment, prefix)
    names = [full_name(item, folder) for item in deployments]
    if len(names) != 1:
        raise NamesError(
            f"{prefect_file} has {len(names)} production deployments"
            f"{f' of {environment}' if environment not in (None, PRODUCTION) else ''} "
            f"({', '.join(names) or 'none'}): say which, e.g. "
            "`make backfill START=... DEPLOYMENT=<flow>/<deployment>`"
        )
    return names[0]


@dataclass(frozen=True)
class StaleReference:
    """A line naming a flow module, flow, function of flows/ or deployment that does not exist."""

    path: str
    line: int
    name: str
    kind: str

    def __str__(self) -> str:
        where = "" if self.kind.startswith("function") else " of this project"
        return f"{self.path}:{self.line}: names {self.name!r} which is no {self.kind}{where}"


# What a reference looks like, by what it names. Each pattern's group `name` is the reference;
# `function` (with `name`, a module) is a function that module must define.
_MODULE_PATH = rf"(?<![\w/.-])flows/(?P<name>{MODULE})(?:\.py:(?P<function>{MODULE}))?"
_MODULE_IMPORT = rf"(?:\bimport|(?<!\S)-m) flows\.(?P<name>{MODULE})"
_FUNCTION_IMPORT = rf"\bfrom flows\.(?P<name>{MODULE}) import \(?(?P<function>{MODULE})"
_FLOW_OPTION = "|".join((r"--flow[\s=]+", _LISTED.format("flow"), _ASSIGNED.format("FLOW")))
_DEPLOYMENT_OPTION = "|".join(
    (
        r"--deployment[\s=]+",
        _LISTED.format("deployment"),
        _ASSIGNED.format("DEPLOYMENT"),
        r"\bdeploy\b.*?--name[\s=]+",
        _LISTED.format("name"),
        r"deployment run\s+",
        r"deployment_by_name\(\s*(?=f?[\"'])",
    )
)
PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # flows/<module>.py[:<function>]; in Python, `from flows.<module> import <function>`
    ("flow module", re.compile(_MODULE_PATH)),
    ("flow module", re.compile(_MODULE_IMPORT)),
    ("flow module", re.compile(_FUNCTION_IMPORT)),
    # make run FLOW=<module>, FLOW ?= <module>, FLOW = "<module>", --flow <module>, "--flow", "<m>"
    ("flow module", re.compile(rf"(?:{_FLOW_OPTION}){_QUOTE}(?P<name>{MODULE})")),
    # DEPLOYMENT=<name or flow/name>, --deployment ..., `prefect deploy ... --name <name>`,
    # `prefect deployment run '<flow>/<name>'`, read_deployment_by_name("<flow>/<name>")
    (
        "deployment",
        re.compile(rf"(?:{_DEPLOYMENT_OPTION}){_QUOTE}(?P<name>(?:{NAME}/)?{NAME})(?![\w/{{(.-])"),
    ),
    # prose: the flow `<name>`, the deployment `<name>`, `<name>` flow, `<name>-local`
    ("flow", re.compile(rf"\bflows?,?\s+`(?P<name>{NAME})`")),
    ("flow", re.compile(rf"`(?P<name>{NAME})`\s+flows?\b")),
    ("deployment", re.compile(rf"\bdeployments?,?\s+`(?P<name>{NAME})`")),
    ("deployment", re.compile(rf"`(?P<name>{NAME})`\s+deployments?\b")),
    ("deployment", re.compile(rf"`(?P<name>{NAME}-local)`")),
)


def _text_files(root: Path) -> Iterator[Path]:
    """Yield the project's text files: what a person or a tool reads names from."""
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        hidden = any(part.startswith(".") and part != ".github" for part in parts[:-1])
        if hidden or SKIPPED_FOLDERS.intersection(parts) or not path.is_file():
            continue
        if parts[:2] == ("src", LIBRARY):
            continue  # the library names no flow of a project: its examples are made up
        if path.name in SKIPPED_FILES or path.stat().st_size > 1_000_000:
            continue
        yield path


def stale_references(root: Path = Path()) -> list[StaleReference]:
    """Return every line of the project naming a flow or deployment that no longer exists."""
    folder = root / FLOWS_DIR
    flows = declared_flows(folder)
    modules = {module: set(_functions(folder / f"{module}.py")) for module in flow_modules(folder)}
    deployments = read_deployments(root / PREFECT_FILE)
    known = {
        "flow module": set(modules),
        "flow": {item.name for item in flows} | set(modules) | {item.function for item in flows},
        "deployment": {str(item["name"]) for item in deployments}
        | {full_name(item, folder) for item in deployments},
    }
    found = []
    for path in _text_files(root):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            continue  # not text
        relative = path.relative_to(root).as_posix()
        for number, line in enumerate(lines, start=1):
            for kind, pattern in PATTERNS:
                for match in pattern.finditer(line):
                    name, function = match["name"], match.groupdict().get("function")
                    if name.isupper():
                        continue  # a placeholder or a variable: DEPLOYMENT, NAME
                    if name not in known[kind]:
                        found.append(StaleReference(relative, number, name, kind))
                    elif function and function not in modules.get(name, {function}):
                        what = f"function of flows/{name}.py"
                        found.append(StaleReference(relative, number, function, what))
    return list(dict.fromkeys(found))
