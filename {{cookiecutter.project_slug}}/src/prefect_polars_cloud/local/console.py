"""What a local run prints: Prefect's log lines, without their tracebacks.

A failed run's cause ends up in one `ERROR:` line (local/cli.py); Prefect would print the same
exception's traceback two or three times before it. `--debug` or VERBOSE=1 keeps them. Only
the console is trimmed: the API still stores each record whole.
"""

from __future__ import annotations

import copy
import logging


class OneLineFormatter(logging.Formatter):
    """Format a record as the wrapped formatter would, minus traceback and stack."""

    def __init__(self, wrapped: logging.Formatter | None) -> None:
        super().__init__()
        self.wrapped = wrapped or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        """Return the record's line without exception details."""
        bare = copy.copy(record)
        bare.exc_info, bare.exc_text, bare.stack_info = None, None, None
        return self.wrapped.format(bare)


def one_line_console() -> None:
    """Give every Prefect console handler the one-line formatter."""
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, PrefectConsoleHandler) and not isinstance(
                handler.formatter, OneLineFormatter
            ):
                handler.setFormatter(OneLineFormatter(handler.formatter))
