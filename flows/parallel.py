"""Parsing on Dask (`pilotkpi run --workers N` / `--dask-address tcp://host:8786`).

The pure stage (pilots.ingest.read_batch: read, normalise, validate one batch) runs as the Prefect
task `read-batch` on prefect-dask's DaskTaskRunner; the single writer stays in the flow process
and takes the results in file-name order. All batches are submitted in order, at most IN_FLIGHT
per worker ahead of the writer, so memory stays bounded whatever the inbox holds.

- A local cluster (`--workers N`): N worker processes of one thread each (GE and the readers are
  CPU-bound Python), no dashboard; the workers read the files from the evidence store themselves.
- An existing cluster (`--dask-address`): its workers are sent the files' bytes (they need not see
  this machine's disk) and must have pilotkpi installed, at this version.
Each worker imports Great Expectations and builds its context once, on its first batch
(pilots.checks._gx is cached per process).

The cluster is started only when there is something to read, and stopped with the ingest step.
The tasks are submitted from the flow itself, not from inside a task: Prefect sends the
submitting task's context, parameters included (the warehouse connection), to the workers.
"""
from __future__ import annotations

import logging
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Iterator

from prefect import task
from prefect.cache_policies import NO_CACHE

from pilots.ingest import BatchReader, FileRead, ToRead, read_batch
from pilots.registry import Registry

IN_FLIGHT = 2  # batches per worker submitted ahead of the writer: one running, one queued


@dataclass(frozen=True)
class DaskOptions:
    """Where the pure stage runs: a local cluster of `workers` processes, or the cluster at
    `address`. Neither: in the flow process, as without Dask."""
    workers: int | None = None
    address: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.workers or self.address)


@task(name="read-batch", cache_policy=NO_CACHE)
def read_batch_task(batch: list[ToRead], registry: Registry, as_of: date) -> list[FileRead]:
    return read_batch(batch, registry, as_of)


def _quiet_dask() -> None:
    """The scheduler and the nannies run in this process and log through Prefect's handlers:
    their INFO lines (and the warnings of a normal shutdown) only when Prefect logs INFO too."""
    level = logging.getLogger("prefect").getEffectiveLevel()
    logging.getLogger("distributed").setLevel(logging.ERROR if level >= logging.WARNING else level)


def _task_runner(options: DaskOptions):
    from prefect_dask import DaskTaskRunner

    _quiet_dask()

    if options.address:
        return DaskTaskRunner(address=options.address)
    # silence_logs: the scheduler runs in this process, and its INFO chatter is no news to an operator.
    return DaskTaskRunner(cluster_kwargs={"n_workers": options.workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None,
                                          "silence_logs": logging.ERROR})


@contextmanager
def dask_reader(options: DaskOptions) -> Iterator[BatchReader]:
    """A BatchReader for Ingestor.ingest that runs the pure stage on the cluster; the cluster
    (or the connection to it) is opened on the first batch and closed on leaving the block."""
    runner = None
    with_bytes = options.address is not None

    def read_batches(batches: Iterable[list[ToRead]], registry: Registry, as_of: date) -> Iterator[list[FileRead]]:
        nonlocal runner
        window: deque = deque()
        limit = 0
        for batch in batches:
            if not batch and not window:  # only duplicates or files over the size limit: nothing to send
                yield []
                continue
            if runner is None:
                runner = _task_runner(options).__enter__()
            if not limit:  # the cluster's size, once it is up
                limit = IN_FLIGHT * max(1, len(runner.client.nthreads()))
            if with_bytes:
                batch = [item.with_bytes() for item in batch]
            window.append(runner.submit(read_batch_task, {"batch": batch, "registry": registry, "as_of": as_of}))
            if len(window) >= limit:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()

    try:
        yield read_batches
    finally:
        if runner is not None:
            runner.__exit__(None, None, None)
