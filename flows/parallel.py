"""The night's second core: reading on a Dask worker (issue 22).

The full night is one process's work, and the machine has two cores. With Dask, a worker
process reads and normalises batch N+1 (pilots.reading.read_files, the lean half of the pure
stage) while the flow process validates and writes batch N (pilots.ingest.validate_read, then
the single writer). The results come back in file-name order; each worker has one batch to read
at a time, so memory stays bounded whatever the inbox holds.

Why not the whole pure stage on the workers (as before, 0.887 of the one-process night at 400
pilots, 1.7 GiB): each worker imported Great Expectations and built its context, ran Prefect task
runs against the flow's API, and re-imported the CLI's main module (Prefect and all); and with two
workers plus the flow process, three busy processes shared two cores while the flow process
mostly waited. Now one worker reads (openpyxl, csv, json: the largest stage) and the flow process
validates and writes, two busy processes on two cores; the worker imports pilots.reading and
nothing heavier (no GE, pandas, DuckDB or Prefect), and sends back the normalised rows, not bytes.
docs/scale-out.md has the measurements.

When Dask is used (use_dask; docs/operations.md, "Parsing on Dask"):
- never for an inbox of one batch or less (nothing to overlap), nor with `--workers 0`;
- `--workers N` (a local cluster of N reading processes) or `--dask-address`: otherwise always;
- by default (no option): a local cluster of one reading process when the machine has at least
  two CPUs and the night has at least DASK_MIN_FILES new files (PILOTKPI_DASK_MIN_FILES). A
  cluster took 0.3-1.4 s to start (measured, more under heavy load), and the first batch's read
  is not overlapped, which a small inbox (every test's demo run, a 1%-new night of ~200 files)
  would pay for nothing; 2,000 files are two batches of the default size at least.

A local worker reads the files from the evidence store itself; a worker of an existing cluster
(`--dask-address`) is sent the bytes (it need not see this machine's disk) and must have pilotkpi
installed, at this version. Local workers watch the flow process: if it dies (even by SIGKILL),
they exit (distributed's parent-alive pipe), so a killed night leaves no orphan worker.
"""
from __future__ import annotations

import logging
import os
import sys
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Iterator

from pilots.ingest import FileRead, ToRead, validate_read
from pilots.reading import Received, read_files
from pilots.registry import Registry
from warehouse.stages import stage

DASK_MIN_FILES_ENV = "PILOTKPI_DASK_MIN_FILES"
DASK_MIN_FILES = 2000  # new files from which a night starts a reading process by itself


@dataclass(frozen=True)
class DaskOptions:
    """Where the read runs: `workers` None decides by the inbox's size (use_dask), 0 never starts a
    cluster, N starts a local cluster of N reading processes; or the existing cluster at `address`."""
    workers: int | None = None
    address: str | None = None


def min_files() -> int:
    value = os.environ.get(DASK_MIN_FILES_ENV)
    return DASK_MIN_FILES if not value else int(value)


def use_dask(options: DaskOptions, new_files: int, batch_size: int, cpus: int | None = None) -> bool:
    """Whether a night of `new_files` new files reads them on Dask (the rule in this module's doc)."""
    if new_files <= batch_size or options.workers == 0:
        return False
    if options.address or options.workers:
        return True
    return (cpus or os.cpu_count() or 1) >= 2 and new_files >= min_files()


def _quiet_dask() -> None:
    """The scheduler and the nannies run in this process and log through Prefect's handlers:
    their INFO lines (and the warnings of a normal shutdown) only when Prefect logs INFO too."""
    level = logging.getLogger("prefect").getEffectiveLevel()
    logging.getLogger("distributed").setLevel(logging.ERROR if level >= logging.WARNING else level)


@contextmanager
def _main_module_not_reimported() -> Iterator[None]:
    """multiprocessing's spawn makes each new process import the parent's `__main__` again: for
    `pilotkpi run` that is flows.cli, then Prefect and all it imports, in a process that only ever
    runs pilots.reading. Without a spec or file on `__main__`, spawn leaves it out."""
    main = sys.modules["__main__"]
    saved = {name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__dict__.update(saved)


def local_cluster(workers: int):
    """A local cluster of `workers` single-threaded processes (the readers are CPU-bound Python),
    its logs quiet. The scheduler's HTTP routes start whatever the options: on a free loopback
    port (not 8787, which another cluster may hold, nor every interface)."""
    import distributed

    with _main_module_not_reimported():
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)


class DaskReader:
    """A BatchReader for Ingestor.ingest that reads on Dask and validates here. The cluster (or
    the connection to it) is opened on the first batch with files to read, and closed on leaving
    the `with` block."""

    def __init__(self, options: DaskOptions):
        self.options = options
        self.cluster = None
        self.client = None
        self.workers = 0  # the cluster's worker threads, once started

    @property
    def started(self) -> bool:
        return self.client is not None

    def _start(self) -> None:
        import distributed

        _quiet_dask()
        with stage("dask_start"):
            if self.options.address:
                self.client = distributed.Client(self.options.address)
            else:
                self.cluster = local_cluster(self.options.workers or 1)
                self.client = distributed.Client(self.cluster)
            self.workers = max(1, sum(self.client.nthreads().values()))

    def __call__(self, batches: Iterable[list[ToRead]], registry: Registry, as_of: date) -> Iterator[list[FileRead]]:
        """One result list per batch, in order. Each worker reads one batch at a time; the next is
        submitted as soon as a result is fetched, before this process validates and writes that
        one, so the workers read while this process works, and no finished batch waits on a
        worker (memory: one batch's rows per worker, one here)."""
        units = registry.kpi_units() if registry is not None else {}
        pending = iter(batches)
        window: deque = deque()  # a future per batch in order; None for a batch with nothing to read

        def fill() -> None:
            """Submit batches until every worker has one (a batch with nothing to read costs none)."""
            while sum(f is not None for f in window) < (self.workers if self.started else 1):
                batch = next(pending, None)
                if batch is None:
                    return
                if batch and not self.started:
                    self._start()
                if batch and self.options.address:
                    batch = [item.with_bytes() for item in batch]
                window.append(self.client.submit(read_files, batch, units, pure=False) if batch else None)

        fill()
        while window:
            received = self._fetched(window.popleft())
            fill()
            if not any(window):  # the last read is back: the workers go before its validation and write
                self.close()
            yield validate_read(received, registry, as_of)

    @staticmethod
    def _fetched(future) -> list[Received]:
        if future is None:
            return []
        with stage("read_wait"):  # this process waits for the worker's read (which logs `read` itself)
            received = future.result()
        future.release()
        return received

    def close(self) -> None:
        client, cluster, self.client, self.cluster = self.client, self.cluster, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def __enter__(self) -> DaskReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
