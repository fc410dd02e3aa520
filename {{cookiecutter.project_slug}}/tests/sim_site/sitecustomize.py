"""Put the Polars Cloud simulator in every flow run a `serve` process or a worker starts.

Python imports `sitecustomize` when it starts, from the first folder on sys.path that has one:
a process with this folder on PYTHONPATH runs this before anything else, and so does every
process it starts. Prefect's Runner (what `flow.serve()` starts) and the process worker run each
flow run in a process of their own (a multiprocessing "spawn" child; `python -m prefect.engine`),
which a test cannot reach with a monkeypatch: this installs the simulator there, below the real
polars_cloud client, as prefect_polars_cloud.testing.flow_script does in a script. Only when
SIM_CALLS names the JSONL file the simulator logs its calls to; SIM_BOOT_SECONDS is how long a
boot takes. The account is the env backend's (POLARS_CLOUD_CLIENT_ID and
POLARS_CLOUD_CLIENT_SECRET). The runner or worker gets it too (a spawn child learns it is a flow
run only once it runs), and never uses it.
"""

from __future__ import annotations

import os


def install_simulator() -> None:
    """Install the simulator in a flow run's process, for the rest of its life."""
    from pathlib import Path

    import pytest

    from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

    simulator = PolarsCloudSimulator(
        client_id=os.environ["POLARS_CLOUD_CLIENT_ID"],
        client_secret=os.environ["POLARS_CLOUD_CLIENT_SECRET"],
        boot_seconds=float(os.environ.get("SIM_BOOT_SECONDS", "0")),
        log=Path(os.environ["SIM_CALLS"]),
    )
    simulator.install(pytest.MonkeyPatch())


if os.environ.get("SIM_CALLS"):
    install_simulator()
