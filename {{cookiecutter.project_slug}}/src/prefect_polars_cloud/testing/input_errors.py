"""The input-errors harness: write a bad input file, run the flow, read its one ERROR line.

A bad input must end a local run (`make run`, `python flows/<flow>.py`) with exactly one line
`ERROR: <file>: <problem>`, no traceback, and nothing published. The harness copies the sample
inputs with one file replaced, runs a flow on the copy as the command line does, and checks all
of that; the test names the flow, the file, its content and what the line must say.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect_polars_cloud.local.runner import run_locally


@dataclass
class LocalRun:
    """What a flow run from the command line returned and printed."""

    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        """Standard output and error, as a user's terminal shows them."""
        return self.out + self.err

    @property
    def errors(self) -> list[str]:
        """The lines that start with ERROR:."""
        return [line for line in self.output.splitlines() if line.startswith("ERROR:")]


def published(output: Path) -> dict[Path, bytes]:
    """Return every file under output, with its bytes."""
    return {path: path.read_bytes() for path in output.rglob("*") if path.is_file()}


class InputErrors:
    """Run flows on copies of the sample inputs with one file replaced, as the command line does."""

    def __init__(self, sample_dir: Path, tmp_path: Path, capfd: Any) -> None:  # noqa: ANN401
        self.sample_dir = sample_dir
        self.tmp_path = tmp_path
        self.capfd = capfd  # a pytest.CaptureFixture: what the run printed, to the file descriptor
        self.output = tmp_path / "output"

    def with_file(self, name: str, content: bytes, base: Path | None = None) -> Path:
        """Return a copy of the sample inputs (or of base) with one file replaced."""
        source = self.tmp_path / "source"
        shutil.copytree(base or self.sample_dir, source)
        (source / name).write_bytes(content)
        return source

    def run(
        self,
        flow: Callable[..., Any],
        source: Path,
        start: str,
        end: str | None = None,
        extra: Sequence[str] = (),
    ) -> LocalRun:
        """Run flow as the command line does, from source into self.output; read its output."""
        days = ["--start", start, *(["--end", end] if end else [])]
        argv = [*extra, *days, "--source", str(source), "--output", str(self.output)]
        self.capfd.readouterr()  # what came before is not this run's
        code = run_locally(flow, argv)
        out, err = self.capfd.readouterr()
        return LocalRun(code, out, err)

    def assert_refused(
        self,
        flow: Callable[..., Any],
        name: str,
        content: bytes,
        problem: str,
        start: str,
        end: str | None = None,
        base: Path | None = None,
    ) -> str:
        """Run flow with name's content replaced; assert one ERROR line and nothing published.

        The line must name the file (its resolved path) and say problem; no traceback is shown,
        and what was published under the output before the run is still there, unchanged, with
        nothing added. Returns the line.
        """
        before = published(self.output)
        source = self.with_file(name, content, base)

        run = self.run(flow, source, start, end)

        assert run.code == 1, run.output
        assert len(run.errors) == 1, run.output
        assert run.errors[0].startswith(f"ERROR: {source.resolve() / name}: "), run.errors[0]
        assert problem in run.errors[0], run.errors[0]
        assert "Traceback" not in run.output, run.output
        assert published(self.output) == before, "a refused run published"
        return run.errors[0]
