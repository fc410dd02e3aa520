"""A signal runner: start a command in a process group of its own, signal it, collect its output.

What a stop test needs of a run that it signals as a terminal, a container runtime or a worker
would: the run must end on its own within a bound, and whatever it leaves is read afterwards.
The simulator's call log (`PolarsCloudSimulator(log=...)`, one JSON object a line) tells a test
in another process when to signal and what was stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def hear_ctrl_c() -> None:
    """Let this process and the runs it starts hear Ctrl-C, as a terminal's programs do.

    A script's background job (`make test &`, a CI step started with `&`) starts with SIGINT
    ignored; an ignored signal survives exec, and the library's stops leave an ignored signal
    ignored (as nohup asks), so every Ctrl-C a stop test sends would go unheard and the test
    wait out its bound. The plugin calls it as pytest starts.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class SignalRunner:
    """Start commands in sessions of their own; on close, kill the groups still running."""

    def __init__(self, sanity_seconds: float = 60, ready_seconds: float = 300) -> None:
        self.sanity_seconds = sanity_seconds  # far above a stop's seconds, below a boot's minutes
        self.ready_seconds = ready_seconds  # a busy machine may take minutes to get anywhere
        self.started: list[subprocess.Popen[str]] = []
        self.logs: dict[int, Path] = {}  # pid -> where that run's output goes

    def start(
        self,
        command: list[str],
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        stdin: bool = False,
    ) -> subprocess.Popen[str]:
        """Start command in a session of its own; its output piped, or written to log as it comes.

        stdin: keep its standard input open for the test to write to (a REPL's, say).
        """
        with log.open("w") if log is not None else open(os.devnull, "w") as sink:  # noqa: SIM115
            run = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=sink if log is not None else subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        self.started.append(run)
        if log is not None:
            self.logs[run.pid] = log
        return run

    def signal(
        self, run: subprocess.Popen[str], signum: int, group: bool = False
    ) -> tuple[str, float]:
        """Send signum (to the run's process group if asked); return its output and exit seconds.

        A run that outlives the bound is killed with its group, and the test fails.
        """
        sent = time.monotonic()
        if group:
            os.killpg(run.pid, signum)
        else:
            run.send_signal(signum)
        try:
            output, _ = run.communicate(timeout=self.sanity_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            output, _ = run.communicate()
            output = self.output(run, output)
            name = signal.Signals(signum).name
            pytest.fail(f"still running {self.sanity_seconds} s after {name}:\n{output}")
        return self.output(run, output), time.monotonic() - sent

    def output(self, run: subprocess.Popen[str], piped: str | None = None) -> str:
        """Return what the run printed: its log file's text, or what was piped."""
        log = self.logs.get(run.pid)
        return log.read_text() if log is not None else piped or ""

    def wait_until(self, run: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
        """Poll ready() while the run lives; fail with its output if it ends first."""
        deadline = time.monotonic() + self.ready_seconds
        while not ready():
            assert run.poll() is None, self.output(run, run.communicate()[0])
            assert time.monotonic() < deadline, "the run never got there"
            time.sleep(0.1)

    def close(self) -> None:
        """Kill the process group of every run still going (a failed test must not leave one)."""
        for run in self.started:
            if run.poll() is None:
                try:
                    os.killpg(run.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                run.communicate()


def read_calls(calls: Path) -> list[dict[str, Any]]:
    """Return the simulator's logged calls, oldest first (none if it logged nothing yet)."""
    return [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []


def call_names(calls: Path) -> list[str]:
    """Return the names of the simulator's logged calls, in order."""
    return [call["name"] for call in read_calls(calls)]
