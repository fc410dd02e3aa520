"""The compute lifecycle, through the real polars_cloud client on a simulated server."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import polars as pl
import pytest
from prefect.exceptions import TerminationSignal

from prefect_polars_cloud.compute.presets import Preset, load_presets
from prefect_polars_cloud.compute.session import ComputeError, ComputeSession
from prefect_polars_cloud.testing import CLIENT_ID, CLIENT_SECRET
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from toy_pipeline.project import ENV_PREFIX, Settings

QUERY = pl.LazyFrame({"a": [1, 2, 3]})


def with_presets(**changes: dict[str, object]) -> dict[str, Preset]:
    """The project's presets (presets.toml), with some fields changed."""
    presets = load_presets(Settings())
    return {
        name: preset.model_copy(update=changes.get(name, {})) for name, preset in presets.items()
    }


def cloud_settings(**overrides: object) -> Settings:
    return Settings(compute_mode="cloud", secret_backend="env", **overrides)  # type: ignore[arg-type]


def counts(sim: PolarsCloudSimulator) -> dict[str, tuple[int, int]]:
    """Clusters started and stopped, per preset."""
    return {p: (len(sim.started(p)), len(sim.stopped(p))) for p in ("small", "large")}


def test_authenticates_before_building_any_context(cloud_sim: PolarsCloudSimulator) -> None:
    with ComputeSession(cloud_settings()) as compute:
        assert cloud_sim.names() == ["authenticate"]
        compute.context("small")
    assert cloud_sim.calls[0] == (
        "authenticate",
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )


def test_each_context_is_built_from_its_preset(cloud_sim: PolarsCloudSimulator) -> None:
    settings = cloud_settings()
    presets = with_presets(
        small={"cpus": 3, "memory": 6, "idle_timeout_mins": None},
        large={"cpus": 8, "memory": 32, "cluster_size": 2, "labels": ["nightly"]},
    )
    with ComputeSession(settings, presets) as compute:
        small = compute.context("small")
        compute.context("large")
        assert compute.context("small") is small, "a preset's context is built once"

    (small_cluster,) = cloud_sim.started("small")
    (large_cluster,) = cloud_sim.started("large")
    assert (small_cluster.cpus, small_cluster.memory, small_cluster.cluster_size) == (3, 6, 1)
    assert (large_cluster.cpus, large_cluster.memory, large_cluster.cluster_size) == (8, 32, 2)
    assert small_cluster.idle_timeout_mins == settings.idle_timeout_mins, "the setting's default"
    assert large_cluster.labels == ["nightly", settings.label, f"{settings.label}-large"]


@pytest.mark.parametrize("large_cluster_size", [1, 3])
def test_each_query_runs_in_the_scaling_mode_its_preset_needs(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path, large_cluster_size: int
) -> None:
    presets = with_presets(large={"cluster_size": large_cluster_size})
    with ComputeSession(cloud_settings(), presets) as compute:
        compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")
        compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large")

    distributed = {q.cluster.preset: q.distributed for q in cloud_sim.queries.values()}
    assert distributed == {"small": False, "large": large_cluster_size > 1}
    # The simulated scheduler ran each plan: the single files the contract names exist.
    assert pl.read_parquet(tmp_path / "large.parquet").equals(QUERY.collect())
    assert counts(cloud_sim) == {"small": (1, 1), "large": (1, 1)}


def test_tasks_sharing_a_preset_boot_one_cluster(
    monkeypatch: pytest.MonkeyPatch, service_account_env: None, tmp_path: Path
) -> None:
    # Slow enough that both tasks reach the context while it is being started.
    sim = PolarsCloudSimulator(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, request_seconds=0.3, boot_seconds=0.3
    ).install(monkeypatch)
    errors: list[BaseException] = []

    with ComputeSession(cloud_settings()) as compute:

        def submit(name: str) -> None:
            try:
                compute.sink_parquet(QUERY, str(tmp_path / f"{name}.parquet"), "small")
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        tasks = [threading.Thread(target=submit, args=(n,)) for n in ("first", "second")]
        for task in tasks:
            task.start()
        for task in tasks:
            task.join()

    assert errors == []
    assert len(sim.queries) == 2
    assert counts(sim)["small"] == (1, 1)


def test_a_context_that_never_started_is_not_an_error(cloud_sim: PolarsCloudSimulator) -> None:
    with ComputeSession(cloud_settings()):
        pass  # no query ever asked for compute

    assert cloud_sim.clusters == {}
    assert "stop_compute_cluster" not in cloud_sim.names()


@pytest.mark.parametrize(
    "interruption",
    [
        RuntimeError("the task failed"),
        asyncio.CancelledError(),
        KeyboardInterrupt(),
        TerminationSignal(15),
    ],
    ids=["failure", "cancellation", "keyboard-interrupt", "sigterm"],
)
def test_clusters_stop_and_the_original_error_survives(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path, interruption: BaseException
) -> None:
    with pytest.raises(type(interruption)) as raised:
        with ComputeSession(cloud_settings()) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")
            raise interruption

    assert raised.value is interruption
    assert counts(cloud_sim) == {"small": (1, 1), "large": (0, 0)}


def test_a_failed_remote_query_raises_its_own_error_and_stops_compute(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    cloud_sim.script(lambda q: q.cluster.preset == "large", "fail", "SchemaError: no amount")

    with pytest.raises(pl.exceptions.SchemaError, match="no amount"):
        with ComputeSession(cloud_settings()) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large")

    assert counts(cloud_sim)["large"] == (1, 1)
    assert not (tmp_path / "large.parquet").exists()


def test_a_cancelled_query_fails_the_caller(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    # The real await_result() returns normally for CANCELED; the session must not.
    cloud_sim.script(lambda q: q.cluster.preset == "small", "cancel")

    with pytest.raises(ComputeError, match=r"the small query \S+ ended CANCELED: https://"):
        with ComputeSession(cloud_settings()) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")

    assert counts(cloud_sim)["small"] == (1, 1)


def test_leaving_the_session_cancels_queries_in_flight_before_stopping(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    cloud_sim.script(lambda q: q.cluster.preset == "large", "hang")
    outcome: list[BaseException] = []

    with pytest.raises(TerminationSignal):
        with ComputeSession(cloud_settings()) as compute:

            def long_query() -> None:
                try:
                    compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large")
                except BaseException as error:  # noqa: BLE001 - checked below
                    outcome.append(error)

            task = threading.Thread(target=long_query)
            task.start()
            # Polled: the session holds the query as in flight and is waiting for it.
            while not any(query.polls for query in cloud_sim.queries.values()):
                threading.Event().wait(0.01)
            raise TerminationSignal(15)
    task.join(timeout=10)

    names = cloud_sim.names()
    assert names.index("cancel_direct_query") < names.index("stop_compute_cluster")
    assert cloud_sim.running() == []
    assert isinstance(outcome[0], ComputeError) and "CANCELED" in str(outcome[0])


def test_a_boot_that_fails_is_reported_and_nothing_keeps_billing(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    cloud_sim.boot_failure = "no capacity in the region"

    with pytest.raises(RuntimeError, match=r"terminal state \(no capacity in the region\)"):
        with ComputeSession(cloud_settings()) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")

    # The cluster was requested before the boot failed: the session stops it all the same.
    assert counts(cloud_sim)["small"] == (1, 1)


def test_a_stop_failure_is_logged_not_raised(
    cloud_sim: PolarsCloudSimulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unreachable(*_: object) -> None:
        raise ConnectionError("control plane unreachable")

    presets = with_presets(small={"idle_timeout_mins": 45})
    with caplog.at_level(logging.WARNING):
        with ComputeSession(cloud_settings(), presets) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")
            monkeypatch.setattr(cloud_sim.control_plane, "stop_compute_cluster", unreachable)

    assert "could not stop the small compute context (ConnectionError)" in caplog.text
    assert "it stops itself after 45 idle minutes" in caplog.text, "the preset's own timeout"


def test_an_authentication_error_never_shows_the_secret(
    cloud_sim: PolarsCloudSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def echoing_refusal(
        client_id: str | None = None, client_secret: str | None = None, interactive: bool = True
    ) -> None:
        # A server whose refusal repeats what it was sent.
        raise RuntimeError(f"invalid client {client_id} with secret {client_secret}")

    monkeypatch.setattr(cloud_sim.control_plane, "authenticate", echoing_refusal)

    with pytest.raises(ComputeError) as raised:
        with ComputeSession(cloud_settings()):
            pass

    message = str(raised.value)
    assert CLIENT_SECRET not in message and CLIENT_ID not in message
    assert "env backend" in message and f"{ENV_PREFIX}COMPUTE_MODE=local" in message
    assert cloud_sim.clusters == {}


def test_local_mode_needs_no_credentials_and_no_cloud(tmp_path: Path) -> None:
    with ComputeSession(Settings(compute_mode="local")) as compute:
        compute.sink_parquet(QUERY, str(tmp_path / "out" / "q.parquet"), "large")

    assert pl.read_parquet(tmp_path / "out" / "q.parquet").equals(QUERY.collect())


def test_a_local_write_that_fails_midway_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "totals.parquet"
    QUERY.collect().write_parquet(target)
    before = target.read_bytes()

    def explode(batch: pl.Series) -> pl.Series:
        raise ValueError("disk on fire")

    failing = pl.LazyFrame({"a": range(100_000)}).with_columns(
        pl.col("a").map_batches(explode, return_dtype=pl.Int64)
    )
    with pytest.raises(Exception, match="disk on fire"):
        with ComputeSession(Settings(compute_mode="local")) as compute:
            compute.sink_parquet(failing, str(target), "large")

    assert target.read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["totals.parquet"]


def test_a_query_past_its_timeout_is_cancelled_then_fails(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    cloud_sim.script(lambda q: q.cluster.preset == "large", "hang")

    # 0.3 s, under the setting's one-minute minimum (model_copy skips validation): a quick test.
    settings = cloud_settings().model_copy(update={"query_timeout_mins": 0.005})
    with pytest.raises(ComputeError, match=r"ran longer than 0.005 min .*QUERY_TIMEOUT_MINS"):
        with ComputeSession(settings) as compute:
            compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large", ["build_totals"])

    names = cloud_sim.names()
    assert names.index("cancel_direct_query") < names.index("stop_compute_cluster")
    [query] = cloud_sim.queries.values()
    assert query.done.wait(5) and str(query.status).endswith("Canceled")
    [record] = compute.evidence.queries
    assert (record.label, record.status) == ("build_totals", "CANCELED (timeout)")


def in_a_task(work: object) -> tuple[threading.Thread, list[BaseException]]:
    """Run work() in a thread, as a Prefect task would; collect what it raises."""
    raised: list[BaseException] = []

    def task() -> None:
        try:
            work()  # type: ignore[operator]
        except BaseException as error:  # noqa: BLE001 - checked by the caller
            raised.append(error)

    thread = threading.Thread(target=task)
    thread.start()
    return thread, raised


def test_a_stop_while_clusters_boot_stops_them_without_waiting_for_the_boots(
    monkeypatch: pytest.MonkeyPatch, service_account_env: None
) -> None:
    sim = PolarsCloudSimulator(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, boot_seconds=120
    ).install(monkeypatch)

    with pytest.raises(TerminationSignal):
        with ComputeSession(cloud_settings()) as compute:
            booting, raised = in_a_task(lambda: compute.start("small", "large"))
            while len(sim.clusters) < 2:  # both start requests answered: both clusters billing
                threading.Event().wait(0.01)
            raise TerminationSignal(15)
    booting.join(timeout=60)

    assert counts(sim) == {"small": (1, 1), "large": (1, 1)}
    assert all(c.booted_at is None for c in sim.clusters.values()), "stopped while booting"
    assert not booting.is_alive() and isinstance(raised[0], Exception), "the waiter is let go"
    assert all(c.confirmed for c in compute.evidence.clusters), "each stop confirmed"


def test_a_stop_while_a_start_request_is_in_flight_stops_the_cluster_it_creates(
    monkeypatch: pytest.MonkeyPatch, service_account_env: None
) -> None:
    sim = PolarsCloudSimulator(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, request_seconds=1, boot_seconds=120
    ).install(monkeypatch)
    requesting = threading.Event()
    start_compute = sim.control_plane.start_compute

    def noted_start_compute(**request: object) -> object:
        requesting.set()
        return start_compute(**request)  # type: ignore[arg-type]

    monkeypatch.setattr(sim.control_plane, "start_compute", noted_start_compute)

    with pytest.raises(KeyboardInterrupt):
        with ComputeSession(cloud_settings()) as compute:
            booting, _ = in_a_task(lambda: compute.context("small"))
            requesting.wait(60)
            assert sim.clusters == {}, "the request is still in flight: no compute id yet"
            raise KeyboardInterrupt
    booting.join(timeout=60)

    assert counts(sim)["small"] == (1, 1), "the cluster the request created, stopped"
    assert sim.running() == []


def test_a_stop_abandons_a_local_query_and_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "report.parquet"
    target.write_bytes(b"the previous report")
    entered, never = threading.Event(), threading.Event()

    def stuck(batch: pl.Series) -> pl.Series:
        entered.set()
        never.wait(60)  # a query far longer than the stop may take
        return batch

    query = pl.LazyFrame({"a": [1, 2]}).with_columns(
        pl.col("a").map_batches(stuck, return_dtype=pl.Int64)
    )
    try:
        with pytest.raises(KeyboardInterrupt):
            with ComputeSession(Settings(compute_mode="local")) as compute:
                task, raised = in_a_task(lambda: compute.sink_parquet(query, str(target), "small"))
                entered.wait(60)
                raise KeyboardInterrupt
        task.join(timeout=30)

        assert not task.is_alive() and "abandoned" in str(raised[0]), "the task is let go"
        assert target.read_bytes() == b"the previous report"
        assert [p.name for p in tmp_path.iterdir()] == ["report.parquet"], "no .partial left"
    finally:
        never.set()  # let Polars' thread go back to its pool


def test_starting_both_presets_overlaps_their_boots(
    monkeypatch: pytest.MonkeyPatch, service_account_env: None
) -> None:
    sim = PolarsCloudSimulator(
        client_id=CLIENT_ID, client_secret=CLIENT_SECRET, boot_seconds=0.5
    ).install(monkeypatch)

    with ComputeSession(cloud_settings()) as compute:
        compute.start("small", "large")
        compute.context("small")  # already started: no second boot

    small, large = sim.started("small")[0], sim.started("large")[0]
    assert small.booted_at is not None and large.booted_at is not None
    # The second boot was requested before the first was over: they ran side by side.
    assert max(small.requested_at, large.requested_at) < min(small.booted_at, large.booted_at)
    assert counts(sim) == {"small": (1, 1), "large": (1, 1)}


def test_a_released_preset_stops_at_once_and_boots_again_if_needed(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    with ComputeSession(cloud_settings()) as compute:
        compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small")
        compute.release("small")
        assert counts(cloud_sim)["small"] == (1, 1), "stopped before the session ends"
        compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large")
        compute.sink_parquet(QUERY, str(tmp_path / "again.parquet"), "small")

    assert counts(cloud_sim) == {"small": (2, 2), "large": (1, 1)}
    assert [c.preset for c in compute.evidence.clusters] == ["small", "large", "small"]


def test_every_query_and_cluster_leaves_evidence(
    cloud_sim: PolarsCloudSimulator, tmp_path: Path
) -> None:
    presets = with_presets(large={"cpus": 4, "cluster_size": 3})
    with ComputeSession(cloud_settings(), presets) as compute:
        small_labels = ["prepare_visits", "x" * 40]
        compute.sink_parquet(QUERY, str(tmp_path / "s.parquet"), "small", small_labels)
        compute.sink_parquet(QUERY, str(tmp_path / "l.parquet"), "large", ["build_totals"])

    labels = [q.labels for q in cloud_sim.queries.values()]
    assert labels == [["prepare_visits", "x" * 32], ["build_totals"]], "fitted to 32 bytes"
    assert [(q.label, q.preset, q.status) for q in compute.evidence.queries] == [
        ("prepare_visits", "small", "SUCCESS"),
        ("build_totals", "large", "SUCCESS"),
    ]
    assert all(str(q.query_id) in q.link for q in compute.evidence.queries)
    clusters = {c.preset: c for c in compute.evidence.clusters}
    assert (clusters["large"].cpus, clusters["large"].nodes) == (4, 3)
    assert all(c.confirmed and c.vcpu_hours() > 0 for c in clusters.values())
    markdown = compute.evidence.markdown(price_per_vcpu_hour=0.05)
    assert "vCPU-hours**, about" in markdown and "| large | ephemeral | 4 x 3 |" in markdown


def test_cluster_mode_sends_queries_to_the_self_hosted_cluster_and_leaves_it_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No service account and no control plane: a self-hosted cluster needs neither.
    sim = PolarsCloudSimulator(client_id="", client_secret="").install(monkeypatch)
    uri, cluster = sim.serve_cluster()
    settings = Settings(compute_mode="cluster", cluster_uri=uri)

    with ComputeSession(settings) as compute:
        compute.start("small", "large")  # nothing to boot
        compute.sink_parquet(QUERY, str(tmp_path / "small.parquet"), "small", ["prepare_visits"])
        compute.sink_parquet(QUERY, str(tmp_path / "large.parquet"), "large", ["build_totals"])

    assert sim.names() == ["do_query", "first status poll"] * 2, "no login, no boot, no stop"
    assert {q.cluster.id for q in sim.queries.values()} == {cluster.id}
    assert pl.read_parquet(tmp_path / "large.parquet").equals(QUERY.collect())
    assert compute.evidence.clusters == []
    assert all("self-hosted" in q.link for q in compute.evidence.queries)


def test_cluster_mode_without_a_uri_says_what_to_set() -> None:
    with pytest.raises(ComputeError, match=f"set {ENV_PREFIX}CLUSTER_URI to its scheduler"):
        with ComputeSession(Settings(compute_mode="cluster")):
            pass
