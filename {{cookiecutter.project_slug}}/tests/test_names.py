"""Every flow or deployment this repository names exists: the names live in flows/ and prefect.yaml.

The Makefile, CI, the scheduler test and the docs take the names from there; a line anywhere else
that still names an old flow module, flow or deployment (after a rename, say) fails here with its
file and line. Offline and fast: nothing is imported from flows/.
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect_polars_cloud.operations.deployments import read_deployments
from prefect_polars_cloud.operations.names import declared_flows, flow_modules, stale_references

PROJECT = Path(__file__).resolve().parent.parent


def test_no_file_names_a_flow_or_deployment_that_does_not_exist() -> None:
    stale = stale_references(PROJECT)
    assert not stale, (
        "these lines name a flow or deployment that flows/ and prefect.yaml do not have "
        "(README: Rename the flow):\n" + "\n".join(map(str, stale))
    )


def test_every_flow_module_defines_a_flow() -> None:
    flows = {item.module for item in declared_flows(PROJECT / "flows")}
    assert flows == set(flow_modules(PROJECT / "flows")), "a module of flows/ without a @flow"


def test_the_makefile_names_no_flow_or_deployment() -> None:
    # `make run` and `make backfill` take the one flow module and the one production deployment
    # when FLOW or DEPLOYMENT is left out, and list them when there are several.
    makefile = (PROJECT / "Makefile").read_text(encoding="utf-8")
    names = {item.name for item in declared_flows(PROJECT / "flows")}
    names |= set(flow_modules(PROJECT / "flows"))
    names |= {str(item["name"]) for item in read_deployments(PROJECT / "prefect.yaml")}
    named = sorted(
        name for name in names if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", makefile)
    )
    assert not named, f"the Makefile names {named}: leave the default to the command"
