"""The library's own tests (tests/library), run once here instead of in every bake.

src/prefect_polars_cloud is the same bytes in every bake (test_bake.py), so its tests need one
environment, not one per bake: an installed bake's (slow: conftest.installed_backend), which has
Polars, Prefect, moto and pytest-xdist, while this environment has none of them. They run with a
project of their own (tests/library/toy_pipeline) made current with
`prefect_polars_cloud.config.project.using`, so they also show the library needs no example. The
bake is the aws-secret-block one, the only one that installs prefect-aws, which some of them need:
one run of them all, one Prefect server per worker.

By hand, from the aws-secret-block bake (from any other, --ignore the files NEEDS_PREFECT_AWS names):
    uv run --locked pytest -c <template>/tests/library/pytest.ini <template>/tests/library
"""

from __future__ import annotations

import re
import subprocess
from xml.etree import ElementTree
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Installed
from helpers import EXAMPLE_NAMES, TEMPLATE, describe, run

LIBRARY_TESTS = TEMPLATE / "tests" / "library"
# The tests that import prefect-aws: only the aws-secret-block bake installs it.
NEEDS_PREFECT_AWS = ("test_aws_secret_block.py",)
# The bake they run in.
LIBRARY_BAKE = "aws-secret-block"
TEMPLATE_SYNTAX = ("{{ cookiecutter", "{{cookiecutter", "{%", "%}")
SUITE_TIMEOUT = 1800  # two Prefect servers and every cloud path on a busy 2-core machine


def library_test_files() -> list[Path]:
    """Return every file of tests/library but caches (__pycache__, .ruff_cache, ...)."""
    return sorted(
        path
        for path in LIBRARY_TESTS.rglob("*")
        if path.is_file()
        and not any(part.startswith((".", "__")) for part in path.relative_to(LIBRARY_TESTS).parts[:-1])
    )


def test_the_library_tests_are_plain_files_that_know_no_example() -> None:
    # Not rendered by cookiecutter, and the toy project stands in for the example.
    found = [
        f"{path.relative_to(LIBRARY_TESTS)}:{number}: {line.strip()}"
        for path in library_test_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if EXAMPLE_NAMES.search(line) or any(marker in line for marker in TEMPLATE_SYNTAX)
    ]
    assert not found, "the library's tests name the example or use Jinja:\n" + "\n".join(found)


def test_the_library_tests_import_nothing_of_a_bake_but_the_library() -> None:
    # Their project is the toy, made current with using(): no bake's flows/, tests/ or package
    # (the defaults bake's package, daily_reports, is an example name: the test above refuses it).
    imports = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", flags=re.MULTILINE)
    found = [
        f"{path.relative_to(LIBRARY_TESTS)}: {module}"
        for path in library_test_files()
        if path.suffix == ".py"
        for module in imports.findall(path.read_text(encoding="utf-8"))
        if module.split(".")[0] in {"flows", "tests"}
    ]
    assert not found


def run_library_tests(project: Installed, cwd: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Run tests/library with the bake's Python, from cwd (anywhere: they need no directory)."""
    if project.install.returncode != 0:
        pytest.skip("make install failed; see test_generated_project.py::test_make_install")
    python = project.path / ".venv" / "bin" / "python"
    command = [str(python), "-m", "pytest", "-c", str(LIBRARY_TESTS / "pytest.ini"), *arguments]
    return run(command, cwd, env=project.env, timeout=SUITE_TIMEOUT)


def outcome(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Return the counts of pytest's last line: {"passed": 160, "skipped": 1, ...}."""
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return {word: int(count) for count, word in re.findall(r"(\d+) (\w+)", last)}


def ran(junit_xml: Path) -> dict[str, str]:
    """Return test id -> outcome ("passed", "failed", "error" or "skipped") from a JUnit XML report."""
    outcomes = {}
    for case in ElementTree.parse(junit_xml).getroot().iter("testcase"):
        found = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcomes[f"{case.get('classname')}.{case.get('name')}"] = found[0] if found else "passed"
    return outcomes


@pytest.mark.slow
def test_the_library_tests_pass_in_the_aws_secret_block_bake(
    installed_backend: Callable[[str], Installed], tmp_path: Path
) -> None:
    project = installed_backend(LIBRARY_BAKE)
    report = tmp_path / "library.xml"

    result = run_library_tests(project, tmp_path, str(LIBRARY_TESTS), f"--junitxml={report}")

    assert result.returncode == 0, describe(result)
    counts = outcome(result)
    assert counts.get("passed", 0) > 100 and set(counts) == {"passed"}, describe(result)
    # The prefect-aws tests among them, collected and passed.
    outcomes = ran(report)
    for name in NEEDS_PREFECT_AWS:
        module = name.removesuffix(".py")
        theirs = {test: got for test, got in outcomes.items() if test.startswith(f"{module}.")}
        assert theirs and set(theirs.values()) == {"passed"}, (name, theirs)


@pytest.mark.slow
def test_the_library_tests_pass_the_bakes_linters(
    installed_backend: Callable[[str], Installed],
) -> None:
    project = installed_backend(LIBRARY_BAKE)
    if project.install.returncode != 0:
        pytest.skip("make install failed; see test_generated_project.py::test_make_install")
    ruff = str(project.path / ".venv" / "bin" / "ruff")
    # tests/library/ruff.toml holds the bake's rules; nothing may need fixing or formatting.
    for command in ([ruff, "check", "--no-fix", "."], [ruff, "format", "--check", "."]):
        command.insert(2, "--no-cache")  # nothing written into the template
        result = run(command, LIBRARY_TESTS, env=project.env)
        assert result.returncode == 0, describe(result)
