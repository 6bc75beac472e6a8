"""Wall time of a run's stages, one parseable line each: `stage <name> <seconds>`; and the
process's peak resident memory when each stage ended: `peak <name> <MiB>`.

Logged at INFO on the `pilotkpi.stages` logger, and appended to the file named by
PILOTKPI_STAGE_LOG when it is set (the benchmark, bench/, reads that file: it does not depend on
how logging is configured). A stage that runs once per batch (read, validate, ge, write) writes
one line per batch; a reader sums the lines of a name. Stages nest: `ge` is part of `validate`.

The peak is the kernel's high-water mark of this process (VmHWM, else getrusage's ru_maxrss: no
sampling, no thread), so the first stage whose `peak` line is higher than the one before raised it. Child
processes (Prefect's server, Dask workers) are not in it: the bench samples the whole tree.
"""
from __future__ import annotations

import logging
import os
import resource
import sys
import time
from contextlib import contextmanager
from typing import Iterator

LOGGER = logging.getLogger("pilotkpi.stages")
STAGE_LOG_ENV = "PILOTKPI_STAGE_LOG"
# ru_maxrss is in KiB on Linux, in bytes on macOS.
_MAXRSS_PER_MIB = 1 << 20 if sys.platform == "darwin" else 1 << 10


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB: Linux's VmHWM, the high-water mark of
    this program's own memory. Not getrusage's ru_maxrss there: Linux carries that across exec,
    so a process started by a large one (the bench, which generates the workload in itself) began
    with its parent's peak (761 MiB logged at `server_start` at 400 pilots, 2026-12-05)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _MAXRSS_PER_MIB


@contextmanager
def stage(name: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        record(name, time.perf_counter() - start)


def record(name: str, seconds: float) -> None:
    """A stage timed by its caller (one that does not fit a `with` block)."""
    line = f"stage {name} {seconds:.6f}"
    LOGGER.info(line)
    path = os.environ.get(STAGE_LOG_ENV)
    if path:  # the peak (a read of /proc) only where a stage log asks for it
        peak = f"peak {name} {peak_rss_mib():.1f}"
        with open(path, "a", encoding="utf-8") as fh:  # one short write: lines never interleave
            fh.write(f"{line}\n{peak}\n")


def read_stage_log(text: str) -> dict[str, float]:
    """Seconds per stage name, summed over the lines of a stage log."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "stage":
            totals[parts[1]] = totals.get(parts[1], 0.0) + float(parts[2])
    return totals


def read_peak_log(text: str) -> dict[str, float]:
    """Per stage name, the highest peak (MiB) its lines of a stage log recorded. Peaks only grow
    within a process: compare a stage's peak with the stages that ended before it."""
    peaks: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "peak":
            peaks[parts[1]] = max(peaks.get(parts[1], 0.0), float(parts[2]))
    return peaks
