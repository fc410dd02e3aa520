"""prefect.yaml, read as `prefect deploy` reads it: what each deployment runs, where and how.

Every deployment is checked, whatever its name: a name ending in `-local` runs on your machine,
every other one is production (the deployments CI deploys).
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from prefect_polars_cloud.config.environments import load_environments
from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.operations.deployments import environment_of, is_local, read_deployments
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET, SECRET_VARIABLES

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX

PROJECT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = read_deployments(PROJECT / "prefect.yaml")
PRODUCTION = [deployment for deployment in DEPLOYMENTS if not is_local(deployment)]
LOCAL = [deployment for deployment in DEPLOYMENTS if is_local(deployment)]
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


def flow_and_name(deployment: dict[str, Any]) -> str:
    """Return `<flow function>/<deployment>`, the id of a deployment's tests."""
    return f"{str(deployment.get('entrypoint')).rpartition(':')[2]}/{deployment['name']}"


def each(deployments: list[dict[str, Any]]) -> pytest.MarkDecorator:
    """Run a test once per deployment of the list."""
    return pytest.mark.parametrize("deployment", deployments, ids=flow_and_name)


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


def test_each_deployment_of_a_flow_is_named_once() -> None:
    assert DEPLOYMENTS, "prefect.yaml declares no deployment"
    names = [flow_and_name(deployment) for deployment in DEPLOYMENTS]
    assert len(names) == len(set(names)), names


def test_nothing_is_shared_so_the_local_deployments_never_build(
    prefect_yaml: dict[str, Any],
) -> None:
    assert [prefect_yaml.get(section) for section in ("build", "push", "pull")] == [None] * 3


@each(DEPLOYMENTS)
def test_the_entrypoint_names_a_flow_function_in_a_real_file(deployment: dict[str, Any]) -> None:
    path, _, function = deployment["entrypoint"].partition(":")
    source = PROJECT / path
    assert path.endswith(".py") and source.is_file(), f"{path} is not a file of this project"
    tree = ast.parse(source.read_text(encoding="utf-8"))
    defined = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert function in defined, f"{path} defines no top-level function {function!r}"
    decorators = [ast.unparse(decorator) for decorator in defined[function].decorator_list]
    assert any(decorator.startswith("flow") for decorator in decorators), decorators


@each(DEPLOYMENTS)
def test_the_entrypoint_loads_a_flow_that_takes_the_parameters(
    deployment: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import Flow
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(PROJECT)
    loaded = load_flow_from_entrypoint(deployment["entrypoint"])
    assert isinstance(loaded, Flow)
    inspect.signature(loaded.fn).bind_partial(**(deployment.get("parameters") or {}))


@each(DEPLOYMENTS)
def test_it_carries_the_projects_label_so_the_alerts_cover_it(deployment: dict[str, Any]) -> None:
    # `make alerts` matches the tag settings.label, not a list of deployments.
    label = get_settings().label
    assert label in (deployment.get("tags") or []), (
        f"{deployment['name']} has no tag {label!r} (settings.label), so no alert covers it: "
        "give it `tags: *project-tags`"
    )


@each(DEPLOYMENTS)
def test_one_run_at_a_time_and_the_others_wait(deployment: dict[str, Any]) -> None:
    # A backfill and the scheduled run never write the same day at once.
    assert deployment["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}


@each(DEPLOYMENTS)
def test_scheduled_runs_pass_no_dates(deployment: dict[str, Any]) -> None:
    assert not {"start", "end"} & set(deployment.get("parameters") or {})


@each(DEPLOYMENTS)
def test_every_step_loads_from_the_lock_and_takes_its_arguments(
    deployment: dict[str, Any],
) -> None:
    from prefect.utilities.importtools import import_object

    for section in ("build", "push", "pull"):
        for function, spec in steps(deployment, section).items():
            arguments = {key: value for key, value in spec.items() if key not in ("id", "requires")}
            # Importable here, so `prefect deploy` never tries to install it.
            step = import_object(function)
            inspect.signature(step).bind(**arguments)


@each(PRODUCTION)
def test_production_runs_on_a_schedule_in_utc_on_a_pool_of_its_own(
    deployment: dict[str, Any],
) -> None:
    assert deployment["work_pool"]["name"] not in ("", "local")
    if environment_of(deployment, ENV_PREFIX) == "production":  # others: environments.toml's
        assert deployment.get("schedules"), "a production deployment with no schedule never runs"
    for schedule in deployment["schedules"]:
        assert schedule["timezone"] == "UTC"
        assert len(schedule["cron"].split()) == 5


@each(PRODUCTION)
def test_production_runs_on_polars_cloud_with_the_answered_data_uri(
    deployment: dict[str, Any],
) -> None:
    env = deployment["work_pool"]["job_variables"]["env"]
    assert env[f"{ENV_PREFIX}COMPUTE_MODE"] == "cloud"
    settings = get_settings()
    # Each environment's deployment its own prefix (environments.toml; none: the settings').
    environments = load_environments(settings)
    environment = environments.get(environment_of(deployment, ENV_PREFIX))
    data_uri = environment.data_uri if environment else settings.data_uri
    answered = {"source_uri": f"{data_uri}/raw", "output_uri": f"{data_uri}/reports"}
    parameters = deployment.get("parameters") or {}
    for key in answered.keys() & parameters.keys():
        assert parameters[key] == answered[key], key


@each(PRODUCTION)
def test_production_runs_where_its_code_is(deployment: dict[str, Any]) -> None:
    build, push, pull = (steps(deployment, section) for section in ("build", "push", "pull"))
    if BUILDS_IMAGE:
        assert set(build) == {BUILD_STEP} and set(push) == {PUSH_STEP}
        step_id = build[BUILD_STEP]["id"]
        assert (PROJECT / build[BUILD_STEP]["dockerfile"]).is_file()
        assert push[PUSH_STEP]["image_name"] == placeholder(f"{step_id}.image_name")
        assert push[PUSH_STEP]["tag"] == placeholder(f"{step_id}.tag")
        assert deployment["work_pool"]["job_variables"]["image"] == placeholder(f"{step_id}.image")
        assert pull[PULL_STEP]["directory"] == dockerfile_workdir()
    else:
        # The checkout the worker runs, named by the worker's environment when a run starts.
        assert not build and not push, "a process worker runs a checkout: nothing to build"
        assert pull[PULL_STEP]["directory"] == placeholder(f"${ENV_PREFIX}CHECKOUT_DIR")


@pytest.mark.skipif(not BUILDS_IMAGE, reason="a process worker runs a checkout, not an image")
def test_production_deployments_share_one_image_build() -> None:
    # Within one `prefect deploy` command prefect-docker builds and pushes the same arguments
    # once: equal steps are one image for every production deployment, not one each.
    for section in ("build", "push"):
        found = [deployment.get(section) for deployment in PRODUCTION]
        assert all(steps == found[0] for steps in found), f"{section} steps differ: {found}"


@each(LOCAL)
def test_local_runs_on_local_polars_from_this_directory(deployment: dict[str, Any]) -> None:
    assert deployment["work_pool"]["name"] == "local"
    assert deployment["work_pool"]["job_variables"]["env"] == {
        f"{ENV_PREFIX}COMPUTE_MODE": "local",
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "60",
    }
    # No steps: no image to build, and `prefect deploy` records the directory it runs in.
    assert not any(deployment.get(section) for section in ("build", "push", "pull"))


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


@each(DEPLOYMENTS)
def test_no_secret_in_job_variables_or_parameters(deployment: dict[str, Any]) -> None:
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
