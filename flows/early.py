"""What `pilotkpi run` starts while Prefect's temporary server starts (issue 22, the idle core).

The job waits for its server (2-7 s at 400 pilots: its first start runs Prefect's migrations),
then receives the inbox (2 s), before its first read; meanwhile the second core, and this process
once its imports are done, had nothing to do. So, as soon as the run holds the warehouse's lock
and its registry is loaded:
- **the Dask cluster starts now** when the inbox's listing (cheap: no file is opened) already
  holds enough files for the night to read on Dask (flows/parallel.py, use_dask), and its worker
  **reads the first chunks ahead** (flows/parallel.py, "Read-ahead"): nothing recorded, each
  result keyed by the bytes it read, taken by the night only for the very file it received;
- **Great Expectations is built in a background thread** (pilots.checks.prepare_ge: the import
  and the suite, about 3 s of CPU that the first batch's validation paid), when the inbox holds
  a file at all (a quiet night never validates, and must not pay for it).
Neither may fail the run: a start that goes wrong leaves the night to do it as before (the
cluster's start says so once, in the run's log, as it did; GE's error is raised again by the
validation that needs it). The night takes the early reader or closes it; `close` closes one the
night never reached (a refusal, a failure before its reads).
"""
from __future__ import annotations

import contextvars
import threading
from pathlib import Path

from pilots.inbox import candidates
from warehouse.testpoints import pause_point


def start_cluster(inbox: Path, registry, workers: int | None, dask_address: str | None, batch_size: int) -> int:
    """Start the cluster (and its read-ahead) where the inbox calls for it; the inbox's files."""
    try:
        paths = candidates(inbox)
    except OSError:  # the night's own listing says what is wrong
        return 0
    if paths:
        from flows import parallel

        parallel.start_early(paths, registry.kpi_units(), parallel.DaskOptions(workers, dask_address), batch_size)
    return len(paths)


def warm_ge(inbox_files: int) -> None:
    """Build GE in a background thread, when the inbox holds a file (started after the job's
    imports: two threads importing the same packages at once could meet in a partly run module)."""
    if inbox_files:
        threading.Thread(target=contextvars.copy_context().run, args=(_warm_ge,), name="pilotkpi-ge-warm",
                         daemon=True).start()
    pause_point("server_start")  # tests/test_dask_read_ahead.py kills the job here, the cluster starting


def _warm_ge() -> None:
    from pilots.checks import prepare_ge
    from warehouse.stages import stage

    try:
        with stage("ge"):  # GE's setup, here instead of in the first batch's `ge`: still counted as GE's
            prepare_ge()
    except Exception:  # noqa: BLE001 - the validation builds it again, and fails the run with its error
        pass


def close() -> None:
    """Close the reader started early if the night did not take it."""
    from flows import parallel

    parallel.close_early()
