"""prefect.yaml, read as `prefect deploy` reads it: what each deployment runs, where and how."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_polars_cloud.settings import get_settings

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

from .conftest import CLIENT_ID, CLIENT_SECRET, SECRET_VARIABLES

PROJECT = Path(__file__).resolve().parent.parent
WORK_POOL_TYPE = {{ cookiecutter.work_pool_type | tojson }}
# A process worker runs a checkout; every other type runs the image the deployment builds.
BUILDS_IMAGE = WORK_POOL_TYPE != "process"
BUILD_STEP = "prefect_docker.deployments.steps.build_docker_image"
PUSH_STEP = "prefect_docker.deployments.steps.push_docker_image"
PULL_STEP = "prefect.deployments.steps.set_working_directory"
# Job variables and parameters are stored in the Prefect API and shown in its UI: no variable
# that carries a secret, no secret value, and no placeholder `prefect deploy` would resolve to
# one (a block's value, or a secret variable's: `$NAME`, `${NAME}`).
SECRET_REFERENCE = re.compile(
    r"prefect\.blocks\.|\$\{?\s*(" + "|".join(sorted(SECRET_VARIABLES)) + r")\b"
)
# Prefect's placeholder delimiters, spelled so that cookiecutter leaves them alone.
OPEN, CLOSE = "{" * 2, "}" * 2


@pytest.fixture(scope="module")
def prefect_yaml() -> dict[str, Any]:
    """The parsed prefect.yaml."""
    return yaml.safe_load((PROJECT / "prefect.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def deployments(prefect_yaml: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The deployments by name."""
    return {deployment["name"]: deployment for deployment in prefect_yaml["deployments"]}


def steps(deployment: dict[str, Any], section: str) -> dict[str, dict[str, Any]]:
    """Return a deployment's steps of one section (build, push, pull) by step function."""
    return {name: spec for step in deployment.get(section) or [] for name, spec in step.items()}


def strings(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield (path, text) for every key and string value nested in value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", str(key)
            yield from strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def placeholder(step_output: str) -> str:
    """Return the placeholder prefect.yaml uses for a step's output."""
    return f"{OPEN} {step_output} {CLOSE}"


def dockerfile_workdir() -> str:
    """Return the Dockerfile's last WORKDIR (the runtime stage's)."""
    workdirs = re.findall(r"^WORKDIR\s+(\S+)", (PROJECT / "Dockerfile").read_text(), re.MULTILINE)
    assert workdirs, "the Dockerfile sets no WORKDIR"
    return workdirs[-1]


def test_the_two_contract_deployments_exist(deployments: dict[str, dict[str, Any]]) -> None:
    assert set(deployments) == {"daily-report", "daily-report-local"}


def test_nothing_is_shared_so_the_local_deployment_never_builds(
    prefect_yaml: dict[str, Any],
) -> None:
    assert [prefect_yaml.get(section) for section in ("build", "push", "pull")] == [None] * 3


@pytest.mark.parametrize("name", ["daily-report", "daily-report-local"])
def test_the_entrypoint_names_a_flow_function_in_a_real_file(
    deployments: dict[str, dict[str, Any]], name: str
) -> None:
    path, _, function = deployments[name]["entrypoint"].partition(":")
    source = PROJECT / path
    assert path.endswith(".py") and source.is_file(), f"{path} is not a file of this project"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert function in defined, f"{path} defines no top-level function {function!r}"
    decorators = [ast.unparse(decorator) for decorator in defined[function].decorator_list]
    assert any(decorator.startswith("flow") for decorator in decorators), decorators


@pytest.mark.parametrize("name", ["daily-report", "daily-report-local"])
def test_the_entrypoint_loads_as_the_daily_report_flow(
    deployments: dict[str, dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(PROJECT)
    assert load_flow_from_entrypoint(deployments[name]["entrypoint"]).name == "daily-report"


@pytest.mark.skipif(not BUILDS_IMAGE, reason="a process worker runs a checkout, not an image")
def test_production_builds_and_pushes_its_own_image(
    deployments: dict[str, dict[str, Any]],
) -> None:
    production = deployments["daily-report"]
    build, push = steps(production, "build"), steps(production, "push")
    assert set(build) == {BUILD_STEP} and set(push) == {PUSH_STEP}
    step_id = build[BUILD_STEP]["id"]
    assert (PROJECT / build[BUILD_STEP]["dockerfile"]).is_file()
    assert push[PUSH_STEP]["image_name"] == placeholder(f"{step_id}.image_name")
    assert push[PUSH_STEP]["tag"] == placeholder(f"{step_id}.tag")
    job_variables = production["work_pool"]["job_variables"]
    assert job_variables["image"] == placeholder(f"{step_id}.image")


@pytest.mark.parametrize("name", ["daily-report", "daily-report-local"])
def test_every_step_loads_from_the_lock_and_takes_its_arguments(
    deployments: dict[str, dict[str, Any]], name: str
) -> None:
    from prefect.utilities.importtools import import_object

    for section in ("build", "push", "pull"):
        for function, spec in steps(deployments[name], section).items():
            arguments = {key: value for key, value in spec.items() if key not in ("id", "requires")}
            # Importable here, so `prefect deploy` never tries to install it.
            step = import_object(function)
            inspect.signature(step).bind(**arguments)


def test_production_runs_daily_in_utc_on_its_own_pool(
    deployments: dict[str, dict[str, Any]],
) -> None:
    production = deployments["daily-report"]
    assert production["work_pool"]["name"] not in ("", "local")
    [schedule] = production["schedules"]
    assert schedule["timezone"] == "UTC"
    assert len(schedule["cron"].split()) == 5


def test_production_runs_on_polars_cloud_with_the_answered_data_uri(
    deployments: dict[str, dict[str, Any]],
) -> None:
    production = deployments["daily-report"]
    env = production["work_pool"]["job_variables"]["env"]
    assert env[f"{ENV_PREFIX}COMPUTE_MODE"] == "cloud"
    settings = get_settings()
    assert production["parameters"] == {
        "source_uri": settings.source_uri,
        "output_uri": settings.output_uri,
    }


@pytest.mark.parametrize("name", ["daily-report", "daily-report-local"])
def test_one_run_at_a_time_and_the_others_wait(
    deployments: dict[str, dict[str, Any]], name: str
) -> None:
    # A backfill and the scheduled run never write the same day at once.
    assert deployments[name]["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


def test_scheduled_runs_pass_no_dates(deployments: dict[str, dict[str, Any]]) -> None:
    for deployment in deployments.values():
        assert not {"start", "end"} & set(deployment.get("parameters") or {})


def test_the_pull_directory_is_where_the_flow_code_is(
    deployments: dict[str, dict[str, Any]],
) -> None:
    production = deployments["daily-report"]
    pull = steps(production, "pull")
    if BUILDS_IMAGE:
        assert pull[PULL_STEP]["directory"] == dockerfile_workdir()
    else:
        # The checkout the worker runs, named by the worker's environment when a run starts.
        assert pull[PULL_STEP]["directory"] == placeholder(f"${ENV_PREFIX}CHECKOUT_DIR")
        assert not any(production.get(section) for section in ("build", "push"))


@pytest.mark.parametrize("name", ["daily-report", "daily-report-local"])
def test_one_run_at_a_time_and_the_next_waits(
    deployments: dict[str, dict[str, Any]], name: str
) -> None:
    assert deployments[name]["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


def test_local_runs_on_local_polars_from_this_directory(
    deployments: dict[str, dict[str, Any]],
) -> None:
    local = deployments["daily-report-local"]
    assert local["work_pool"]["name"] == "local"
    assert local["work_pool"]["job_variables"]["env"] == {
        f"{ENV_PREFIX}COMPUTE_MODE": "local",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "60",
    }
    # No steps: no image to build, and `prefect deploy` records the directory it runs in.
    assert not any(local.get(section) for section in ("build", "push", "pull"))


def leaks(stored: object) -> list[str]:
    """Return where stored names a secret variable, holds a secret value or resolves to one."""
    return [
        f"{path}: {text}"
        for path, text in strings(stored)
        if text.upper() in SECRET_VARIABLES
        or SECRET_REFERENCE.search(text)
        or CLIENT_ID in text
        or CLIENT_SECRET in text
    ]


@pytest.mark.parametrize("name", ["daily-report", "daily-report-local"])
def test_no_secret_in_job_variables_or_parameters(
    deployments: dict[str, dict[str, Any]], name: str
) -> None:
    deployment = deployments[name]
    stored = {
        "job_variables": deployment["work_pool"].get("job_variables"),
        "parameters": deployment.get("parameters"),
    }
    assert not leaks(stored)


def test_the_leak_check_finds_secrets_not_words() -> None:
    # The project's own variables pass whatever its name; a secret by name, value or
    # placeholder does not.
    names = ("SECRET_SANTA_REPORTS", "TOKEN_LEDGER", "PASSWORD_VAULT_STATS", "API_KEY_USAGE")
    assert not leaks({"env": {f"{name}_COMPUTE_MODE": "cloud" for name in names}})
    assert leaks({"env": {"POLARS_CLOUD_CLIENT_SECRET": "x"}})
    assert leaks({"env": {"SOME_VAR": CLIENT_SECRET}})
    assert leaks({"env": {"X": f"{OPEN} $AWS_SECRET_ACCESS_KEY {CLOSE}"}})
    assert leaks({"env": {"X": f"{OPEN} prefect.blocks.secret.sa {CLOSE}"}})
