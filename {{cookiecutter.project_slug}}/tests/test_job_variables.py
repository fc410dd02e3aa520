"""prefect.yaml's job variables, checked against the worker that will run them.

A worker ignores a job variable its base job template does not name, and refuses a mistyped
one only when it builds the run's infrastructure: at 06:00. Here the worker's own default base
job template, as the installed integration package defines it, decides at test time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from prefect_polars_cloud.config.project import env_prefix
from prefect_polars_cloud.operations.deployments import is_local, read_deployments

PROJECT = Path(__file__).resolve().parent.parent
DEPLOYMENTS = read_deployments(PROJECT / "prefect.yaml")
WORK_POOL_TYPE = {{ cookiecutter.work_pool_type | tojson }}
# The worker class of each work pool type, in the package that pool type installs.
WORKERS = {
    "process": "prefect.workers.process.ProcessWorker",
    "docker": "prefect_docker.worker.DockerWorker",
    "ecs": "prefect_aws.workers.ecs_worker.ECSWorker",
    "kubernetes": "prefect_kubernetes.worker.KubernetesWorker",
}
# What `prefect deploy` puts in place of the build step's output.
STEP_OUTPUTS = {"build-image.image": "registry.example.com/daily-reports:2026-01-01"}
# Prefect's placeholder opening, spelled so that cookiecutter leaves it alone.
OPEN = "{" * 2


def worker(kind: str) -> Any:  # noqa: ANN401 - a BaseWorker subclass
    """Import the worker class of a work pool type."""
    from prefect.utilities.importtools import import_object

    return import_object(WORKERS[kind])


def job_variables(deployment: dict[str, Any]) -> dict[str, Any]:
    """Return a deployment's job variables as `prefect deploy` sends them."""
    from prefect.utilities.templating import apply_values

    return apply_values(deployment["work_pool"].get("job_variables") or {}, STEP_OUTPUTS)


def kind_of(deployment: dict[str, Any]) -> str:
    """Return the work pool type that runs a deployment: `-local` ones run on a process worker."""
    return "process" if is_local(deployment) else WORK_POOL_TYPE


def each_deployment() -> pytest.MarkDecorator:
    """Run a test once per deployment of prefect.yaml, whatever its name."""
    return pytest.mark.parametrize(
        "deployment", DEPLOYMENTS, ids=[item["name"] for item in DEPLOYMENTS]
    )


def problems(values: dict[str, Any], kind: str) -> list[str]:
    """Return what the worker of kind would not accept in values; empty when it accepts all."""
    from prefect.utilities.schema_tools import validate

    template = worker(kind).get_default_base_job_template()
    known = template["variables"]["properties"]
    found = [
        f"{key!r} is not a job variable of the {kind} worker" for key in values if key not in known
    ]
    # The same validation the Prefect API runs when a deployment is created.
    found += [
        f"{'.'.join(map(str, error.path)) or 'job variables'}: {error.message}"
        for error in validate(values, template["variables"], ignore_required=True)
    ]
    return found


@each_deployment()
def test_job_variables_are_ones_the_worker_accepts(deployment: dict[str, Any]) -> None:
    values = job_variables(deployment)
    assert OPEN not in str(values), "a placeholder `prefect deploy` would not fill"
    assert problems(values, kind_of(deployment)) == []


# The worker reads block and variable references through the API: the test server's.
@pytest.mark.usefixtures("prefect_api")
@each_deployment()
def test_the_worker_builds_a_job_configuration_from_them(deployment: dict[str, Any]) -> None:
    worker_class = worker(kind_of(deployment))
    values = job_variables(deployment)
    configuration = asyncio.run(
        worker_class.job_configuration.from_template_and_values(
            worker_class.get_default_base_job_template(), values
        )
    )
    for key, value in values.items():
        if key != "env":  # the worker merges env with its own variables
            assert getattr(configuration, key, value) == value, key
    assert configuration.env[f"{env_prefix()}COMPUTE_MODE"] in ("cloud", "local")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"imag": "x"}, "'imag' is not a job variable"),
        ({"env": ["not", "a", "mapping"]}, "env:"),
        ({"env": {"RETRIES": 3}}, "env.RETRIES:"),
    ],
    ids=["misspelt", "env-not-a-mapping", "env-value-not-text"],
)
def test_a_wrong_job_variable_is_caught(values: dict[str, Any], expected: str) -> None:
    found = problems(values, WORK_POOL_TYPE)
    assert any(expected in problem for problem in found), found
