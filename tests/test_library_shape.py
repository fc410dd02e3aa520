"""The library's shape, read from its source: packages by concern, layers, one public API.

Every import of src/prefect_polars_cloud is read with `ast` (top-level, inside functions and
under TYPE_CHECKING alike: each is a dependency a reader must follow) and checked against the
layer order its packages' docstrings state. Flows, the user's room and the docs' code blocks may
import only the public API, `prefect_polars_cloud` itself (and the `testing` harness in tests).
Pure and offline: no bake is installed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import TEMPLATE

LIBRARY = TEMPLATE / "{{cookiecutter.project_slug}}" / "src" / "prefect_polars_cloud"
ROOT = "prefect_polars_cloud"
# Lowest first: a module may import its own package and the packages before it, never after.
LAYERS = ("config", "credentials", "storage", "compute", "run", "operations", "local", "testing")
MAX_LINES = 300
# The public harness, beside the public API: what a project's tests may import too.
PUBLIC_FOR_TESTS = ("prefect_polars_cloud.testing",)


def module_name(path: Path) -> str:
    """Return the dotted name of a library file: compute/session.py -> prefect_polars_cloud.compute.session."""
    parts = path.relative_to(LIBRARY).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((ROOT, *parts))


def library_files() -> dict[str, Path]:
    """Return every module of the library by its dotted name."""
    return {module_name(path): path for path in sorted(LIBRARY.rglob("*.py")) if "__pycache__" not in path.parts}


MODULES = library_files()


def imported_modules(source: str, importer: str) -> Iterator[tuple[int, str]]:
    """Yield (line, module) for each library module the source imports, wherever the import is."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importer's package
                package = importer.split(".")[: -node.level] if not importer.endswith("__init__") else importer
                base = ".".join([*package, node.module] if node.module else package)
            else:
                base = node.module or ""
            # `from package import module` names a module; `from module import name` does not.
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            if name == ROOT or name.startswith(f"{ROOT}."):
                yield node.lineno, name


def layer(module: str) -> int:
    """Return the layer of a library module; the root (the public API) is above every layer."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 else len(LAYERS)


def graph() -> dict[str, set[str]]:
    """Return each library module's library imports (packages count as their __init__)."""
    return {
        name: {imported for _, imported in imported_modules(path.read_text(encoding="utf-8"), name)} - {name}
        for name, path in MODULES.items()
    }


def test_every_module_sits_in_a_package_of_a_known_layer() -> None:
    stray = [name for name in MODULES if name != ROOT and name.split(".")[1] not in LAYERS]
    assert not stray, f"modules outside the packages by concern {LAYERS}: {stray}"


def test_every_package_says_what_it_owns_and_what_it_must_not_import() -> None:
    packages = [path for path in LIBRARY.rglob("__init__.py") if "__pycache__" not in path.parts]
    undocumented = [
        str(path.relative_to(LIBRARY))
        for path in packages
        if len(ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "") < 120
    ]
    assert not undocumented, f"packages without a paragraph saying what they own: {undocumented}"


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = [
        f"{name} imports {imported}"
        for name, path in MODULES.items()
        if name != ROOT
        for _, imported in imported_modules(path.read_text(encoding="utf-8"), name)
        if layer(imported) > layer(name)
    ]
    assert not upward, "imports from a higher layer (order: " + " < ".join(LAYERS) + "):\n" + "\n".join(upward)


def test_the_library_has_no_import_cycle() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_no_module_is_over_300_lines() -> None:
    long = {
        str(path.relative_to(LIBRARY)): count
        for path in MODULES.values()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by what they own): {long}"


def public_api() -> tuple[list[str], dict[str, str]]:
    """Return the root's __all__ and its name -> module table, as written."""
    tree = ast.parse((LIBRARY / "__init__.py").read_text(encoding="utf-8"))
    values = {
        target.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return ast.literal_eval(values["__all__"]), ast.literal_eval(values["_EXPORTS"])


def test_the_public_api_names_each_export_once_and_where_it_lives() -> None:
    names, exports = public_api()
    assert names == sorted(set(names)), "__all__ is kept sorted, without repeats"
    assert set(names) == set(exports), "__all__ and _EXPORTS name the same things"
    for name, module in exports.items():
        source = MODULES[module].read_text(encoding="utf-8")
        defined = {
            node.name if not isinstance(node, ast.Assign) else target.id
            for node in ast.parse(source).body
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Assign)
            for target in (node.targets if isinstance(node, ast.Assign) else [node])
            if not isinstance(node, ast.Assign) or isinstance(target, ast.Name)
        }
        assert name in defined, f"{name} is not defined in {module}"


def test_every_public_name_has_a_google_docstring_with_an_example() -> None:
    _, exports = public_api()
    missing = []
    for name, module in exports.items():
        tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
        node = next(
            (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == name), None
        )
        if node is None:
            continue  # a type alias: documented where it is declared, by its comment
        doc = ast.get_docstring(node) or ""
        if "Example" not in doc:
            missing.append(f"{module}.{name}")
    assert not missing, "public names without an 'Example:' section in their docstring:\n" + "\n".join(missing)


# Where the public API is all one may import: a file of flows/ or the room, or a docs code block.
INTERNAL_IMPORT = re.compile(r"^\s*(?:from|import)\s+(prefect_polars_cloud\.[\w.]+)", flags=re.MULTILINE)


def internal_imports(text: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """Return the internal library modules text imports, but those under allowed."""
    return [name for name in INTERNAL_IMPORT.findall(text) if not name.startswith(allowed)]


def test_a_docs_code_block_imports_only_the_public_api() -> None:
    pages = [*TEMPLATE.glob("{{cookiecutter.project_slug}}/**/*.md"), *TEMPLATE.glob("docs/*.md")]
    found = []
    for page in pages:
        for block in re.findall(r"```(?:python|py)?\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S):
            found += [f"{page.relative_to(TEMPLATE)}: {name}" for name in internal_imports(block, PUBLIC_FOR_TESTS)]
    assert not found, "docs import internal modules; use `from prefect_polars_cloud import ...`:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("folder", "allowed"),
    [
        ("{{cookiecutter.project_slug}}/flows", ()),
        ("{{cookiecutter.project_slug}}/src/{{cookiecutter.package_name}}", ()),
        ("tests/make_it_yours", ()),
        ("tests/library/toy_pipeline", ()),
    ],
    ids=["flows", "the user's room", "make-it-yours pipelines", "the library tests' toy pipeline"],
)
def test_flows_and_the_room_import_only_the_public_api(folder: str, allowed: tuple[str, ...]) -> None:
    found = [
        f"{path.relative_to(TEMPLATE)}: {name}"
        for path in sorted((TEMPLATE / folder).rglob("*.py"))
        for name in internal_imports(path.read_text(encoding="utf-8"), allowed)
    ]
    assert not found, "internal modules imported; use `from prefect_polars_cloud import ...`:\n" + "\n".join(found)
