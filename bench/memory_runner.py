"""Run a script with one change, for bench/memory.py: python memory_runner.py CHANGES SCRIPT ARGS...

CHANGES is a comma-separated list (or "-" for none) of:

- sequential: a task's `.submit()` runs it at once, in the caller's thread, and `wait` returns:
  the flow's tasks one after another instead of side by side;
- foreground: `LazyFrame.collect(background=True)` collects in the calling thread (the local
  sink then waits for Polars instead of polling a background handle);
- thread: `LazyFrame.collect(background=True)` collects in a Python thread of its own, polled
  as Polars' background handle is (the GIL is released while Polars works);
- no-check: every field of the project's inputs (MEMORY_PACKAGE's DATASETS, by default
  daily_reports') nullable, so the scans carry no required-field filter (the bare queries have none);
- traced: Python's own allocations traced (tracemalloc) from the start; their peak, in bytes,
  is written to the file named by MEMORY_TRACED_OUT at exit.

Only public APIs are patched (Prefect's Task and futures, Polars' LazyFrame, the project's
datasets), so the library's internals can move freely. Not for anything but measuring.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys
import tracemalloc
from pathlib import Path
from typing import Any


class Done:
    """What `.submit()` returns under `sequential`: a future already resolved."""

    def __init__(self, value: Any) -> None:  # noqa: ANN401
        self.value = value

    def result(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        return self.value

    def wait(self, *args: Any, **kwargs: Any) -> None:
        return None


class Collected:
    """What `collect(background=True)` returns under `foreground`: a handle already fetched."""

    def __init__(self, frame: Any) -> None:  # noqa: ANN401
        self.frame = frame

    def fetch(self) -> Any:  # noqa: ANN401
        return self.frame

    def fetch_blocking(self) -> Any:  # noqa: ANN401
        return self.frame

    def cancel(self) -> None:
        return None


def sequential() -> None:
    import prefect.futures
    from prefect import Task

    Task.submit = lambda self, *args, **kwargs: Done(self(*args, **kwargs))  # type: ignore[method-assign]
    prefect.futures.wait = lambda futures, *args, **kwargs: None  # type: ignore[assignment]


def foreground() -> None:
    import polars as pl

    collect = pl.LazyFrame.collect

    def in_this_thread(self: pl.LazyFrame, *args: Any, background: bool = False, **kwargs: Any) -> Any:  # noqa: ANN401
        frame = collect(self, *args, **kwargs)
        return Collected(frame) if background else frame

    pl.LazyFrame.collect = in_this_thread  # type: ignore[method-assign]


class InThread:
    """What `collect(background=True)` returns under `thread`: a query collected by a thread."""

    def __init__(self, collect: Any) -> None:  # noqa: ANN401
        import threading

        self.outcome: list[Any] = []

        def run() -> None:
            try:
                self.outcome.append((collect(), None))
            except BaseException as error:  # noqa: BLE001 - handed to fetch()
                self.outcome.append((None, error))

        threading.Thread(target=run, daemon=True).start()

    def fetch(self) -> Any:  # noqa: ANN401
        if not self.outcome:
            return None
        frame, error = self.outcome[0]
        if error is not None:
            raise error
        return frame

    def cancel(self) -> None:
        return None


def thread() -> None:
    import polars as pl

    collect = pl.LazyFrame.collect

    def in_a_thread(self: pl.LazyFrame, *args: Any, background: bool = False, **kwargs: Any) -> Any:  # noqa: ANN401
        if background:
            return InThread(lambda: collect(self, *args, **kwargs))
        return collect(self, *args, **kwargs)

    pl.LazyFrame.collect = in_a_thread  # type: ignore[method-assign]


def no_check() -> None:
    import importlib

    # The flow imports the same objects from the project's datasets module.
    package = os.environ.get("MEMORY_PACKAGE", "daily_reports")
    for dataset in importlib.import_module(f"{package}.datasets").DATASETS.inputs:
        object.__setattr__(dataset, "nullable", tuple(dataset.schema))  # a frozen dataclass


def traced() -> None:
    tracemalloc.start(1)
    out = Path(os.environ["MEMORY_TRACED_OUT"])
    atexit.register(lambda: out.write_text(str(tracemalloc.get_traced_memory()[1])))


CHANGES = {"sequential": sequential, "foreground": foreground, "thread": thread, "no-check": no_check, "traced": traced}


def main() -> None:
    names, script, *arguments = sys.argv[1:]
    changes = [name for name in names.split(",") if name != "-"]
    for name in sorted(changes, key=lambda name: name != "traced"):  # tracing first, if asked
        CHANGES[name]()
    sys.argv = [script, *arguments]
    if script == "-c":
        sys.argv = ["-c", *arguments[1:]]
        sys.path.insert(0, "")
        exec(compile(arguments[0], "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
        return
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
