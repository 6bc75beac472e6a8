"""A reading process forked at a warm night's start, before any thread (issue 22: the served
1%-new night's second core).

A served night of fewer files than Dask's size rule (flows/parallel.py: a local cluster costs about
1 s to start) read every file in its own process, on one core. A warm night's process
(flows/warm.py) is forked from the single-threaded forkserver, with the readers imported; before
Prefect's engine starts its threads, it forks this reader, which waits on a pipe. The night then
reads its inbox ahead on it (flows/parallel.py, "Read-ahead": the reads are keyed guesses, taken
only for the very bytes the night received), while the night itself receives and starts its job.

Why a fork here and not later: forking a threaded process can copy a lock another thread holds;
before the engine this process has one thread (tests/test_forked_reader.py checks it).

The reader runs pure functions only (pilots.read_ahead.read_inbox_files, and validate_kept over
the reads it kept: flows/parallel.py, "Validated ahead"): it writes nothing, so ending it at any
point loses nothing. It exits when the night closes its end of the pipe (or dies:
the kernel ends it too, PR_SET_PDEATHSIG), and the night reaps it (`close`), so its CPU counts in
the night's. A request it cannot run comes back as an error; a reader gone fails the reads given
to it, which the night then makes itself (a guess that failed is no read).
"""
from __future__ import annotations

import ctypes
import os
import pickle
import signal
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable

PR_SET_PDEATHSIG = 1
STOP = b""  # the request that ends the reader

_reader: "ProcessClient | None" = None  # this process's forked reader, until a night takes it


class ReaderGone(RuntimeError):
    """The reading process ended before it answered."""


class ReadFuture(Future):
    """A request's result, as flows/parallel.py's chunks use a Dask future (done, result,
    add_done_callback; release lets go of nothing: the result is held here only)."""

    def release(self) -> None:
        pass


class ProcessClient:
    """The night's side of the reader: requests go out in order, answers come back in order
    (a thread of this process receives them and completes their futures)."""

    def __init__(self, conn, pid: int):
        self.conn, self.pid = conn, pid
        self._pending: deque[ReadFuture] = deque()
        self._lock = threading.Lock()  # _pending, _closed and _gone
        self._sending = threading.Lock()  # one request written at a time, in _pending's order
        self._receiver: threading.Thread | None = None
        self._closed = False  # close() was called
        self._gone = False  # the reader ended (its pipe's end closed)

    def submit(self, fn: Callable, *args: Any, **_dask_options: Any) -> ReadFuture:
        """fn(*args) in the reader (Dask's keywords, pure and priority, mean nothing here: one
        reader, first come first served)."""
        future = ReadFuture()
        request = pickle.dumps((fn, args), protocol=pickle.HIGHEST_PROTOCOL)
        # Sent in the order queued (_sending), outside _lock: the receiver takes _lock to complete
        # an answer, and a send may wait for the reader, which may wait for the receiver.
        with self._sending:
            with self._lock:
                if self._closed or self._gone:
                    future.set_exception(ReaderGone("the reading process was closed, or ended"))
                    return future
                self._pending.append(future)
                if self._receiver is None:
                    self._receiver = threading.Thread(target=self._receive, name="pilotkpi-forked-reader",
                                                      daemon=True)
                    self._receiver.start()
            try:
                self.conn.send_bytes(request)
            except OSError as exc:  # the reader is gone (the receiver fails what else is pending)
                self._fail(future, ReaderGone(f"the reading process is gone: {exc}"))
        return future

    def _fail(self, future: ReadFuture, error: Exception) -> None:
        with self._lock:
            pending = future in self._pending
            if pending:
                self._pending.remove(future)
        if pending:
            future.set_exception(error)

    def nthreads(self) -> dict[str, int]:
        return {"forked-reader": 1}

    def _receive(self) -> None:
        while True:
            try:
                ok, value = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                self._fail_pending()
                return
            with self._lock:
                future = self._pending.popleft()
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _fail_pending(self) -> None:
        with self._lock:
            self._gone = True  # no request is taken after this: none would be answered
            pending, self._pending = list(self._pending), deque()
        for future in pending:
            future.set_exception(ReaderGone("the reading process ended before it answered"))

    def close(self) -> None:
        """End the reader and reap it: an idle one is asked to exit, one still reading is killed (it
        writes nothing, and its reads are not waited for)."""
        with self._sending:
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                busy = bool(self._pending)
            if not busy and not self._gone:
                try:
                    self.conn.send_bytes(STOP)
                except OSError:
                    busy = True
        if busy:
            _kill(self.pid)
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        if self._receiver is not None:  # the reader's end is closed now: the thread sees its end
            self._receiver.join()
        self.conn.close()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def fork() -> ProcessClient | None:
    """Fork the reader now (this process must have one thread); None where it cannot be."""
    global _reader
    import multiprocessing

    if threading.active_count() != 1 or _native_threads() > 1 or not hasattr(os, "fork"):
        return None
    parent_end, child_end = multiprocessing.Pipe(duplex=True)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the reader: it never returns
        parent_end.close()
        _serve(child_end, parent)
    child_end.close()
    _reader = ProcessClient(parent_end, pid)
    return _reader


def _native_threads() -> int:
    """The process's threads as the kernel counts them: a library's own threads (a BLAS pool, a
    database's workers) are not in threading's count, and a lock one of them holds would be
    copied held into the reader. 1 where /proc cannot tell."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 1


def take() -> ProcessClient | None:
    """The forked reader, for one night's reads (once: the next caller gets None)."""
    global _reader
    reader, _reader = _reader, None
    return reader


def client() -> ProcessClient | None:
    """The forked reader, not taken (read ahead before the night's engine: flows/parallel.py)."""
    return _reader


def available() -> bool:
    return _reader is not None


def close() -> None:
    """End a reader no night took (flows/warm.py, after the engine)."""
    reader = take()
    if reader is not None:
        reader.close()


def _serve(conn, parent: int) -> None:
    """The reader's loop: each request run, its result or error sent back; exits when the night
    closes the pipe or dies."""
    code = 0
    try:
        _die_with(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the night's to handle; its end ends this
        while True:
            try:
                request = conn.recv_bytes()
            except (EOFError, OSError):
                break
            if request == STOP:
                break
            fn, args = pickle.loads(request)
            try:
                answer = (True, fn(*args))
            except Exception as exc:  # noqa: BLE001 - the night's read of these files says it again
                answer = (False, ReaderGone(f"{type(exc).__name__}: {exc}"))
            try:
                conn.send_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
            except OSError:
                break
    except BaseException:  # noqa: BLE001 - nothing of the night's may run here (its exit hooks)
        code = 1
    finally:
        os._exit(code)  # no flush: its buffers are copies of the night's, which prints them itself


def _die_with(parent: int) -> None:
    """The kernel ends this process when the night's does (Linux), even by SIGKILL."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the line above
        os._exit(0)
