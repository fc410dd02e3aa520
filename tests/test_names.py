"""Names in one place: flows/ and prefect.yaml name the flows and deployments, nothing else does.

The generated project's own check (`prefect_polars_cloud.operations.names`, plain Python and
PyYAML) is loaded from the template and run on fresh bakes: no bake of the matrix names a flow or
deployment it lacks, a stale name is reported with its file and line, the README's rename recipe
performed on a copy leaves nothing stale, and only docs/pipeline.md names the example's datasets.
Fast and offline: bakes, nothing installed.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from helpers import TEMPLATE, bake, settings_defaults

LIBRARY = TEMPLATE / "{{cookiecutter.project_slug}}" / "src" / "prefect_polars_cloud"
# Bakes whose pages or prefect.yaml differ in what they say of flows, deployments and datasets.
CASES = {
    "defaults": {},
    "iceberg": {"output_format": "iceberg", "secret_backend": "aws-secrets-manager"},
    "process": {"work_pool_type": "process", "alerts": "webhook", "data_uri": "gs://lake/reports"},
    "ecs": {"work_pool_type": "ecs", "ecs_execution_role_arn": "arn:aws:iam::123456789012:role/ecs/x"},
}
# The rename the README's recipe is performed with.
NEW_MODULE, NEW_FLOW = "sales_report", "sales-report"
DATASET_CLASSES = {"DailyInput", "SnapshotInput", "DailyOutput", "SnapshotOutput", "IcebergOutput"}


@pytest.fixture(scope="module")
def names() -> Iterator[ModuleType]:
    """The library's names module, imported from the template without the library's __init__.

    Its package's __init__ imports Polars and Prefect, which this environment lacks; the names
    module needs neither, so its packages stand in as bare ones.
    """
    packages = {"prefect_polars_cloud": LIBRARY, "prefect_polars_cloud.operations": LIBRARY / "operations"}
    loaded = [*packages, "prefect_polars_cloud.operations.deployments", "prefect_polars_cloud.operations.names"]
    saved = {name: sys.modules.get(name) for name in loaded}
    for name, folder in packages.items():
        package = ModuleType(name)
        package.__path__ = [str(folder)]
        sys.modules[name] = package
    try:
        yield importlib.import_module("prefect_polars_cloud.operations.names")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


@pytest.fixture(scope="module")
def bakes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One fresh bake per case."""
    return {case: bake(tmp_path_factory.mktemp(case), answers) for case, answers in CASES.items()}


def stale(names: ModuleType, project: Path) -> list[str]:
    return [str(reference) for reference in names.stale_references(project)]


@pytest.mark.parametrize("case", CASES)
def test_a_fresh_bake_names_only_flows_and_deployments_it_has(
    names: ModuleType, bakes: dict[str, Path], case: str
) -> None:
    assert stale(names, bakes[case]) == []


def test_a_stale_name_is_reported_with_its_file_and_line(
    names: ModuleType, tmp_path: Path
) -> None:
    project = bake(tmp_path)
    lines = {
        "Makefile": "DEPLOYMENT ?= gone-report",
        "docs/deploy.md": "uv run --locked prefect deployment run 'daily-report/gone'",
        "README.md": "make run FLOW=gone_report",
        "tests/test_gone.py": "from flows.daily_report import gone",
        ".github/workflows/extra.yml": "run: prefect --no-prompt deploy --name gone-local",
        "Dockerfile": "# see flows/gone_report.py",
    }
    for name, line in lines.items():
        path = project / name
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        path.write_text(f"{text}{line}\n", encoding="utf-8")
    found = stale(names, project)
    for name in lines:
        number = len((project / name).read_text(encoding="utf-8").splitlines())
        assert any(item.startswith(f"{name}:{number}: names '") for item in found), (name, found)
    assert len(found) == len(lines), found


def test_defaults_come_from_flows_and_prefect_yaml_and_several_are_listed(
    names: ModuleType, tmp_path: Path
) -> None:
    project = bake(tmp_path)
    flows, prefect_file = project / "flows", project / "prefect.yaml"
    [flow] = names.declared_flows(flows)
    assert names.default_flow_module(flows) == flow.module
    assert names.default_deployment(prefect_file, flows).startswith(f"{flow.name}/")
    (flows / "weekly.py").write_text("from prefect import flow\n\n\n@flow\ndef weekly() -> None: ...\n")
    with pytest.raises(names.NamesError, match=f"{flow.module}, weekly"):
        names.default_flow_module(flows)
    text = prefect_file.read_text(encoding="utf-8")
    copy = re.sub(r"(?m)^  - name: (.+)$", r"  - name: weekly-\1", text.split("\ndeployments:\n", 1)[1])
    copy = copy.replace(f"flows/{flow.module}.py:{flow.function}", "flows/weekly.py:weekly")
    prefect_file.write_text(f"{text.rstrip()}\n\n{copy}", encoding="utf-8")
    with pytest.raises(names.NamesError, match="2 production deployments .*weekly/"):
        names.default_deployment(prefect_file, flows)


def test_the_readme_rename_recipe_leaves_no_stale_name(names: ModuleType, tmp_path: Path) -> None:
    project = bake(tmp_path)
    commit(project)  # as a user would have: the rename's changes then count alone
    recipe = rename_recipe(project)
    for place in ("git mv flows/<old>.py flows/<new>.py", "name=", "prefect.yaml", "entrypoint:",
                  "tests/", "docs/pipeline.md", "tests/test_names.py"):
        assert place in recipe, f"the README's rename recipe no longer says {place!r}"
    flows = project / "flows"
    [old] = names.declared_flows(flows)
    deployments = [str(item["name"]) for item in names.read_deployments(project / "prefect.yaml")]
    renamed = {name: name.replace(old.name, NEW_FLOW) for name in deployments}

    # The module and its flow's name; the deployments' names and entrypoints in prefect.yaml.
    module = flows / f"{NEW_MODULE}.py"
    (flows / f"{old.module}.py").rename(module)
    replace(module, rf"""\bname=(["']){re.escape(old.name)}\1""", f'name="{NEW_FLOW}"')
    prefect_yaml = project / "prefect.yaml"
    for name, new in renamed.items():
        replace(prefect_yaml, rf"(?m)^(\s*-\s*name:\s*){re.escape(name)}\s*$", rf"\g<1>{new}")
    replace(prefect_yaml, rf"\bflows/{old.module}\.py:", f"flows/{NEW_MODULE}.py:")

    # What is left names the old module, flow or deployments: the tests and the pipeline page.
    left = {item.split(":")[0] for item in stale(names, project)}
    assert left and all(path.startswith("tests/") or path == "docs/pipeline.md" for path in left), left
    assert "docs/pipeline.md" in left, left

    # The tests that import or start the module (the recipe's grep), and the pipeline page.
    imports = re.compile(rf"flows[./]{old.module}\b")
    tests = sorted((project / "tests").rglob("*.py"))
    importers = [path for path in tests if imports.search(path.read_text(encoding="utf-8"))]
    for path in importers:
        replace(path, rf"flows([./]){old.module}\b", rf"flows\g<1>{NEW_MODULE}")
    page = project / "docs" / "pipeline.md"
    replace(page, rf"flows([./]){old.module}\b", rf"flows\g<1>{NEW_MODULE}")
    for name, new in {old.name: NEW_FLOW, **renamed}.items():
        replace(page, f"`{re.escape(name)}`", f"`{new}`")

    assert stale(names, project) == []
    assert names.default_flow_module(flows) == NEW_MODULE
    assert names.default_deployment(prefect_yaml, flows) == f"{NEW_FLOW}/{renamed[deployments[0]]}"
    for path in [module, *importers]:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    touched = changed_files(project)
    print(f"\nthe rename touched {len(touched)} files: {', '.join(touched)}")
    assert touched and all(
        path.startswith(("flows/", "tests/")) or path in {"prefect.yaml", "docs/pipeline.md"}
        for path in touched
    ), touched


def test_only_the_pipeline_page_names_the_examples_datasets(bakes: dict[str, Path]) -> None:
    found = []
    for case, project in bakes.items():
        package = next(path for path in (project / "src").iterdir() if path.name != "prefect_polars_cloud")
        datasets = dataset_names(package / "datasets.py")
        assert {"orders", "customers"} <= datasets, datasets  # the example's, read from its declarations
        word = re.compile(rf"\b({'|'.join(sorted(datasets))})\b")
        # The Iceberg table setting's default is a setting, named after the report but not it.
        table = str(settings_defaults(package / "settings.py")["iceberg_table"])
        namespace, _, name = table.partition(".")
        for page in [project / "README.md", *sorted((project / "docs").glob("*.md"))]:
            if page.name == "pipeline.md":
                continue
            for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
                line = line.replace(table, "").replace(f'"{namespace}"."{name}"', "")
                if match := word.search(line):
                    found.append(f"{case}: {page.relative_to(project)}:{number}: {match[0]}: {line.strip()}")
    assert not found, "pages other than docs/pipeline.md name the example's datasets:\n" + "\n".join(found)


def rename_recipe(project: Path) -> str:
    """Return the README's bullet on renaming the flow, joined into one line."""
    readme = (project / "README.md").read_text(encoding="utf-8")
    start = readme.index("- **The flow**")
    end = readme.index("\n- **", start + 1)
    return " ".join(readme[start:end].split())


def replace(path: Path, pattern: str, replacement: str) -> None:
    """Replace a pattern in a file, failing when it is not there."""
    text = path.read_text(encoding="utf-8")
    new, count = re.subn(pattern, replacement, text)
    assert count, f"{pattern!r} not found in {path}"
    path.write_text(new, encoding="utf-8")


def commit(project: Path) -> None:
    """Commit everything the bake staged."""
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    command = ["git", *identity, "commit", "-qm", "generated", "--no-verify"]
    subprocess.run(command, cwd=project, check=True, capture_output=True)


def changed_files(project: Path) -> list[str]:
    """Return the files git sees changed, added or removed in the bake (a rename counts once)."""
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, capture_output=True)
    status = subprocess.run(
        ["git", "diff", "--cached", "--name-only", "-M", "--diff-filter=AMDR"],
        cwd=project, check=True, capture_output=True, text=True,
    ).stdout
    return sorted(status.split())


def dataset_names(datasets_py: Path) -> set[str]:
    """Return the names the room's dataset declarations give (a snapshot input's file stem)."""
    names = set()
    for node in ast.walk(ast.parse(datasets_py.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in DATASET_CLASSES:
            first = node.args[0] if node.args else next(
                (keyword.value for keyword in node.keywords if keyword.arg in ("name", "path")), None
            )
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.add(Path(first.value).name.split(".")[0])
    return names
