"""The night's second core: reading on a Dask worker (issue 22).

The full night is one process's work, and the machine has two cores. With Dask, a worker
process reads and normalises batch N+1 (pilots.reading.read_files, the lean half of the pure
stage) while the flow process validates and writes batch N (pilots.ingest.validate_read, then
the single writer), and the flow process reads too whenever it would otherwise wait (Balance,
below). The results come back in file-name order, and the reads run at most a bounded number of
files ahead of the write, so memory stays bounded whatever the inbox holds.

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

Balance (one local worker, the default): the reads are shared. Each batch is cut in
CHUNKS_PER_BATCH (4) runs of its files (`chunks_of`), and the chunks are handed out in file-name
order: to the worker, while fewer than WORKER_QUEUE_CHUNKS (a batch's worth) are unfinished on it,
so it reads on while this process validates and writes a batch; and to this process, which reads
the next chunk itself (`read_here`) whenever the next batch to validate is not all read yet,
instead of waiting for the worker. A batch is validated and written once all its chunks are back,
in order, so statuses, supersession and every mart are as in one process. Memory: the chunks read
or being read beyond the batch validated next are at most one batch and a half (AHEAD_CHUNKS per
worker and AHEAD_EXTRA_CHUNKS; before the sharing, one batch); when the bound is reached this
process waits for the worker (`read_wait`). The cluster starts in a background thread
(DaskReader.start_opening) while this process reads the first chunks itself. Why: the worker's read of a batch (1.63 s per 1,000
files at 400 pilots, idle) is longer than this process's validate and write of one (1.11 s), and a
worker given one batch at a time waited for this process to hand it the next, so this process
waited 10.7 s in all for reads (every 6th batch read here, the rule before, still left it so). A
quarter batch is small enough for the two to finish close together, and few enough Dask tasks
(about 80 at 400 pilots) to cost nothing noticeable. With `--workers 2` or more the workers share
among themselves (a batch's worth unfinished per worker, this process reads nothing: the workers
are the second core already), and with `--dask-address` too (a remote cluster's speed is
unknown). The stage log shows a worker's reads as `read` (logged by the worker) and, here, as
`read_fetch` (its result taken, finished) or `read_wait` (waited for, then taken); this
process's own as `read` inside `read_here`.

Transfer: a worker's read comes back as one pickled payload (pilots.reading.read_files_packed),
fetched by Dask's done-callback in its own thread as soon as the read finishes (`_Chunk.arrive`),
straight from the worker (the local cluster's client gathers direct, not through the scheduler),
and unpickled here when the batch is validated (unpack_read, with the read's collector
thresholds). Why: fetching a finished read when this process came to it cost 4.2-4.9 s of the
full night (`read_fetch`; 4.9 s at 400 pilots, idle) of which a fraction was CPU (about 15-30 ms
per chunk here, the unpickling and its collections): the rest was waiting for the worker, whose
event loop had to pickle the result and answer while its only thread read the next chunk, taking
the GIL from it a switch interval (5 ms) at a time. Now the worker pickles in the task, its event
loop only sends bytes, and this process validates and writes meanwhile (bench/second_core.py at
100 pilots, six pairs under load: `read_fetch` 2.9-8.3 s -> 0.3-1.5 s, the same results;
docs/scale-out.md, "The transfer").

Read-ahead (issue 22, the idle core at a night's start): the night starts its cluster before its
receive (reading_early), when the inbox's listing already holds enough files (use_dask on the
listing; the night decides again on its new files, reader_for, and closes a reader it does not
use), and `pilotkpi run` already while Prefect's server starts, once GE is built (flows/early.py,
offer_early). Its local worker reads the inbox's first READ_AHEAD_CHUNKS chunks (the chunks the
night holds at most at once: the batch validated next and a batch and a half ahead), cut as the
night will cut them when every file is new, while the night waits for its server, settles and
receives (ReadAhead; the worker's task: pilots.read_ahead.read_inbox_files). Such a read is a
guess: nothing is recorded, nothing moved, and each record is keyed by what the read depends on
(the name as the night knows it, the SHA-256 of the bytes read, the issues found before reading;
and the registry's KPI units, which must be the night's). When the night pulls a batch, a chunk
whose files were all read ahead (by name) is given to no reader again; when it is validated, each
file's record is taken only if the night received those very bytes (`_take_guessed`, stage
`read_ahead`), and a file that changed since is read here as received (`read_here`); a file
gone or refused is simply not asked for. Memory: the guesses wait as pickled payloads (about
5 KB a file at 400 pilots, 10 MB for the ten chunks), counted among the chunks the night holds
(`assigned`), so the bound above holds. A guess the night found not yet on the worker (a cluster
slower to start than the server) is not used; its files are read as before. A killed job's
worker goes as any worker does (below), and the job recorded nothing.

A warm served night below the size rule (flows/forked_reader.py, ForkedReader): no cluster, but the
night's process forked a reader before its threads started (flows/warm.py), which reads the inbox
ahead as above while the night receives and starts its job (a 1%-new night's 196 files at 400
pilots: all of them); the night reads here whatever the guesses do not cover, and the reader is
given nothing else. `--workers` or `--dask-address` given: it is not used.

Validated ahead (issue 22, the served 1%-new night): for an inbox of one batch, all of it read
ahead (ReadAhead.keep), the forked reader keeps what it reads (pilots.read_ahead, keep_as), and
once the night knows its registry and as-of date (reading_early's validate_with) it asks the
reader to validate that batch (ReadAhead.validate_ahead; pilots.read_ahead.validate_kept:
validate_read in the reader, one call: GE costs ~75-100 ms a call whatever its size, so a batch is
not split). The night takes those FileReads (_Schedule._validated_ahead, stage `validated_ahead`:
its wait and unpickling) only when every file of its batch is among them under its key (name,
bytes, issues before reading) and they were made with the night's registry (its content hash)
and as-of date; validation is per file, so a batch of fewer files (a byte-identical copy is not
read) takes its own. Otherwise it takes the guesses file by file and validates the batch itself,
as before. The reader validates only where GE is built already (a forkserver's child: building
it costs seconds), with the registry its forkserver parsed (nothing is parsed there:
pilots.registry.loaded_registry) and the KPI units its reads used, and never a batch with a file
over the size limit (the night reads that one again). Not with more batches: the reader answers
in order, so it would validate the first only after reading ahead the others, later than the
night would. Memory: the reader holds its records of the batch until it validates them (then
drops them), as the night holds the guesses' payloads; the FileReads come back as one payload
(about 7 KB a file at 400 pilots: rows, issues and the batch's columns).
Why: on the 1%-new night at 400 pilots the reader's reads (0.5 s) ended while the night was still
opening its job, and the night then validated the batch itself (0.15-0.25 s); the reader now does
it meanwhile (docs/scale-out.md has the figures).

Fallback: by default (no `--workers`, no `--dask-address`) a cluster that fails to start is
not worth failing the night for: one WARNING line, and the batches are read in this process. An
explicit `--workers N` or `--dask-address` fails the run loudly instead (the operator asked).

Security: the local cluster listens on loopback, but any local user could connect to an
unauthenticated scheduler and run code as the pilotkpi user (`client.run`). So it starts with
`security=True`: distributed's LocalCluster then makes temporary self-signed TLS credentials
(Security.temporary(), in memory) and requires them (tls:// addresses); only this process's
client holds them. docs/security.md says it.

A local worker reads the files from the evidence store itself; a worker of an existing cluster
(`--dask-address`) is sent the bytes (it need not see this machine's disk) and must have pilotkpi
installed, at this version. Local workers watch the flow process: if it dies (even by SIGKILL),
they exit (distributed's parent-alive pipe), so a killed night leaves no orphan worker.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

from flows import forked_reader
from pilots.inbox import candidates, inbox_name, name_as_text
from pilots.ingest import DEFAULT_BATCH_SIZE, FileRead, ToRead, validate_read
from pilots.read_ahead import key_of, read_inbox_files, validate_kept
from pilots.reading import Received, read_files, read_files_packed, unpack_read
from pilots.registry import Registry
from warehouse.stages import stage

# The size rule's threshold is in flows/settings.py: `pilotkpi run` checks it before it launches its
# server, without importing this module (its imports delayed the launch by 0.2-0.6 s).
from flows.settings import DASK_MIN_FILES, DASK_MIN_FILES_ENV, DaskSettingError, min_files  # noqa: F401

# The reads are shared in chunks: a batch is cut in CHUNKS_PER_BATCH runs of files (module doc).
CHUNKS_PER_BATCH = 4
# At most this long, a failed night's close waits for a read Dask's callback is still fetching.
SETTLE_FETCH_SECONDS = 30.0
# Chunks a worker is given and still reads: one batch's, so it reads on while this process
# validates and writes one (measured at 400 pilots: 1.1 s; a quarter batch reads in 0.4 s).
WORKER_QUEUE_CHUNKS = CHUNKS_PER_BATCH
# Chunks read, or being read, beyond the batch validated next: one batch per worker, as before the
# sharing, and half a batch more (the extra batch in flight that keeps both processes busy).
AHEAD_CHUNKS = CHUNKS_PER_BATCH
AHEAD_EXTRA_CHUNKS = CHUNKS_PER_BATCH // 2
# The read-ahead (module doc): the chunks the night holds at most at once (the batch validated
# next and those ahead of it), read before the night starts, so it finds them all read.
READ_AHEAD_CHUNKS = CHUNKS_PER_BATCH + AHEAD_CHUNKS + AHEAD_EXTRA_CHUNKS


@dataclass(frozen=True)
class DaskOptions:
    """Where the read runs: `workers` None decides by the inbox's size (use_dask), 0 never starts a
    cluster, N starts a local cluster of N reading processes; or the existing cluster at `address`."""
    workers: int | None = None
    address: str | None = None


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
    port (not 8787, which another cluster may hold, nor every interface). security=True: TLS
    with temporary credentials that only the clients given this cluster hold (module doc)."""
    import distributed

    with _main_module_not_reimported():
        return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR,
                                        security=True)


def _warning(message: str) -> None:
    """A WARNING in the run's log (Prefect's), or this module's logger outside a run."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        logger = get_run_logger()
    except MissingContextError:
        logger = logging.getLogger(__name__)
    logger.warning(message)


_claims = threading.Lock()  # who fetches a chunk's read: Dask's callback thread or this one


@dataclass(eq=False)
class _Chunk:
    """A run of consecutive files of one batch: the unit of reading. Given to the worker (its
    `future`), or read here; `received` once read and fetched. A worker's read is fetched once,
    by whichever side claims it first: Dask's done-callback (`arrive`, as soon as the read
    finished: the usual case) or this process (`fetch`, when it needs the read before that)."""
    items: list[ToRead]
    future: object | None = None
    received: list[Received] | None = None
    claimed: bool = False  # the read's fetch is under way, or done (payload, landed)
    payload: bytes | None = None  # the worker's pickled read, fetched by the callback
    landed: threading.Event = field(default_factory=threading.Event)  # the fetch claimed is over
    guesses: list[_Guess] = field(default_factory=list)  # the read-ahead's reads of its files, if all are

    @property
    def assigned(self) -> bool:
        return self.future is not None or self.received is not None or bool(self.guesses)

    @property
    def on_worker(self) -> bool:
        """Read (or being read) on a worker, and not yet taken here."""
        return self.received is None and (self.future is not None or bool(self.guesses))

    def done(self) -> bool:
        """The worker's read (or every read-ahead read of its files) is finished."""
        return self.future.done() if self.future is not None else all(g.finished for g in self.guesses)

    def _claim(self) -> bool:
        with _claims:
            first, self.claimed = not self.claimed, True
            return first

    def arrive(self, future) -> None:
        """Dask's done-callback (its own thread): fetch the finished read now, while this process
        validates and writes, so that taking it later costs only its unpickling. A read that
        failed leaves no payload: `fetch`'s own result() raises its error in the run."""
        if not self._claim():
            return  # this process fetched it already
        try:
            self.payload = future.result()
        except BaseException:
            pass
        finally:
            self.landed.set()

    def fetch(self) -> list[Received]:
        """The worker's read, unpickled: the payload the callback fetched (waiting for its fetch
        to end), else fetched here. Once it returns, no fetch of this read is under way."""
        return unpack_read(self._take())

    def _take(self):
        """The worker's result: fetched by the callback (waited for), else here."""
        if self._claim():
            try:
                payload = self.future.result()
            finally:
                self.landed.set()
        else:
            self.landed.wait()
            payload, self.payload = self.payload, None
            if payload is None:  # the read failed: its error, raised here without a transfer
                payload = self.future.result()
        return payload


@dataclass(eq=False)
class _Guess(_Chunk):
    """A read-ahead read (ReadAhead): `items` are inbox paths, read on a worker before the night
    received them; its result is (keys, packed read). Its records are unpacked once, when the
    night first takes one, and each is taken at most once."""
    records: dict | None = None
    names: list[str] = field(default_factory=list)  # its files' names as the night knows them

    def take(self, key) -> Received | None:
        """The record read under `key` (name, sha256, issues), or None: the file changed, went,
        or was not read; or the read failed (the night reads the file itself and says why)."""
        if self.records is None:
            try:
                keys, packed = self._take()
                self.records = dict(zip(keys, unpack_read(packed)))
            except Exception:  # a speculative read that failed is no read at all
                self.records = {}
            self.future.release()  # the worker lets go of its copy
        record = self.records.pop(key, None)
        if record is not None and any(issue.code == "FILE_TOO_LARGE" for issue in record.issues):
            return None  # a cost bound met under the server's start (its clock among them): read again
        return record

    @property
    def finished(self) -> bool:
        return self.records is not None or self.future.done()


class ReadAhead:
    """The inbox's first files read on the worker while Prefect's server starts and the night
    receives them (module doc, "Read-ahead"): the night's chunks, as it will cut them when every
    file is new, up to READ_AHEAD_CHUNKS, read by pilots.read_ahead.read_inbox_files."""

    def __init__(self, paths: list[Path], batch_size: int, units: dict, chunks: int | None = None,
                 keep: bool = False):
        runs: list[list[Path]] = []
        for start in range(0, len(paths), batch_size):
            runs.extend(chunks_of(paths[start:start + batch_size]))
        self.units = units
        self.guesses = [_Guess(run, names=[name_as_text(inbox_name(path)) for path in run])
                        for run in runs[:READ_AHEAD_CHUNKS if chunks is None else chunks]]
        # The forked reader keeps its reads to validate them (validate_ahead) for an inbox of one
        # batch, all read ahead: the night's 1%-new case. With more batches the reader would
        # validate the first only after reading ahead the others (it answers in order), later
        # than the night validates it itself.
        self.keep = keep and len(paths) <= batch_size and len(runs) == len(self.guesses)
        self.validated: object | None = None  # the reader's validate_kept of the batch, as a future
        self.validated_for: tuple[str, date] | None = None  # the registry's hash and the as-of date it validates with
        self.by_name = {name: guess for guess in self.guesses for name in guess.names}
        self.submitted = threading.Event()  # every guess is on the worker
        self._lock = threading.Lock()  # submit (the start's thread) against covering (the night's)
        self._passed: set[str] = set()  # files the night gave its readers before the guesses were on the worker

    def submit(self, client) -> None:
        """Give the worker every guess, in order (the cluster's start thread, once it is up), behind
        the night's own reads (a lower priority); not a guess whose files the night already gave
        its readers (pulled before the cluster was up): it would be read twice."""
        with self._lock:
            for number, guess in enumerate(self.guesses):
                if self._passed.issuperset(guess.names):
                    for name in guess.names:
                        self.by_name.pop(name, None)
                    continue
                guess.future = client.submit(read_inbox_files, guess.items, self.units, number if self.keep else None,
                                             pure=False, priority=-1)
                guess.future.add_done_callback(guess.arrive)
            self.submitted.set()

    def validate_ahead(self, client, registry_dir: Path, registry: Registry, as_of: date) -> None:
        """Have the forked reader validate the batch it reads ahead, once read (module doc,
        "Validated ahead"): the night takes the result for a batch of those very files. Asked
        once, and only where every guess is on the reader (keep: a one-batch inbox)."""
        if not self.keep or self.validated is not None or not self.guesses:
            return
        if any(guess.future is None for guess in self.guesses):
            return
        self.validated_for = (registry.content_sha256, as_of)
        self.validated = client.submit(validate_kept, list(range(len(self.guesses))), str(registry_dir),
                                       registry.content_sha256, as_of)

    def covering(self, items: list[ToRead], units: dict) -> list[_Guess]:
        """The guesses that read every file of `items` by name (in order, each once), or [] when
        one was not read ahead, or read with other KPI units than the night's."""
        with self._lock:
            if not self.submitted.is_set():
                self._passed.update(item.name for item in items)
                return []
        if units != self.units:
            return []
        found = [self.by_name.get(item.name) for item in items]
        if not found or None in found:
            return []
        return list(dict.fromkeys(found))

    def take(self, item: ToRead) -> Received | None:
        """`item`'s record from the read-ahead when it read the very file the night received."""
        guess = self.by_name.pop(item.name, None)
        return guess.take(key_of(item)) if guess is not None else None

    def settle(self, timeout: float) -> None:
        """As _Schedule.settle_fetches, for the guesses: no callback left fetching one."""
        for guess in self.guesses:
            if guess.future is None:
                continue
            if guess._claim():  # claimed here: its late callback fetches nothing
                guess.landed.set()
            else:
                guess.landed.wait(timeout)


def chunks_of(items: list[ToRead], parts: int = CHUNKS_PER_BATCH) -> list[list[ToRead]]:
    """A batch's files in min(parts, files) consecutive runs, in order, their sizes differing by
    one at most (the first ones larger): 7 files -> 2, 2, 2, 1."""
    if not items:
        return []
    count = min(parts, len(items))
    size, larger = divmod(len(items), count)
    runs, start = [], 0
    for index in range(count):
        end = start + size + (index < larger)
        runs.append(items[start:end])
        start = end
    return runs


class DaskReader:
    """A BatchReader for Ingestor.ingest that reads on Dask and validates here. The cluster (or
    the connection to it) is opened on the first batch with files to read, and closed on leaving
    the `with` block, or as soon as the last read is back."""

    def __init__(self, options: DaskOptions):
        self.options = options
        self.cluster = None
        self.client = None
        self.workers = 0  # the cluster's worker threads, once started
        self.fell_back = False  # the default cluster did not start: every batch is read here
        self._opening: threading.Thread | None = None  # the start under way (start_opening)
        self._opened: tuple | Exception | None = None  # its outcome: (cluster, client, workers), or the error
        self._schedule: _Schedule | None = None  # the night's reads (__call__)
        self.ahead: ReadAhead | None = None  # the inbox read ahead, once the cluster is up (start_early)
        # One local worker (the default): this process shares the reading (module doc, Balance).
        self.one_local_worker = not options.address and (options.workers or 1) == 1

    reads_ahead_only = False  # ForkedReader: no chunk is given to its process, only the read-ahead

    @property
    def started(self) -> bool:
        return self.client is not None

    @property
    def _default_mode(self) -> bool:
        return self.options.workers is None and not self.options.address

    @property
    def shares_reads(self) -> bool:
        """Whether this process reads a chunk itself rather than wait for a worker's."""
        return self.fell_back or self.one_local_worker or self.reads_ahead_only

    @property
    def starting(self) -> bool:
        """The cluster is being started in the background (start_opening)."""
        return self._opening is not None

    def start_opening(self) -> None:
        """Start the cluster (or connect to it) in a background thread: with shares_reads, this
        process reads the first chunks itself meanwhile instead of waiting for the start (0.4 s on
        the idle 2-core machine, 1.7 s measured on a loaded one). The thread runs in a copy of this
        thread's context, so its `dask_start` stage line goes to the run's log like the others."""
        _quiet_dask()
        self._opening = threading.Thread(target=contextvars.copy_context().run, args=(self._open,),
                                         name="pilotkpi-dask-start", daemon=True)
        self._opening.start()

    def _open(self) -> None:
        """The background start: leaves (cluster, client, workers), or the error, in self._opened."""
        import distributed

        cluster = client = None
        try:
            with stage("dask_start"):
                if self.options.address:
                    client = distributed.Client(self.options.address)
                else:
                    cluster = local_cluster(self.options.workers or 1)
                    # Results straight from the worker, not relayed by the scheduler (one TLS hop
                    # and two messages fewer; both run in this process).
                    client = distributed.Client(cluster, direct_to_workers=True)
                workers = max(1, sum(client.nthreads().values()))
            if self.ahead is not None:
                try:
                    self.ahead.submit(client)
                except Exception:  # noqa: BLE001 - a guess is only a guess: the cluster still reads the night
                    pass
            self._opened = (cluster, client, workers)
        except Exception as exc:
            self._opened = exc
            for part in (client, cluster):
                if part is not None:
                    part.close()

    def finish_opening(self, wait: bool) -> bool:
        """Take the background start's outcome once it is done (waiting for it if `wait`); False
        while it runs. A cluster that did not start fails the run when the operator asked for it,
        and by default leaves every read to this process (one WARNING, said here in the run)."""
        if self._opening is None:
            return True
        if not wait and self._opening.is_alive():
            return False
        opened = self._take_opened()
        if isinstance(opened, Exception):
            if not self._default_mode:
                raise opened  # the operator asked for this cluster: the run fails and says why
            self.fell_back = True
            _warning(f"pilotkpi: the Dask reading process did not start ({type(opened).__name__}: {opened}); "
                     "reading the files in this process instead")
        return True

    def _take_opened(self) -> tuple | Exception:
        """The background start's outcome, once it ended: its cluster, client and workers kept here,
        or its error returned."""
        self._opening.join()
        opened, self._opening, self._opened = self._opened, None, None
        if not isinstance(opened, Exception):
            self.cluster, self.client, self.workers = opened
        return opened

    def __call__(self, batches: Iterable[list[ToRead]], registry: Registry, as_of: date) -> Iterator[list[FileRead]]:
        """One result list per batch, in order (the module doc's Balance says how the reads are
        shared). The batches are pulled (so received) only when a chunk of them is to be read."""
        self._schedule = _Schedule(self, batches, registry)
        return self._schedule.results(as_of)

    def close(self) -> None:
        if self._schedule is not None:  # a night that failed midway: no callback left fetching
            self._schedule.settle_fetches()
        if self._opening is not None:  # a start still under way (the night failed, or ended first)
            self._take_opened()
        if self.ahead is not None:  # guesses the night did not take
            ahead, self.ahead = self.ahead, None
            ahead.settle(SETTLE_FETCH_SECONDS)
        client, cluster, self.client, self.cluster = self.client, self.cluster, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()

    def __enter__(self) -> DaskReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ForkedReader(DaskReader):
    """The read-ahead on a warm served night's forked reader (flows/forked_reader.py), for a night
    that Dask's size rule leaves to one process: the process runs already (no start to wait for),
    reads the inbox's first chunks ahead while the night receives and starts its job, and is
    given nothing else (the night reads here what the guesses do not cover: no Balance to tune
    for a process that is not Dask's). It ends as soon as the last guess is taken (close)."""

    reads_ahead_only = True

    def __init__(self, process, options: DaskOptions):
        super().__init__(options)
        self.process = process

    def start_opening(self) -> None:
        self.client, self.workers = self.process, 1
        if self.ahead is not None and not self.ahead.submitted.is_set():  # else since before the engine
            self.ahead.submit(self.client)


_engine_ahead: ReadAhead | None = None  # read_ahead_before_engine's guesses, for the night's reader


def read_ahead_before_engine(registry_dir: str, inbox: str, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
    """A warm night, before its engine starts (flows/warm.py): its forked reader starts reading the
    deployment's inbox ahead now, with the registry's KPI units (the forkserver's parse, while
    the files are unchanged), cut in the default batches; an empty inbox ends the reader (a quiet
    night), and so does one that Dask will read (use_dask with the default options). Only a guess, as every read-ahead: the night takes a read only if its own inbox,
    units and files say the same (_forked_early, ReadAhead.covering, _Guess.take), else reads
    itself. Nothing here may stop the night: an error leaves the reader to the night."""
    global _engine_ahead
    try:
        paths = inbox_listing(Path(inbox))
        # A Dask-sized inbox is read on Dask (start_early closes this reader): reading ahead here
        # would only take the start's core and the registry's load for reads thrown away.
        if not paths or use_dask(DaskOptions(), len(paths), batch_size):
            forked_reader.close()
            return
        from pilots.registry import load_registry

        ahead = ReadAhead(paths, batch_size, load_registry(Path(registry_dir)).kpi_units(), keep=True)
        ahead.submit(forked_reader.client())
        _engine_ahead = ahead
    except Exception:  # noqa: BLE001 - the night's own registry load and receive say what is wrong
        pass


def _forked_early(paths: list[Path], registry: Registry, options: DaskOptions, batch_size: int) -> ForkedReader | None:
    """A warm night's forked reader reading the inbox ahead (ReadAhead), when Dask is not used, the
    options are the default ones (`--workers 0` is one process) and the inbox holds files; else
    the forked reader is ended now (an idle copy of this process costs its writes copy on write).
    Its guesses from before the engine are kept when read with the night's units."""
    global _engine_ahead
    ahead, _engine_ahead = _engine_ahead, None
    if not forked_reader.available():
        return None
    if not paths or options.workers is not None or options.address:
        forked_reader.close()
        return None
    reader = ForkedReader(forked_reader.take(), options)
    units = registry.kpi_units()
    reader.ahead = ahead if ahead is not None and ahead.units == units else ReadAhead(paths, batch_size, units,
                                                                                      keep=True)
    reader.start_opening()
    return reader


_early: DaskReader | None = None  # started by `pilotkpi run` before the server was up, for the night
_early_lock = threading.Lock()
_before_night = threading.Event()  # a job waits for its server: a reader may be started for its night


def start_early(paths: list[Path], registry: Registry, options: DaskOptions, batch_size: int) -> DaskReader | None:
    """Before the night receives (flows/early.py, before Prefect's server is up; flows/nightly.py,
    before the receive): when the inbox's listing (`paths`, in the order the night receives
    them) already holds enough files for the night to read on Dask (use_dask), start the cluster
    now, and on a local one read the first chunks ahead (ReadAhead). The night takes this reader
    (reader_for) or closes it."""
    if not use_dask(options, len(paths), batch_size):
        return _forked_early(paths, registry, options, batch_size)
    forked_reader.close()  # Dask reads this night
    import distributed  # noqa: F401  here, not in the start's thread, beside this thread's own imports

    reader = DaskReader(options)
    if not options.address:  # a local worker reads this machine's inbox
        reader.ahead = ReadAhead(paths, batch_size, registry.kpi_units())
    reader.start_opening()
    return reader


@contextmanager
def reading_early(inbox: Path, registry: Registry, options: DaskOptions, batch_size: int,
                  validate_with: tuple[Path, date] | None = None) -> Iterator[DaskReader | None]:
    """The night's early reader, for its receive and its reads: the one `pilotkpi run` started
    before the server, else one started now (start_early), or None; closed when the block ends
    (closing is idempotent: the night's reads close it as soon as the last one is back).
    validate_with: the night's (registry folder, as-of date): a forked reader validates what it
    reads ahead with them (ReadAhead.validate_ahead)."""
    early = take_early()
    if early is None:
        early = start_early(inbox_listing(inbox), registry, options, batch_size)
    try:  # the reader is closed whatever happens from here, the request to validate included
        if validate_with is not None and isinstance(early, ForkedReader) and early.ahead is not None:
            early.ahead.validate_ahead(early.client, validate_with[0], registry, validate_with[1])
        yield early
    finally:
        if early is not None:
            early.close()


def inbox_listing(inbox: Path) -> list[Path]:
    """The inbox's files as the night will list them (pilots.inbox.candidates), for an early
    start; none when the listing fails (the night's own listing then says what is wrong)."""
    try:
        return candidates(inbox)
    except OSError:
        return []


def offer_early(paths: list[Path], registry: Registry, options: DaskOptions, batch_size: int) -> None:
    """`pilotkpi run`, while Prefect's server starts (flows/early.py): start the night's reader now
    (start_early), unless the night has begun already (take_early): then the night starts its own."""
    global _early
    if not _before_night.is_set():
        return
    if use_dask(options, len(paths), batch_size):
        import distributed  # noqa: F401  before the lock: the night may take the reader meanwhile
    with _early_lock:
        if _before_night.is_set() and _early is None:
            _early = start_early(paths, registry, options, batch_size)


def expect_early() -> None:
    """A job before its night (`pilotkpi run`): offer_early may start a reader for it."""
    _before_night.set()


def take_early() -> DaskReader | None:
    """The reader started before the night, now the night's to use or close; none is started for
    it after this."""
    global _early
    with _early_lock:
        _before_night.clear()
        early, _early = _early, None
    return early


def close_early() -> None:
    """Close a reader started early that no night took (a night refused or failed before its reads)."""
    early = take_early()
    if early is not None:
        early.close()


def reader_for(options: DaskOptions, new_files: int, batch_size: int, early: DaskReader | None = None):
    """The night's reader of `new_files` new files: `early` (started before the receive), if the
    night reads on Dask with the same options (else it is closed), or a new DaskReader, or none
    (nullcontext)."""
    if use_dask(options, new_files, batch_size):
        if early is not None and early.options == options and not early.reads_ahead_only:
            return early
        reader = DaskReader(options)
    elif early is not None and early.reads_ahead_only:
        return early  # what it read ahead; the rest is read here
    else:
        reader = contextlib.nullcontext()
    if early is not None:
        early.close()
    return reader


class _Schedule:
    """One night's reads: the batches cut in chunks, handed in file-name order to the worker or
    read here, and each batch validated here once all its chunks are back, in order."""

    def __init__(self, reader: DaskReader, batches: Iterable[list[ToRead]], registry: Registry):
        self.reader, self.registry = reader, registry
        self.units = registry.kpi_units() if registry is not None else {}
        self.pending = iter(batches)
        self.exhausted = False  # every batch pulled
        self.slots: deque[list[_Chunk]] = deque()  # pulled batches not yet validated, in order
        self.unassigned: deque[_Chunk] = deque()   # their chunks not yet given to a reader, in order
        self.pulled = 0  # batches pulled so far
        self.validated: dict[int, object] = {}  # id of a slot -> the reader's validation of that batch

    def _pull(self) -> bool:
        """The next batch (received by Ingestor.ingest as it is pulled); False when none is left."""
        batch = next(self.pending, None)
        if batch is None:
            self.exhausted = True
            return False
        chunks = [_Chunk(run) for run in chunks_of(batch)]
        ahead = self.reader.ahead
        if ahead is not None:  # read ahead already: given to no reader again
            for chunk in chunks:
                chunk.guesses = ahead.covering(chunk.items, self.units)
            # The reader validates its reads of the inbox's one batch: taken for the files the
            # night received as read (a batch with nothing to read waits for nothing).
            if self.pulled == 0 and ahead.validated is not None and chunks and all(chunk.guesses for chunk in chunks):
                self.validated[id(chunks)], ahead.validated = ahead.validated, None
        self.pulled += 1
        self.slots.append(chunks)
        self.unassigned.extend(chunk for chunk in chunks if not chunk.guesses)
        return True

    def _ahead(self) -> int:
        """Chunks given to a reader beyond the batch to validate next (slots[0])."""
        return sum(chunk.assigned for slot in islice(self.slots, 1, None) for chunk in slot)

    def _next_chunk(self) -> _Chunk | None:
        """The next chunk to read, if reading it now keeps within the bound: any of the next batch
        to validate; of a later batch, while fewer than the limit are ahead (AHEAD_CHUNKS per worker
        and AHEAD_EXTRA_CHUNKS)."""
        if self._all_given():
            return None
        chunk = self.unassigned[0]
        limit = AHEAD_CHUNKS * max(1, self.reader.workers) + AHEAD_EXTRA_CHUNKS
        if chunk in self.slots[0] or self._ahead() < limit:
            return chunk
        return None

    def _all_given(self) -> bool:
        """Whether every chunk of the night is given to a reader (pulling the batches left)."""
        while not self.unassigned and not self.exhausted:
            self._pull()
        return not self.unassigned

    def _close_when_all_read(self) -> None:
        """End the reader once the night's last read is back: it goes before the last write.
        _all_given first: the batches it pulls may hold chunks still on the reader (checked the
        other way round, a served night of 751-1,500 files closed it with its second batch on it)."""
        if self.reader.started and self._all_given() and not self._on_workers():
            self.reader.close()

    def _on_workers(self) -> list[_Chunk]:
        """Chunks given to a worker (or read ahead there) and not yet fetched here."""
        return [chunk for slot in self.slots for chunk in slot if chunk.on_worker]

    def _feed(self) -> None:
        """Give the workers the next chunks, while fewer than WORKER_QUEUE_CHUNKS per worker are
        still being read (a finished one waiting to be fetched frees its place)."""
        reader = self.reader
        while not reader.fell_back and not reader.reads_ahead_only:
            if reader.starting and not reader.finish_opening(wait=not reader.shares_reads):
                return  # still starting: this process reads meanwhile
            if reader.fell_back:
                return
            busy = sum(not chunk.done() for chunk in self._on_workers())
            if reader.started and busy >= WORKER_QUEUE_CHUNKS * reader.workers:
                return
            chunk = self._next_chunk()
            if chunk is None:
                return
            if not reader.started:
                reader.start_opening()
                continue
            self.unassigned.popleft()
            items = [item.with_bytes() for item in chunk.items] if reader.options.address else chunk.items
            chunk.future = reader.client.submit(read_files_packed, items, self.units, pure=False)
            chunk.future.add_done_callback(chunk.arrive)

    def _fetch(self, chunk: _Chunk) -> None:
        """The worker's read of `chunk` (which logs `read` itself), here: `read_fetch` when it was
        finished (its payload fetched by `arrive` already, as a rule), `read_wait` when this
        process had to wait for it; its unpickling included in both. A chunk read ahead is taken
        from its guesses (`read_ahead`), and a file they did not read as received is read here."""
        if chunk.guesses:
            self._take_guessed(chunk)
            return
        with stage("read_fetch" if chunk.future.done() else "read_wait"):
            chunk.received = chunk.fetch()
        chunk.future.release()
        chunk.future = None

    def _take_guessed(self, chunk: _Chunk) -> None:
        with stage("read_ahead"):
            taken = [self.reader.ahead.take(item) for item in chunk.items]
        again = [item for item, rec in zip(chunk.items, taken) if rec is None]
        if again:  # changed, gone or unread since the read-ahead: read as received, here
            with stage("read_here"):
                fresh = iter(read_files(again, self.units))
            taken = [rec if rec is not None else next(fresh) for rec in taken]
        chunk.received, chunk.guesses = taken, []

    def _read_here(self, chunk: _Chunk) -> None:
        self.unassigned.remove(chunk)
        with stage("read_here"):
            chunk.received = read_files(chunk.items, self.units)

    def settle_fetches(self, timeout: float = SETTLE_FETCH_SECONDS) -> None:
        """Before the client closes: no read is being fetched by Dask's callback thread. A night
        that failed midway (a batch's validation or write raised) leaves chunks in flight; each
        read not yet claimed is claimed here, so its late callback fetches nothing, and a fetch
        the callback has under way is waited for (bounded: closing the client ends it anyway)."""
        for chunk in (c for slot in self.slots for c in slot if c.future is not None):
            if not chunk._claim():
                chunk.landed.wait(timeout)

    def _validated_ahead(self, head: list[_Chunk], as_of: date) -> list[FileRead] | None:
        """The reader's validation of the batch `head` (ReadAhead.validate_ahead), when it read each
        file the night received in it as received (its name, bytes and issues: key_of); else None
        (the reader's reads are then taken and validated here, as before). The night's batch may
        hold fewer files than the reader's (a byte-identical copy is not read): each file's
        FileRead is its own (validation is per file), taken by its key. Stage `validated_ahead`:
        its wait and unpickling."""
        future = self.validated.pop(id(head))
        ahead = self.reader.ahead
        if ahead is None or self.registry is None or ahead.validated_for != (self.registry.content_sha256, as_of):
            return None
        with stage("validated_ahead"):
            try:
                answer = future.result()
            except Exception:  # noqa: BLE001 - a guess: the night validates the reads itself
                answer = None
            if answer is None:
                return None
            keys = [key_of(item) for chunk in head for item in chunk.items]
            where = {key: at for at, key in enumerate(answer[0])}
            if len(where) != len(answer[0]) or not all(key in where for key in keys):
                return None
            validated = unpack_read(answer[1])  # FileReads, pickled as a read is (validate_kept)
            reads = [validated[where[key]] for key in keys]
        for chunk in head:  # taken whole: no guess of it is taken again, nothing is left on the reader
            for item in chunk.items:
                ahead.by_name.pop(item.name, None)
            chunk.guesses, chunk.received = [], []
        return reads

    def results(self, as_of: date) -> Iterator[list[FileRead]]:
        while self.slots or self._pull():
            self._feed()
            head = self.slots[0]
            reads = self._validated_ahead(head, as_of) if id(head) in self.validated else None
            if reads is not None:
                self.slots.popleft()
                self._close_when_all_read()
                yield reads
                continue
            for chunk in head:
                if chunk.on_worker and chunk.done():
                    self._fetch(chunk)
            missing = [chunk for chunk in head if chunk.received is None]
            if not missing:
                self.slots.popleft()
                self._feed()  # the worker reads on while this process validates and writes
                self._close_when_all_read()
                yield validate_read([rec for chunk in head for rec in chunk.received], self.registry, as_of)
                continue
            chunk = self._next_chunk() if self.reader.shares_reads else None
            waiting = [chunk for chunk in missing if chunk.on_worker]
            if chunk is not None or not waiting:  # instead of waiting (or nobody else would read it)
                self._read_here(chunk or missing[0])
            else:
                self._fetch(waiting[0])
