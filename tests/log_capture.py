"""Every log record of the process, whatever its logger: for tests that check what a job logs."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class Records(logging.Handler):
    """Each record formatted (with its traceback) into `lines`."""

    def __init__(self, fmt: str = "%(levelname)s %(name)s %(message)s") -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(fmt))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def all_loggers() -> list[logging.Logger]:
    """The root logger and every logger that does not pass records up to it."""
    return [logging.getLogger()] + [logger for logger in logging.Logger.manager.loggerDict.values()
                                    if isinstance(logger, logging.Logger) and not logger.propagate]


@contextmanager
def every_log_record(fmt: str = "%(levelname)s %(name)s %(message)s") -> Iterator[list[str]]:
    """The lines of every record logged inside the block. Prefect sets its logging up when it is
    first imported, so the flow is imported first: a handler added before would be replaced."""
    import flows.nightly  # noqa: F401

    handler, loggers = Records(fmt), all_loggers()
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
