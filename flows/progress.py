"""Progress of a long run: a bar on a terminal, plain log lines under cron and Prefect."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, unit: str, logger, *, stream=None, every_seconds: float = 10.0):
        self.total, self.unit, self.logger = total, unit, logger
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.done = 0
        self.every, self._last = every_seconds, 0.0

    def advance(self, n: int) -> None:
        self.done += n
        if self.tty:
            width = 30
            filled = width * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {self.unit}")
            self.stream.flush()
        elif self.done == self.total or time.monotonic() - self._last >= self.every:
            # Through Prefect's logger: shown at PREFECT_LOGGING_LEVEL=INFO, quiet by default.
            self.logger.info("ingested %d/%d %s", self.done, self.total, self.unit)
            self._last = time.monotonic()

    def close(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
