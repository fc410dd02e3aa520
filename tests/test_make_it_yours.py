"""Make it yours: another pipeline and a second flow on a fresh bake, by the README's steps.

The swap (tests/make_it_yours/swap: sensor readings as NDJSON by day, a sensor table as CSV,
statistics per site out) may change at most five files outside tests/, all in the package or the
flow; the second flow (a site's day against its week, read from the first flow's published
statistics with a lookback) is one flow file plus its prefect.yaml entries. Then the bake's own
tests, lint, and both flows locally and on the simulated cloud are green (slow: installs a bake).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import Baked, answers_for, bake, clean_environment, describe, run, run_ok

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent / "make_it_yours"
# The tests of the example pipeline, as the generated README's "Swap the pipeline" lists them:
# the swap replaces them with its own; every other test must hold for any pipeline.
EXAMPLE_TESTS = (
    "reference.py",
    "test_flow_local.py",
    "test_flow_cloud.py",
    "test_sample_data.py",
    "test_input_errors.py",
    "test_crash_recovery.py",
)
ROOM_FILES = ("datasets.py", "queries.py", "sample_data.py", "summary.py")
INSTALL_TIMEOUT = 1200


def copy_in(source: Path, target: Path, package: str) -> None:
    """Copy a fixture into the bake, naming the bake's package."""
    target.write_text(source.read_text().replace("PACKAGE", package), encoding="utf-8")


def changed_outside_tests(project: Path) -> list[str]:
    """Return the files git sees changed, added or removed since the last commit, tests/ aside."""
    status = run_ok(["git", "status", "--porcelain", "--untracked-files=all"], project).stdout
    paths = [line[3:].strip() for line in status.splitlines()]
    return sorted(path for path in paths if not path.startswith("tests/"))


def commit(project: Path, message: str) -> None:
    """Commit everything, so the next step's changes can be counted alone."""
    run_ok(["git", "add", "-A"], project)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    run_ok(["git", *identity, "commit", "-qm", message, "--no-verify"], project)


def swap_the_pipeline(project: Path, package: str) -> None:
    """Replace the example's room files and flow, and its tests, with the sensor pipeline's."""
    for name in ROOM_FILES:
        copy_in(FIXTURES / "swap" / name, project / "src" / package / name, package)
    copy_in(FIXTURES / "swap" / "daily_report.py", project / "flows" / "daily_report.py", package)
    readme = (project / "README.md").read_text(encoding="utf-8")
    for name in EXAMPLE_TESTS:
        assert f"`{name}`" in readme, f"the README's swap steps no longer list tests/{name}"
        (project / "tests" / name).unlink()
    copy_in(FIXTURES / "swap" / "test_site_stats.py", project / "tests" / "test_site_stats.py", package)


def add_the_second_flow(project: Path, package: str) -> None:
    """Add flows/site_alerts.py (it reads the report), its test, and copies of the deployments."""
    copy_in(FIXTURES / "second_flow" / "site_alerts.py", project / "flows" / "site_alerts.py", package)
    copy_in(
        FIXTURES / "second_flow" / "test_site_alerts.py",
        project / "tests" / "test_site_alerts.py",
        package,
    )
    prefect_yaml = project / "prefect.yaml"
    text = prefect_yaml.read_text(encoding="utf-8")
    head, deployments = text.split("\ndeployments:\n", 1)
    copies = (
        deployments.replace("name: daily-report", "name: site-alerts")
        .replace("flows/daily_report.py:daily_report", "flows/site_alerts.py:site_alerts")
    )
    prefect_yaml.write_text(f"{head}\ndeployments:\n{deployments.rstrip()}\n\n{copies}", "utf-8")


@dataclass(frozen=True)
class Project:
    """The fresh bake the steps are applied to, its package, and the environment to run it."""

    path: Path
    package: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A fresh default bake; the first test swaps the pipeline and adds the second flow."""
    root = tmp_path_factory.mktemp("make-it-yours")
    baked = Baked(bake(root), answers_for())
    env = clean_environment(
        PREFECT_HOME=str(root / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false"
    )
    commit(baked.path, "generated")  # the post-gen hook stages everything; a user commits
    return Project(baked.path, baked.answers["package_name"], env)


def test_the_swap_and_the_second_flow_touch_only_the_room_and_the_flows(project: Project) -> None:
    path, package = project.path, project.package

    swap_the_pipeline(path, package)
    swapped = changed_outside_tests(path)
    commit(path, "the sensors' pipeline")
    add_the_second_flow(path, package)
    second = changed_outside_tests(path)
    commit(path, "a second flow")

    # The rename recipe's count is tests/test_names.py's (it prints it too).
    print(f"\nthe swap touched {len(swapped)} files outside tests/: {', '.join(swapped)}")
    print(f"the second flow touched {len(second)} files outside tests/: {', '.join(second)}")
    assert len(swapped) <= 5, swapped
    assert all(name.startswith((f"src/{package}/", "flows/")) for name in swapped), swapped
    assert second == ["flows/site_alerts.py", "prefect.yaml"]


@pytest.mark.parametrize(
    "targets",
    [
        ["install"],
        ["test"],
        ["lint"],
        # Two flows now: `make run` alone lists them and asks for FLOW.
        ["run", "FLOW=daily_report"],
        ["run", "CLOUD=sim", "FLOW=daily_report"],
        ["run", "FLOW=site_alerts"],
        ["run", "CLOUD=sim", "FLOW=site_alerts"],
    ],
    ids=" ".join,
)
def test_every_target_is_green_on_the_new_pipeline(project: Project, targets: list[str]) -> None:
    if not (project.path / "flows" / "site_alerts.py").exists():
        pytest.skip("the swap did not apply; see the test above")
    command = ["make", *targets, "ROWS=500", "DAYS=2"]
    result = run(command, project.path, env=project.env, timeout=INSTALL_TIMEOUT)
    assert result.returncode == 0, describe(result)
    if targets[0] == "run":
        output = project.path / "data" / "output"
        if "CLOUD=sim" in targets:
            output = output / "simulated"
            assert "SIMULATION" in result.stdout
        name = "site_alerts" if "FLOW=site_alerts" in targets else "site_stats"
        days = {path.parent.name for path in (output / name).glob("date=*/*.parquet")}
        assert len(days) == 2, result.stdout
        if name == "site_alerts":
            assert_the_week_is_read_from_the_published_stats(project, output)


def assert_the_week_is_read_from_the_published_stats(project: Project, output: Path) -> None:
    """The later day's week_mean is the readings-weighted mean of both days the report published."""
    # The bake's Python reads the Parquet: this environment has no Polars.
    check = f"""
import json, polars as pl
stats = pl.read_parquet({str(output / "site_stats")!r}, hive_partitioning=True)
alerts = pl.read_parquet({str(output / "site_alerts")!r}, hive_partitioning=True)
later = alerts["date"].max()
weighted = (pl.col("mean") * pl.col("readings")).sum() / pl.col("readings").sum()
expected = stats.filter(pl.col("date") <= later).group_by("site").agg(weighted.round(3))
got = alerts.filter(pl.col("date") == later).select("site", "week_mean")
print(json.dumps([sorted(expected.rows()), sorted(got.rows())]))
"""
    python = str(project.path / ".venv" / "bin" / "python")
    expected, got = json.loads(run_ok([python, "-c", check], project.path, env=project.env).stdout)
    # Both sides rounded to 3 decimals from the same published means: equal up to the last digit.
    assert [site for site, _ in got] == [site for site, _ in expected]
    assert [mean for _, mean in got] == pytest.approx([mean for _, mean in expected], abs=1e-3)
