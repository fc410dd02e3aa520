"""Hold the simulator and the session to the installed polars_cloud.

The simulator replaces only the compiled client's network calls. Here each replaced call is
checked against the real one (same parameters), the seam is checked to be where the client
really calls through, and the client behaviours compute/session.py is written around are pinned:
when an upgrade changes one, a test here says which, instead of a production run.

Upgrading polars-cloud: bump it in pyproject.toml, `uv lock`, then run `make test`; a failure
here names the call or the behaviour that moved.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

import polars as pl
import polars_cloud
import polars_cloud.constants
import polars_cloud.context.compute
import polars_cloud.polars_cloud as pcr
import polars_cloud.query._utils
import pytest

from prefect_polars_cloud.compute.presets import Preset
from prefect_polars_cloud.compute.session import query_id
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET
from prefect_polars_cloud.testing.control_plane import ControlPlane
from prefect_polars_cloud.testing.polars_cloud_sim import (
    PolarsCloudSimulator,
    scheduler_client_class,
)

from toy_pipeline.project import Settings

QUERY = pl.LazyFrame({"a": [1, 2, 3]})


def service_account() -> dict[str, str]:
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def parameters(function: Callable[..., Any]) -> list[tuple[str, object]]:
    """Name and default of each parameter but self."""
    return [
        (name, parameter.default)
        for name, parameter in inspect.signature(function).parameters.items()
        if name != "self"
    ]


def simulated_methods(cls: type) -> list[str]:
    return [name for name, value in vars(cls).items() if not name.startswith("_")]


@pytest.mark.parametrize(
    ("simulated", "real"),
    [
        (ControlPlane, pcr.ApiClient),
        (
            scheduler_client_class(PolarsCloudSimulator(client_id="", client_secret="")),
            pcr.SchedulerClient,
        ),
    ],
    ids=["ApiClient", "SchedulerClient"],
)
def test_every_simulated_call_has_the_real_parameters(simulated: type, real: type) -> None:
    names = simulated_methods(simulated)
    assert names, "nothing simulated"
    for name in names:
        assert parameters(getattr(simulated, name)) == parameters(getattr(real, name)), name


def test_the_simulated_spec_resolution_has_the_real_parameters() -> None:
    sim = PolarsCloudSimulator(client_id="", client_secret="")
    assert parameters(sim.resolve_specs) == parameters(pcr.resolve_compute_context_specs)


def test_the_client_calls_the_network_where_the_simulator_sits() -> None:
    # Replacing a module attribute only intercepts calls made through the module.
    assert isinstance(polars_cloud.constants.API_CLIENT, pcr.ApiClient)
    compute_source = inspect.getsource(polars_cloud.context.compute)
    assert "pcr.resolve_compute_context_specs(" in compute_source
    assert "pcr.SchedulerClient(" in compute_source
    assert "constants.API_CLIENT.start_compute(" in compute_source
    assert "pc_core.serialize_query_settings(" in inspect.getsource(polars_cloud.query._utils)


def test_default_scaling_refuses_a_single_file_sink(cloud_sim: PolarsCloudSimulator) -> None:
    # Why compute/session.py names the scaling mode of every query and asks for single files
    # explicitly.
    polars_cloud.authenticate(interactive=False, **service_account())
    context = polars_cloud.ComputeContext(cpus=1, memory=1)
    with pytest.raises(ValueError, match="sink_to_single_file"):
        QUERY.remote(context).sink_parquet("s3://bucket/out/visits.parquet")
    assert cloud_sim.queries == {}, "refused before anything was sent"
    context.stop()  # spawn() had started it before checking the sink


def test_concurrent_first_queries_boot_two_clusters(
    monkeypatch: pytest.MonkeyPatch, service_account_env: None, tmp_path: Path
) -> None:
    # Why the session starts each context itself, under a lock: spawn() does not lock.
    sim = PolarsCloudSimulator(request_seconds=0.3, **service_account()).install(monkeypatch)
    polars_cloud.authenticate(interactive=False, **service_account())
    context = polars_cloud.ComputeContext(cpus=1, memory=1)

    def first_query(name: str) -> None:
        QUERY.remote(context).single_node().sink_parquet(str(tmp_path / name))

    threads = [threading.Thread(target=first_query, args=(f"{n}.parquet",)) for n in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    context.stop()

    assert len(sim.clusters) == 2 and len(sim.running()) == 1


def test_a_cancelled_query_does_not_raise_from_await_result(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    # Why compute/session.py checks the status after waiting.
    cloud_sim.script(lambda q: True, "cancel")
    polars_cloud.authenticate(interactive=False, **service_account())
    context = polars_cloud.ComputeContext(cpus=1, memory=1)
    context.start()
    in_flight = QUERY.remote(context).single_node().sink_parquet(str(tmp_path / "q.parquet"))

    result = in_flight.await_result()

    assert result.status == polars_cloud.QueryStatus.CANCELED
    assert UUID(query_id(in_flight)) in cloud_sim.queries
    context.stop()


def test_the_private_names_the_session_reads_exist(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    polars_cloud.authenticate(interactive=False, **service_account())
    context = polars_cloud.ComputeContext(cpus=1, memory=1)
    assert context._compute_id is None
    context.start()
    in_flight = QUERY.remote(context).single_node().sink_parquet(str(tmp_path / "q.parquet"))
    in_flight.await_result()

    assert context._compute_id in cloud_sim.clusters
    assert in_flight._query_id in cloud_sim.queries
    assert polars_cloud.constants.FRONTEND_DOMAIN == "cloud.pola.rs"
    context.stop()


def test_stopping_a_context_that_never_started_raises_not_running(
    cloud_sim: PolarsCloudSimulator,
) -> None:
    # compute._stop treats this message as "nothing to stop".
    polars_cloud.authenticate(interactive=False, **service_account())
    with pytest.raises(RuntimeError, match="not running"):
        polars_cloud.ComputeContext(cpus=1, memory=1).stop()


def test_a_context_still_booting_stops_from_another_thread(
    monkeypatch: pytest.MonkeyPatch, service_account_env: None
) -> None:
    # What compute/slots.py relies on: in direct mode start() blocks until the cluster is up, even
    # with wait=False; the compute id is set once the start request is answered; stop() from another
    # thread then stops the cluster, and the waiting start() raises instead of waiting on.
    sim = PolarsCloudSimulator(boot_seconds=120, **service_account()).install(monkeypatch)
    polars_cloud.authenticate(interactive=False, **service_account())
    context = polars_cloud.ComputeContext(cpus=1, memory=1)
    assert context.connection_mode == "direct"
    raised: list[BaseException] = []

    def boot() -> None:
        try:
            context.start(wait=False)
        except BaseException as error:  # noqa: BLE001 - checked below
            raised.append(error)

    booting = threading.Thread(target=boot)
    booting.start()
    while not sim.clusters:  # the start request was answered
        threading.Event().wait(0.01)
    assert booting.is_alive(), "start(wait=False) waits for the boot in direct mode"
    while True:  # the id is set a moment after the answer: until then, "not running"
        try:
            context.stop()
            break
        except RuntimeError as error:
            assert "not running" in str(error)
    booting.join(timeout=60)

    [cluster] = sim.clusters.values()
    assert cluster.stopped_at is not None and cluster.booted_at is None
    assert isinstance(raised[0], RuntimeError) and "terminal state" in str(raised[0])


def test_a_named_context_is_the_manifest_and_refuses_other_versions(
    cloud_sim: PolarsCloudSimulator,
) -> None:
    # What compute/manifests.py relies on: a named context shows the registered env_vars (the
    # fingerprint), a missing name is NotFoundError, other versions ComputeClusterMisspecified,
    # and start() reconnects to a live cluster instead of booting another.
    polars_cloud.authenticate(interactive=False, **service_account())
    with pytest.raises(pcr.NotFoundError):
        polars_cloud.ComputeContext(name="nightly")
    polars_cloud.ComputeContext(cpus=2, memory=8, env_vars={"FINGERPRINT": "f1"}).register(
        "nightly"
    )

    named = polars_cloud.ComputeContext(name="nightly")
    assert (named.cpus, named.memory, named.env_vars) == (2, 8, {"FINGERPRINT": "f1"})
    named.start()
    polars_cloud.ComputeContext(name="nightly").start()
    assert len(cloud_sim.clusters) == 1 and named.get_status().is_available()
    named.stop()

    cloud_sim.manifests["nightly"].polars_version = "1.99.0"
    with pytest.raises(pcr.ComputeClusterMisspecified, match=r"polars version .*1\.99\.0"):
        polars_cloud.ComputeContext(name="nightly")
    with pytest.raises(pcr.ComputeClusterMisspecified, match="cannot specify both"):
        polars_cloud.ComputeContext(name="nightly", cpus=2)


def test_a_refused_register_leaves_the_context_named_so_it_can_unregister(
    cloud_sim: PolarsCloudSimulator,
) -> None:
    # manifests.register replaces a taken name this way when the server refuses it.
    polars_cloud.authenticate(interactive=False, **service_account())
    cloud_sim.register_manifest("nightly", polars_version="1.99.0")
    context = polars_cloud.ComputeContext(cpus=4, memory=16)
    with pytest.raises(RuntimeError, match="already exists"):
        context.register("nightly")

    context.unregister()
    context.register("nightly")

    assert cloud_sim.manifests["nightly"].spec["cpus"] == 4


def test_every_preset_field_the_session_passes_is_a_context_keyword() -> None:
    # presets.toml promises "what polars_cloud.ComputeContext takes": hold it to the client.
    accepted = set(inspect.signature(polars_cloud.ComputeContext.__init__).parameters)
    every_field = Preset(
        name="all",
        cpus=2,
        memory=8,
        storage=50,
        cluster_size=2,
        cpu_architectures=["arm64"],
        requirements="requirements.txt",
        env_vars={"A": "1"},
        labels=["x"],
        log_level="debug",
        idle_timeout_mins=30,
    )
    passed = set(every_field.context_keywords(Settings()))
    assert passed <= accepted, passed - accepted
    assert {"name", "workspace"} <= accepted, (
        "how compute/manifests.py and compute/session.py name the rest"
    )
    assert "instance_type" in accepted


def test_lineage_takes_the_keywords_the_session_sends() -> None:
    from polars_cloud.query.ext import LazyFrameRemote

    keywords = set(inspect.signature(LazyFrameRemote.with_lineage).parameters) - {"self"}
    assert keywords == {
        "job_namespace",
        "job_name",
        "parent_run_id",
        "parent_job_namespace",
        "parent_job_name",
    }


def test_query_labels_are_limited_as_the_session_fits_them() -> None:
    import polars_cloud.query.query as client_query

    from prefect_polars_cloud.compute.evidence import MAX_LABEL_BYTES, fit_label

    assert client_query._MAX_LABEL_NAME_LEN == MAX_LABEL_BYTES
    hostile = " é" * 40 + "\n"
    client_query._validate_labels([fit_label(hostile)])  # accepted by the client's own check
    assert len(fit_label(hostile).encode()) <= MAX_LABEL_BYTES
    assert "labels" in vars(polars_cloud.LazyFrameRemote)


def test_the_client_has_no_transient_error_class_and_times_out_with_timeouterror() -> None:
    # run/retries.py classifies by exact type and message because of these two facts.
    import polars_cloud.exceptions
    import polars_cloud.query.query_in_progress as in_progress

    assert {name for name in vars(polars_cloud.exceptions) if name.endswith("Error")} == {
        "WorkspaceDeploymentError",
        "VerificationTimeoutError",
        "OrganizationResolveError",
        "WorkspaceResolveError",
    }
    with pytest.raises(TimeoutError, match="POLARS_TIMEOUT_MS has elapsed"):
        in_progress.check_timeout(0.0, 1)


def test_the_query_statuses_the_session_names() -> None:
    assert {status.name for status in polars_cloud.QueryStatus} == {
        "QUEUED",
        "SCHEDULED",
        "INPROGRESS",
        "SUCCESS",
        "FAILED",
        "CANCELED",
    }
