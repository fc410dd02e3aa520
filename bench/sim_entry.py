"""`make run CLOUD=sim`'s command, with its simulator's calls logged for bench/stops.py.

Run from a baked project's root:
    BENCH_CALLS=CALLS_JSONL .venv/bin/python .../bench/sim_entry.py --flow daily_report [options]

Runs prefect_polars_cloud.testing.simulated_run as `python -m` does, its arguments unchanged;
the only difference is that the simulator it builds appends each call it receives to
CALLS_JSONL, which is how the bench knows what the run started, cancelled and stopped.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path
from typing import Any

from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

MODULE = "prefect_polars_cloud.testing.simulated_run"


def main() -> None:
    build = PolarsCloudSimulator.__init__

    def logged(self: PolarsCloudSimulator, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        kwargs.setdefault("log", Path(os.environ["BENCH_CALLS"]))
        build(self, *args, **kwargs)

    PolarsCloudSimulator.__init__ = logged  # type: ignore[method-assign]
    sys.argv[0] = MODULE
    runpy.run_module(MODULE, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
