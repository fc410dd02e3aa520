"""The deployments prefect.yaml declares, read as `prefect deploy` reads them.

A deployment whose name ends in `-local` runs on a machine of the user's own (a process worker in
the project's directory); every other one is production, and CI deploys them all in one
`prefect deploy` command. The list is derived from prefect.yaml, never written down twice.
With several environments (environments.toml) each production deployment's runs belong to the
one its job's <PREFIX>ENV names; environment_drift says where prefect.yaml and the declaration
disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_polars_cloud.config.environments import Environment

PREFECT_FILE = Path("prefect.yaml")
LOCAL_SUFFIX = "-local"
# config/environments.py's, written here too: CI and the template's tests load this module alone,
# without the library installed.
PRODUCTION = "production"


class DeploymentsError(ValueError):
    """prefect.yaml cannot say which deployments there are; the message says why."""


def read_deployments(prefect_file: Path = PREFECT_FILE) -> list[dict[str, Any]]:
    """Return the deployments of a prefect.yaml in file order, aliases resolved."""
    import yaml

    try:
        config = yaml.safe_load(prefect_file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise DeploymentsError(f"no {prefect_file}: run this in the project's directory") from None
    deployments = config.get("deployments") or []
    for number, deployment in enumerate(deployments, start=1):
        if not isinstance(deployment, dict) or not deployment.get("name"):
            # `prefect deploy` skips an unnamed deployment without failing: say so here.
            raise DeploymentsError(f"{prefect_file}: deployment #{number} has no name")
    return deployments


def is_local(deployment: dict[str, Any]) -> bool:
    """Return whether a deployment runs on the user's machine rather than in production."""
    return str(deployment["name"]).endswith(LOCAL_SUFFIX)


def production_names(prefect_file: Path = PREFECT_FILE) -> list[str]:
    """Return the names of the production deployments, each once, in file order.

    `prefect deploy --name NAME` deploys every deployment of that name, whatever its flow.
    """
    names = [item["name"] for item in read_deployments(prefect_file) if not is_local(item)]
    if not names:
        raise DeploymentsError(
            f"{prefect_file} has no production deployment (every name ends in "
            f"{LOCAL_SUFFIX!r}): nothing to deploy"
        )
    return list(dict.fromkeys(names))


def environment_of(deployment: dict[str, Any], prefix: str) -> str:
    """Return the environment of a deployment's runs: its job's <PREFIX>ENV, else production."""
    job = (deployment.get("work_pool") or {}).get("job_variables") or {}
    return str((job.get("env") or {}).get(f"{prefix}ENV") or PRODUCTION)


def deployment_lines(prefect_file: Path = PREFECT_FILE) -> dict[str, int]:
    """Return the line of each deployment's entry in prefect_file, by name (the first of a name)."""
    import yaml

    root = yaml.compose(prefect_file.read_text(encoding="utf-8"))
    lines: dict[str, int] = {}
    for key, value in root.value if isinstance(root, yaml.MappingNode) else []:
        if key.value != "deployments" or not isinstance(value, yaml.SequenceNode):
            continue
        for item in value.value:
            names = [v for k, v in item.value if k.value == "name"] if item.value else []
            if names and isinstance(names[0], yaml.ScalarNode):
                lines.setdefault(names[0].value, item.start_mark.line + 1)
    return lines


def environment_drift(
    prefect_file: Path, environments: dict[str, Environment], prefix: str
) -> list[str]:
    """Say where prefect.yaml's deployments disagree with the environments, `file:line: ...`.

    Each production deployment (`<name>`, its runs production's) exists once per environment,
    named `<name>-<environment>` but for production, with the environment's <PREFIX>ENV, data
    prefix (its source_uri and output_uri parameters), work pool, schedule and tag.
    """
    deployments = [item for item in read_deployments(prefect_file) if not is_local(item)]
    lines = deployment_lines(prefect_file)
    found = {item["name"]: item for item in deployments}
    bases = [item["name"] for item in deployments if environment_of(item, prefix) == PRODUCTION]
    expected: set[str] = set()
    problems: list[str] = []
    for base in bases:
        for environment in environments.values():
            name = base if environment.name == PRODUCTION else f"{base}-{environment.name}"
            expected.add(name)
            if name not in found:
                problems.append(
                    f"{prefect_file}:{lines[base]}: {base} has no {environment.name} twin: add "
                    f"{name!r}, or remove [{environment.name}] from the environments file"
                )
                continue
            where = f"{prefect_file}:{lines[name]}: {name}"
            problems += [
                f"{where}: {problem}"
                for problem in _disagreements(found[name], environment, prefix)
            ]
    problems += [
        f"{prefect_file}:{lines[name]}: {name} belongs to no declared environment; name it "
        f"<deployment>-<environment> for one of {', '.join(environments)}, or remove it"
        for name in found
        if name not in expected
    ]
    return problems


def _disagreements(deployment: dict[str, Any], environment: Environment, prefix: str) -> list[str]:
    """Return how one deployment differs from its environment's declaration."""
    problems = []
    if (actual := environment_of(deployment, prefix)) != environment.name:
        problems.append(f"{prefix}ENV is {actual!r}, not {environment.name!r}")
    parameters = deployment.get("parameters") or {}
    for key, folder in (("source_uri", "raw"), ("output_uri", "reports")):
        wanted = f"{environment.data_uri}/{folder}"
        if key in parameters and parameters[key] != wanted:
            problems.append(f"parameter {key} is {parameters[key]!r}, not {wanted!r}")
    pool = (deployment.get("work_pool") or {}).get("name")
    if pool != environment.work_pool:
        problems.append(f"work pool is {pool!r}, not {environment.work_pool!r}")
    schedules = [s for s in deployment.get("schedules") or [] if s.get("active", True)]
    crons = [str(s.get("cron")) for s in schedules]
    wanted_crons = [] if environment.schedule == "off" else [environment.schedule]
    if crons != wanted_crons:
        problems.append(f"schedules are {crons or 'none'}, not {wanted_crons or 'none'}")
    if environment.name not in (deployment.get("tags") or []):
        problems.append(f"has no tag {environment.name!r}")
    return problems


def environment_deployments(
    prefect_file: Path, environment: str, prefix: str
) -> list[dict[str, Any]]:
    """Return the production deployments of prefect_file whose runs belong to environment."""
    return [
        item
        for item in read_deployments(prefect_file)
        if not is_local(item) and environment_of(item, prefix) == environment
    ]


def environment_names(prefect_file: Path, environment: str, prefix: str) -> list[str]:
    """Return the production deployments whose runs belong to environment, each once."""
    names = [item["name"] for item in environment_deployments(prefect_file, environment, prefix)]
    if not names:
        raise DeploymentsError(
            f"{prefect_file} has no deployment of the environment {environment!r}"
        )
    return list(dict.fromkeys(names))
