"""The read-only copy analysts open while the nightly run writes.

DuckDB locks a file opened read-write against every other process, readers included, so
analysts query `<warehouse>.published.duckdb` instead. It is replaced atomically (copy to a
temporary name, fsync, rename) only after a successful run: an analyst who holds the old copy
open keeps reading it, and sees the new data on reconnect.

A job records in the working file that publishing has not finished before it copies, and gives
the copy its final record (`finish`) before the rename: so a failure while copying (a full disk)
leaves `committed_with_errors` in ops.runs, as the command line says, and the copy itself never
carries a "not finished" it did not have (issue 24 item 7).

Only a file that alone is the whole database is copied: none of DuckDB's write-ahead logs beside
it (`<file>.wal`, and DuckDB 2.0's `.wal.checkpoint`, `.wal.recovery`) holds anything. A checkpoint
that failed (DuckDB 2.0 then invalidates the database; its connections close without writing
the log into the file) leaves the job's commit in the log only: the file alone is the state
before it, and a copy of it would be published as new while it is old. Publishing then fails
(`NotCheckpointed`): the job is committed_with_errors, and the next job's open replays the log.
"""
from __future__ import annotations

import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from warehouse.paths import WAL_SUFFIXES, files_of
from warehouse.testpoints import pause_point


def published_path(warehouse_path: str | Path) -> Path:
    """`<warehouse>.published.duckdb` (naming rule: warehouse/paths.py)."""
    return files_of(warehouse_path).published


@dataclass(frozen=True)
class Stamp:
    """What a published file is: size, mtime and a CRC-32 of its bytes (a copy edited by hand
    differs). CRC-32, not SHA-256: it guards against edits and damage, not an adversary, and it
    makes a quiet night's check 0.2x a publish instead of 0.5x (bench/publish_check.py)."""
    size: int
    mtime_ns: int
    crc32: int

    @classmethod
    def of(cls, path: Path) -> "Stamp":
        crc = 0
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            while chunk := fh.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
        return cls(st.st_size, st.st_mtime_ns, crc)

    def matches(self, path: Path) -> bool:
        """The file is still exactly what was published: size and mtime first (no read when they
        differ), then its checksum."""
        try:
            st = path.stat()
            return (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns) and Stamp.of(path) == self
        except OSError:
            return False


class NotCheckpointed(RuntimeError):
    """The warehouse file is not the whole database: a write-ahead log beside it holds writes."""


def _logs_with_writes(source: Path) -> list[str]:
    """DuckDB's write-ahead logs beside source that hold anything (module docstring)."""
    found = []
    for suffix in WAL_SUFFIXES:
        log = source.with_name(source.name + suffix)
        try:
            if log.stat().st_size > 0:
                found.append(log.name)
        except FileNotFoundError:
            pass
    return found


def publish(warehouse_path: str | Path, finish: Callable[[object], None] | None = None) -> Path:
    """Copy the checkpointed warehouse file (closed, or open on a connection that runs nothing
    until the copy is made: a statement may write blocks into the file, a commit may checkpoint)
    to its published name, atomically. A source that changed during the copy is not published.
    finish(con): run on the copy (read-write, before the rename) to give it its final ops.runs record.
    Raises NotCheckpointed, copying nothing, while a write-ahead log beside it holds writes."""
    source = Path(warehouse_path)
    target = published_path(source)
    logs = _logs_with_writes(source)
    if logs:
        raise NotCheckpointed(f"not copied: the warehouse's write-ahead log ({', '.join(logs)}) holds writes "
                              "not yet in the file (its last checkpoint failed); the next job completes it")
    # A run killed while copying leaves its temporary file behind; only one run publishes at a
    # time (the run lock), so any such file is stale.
    for stale in target.parent.glob(f".{target.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    before = _version(source)
    shutil.copyfile(source, tmp)
    if _version(source) != before:  # a write during the copy: the copy may mix old and new blocks
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"not copied: {source.name} changed while it was copied; the next job publishes it")
    if finish is not None:
        _finish(tmp, finish)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o444)
    pause_point("publish")
    os.replace(tmp, target)
    return target


def _version(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_size, status.st_mtime_ns


def _finish(tmp: Path, finish: Callable[[object], None]) -> None:
    import duckdb

    con = duckdb.connect(str(tmp))
    try:
        finish(con)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    Path(f"{tmp}.wal").unlink(missing_ok=True)  # checkpointed: empty, if DuckDB left it at all
