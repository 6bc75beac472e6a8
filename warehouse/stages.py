"""Wall time of a run's stages, one parseable line each: `stage <name> <seconds>`.

Logged at INFO on the `pilotkpi.stages` logger, and appended to the file named by
PILOTKPI_STAGE_LOG when it is set (the benchmark, bench/, reads that file: it does not depend on
how logging is configured). A stage that runs once per batch (read, validate, ge, write) writes
one line per batch; a reader sums the lines of a name. Stages nest: `ge` is part of `validate`.
"""
from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from typing import Iterator

LOGGER = logging.getLogger("pilotkpi.stages")
STAGE_LOG_ENV = "PILOTKPI_STAGE_LOG"


@contextmanager
def stage(name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        line = f"stage {name} {time.perf_counter() - start:.6f}"
        LOGGER.info(line)
        path = os.environ.get(STAGE_LOG_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as fh:  # one short write: lines never interleave
                fh.write(line + "\n")


def read_stage_log(text: str) -> dict[str, float]:
    """Seconds per stage name, summed over the lines of a stage log."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "stage":
            totals[parts[1]] = totals.get(parts[1], 0.0) + float(parts[2])
    return totals
