"""One run at a time per warehouse: an exclusive flock on `<warehouse>.lock`.

The kernel releases a flock when its process dies, however it dies, so a killed run can never
leave the warehouse locked; its lock file only remains as a note of who held it, which the next
run reports ("stale lock of pid N cleared") and overwrites.

The note says what holds the lock: a job (`pid N on host, started T`, as notes always read) or an
operator's `pilotkpi sql --working` shell (`SHELL` first), so that a night refused by a shell left
open names the shell, not "another run" (verifier VJ F5).
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


SHELL = "an operator's `pilotkpi sql --working` shell,"  # a note's first words when a shell holds it


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
             on_stale: Callable[[str], None] | None = None, poll: float = 0.5, shell: bool = False,
             can_wait: bool = True) -> Iterator[Path]:
    """shell: the holder is an operator's sql shell (its note says so). can_wait: the caller's
    command has a --wait option, which the refusal then suggests."""
    path = lock_path(warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path = path.resolve()
    if path in _held:
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not flock_within(fd, timeout if wait else 0, poll):
            note = _holder(fd)
            if not wait:
                raise RunLocked(f"{_in_use(warehouse_path, note)}; try again later"
                                + (", or use --wait" if can_wait else ""))
            raise RunLocked(f"gave up after {timeout:.0f} s waiting: {_in_use(warehouse_path, note)}")
        previous = _holder(fd)
        if previous and on_stale:  # we hold the lock, so whoever wrote this is gone
            what = "an operator's sql shell" if previous.startswith(SHELL) else "a run"
            on_stale(f"cleared a stale lock left by {what} that did not finish ({previous})")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{SHELL + ' ' if shell else ''}pid {os.getpid()} on {socket.gethostname()}, started "
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


def _in_use(warehouse_path: str | Path, note: str) -> str:
    """Who holds the lock of warehouse_path, as its note says."""
    if note.startswith(SHELL):
        return (f"{SHELL[:-1]} is open on {warehouse_path} ({note[len(SHELL):].strip()}): no job starts until it "
                "is closed")
    return (f"another run is in progress on {warehouse_path} "
            f"({note or 'held by another program, such as a backup taking `flock` on the lock file'})")
