"""What `pilotkpi run` does while Prefect's temporary server starts (issue 22, the idle core).

The job imports its modules while its server boots on the other core; then it waits for the
server (2.3 s at 400 pilots, 6.8 s on a first night: Prefect's migrations) with nothing to do.
That wait is this process's idle core, and the night's critical path runs through this process
(it validates and writes every batch). So, once the imports are done, a background thread:
- **builds Great Expectations** (pilots.checks.warm_ge: its import and the suite, about 3 s of
  CPU that the first batch's validation paid on the critical path), when the inbox holds a file
  at all (a quiet night never validates, and must not pay for it); stage `ge_warm` (it was in
  the first batch's `ge`, inside `validate`; the bench's GE share counts both, and a validation
  that waits for this build logs its wait as `ge_wait`, not as GE's); then imports the XLSX
  reader if the inbox holds an XLSX file;
- **then starts the Dask cluster**, if the night has not begun yet (the server still starting)
  and the inbox's listing holds enough files for it to read on Dask (parallel.offer_early), and its
  worker **reads the first chunks ahead** (flows/parallel.py, "Read-ahead"): nothing recorded,
  each result keyed by the bytes it read, used by the night only for the very file it received.
  Once the server answers, the night starts the cluster itself before its receive
  (parallel.reading_early), as a served night does.
Why in that order, and not the cluster first (measured 2026-12-05, bench/second_core.py at 400
pilots): while the server boots, a third busy process (the worker reading) takes CPU from the
server, whose start is on the critical path; GE's build in this otherwise idle process does not.
Neither may fail the run: a start that goes wrong leaves the night to do it as before (the
cluster's start says so once, in the run's log; GE's error is raised again by the validation
that needs it). `close` closes a reader the night never took (a refusal, a failure before it).
"""
from __future__ import annotations

import contextvars
import threading
from pathlib import Path

from warehouse.testpoints import pause_point


def start(inbox: Path, registry, workers: int | None, dask_address: str | None, batch_size: int
          ) -> threading.Thread | None:
    """After the job's imports (two threads importing the same packages at once could meet in a
    partly run module), before its wait for the server: the background thread, if the inbox holds
    a file."""
    from flows import parallel

    paths = parallel.inbox_listing(inbox)
    thread = None
    if paths:
        parallel.expect_early()
        options = parallel.DaskOptions(workers, dask_address)
        thread = threading.Thread(target=contextvars.copy_context().run, name="pilotkpi-early", daemon=True,
                                  args=(_warm_then_start, paths, registry, options, batch_size))
        thread.start()
    pause_point("server_start")  # tests/test_dask_read_ahead.py kills the job here
    return thread


def _warm_then_start(paths: list[Path], registry, options, batch_size: int) -> None:
    from flows import parallel
    from pilots.checks import warm_ge
    from pilots.readers.base import fewer_collections
    from warehouse.stages import stage

    try:
        # GE's setup, here instead of in the first batch's `ge` (inside `validate`), with the
        # collector's thresholds the validation gives it (its import makes objects by the million).
        with stage("ge_warm"), fewer_collections():
            warm_ge()
    except Exception:  # noqa: BLE001 - the validation builds it again, and fails the run with its error
        pass
    if any(path.suffix.lower() == ".xlsx" for path in paths):
        # The XLSX reader (openpyxl, Pillow, the XML parsers), imported by the first XLSX file's
        # read otherwise: on a small night, after the server answered (0.3 s at a load of 8).
        import pilots.readers.xlsx_reader  # noqa: F401
    parallel.offer_early(paths, registry, options, batch_size)


def close() -> None:
    """Close the reader started early if the night did not take it."""
    from flows import parallel

    parallel.close_early()
