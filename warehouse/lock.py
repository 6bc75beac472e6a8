"""One run at a time per warehouse: an exclusive flock on `<warehouse>.lock`.

The kernel releases a flock when its process dies, however it dies, so a killed run can never
leave the warehouse locked; its lock file only remains as a note of who held it, which the next
run reports ("stale lock of pid N cleared") and overwrites.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from warehouse.paths import files_of
from warehouse.times import shown_time


class RunLocked(RuntimeError):
    pass


# Lock files this process holds. The CLI takes the lock before it starts a flow (so a busy
# warehouse gets a one-line message, not a failed flow run); the flow's own run_lock, which
# scheduled runs rely on, then finds it held by its own process and goes ahead.
_held: set[Path] = set()


def lock_path(warehouse_path: str | Path) -> Path:
    """`<warehouse>.lock` (naming rule: warehouse/paths.py)."""
    return files_of(warehouse_path).lock


def flock_within(fd: int, timeout: float, poll: float) -> bool:
    """An exclusive flock on fd, tried every `poll` seconds for up to `timeout` seconds (0: once).
    False when another holder kept it all that time. The run lock and the letters' register lock
    (kpis/letters/register.py) both take theirs so."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll)


@contextmanager
def run_lock(warehouse_path: str | Path, *, wait: bool = False, timeout: float = 3600,
             on_stale: Callable[[str], None] | None = None, poll: float = 0.5) -> Iterator[Path]:
    path = lock_path(warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path = path.resolve()
    if path in _held:
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not flock_within(fd, timeout if wait else 0, poll):
            holder = _describe(_holder(fd))
            if not wait:
                raise RunLocked(f"another run is in progress on {warehouse_path} ({holder}); "
                                "try again later, or use --wait")
            raise RunLocked(f"gave up after {timeout:.0f} s waiting for the run on {warehouse_path} ({holder})")
        previous = _holder(fd)
        if previous and on_stale:  # we hold the lock, so whoever wrote this is gone
            on_stale(f"cleared a stale lock left by a run that did not finish ({previous})")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, started "
                      f"{shown_time(datetime.now(timezone.utc))}".encode(), 0)  # Bangkok time, as every time shown
        os.fsync(fd)
        _held.add(path)
        try:
            yield path
        finally:
            _held.discard(path)
            os.ftruncate(fd, 0)  # a clean exit leaves an empty note: nothing stale to report
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    return os.pread(fd, 512, 0).decode("utf-8", "replace").strip()


def _describe(holder: str) -> str:
    return holder or "held by another program, such as a backup taking `flock` on the lock file"
