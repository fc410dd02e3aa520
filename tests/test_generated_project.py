"""Inside a bake of every backend, the generated repository's own checks pass (slow: installs).

One bake per backend, each with another work pool type (conftest.INSTALLED), installed once and
shared by the tests of that backend and by test_work_pools.py. The `env` bake is the defaults
bake, so it also runs the daily report; the others carry project names with "secret", "key" and
"password" in them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from conftest import Installed
from helpers import BACKENDS, answers_for, describe, run, run_ok

pytestmark = pytest.mark.slow

REPORT_COLUMNS = ["order_date", "segment", "country", "orders", "revenue"]


@pytest.fixture(scope="module", params=BACKENDS)
def project(request: pytest.FixtureRequest, installed_backend: Callable[[str], Installed]) -> Installed:
    """Return the installed bake of each backend in turn."""
    return installed_backend(request.param)


@pytest.fixture(scope="module")
def default_project(installed_backend: Callable[[str], Installed]) -> Installed:
    """Return the installed bake of the defaults (the env backend)."""
    assert answers_for()["secret_backend"] == "env"
    return installed_backend("env")


def test_make_install(project: Installed) -> None:
    assert project.install.returncode == 0, describe(project.install)


def test_lock_is_current(project: Installed) -> None:
    # Fails when the template's pyproject.toml moved on without scripts/relock.py.
    result = run(["uv", "lock", "--check"], project.path, env=project.env, timeout=300)
    assert result.returncode == 0, (
        describe(result) + "\nthe rendered uv.lock is stale: run `uv run python scripts/relock.py`"
    )


def test_make_test(project: Installed) -> None:
    result = project.make("test")
    assert result.returncode == 0, describe(result)


def test_the_tests_make_test_skips_pass(default_project: Installed) -> None:
    # Marked slow in the bake (a real `prefect server start`, make targets that wait out a
    # bound): `make test` skips them, `--run-slow` runs them. Their subjects (the lock's
    # scheduler, the Makefile's bounded API check) are the same in every bake: once is enough.
    if default_project.install.returncode != 0:
        pytest.skip("make install failed; see test_make_install")
    command = ["uv", "run", "--locked", "pytest", "--run-slow", "-m", "slow", "-p", "no:cacheprovider"]
    result = run(command, default_project.path, env=default_project.env, timeout=900)
    assert result.returncode == 0, describe(result)
    last = result.stdout.strip().splitlines()[-1]
    assert " passed" in last and "skipped" not in last, describe(result)


def test_make_lint_passes_and_changes_nothing(project: Installed) -> None:
    result = project.make("lint")
    changed = project.unclean_files()
    problems = []
    if result.returncode != 0:
        problems.append(describe(result))
    if changed:
        diff = run(["git", "diff"], project.path, env=project.env).stdout
        problems.append("files changed by `make lint`:\n" + "\n".join(changed) + "\n" + diff)
    assert not problems, "\n\n".join(problems)


def test_make_lint_checks_a_file_git_does_not_track_yet(default_project: Installed) -> None:
    # A new module, not `git add`-ed yet: `pre-commit run --all-files` alone never sees it.
    new = default_project.baked.package / "not_added_yet.py"
    new.write_text("import os\n", encoding="utf-8")
    try:
        untracked = default_project.unclean_files()
        result = default_project.make("lint")
        after = new.read_text(encoding="utf-8")
    finally:
        new.unlink(missing_ok=True)

    relative = new.relative_to(default_project.path).as_posix()
    assert f"?? {relative}" in untracked, untracked
    assert result.returncode != 0, describe(result)
    assert re.search(r"^ruff check\.+Failed$", result.stdout, re.MULTILINE), describe(result)
    assert "import os" not in after, "ruff never saw the unused import"


def test_make_run_writes_the_daily_report(default_project: Installed) -> None:
    result = default_project.make("run")
    assert result.returncode == 0, describe(result)
    report = default_project.path / "data" / "output" / "daily_report"
    days = sorted(p.name for p in (default_project.path / "data" / "sample" / "orders").iterdir())
    assert len(days) == 7, days  # the default sample: a week ending yesterday
    assert sorted(p.name for p in report.iterdir()) == days, describe(result)
    # Read it with the project's own Polars: the contract's columns, and some rows.
    shape = run_ok(
        [
            "uv",
            "run",
            "--locked",
            "python",
            "-c",
            "import sys, polars as pl; r = pl.read_parquet(sys.argv[1]); print(','.join(r.columns)); print(r.height)",
            f"{report}/{days[-1]}/",
        ],
        default_project.path,
        env=default_project.env,
    ).stdout.split()
    assert shape[-2].split(",") == REPORT_COLUMNS
    assert int(shape[-1]) > 0


SAME_REPORT = """
import sys, polars as pl
local, simulated = (
    pl.scan_parquet(path + "/", hive_partitioning=True).sort("date", "order_date", "segment", "country").collect()
    for path in sys.argv[1:]
)
assert local.drop("revenue").equals(simulated.drop("revenue")), (local, simulated)
assert (local["revenue"] - simulated["revenue"]).abs().max() < 1e-6
print(simulated.height)
"""


def test_make_run_cloud_sim_is_labelled_and_reports_what_the_local_run_does(
    default_project: Installed,
) -> None:
    local = default_project.path / "data" / "output" / "daily_report"
    if not local.exists():
        assert default_project.make("run").returncode == 0
    result = run(["make", "run", "CLOUD=sim"], default_project.path, env=default_project.env, timeout=600)

    assert result.returncode == 0, describe(result)
    assert result.stdout.count("SIMULATION") >= 2, describe(result)  # before and after the run
    simulated = default_project.path / "data" / "output" / "simulated" / "daily_report"
    rows = run_ok(
        ["uv", "run", "--locked", "python", "-c", SAME_REPORT, str(local), str(simulated)],
        default_project.path,
        env=default_project.env,
    ).stdout.split()
    assert int(rows[-1]) > 0


def test_make_run_leaves_the_work_tree_clean(default_project: Installed) -> None:
    # Sample data and outputs are git-ignored: a run adds nothing for `git status` to show.
    if not (default_project.path / "data" / "output").exists():
        result = default_project.make("run")
        assert result.returncode == 0, describe(result)
    assert [line for line in default_project.unclean_files() if "data/" in line] == []
