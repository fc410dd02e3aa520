"""The deployments prefect.yaml declares, read as `prefect deploy` reads them.

A deployment whose name ends in `-local` runs on a machine of the user's own (a process worker in
the project's directory); every other one is production, and CI deploys them all in one
`prefect deploy` command. The list is derived from prefect.yaml, never written down twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PREFECT_FILE = Path("prefect.yaml")
LOCAL_SUFFIX = "-local"


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
