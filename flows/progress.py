"""Progress of a long run: rich's bar on a terminal, plain log lines under cron and Prefect."""
from __future__ import annotations

import sys
import time
from typing import Callable

from rich import progress as rich_progress
from rich.console import Console


class Progress:
    """`with Progress(total, unit, logger) as p: ... p.advance(n)` after each batch.

    On a terminal: rich's bar, redrawn on each advance. Elsewhere: `ingested N/M files` through
    the logger, for the first batch, the last, and at most one every `every_seconds` between.
    `clock` is injectable so tests do not depend on the machine's uptime.
    """

    def __init__(self, total: int, unit: str, logger, *, stream=None, every_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.total, self.unit, self.logger = total, unit, logger
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.done = 0
        self.every, self.clock = every_seconds, clock
        # None, not 0.0: the monotonic clock starts near 0 at boot, so "0.0" would hide the first
        # line for the first `every_seconds` after boot.
        self._last: float | None = None
        self._bar: rich_progress.Progress | None = None
        if self.tty and total:  # no bar for an empty inbox
            self._bar = rich_progress.Progress(
                rich_progress.TextColumn("ingest", markup=False),
                rich_progress.BarColumn(),
                rich_progress.MofNCompleteColumn(),
                rich_progress.TextColumn(unit, markup=False),
                rich_progress.TimeElapsedColumn(),
                # Our own isatty() decides, whatever TTY_COMPATIBLE/FORCE_COLOR say.
                console=Console(file=self.stream, force_terminal=True),
                # Redrawn on advance only: no refresh thread, and sys.stdout/stderr are left alone
                # (Prefect's log handlers hold them).
                auto_refresh=False, redirect_stdout=False, redirect_stderr=False,
                get_time=clock)
            self._task = self._bar.add_task("ingest", total=total)
            self._bar.start()

    def advance(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, refresh=True)
            return
        now = self.clock()
        if self.done == self.total or self._last is None or now - self._last >= self.every:
            # Through Prefect's logger: shown at PREFECT_LOGGING_LEVEL=INFO, quiet by default.
            self.logger.info("ingested %d/%d %s", self.done, self.total, self.unit)
            self._last = now

    def close(self) -> None:
        """End the bar (its last frame stays, the cursor comes back); safe to call twice."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
