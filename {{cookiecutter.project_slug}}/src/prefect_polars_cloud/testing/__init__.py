"""Test harness for projects on this library (as `prefect.testing` is Prefect's): a pytest plugin.

plugin: the fixtures every project's tests get through its `pytest11` entry point (a Prefect
server, moto S3, the simulator, a signal runner, the input-errors harness); values: the sample
days and a service account never to be shown; polars_cloud_sim, control_plane, scheduler: Polars
Cloud's server side, simulated below the real polars_cloud client; servers, api_proxy: a Prefect
API, moto and a silent port on loopback; signals, flow_script: runs signalled in a process of
their own; input_errors: bad inputs and their one ERROR line; secret_stores: each backend's
store; simulated_run: `make run CLOUD=sim`. The top layer: may import every other package,
and nothing imports it but tests. Needs the dev dependencies (moto, pytest); importing this
package or the plugin loads neither Prefect nor polars_cloud.
"""

from prefect_polars_cloud.testing.values import (
    CLIENT_ID,
    CLIENT_SECRET,
    SAMPLE_DAYS,
    SECRET_VARIABLES,
)

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "SAMPLE_DAYS", "SECRET_VARIABLES"]
