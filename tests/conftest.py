"""Fixtures: a bake helper, the option matrix every bake test runs over, a quiet cookiecutter."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import Baked, answers_for, clean_environment, run, run_ok
from helpers import bake as bake_into

INSTALL_TIMEOUT = 1200  # a cold uv cache downloads Prefect, Polars and friends
# Never collected here, where Polars and Prefect are not installed: the library's own tests run
# inside an installed bake's environment (test_library.py), the make-it-yours fixtures inside a
# bake of their own (test_make_it_yours.py).
collect_ignore = ["library", "make_it_yours"]


@dataclass(frozen=True)
class Case:
    """One combination of answers; everything not listed takes its default."""

    id: str
    answers: dict[str, str] = field(default_factory=dict)


# Every secret backend and work pool type, plus compute answers away from their defaults. Add a case here when a
# new answer changes what is generated.
MATRIX = (
    Case("defaults"),
    Case(
        "aws-secrets-manager",
        {"secret_backend": "aws-secrets-manager", "secret_name": "prod/polars-cloud", "aws_region": "eu-west-2"},
    ),
    Case("prefect-secret", {"secret_backend": "prefect-secret", "secret_name": "polars-cloud-sa"}),
    Case("aws-secret-block", {"secret_backend": "aws-secret-block", "aws_region": "ap-southeast-2"}),
    Case("large-cluster-of-3", {"large_cluster_size": "3", "large_cpus": "8", "large_memory": "32"}),
    Case(
        "workspace-and-custom-sizes",
        {
            "project_name": "Ops Metrics",
            "workspace": "analytics-team",
            "small_cpus": "1",
            "small_memory": "2",
            "large_cpus": "16",
            "large_memory": "64",
            "idle_timeout_mins": "10",
            "data_uri": "gs://ops-bucket/metrics",
            "work_pool": "k8s.pool_1",
            "image": "registry.example.com:5000/acme/ops-metrics",
            "schedule_cron": "30 5 * * 1-5",
        },
    ),
    # Every work pool type (docker is the default), and webhook alerts.
    Case(
        "ecs-with-roles",
        {
            "work_pool_type": "ecs",
            "secret_backend": "aws-secrets-manager",
            "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/daily-reports",
            "ecs_task_role_arn": "arn:aws:iam::123456789012:role/daily-reports-task",
            "ecs_execution_role_arn": "arn:aws:iam::123456789012:role/ecs/daily-reports-execution",
        },
    ),
    Case("ecs-pool-roles", {"work_pool_type": "ecs", "work_pool": "shared-ecs"}),
    Case(
        "kubernetes",
        {
            "work_pool_type": "kubernetes",
            "kubernetes_namespace": "data-jobs",
            "kubernetes_service_account": "reports.runner",
        },
    ),
    Case("process-with-webhook-alerts", {"work_pool_type": "process", "alerts": "webhook"}),
    # The report as an Iceberg table: its group, page and tests, and the user's room declaring it.
    Case("iceberg", {"output_format": "iceberg", "secret_backend": "aws-secrets-manager"}),
    Case("iceberg-on-gcs", {"output_format": "iceberg", "data_uri": "gs://lake/reports", "work_pool_type": "process"}),
)


@pytest.fixture(scope="session", autouse=True)
def quiet_cookiecutter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep cookiecutter's replay files and clones out of the home directory, for the API and the CLI."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(f"replay_dir: {home / 'replay'}\ncookiecutters_dir: {home / 'templates'}\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COOKIECUTTER_CONFIG", str(config))
        yield


@pytest.fixture
def bake(tmp_path: Path) -> Callable[..., Baked]:
    """Return bake(**answers) -> Baked, generating into this test's temporary directory."""

    def _bake(**answers: str) -> Baked:
        output = tmp_path / f"bake-{len(list(tmp_path.glob('bake-*')))}"
        return Baked(bake_into(output, answers), answers_for(answers))

    return _bake


@pytest.fixture(scope="module", params=MATRIX, ids=[case.id for case in MATRIX])
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Baked:
    """Bake one case of the matrix, once per test module; tests must not change it."""
    case: Case = request.param
    output = tmp_path_factory.mktemp(f"baked-{case.id}")
    return Baked(bake_into(output, case.answers), answers_for(case.answers))


# The bakes the slow tests install, one per secret backend, each with another work pool type so
# that every type's own tests and lint run too (test_generated_project.py) and every type
# deploys to a real server (test_work_pools.py).
# The non-default bakes also carry names with "key", "secret" and "password" in them: leak
# checks must look for secret values, never for words in names. The aws-secrets-manager bake's
# name makes the longest slug allowed (64 characters), in every name derived from it.
INSTALLED: dict[str, dict[str, str]] = {
    "env": {"secret_backend": "env"},  # the defaults: a docker pool
    "aws-secrets-manager": {
        "project_name": "Api Key Usage Reports For The Platform Engineering Billing Group",
        "secret_backend": "aws-secrets-manager",
        "work_pool_type": "kubernetes",
        "kubernetes_namespace": "data-jobs",
        "kubernetes_service_account": "daily-reports-runner",
    },
    "prefect-secret": {
        "project_name": "Secret Santa Reports",
        "secret_backend": "prefect-secret",
        "work_pool_type": "process",
        "alerts": "webhook",
    },
    "aws-secret-block": {
        "project_name": "Password Vault Stats",
        "secret_backend": "aws-secret-block",
        "work_pool_type": "ecs",
        "ecs_task_role_arn": "arn:aws:iam::123456789012:role/daily-reports-task",
        "ecs_execution_role_arn": "arn:aws:iam::123456789012:role/daily-reports-execution",
    },
    # Not a backend: the report as an Iceberg table (test_generated_project.py's iceberg tests).
    "iceberg": {"project_name": "Lake Reports", "output_format": "iceberg"},
}


@dataclass(frozen=True)
class Installed:
    """A bake, the environment its commands run with, and how `make install` went."""

    baked: Baked
    env: dict[str, str]
    install: subprocess.CompletedProcess[str]

    @property
    def path(self) -> Path:
        """Return the project directory."""
        return self.baked.path

    def make(self, target: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run `make <target>` in the project; skip when the project never installed."""
        if self.install.returncode != 0:
            pytest.skip("make install failed; see test_make_install")
        return run(["make", target], self.path, env=self.env, timeout=timeout)

    def unclean_files(self) -> list[str]:
        """Return `git status` lines for files changed or created since the post-gen hook staged all."""
        status = run_ok(["git", "status", "--porcelain", "--untracked-files=all"], self.path, env=self.env)
        # XY codes: a file the hook staged and nothing touched since reads "A ".
        return [line for line in status.stdout.splitlines() if line[1] != " "]


@pytest.fixture(scope="session")
def installed_backend(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Installed]:
    """Return backend -> its bake (INSTALLED) after `make install`, each baked and installed once."""
    projects: dict[str, Installed] = {}

    def get(backend: str) -> Installed:
        if backend not in projects:
            root = tmp_path_factory.mktemp(f"installed-{backend}")
            answers = INSTALLED[backend]
            baked = Baked(bake_into(root, answers), answers_for(answers))
            # Prefect's embedded server keeps its database under PREFECT_HOME: one per bake,
            # outside the repository, so git status only shows what the checks changed.
            env = clean_environment(
                PREFECT_HOME=str(root / "prefect-home"), PREFECT_SERVER_ANALYTICS_ENABLED="false"
            )
            install = run(["make", "install"], baked.path, env=env, timeout=INSTALL_TIMEOUT)
            projects[backend] = Installed(baked, env, install)
        return projects[backend]

    return get


# Which installed bake each slow test works in: conftest.installed_backend installs a bake once
# per pytest process, so under xdist (`-n 2 --dist loadgroup` in pyproject.toml) the tests of one
# bake go to one worker together, and the tests of other bakes to the other.
BAKE_OF_FIXTURE = {"default_project": "env", "iceberg_project": "iceberg"}


def xdist_group(item: pytest.Item) -> str:
    """Return the group of one test: its installed bake's backend, else its module."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "project" in callspec.params and callspec.params["project"] in INSTALLED:
        return f"installed-{callspec.params['project']}"
    fixtures = getattr(item, "fixturenames", ())
    for fixture, backend in BAKE_OF_FIXTURE.items():
        if fixture in fixtures:
            return f"installed-{backend}"
    # test_library.py: the library's tests run in the aws-secret-block bake.
    bake = getattr(item.module, "LIBRARY_BAKE", None)
    if bake is not None and "installed_backend" in fixtures:
        return f"installed-{bake}"
    return item.module.__name__


def pytest_configure() -> None:
    """Let the bakes' runs hear Ctrl-C even when this suite was started in a script's background.

    Such a job starts with SIGINT ignored, an ignored signal survives exec, and the library's
    stops leave it ignored (as nohup asks): the stop tests' Ctrl-C would go unheard.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its xdist group (see xdist_group).

    tryfirst: xdist's worker reads the marks in its own hook of this name to suffix each
    node id with its group; a mark added after that hook ran groups nothing.
    """
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))


def pytest_xdist_node_collection_finished(node: object, ids: list[str]) -> None:
    """Stop the run when xdist lost the groups: every installed bake would be installed twice.

    Runs in the controller. A grouped node id ends with "@<group>"; if none does, the workers
    run tests wherever there is room (pytest-dev/pytest-xdist#1386) and module fixtures such as
    test_make_it_yours's swapped bake are rebuilt on the other worker.
    """
    # The test xdist's scheduler applies: an "@" after the parameters' closing bracket.
    if ids and not any(node_id.rfind("@") > node_id.rfind("]") for node_id in ids):
        raise pytest.UsageError(
            "pytest-xdist did not group the tests (no node id carries its xdist_group): "
            "check the pytest pin in pyproject.toml, or run with -p no:xdist"
        )


def pytest_report_header() -> str:
    """Say which uv and git the baked projects will use."""
    return f"uv: {shutil.which('uv') or 'MISSING'}, git: {shutil.which('git') or 'MISSING'}"
