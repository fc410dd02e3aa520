"""Promotion between environments: production deploys the image staging ran, never a rebuild.

CI's release job asks the Prefect API which image the promoted-from environment's deployments
run (`deployed_image`), resolves its digest in the registry, and deploys the target environment's
deployments from a copy of prefect.yaml whose build and push steps are gone and whose image is
that digest (`promoted_prefect_file`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect_polars_cloud.operations.deployments import DeploymentsError, environment_deployments


def promoted_prefect_file(prefect_file: Path, environment: str, prefix: str, image: str) -> str:
    """Return prefect.yaml's text for environment's deployments alone, on image, building nothing.

    The text is the file as `prefect deploy` reads it (aliases and merge keys resolved), with
    only environment's production deployments, each with `build: []`, `push: []` and its job's
    `image` set to image (e.g. `registry/name@sha256:...`).
    """
    import yaml

    config: dict[str, Any] = yaml.safe_load(prefect_file.read_text(encoding="utf-8")) or {}
    kept = environment_deployments(prefect_file, environment, prefix)
    if not kept:
        raise DeploymentsError(f"{prefect_file} has no deployment of environment {environment!r}")
    for item in kept:
        item["build"], item["push"] = [], []  # an empty list, not null: Prefect then runs none
        pool = item.setdefault("work_pool", {})
        pool["job_variables"] = {**(pool.get("job_variables") or {}), "image": image}
    config["deployments"] = kept
    config.pop("definitions", None)  # its anchors are resolved into each deployment already
    return yaml.safe_dump(config, sort_keys=False)


def deployed_image(prefect_file: Path, environment: str, prefix: str) -> str:
    """Return the one image environment's deployments run, as the Prefect API holds them."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from prefect_polars_cloud.operations.names import full_name

    wanted = [
        full_name(item) for item in environment_deployments(prefect_file, environment, prefix)
    ]
    try:
        with get_client(sync_client=True) as client:
            found = [client.read_deployment_by_name(name).job_variables or {} for name in wanted]
    except ObjectNotFound:
        found = []  # not deployed yet: no image
    images = sorted({str(variables.get("image") or "") for variables in found})
    if len(images) != 1 or not images[0]:
        raise DeploymentsError(
            f"the {environment} deployments run {len(images)} images ({', '.join(images)}); "
            f"deploy {environment} first (`make deploy ENV={environment}`), so that they share one"
        )
    return images[0]
