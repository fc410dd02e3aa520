"""Inside a bake of every backend, the generated repository's own checks pass (slow: installs).

One bake per backend, each with another work pool type (conftest.INSTALLED), installed once and
shared by the tests of that backend and by test_work_pools.py. The `env` bake is the defaults
bake, so it also runs the daily report and the tests `make test` skips; the others carry project
names with "secret", "key" and "password" in them, the aws-secrets-manager one the longest slug
allowed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from conftest import INSTALLED, Installed
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
    # bound, runs started and signalled in every way a user starts one): `make test` skips
    # them, `--run-slow` runs them. Their subjects (the lock's scheduler, the Makefile's bounded
    # API check, the run's stops) are the same in every bake: once is enough. One process:
    # test_hung_api's bounds are the Makefile's contract, and a second worker's load broke them.
    if default_project.install.returncode != 0:
        pytest.skip("make install failed; see test_make_install")
    command = ["uv", "run", "--locked", "pytest", "--run-slow", "-m", "slow", "-p", "no:cacheprovider"]
    result = run(command, default_project.path, env=default_project.env, timeout=1500)
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


# --- output_format=iceberg: the report as a table ---------------------------------------------

READ_TABLE = """
import sys, polars as pl
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///data/iceberg/catalog.db", warehouse="file:///unused")
table = catalog.load_table(sys.argv[1])
rows = pl.scan_iceberg(table, reader_override="native").collect()
print(len(table.snapshots()), rows.height, ",".join(str(d) for d in sorted(set(rows["date"]))))
"""

SAME_AS_THE_TABLE = """
import sys, polars as pl
from pyiceberg.catalog.sql import SqlCatalog
catalog = SqlCatalog("default", uri="sqlite:///data/iceberg/catalog.db", warehouse="file:///unused")
keys = ["date", "order_date", "segment", "country"]
local = pl.scan_iceberg(catalog.load_table(sys.argv[1])).collect().sort(keys)
simulated = pl.scan_parquet(sys.argv[2] + "/", hive_partitioning=True).collect().select(local.columns).sort(keys)
assert local.drop("revenue").equals(simulated.drop("revenue")), (local, simulated)
assert (local["revenue"] - simulated["revenue"]).abs().max() < 1e-6
print(simulated.height)
"""


@pytest.fixture(scope="module")
def iceberg_project(installed_backend: Callable[[str], Installed]) -> Installed:
    """Return the installed bake whose report is an Iceberg table."""
    return installed_backend("iceberg")


def test_an_iceberg_bake_passes_its_tests_and_lint(iceberg_project: Installed) -> None:
    assert iceberg_project.install.returncode == 0, describe(iceberg_project.install)
    lock = run(["uv", "lock", "--check"], iceberg_project.path, env=iceberg_project.env, timeout=300)
    assert lock.returncode == 0, describe(lock)
    tests = iceberg_project.make("test", timeout=1200)
    assert tests.returncode == 0, describe(tests)
    assert not re.search(r"SKIPPED \[\d+\] tests/test_iceberg\.py", tests.stdout), "its own tests ran"
    lint = iceberg_project.make("lint")
    assert lint.returncode == 0, describe(lint)
    assert iceberg_project.unclean_files() == []


def test_an_iceberg_bake_runs_into_its_table_locally_and_on_the_simulator(
    iceberg_project: Installed,
) -> None:
    table = f"{iceberg_project.baked.answers['package_name']}.daily_report"
    local = iceberg_project.make("run")
    assert local.returncode == 0, describe(local)
    assert f"Iceberg table `{table}`" in local.stdout and "snapshot `" in local.stdout
    assert "pl.scan_iceberg(" in local.stdout, "make run says how to read it"
    python = ["uv", "run", "--locked", "python", "-c"]
    env, path = iceberg_project.env, iceberg_project.path
    snapshots, rows, days = run_ok([*python, READ_TABLE, table], path, env=env).stdout.split()
    assert (int(snapshots), len(days.split(","))) == (1, 7) and int(rows) > 0

    rerun = run(["make", "run", "START=" + days.split(",")[-1]], path, env=env, timeout=600)
    assert rerun.returncode == 0, describe(rerun)
    snapshots, rows_after, _ = run_ok([*python, READ_TABLE, table], path, env=env).stdout.split()
    assert (int(snapshots), rows_after) == (2, rows), "one more commit, the same report"

    simulated = run(["make", "run", "CLOUD=sim"], path, env=env, timeout=600)
    assert simulated.returncode == 0, describe(simulated)
    assert simulated.stdout.count("SIMULATION") >= 2 and f"Iceberg table `{table}`" in simulated.stdout
    copy = path / "data" / "output" / "simulated" / "daily_report"
    assert int(run_ok([*python, SAME_AS_THE_TABLE, table, str(copy)], path, env=env).stdout.split()[-1]) > 0
    assert [line for line in iceberg_project.unclean_files() if "data/" in line] == []


def test_an_installed_bake_has_a_64_character_slug() -> None:
    # The longest slug allowed, in every name the bake derives from it: Polars Cloud cuts query
    # labels to 32 bytes, and the tests compare them as the client sends them; ruff must find
    # nothing to re-wrap in the lines that hold the package's name, right after the bake. That
    # bake's install, tests and lint are test_make_install, test_make_test and
    # test_make_lint_passes_and_changes_nothing above.
    assert len(answers_for(INSTALLED["aws-secrets-manager"])["project_slug"]) == 64
