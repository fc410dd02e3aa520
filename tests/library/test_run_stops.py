"""The run's own signal handlers (run/stops.py), in this process: installed, handed on, put back.

A signal here is raised in-process with the interpreter taken as a person's (a notebook's), so
the handler never ends the test process; the bake's test_stops.py and test_stop_entries.py
signal real runs in processes of their own.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect_polars_cloud.compute.session import ComputeSession
from prefect_polars_cloud.run import stops as run_stops
from prefect_polars_cloud.run.stops import RunStops
from prefect_polars_cloud.storage.files import atomic_target, discard_writes_in_flight

from toy_pipeline.project import Settings


@pytest.fixture
def as_in_a_notebook(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Take this interpreter for a person's: a stop raises instead of ending the process."""
    monkeypatch.setattr(run_stops, "interactive", lambda: True)
    handlers = {number: signal.getsignal(number) for number in run_stops.STOP_SIGNALS}
    yield
    for number, handler in handlers.items():
        signal.signal(number, handler)


def test_the_run_installs_its_handlers_and_puts_the_previous_ones_back() -> None:
    before = {number: signal.getsignal(number) for number in run_stops.STOP_SIGNALS}
    with RunStops() as stops:
        during = {number: signal.getsignal(number) for number in run_stops.STOP_SIGNALS}
    assert all(handler == stops._handler for handler in during.values())  # noqa: SLF001
    assert {number: signal.getsignal(number) for number in run_stops.STOP_SIGNALS} == before


def test_a_signal_the_process_ignores_stays_ignored() -> None:
    # A background job of a script (`cmd &`) starts with SIGINT ignored, on purpose.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with RunStops():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_the_compute_says_so_once_and_hands_the_signal_on(
    as_in_a_notebook: None, capfd: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(KeyboardInterrupt), RunStops() as stops:
        with ComputeSession(Settings(compute_mode="local")) as compute:
            stops.watch(compute)
            stops.phase = "computing"
            os.kill(os.getpid(), signal.SIGINT)  # Python's handler, handed on, raises

    assert compute.closed, "the compute was stopped by the handler, before the block's exit"
    assert stops.line == (
        "INTERRUPTED: SIGINT while computing: no compute was running; nothing was published"
    )
    assert capfd.readouterr().err.count("INTERRUPTED") == 1


def test_a_run_after_a_stopped_one_in_the_same_kernel_publishes_its_writes(
    tmp_path: Path,
) -> None:
    discard_writes_in_flight()  # what the stopped run left in this process
    target = tmp_path / "report.txt"
    with RunStops(), atomic_target(str(target)) as path:
        Path(path).write_text("the new report")
    assert target.read_text() == "the new report"
