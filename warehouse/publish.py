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

A copy written afresh (`afresh=True`). DuckDB frees the blocks of rows it deletes or overwrites
without wiping them, and keeps deleted rows in their row groups until it rewrites them: the bytes
of a restricted pilot's data that a job removed from the open side (a close note cleared, a pilot's
rows moved to the restricted store) stay in the working file, and a byte copy would hand them to
analysts (reviewer RV4). Such a job notes it in ops.publish_afresh (`note_afresh`, in its commit;
migration 0020 notes it once for a warehouse that had runs before it), and publishing then writes
the copy afresh: the checkpointed file copied as always (the same checks), and from that copy a new
database written with DuckDB's COPY FROM DATABASE (every schema, table with its constraints and
comments, view, macro and sequence; only the live rows), which is what is renamed into place. The
caller empties ops.publish_afresh in the copy (`finish`) and, once it is in place, in the working
file: a publish that fails or is killed leaves the note, and the next one writes afresh again.
Every other publish stays a byte copy (0.05 s at 400 pilots, a copy written afresh 1.3-2.2 s:
docs/operations.md). The working file itself keeps such bytes (it is the operator's, 0600, locked:
docs/security.md).
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
        differ), then its checksum; and no write-ahead log beside it holds anything (a copy opened
        read-write by mistake and its process killed: every reader would replay that log, and
        fail; publishing again removes it, verifier VB)."""
        try:
            st = path.stat()
            return ((st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns) and not _logs_with_writes(path)
                    and Stamp.of(path) == self)
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


AFRESH_TABLE = "ops.publish_afresh"
CLEARED_CLOSURE_TEXTS, MOVED_TO_RESTRICTED, UPGRADE = "closure_texts", "moved_to_restricted", "upgrade"


def note_afresh(con, reason: str, run_id: str | None) -> None:
    """In the job's transaction: it removed a restricted pilot's data from the open side, so the
    next published copy is written afresh (module docstring). Once per job and reason."""
    con.execute(f"INSERT INTO {AFRESH_TABLE} SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM {AFRESH_TABLE} "
                "WHERE reason = ? AND run_id IS NOT DISTINCT FROM ?)", [reason, run_id, reason, run_id])


def afresh_reasons(con) -> list[str]:
    """Why the next copy must be written afresh; empty on most nights (a byte copy then)."""
    return [r[0] for r in con.execute(f"SELECT DISTINCT reason FROM {AFRESH_TABLE} ORDER BY 1").fetchall()]


def forget_afresh(con) -> None:
    """A copy written afresh is published (or about to be, for the copy's own record): no note left."""
    con.execute(f"DELETE FROM {AFRESH_TABLE}")


def rewrite_afresh(warehouse_path: str | Path) -> None:
    """The working file (closed: no connection holds it) written afresh from itself and renamed into
    place, its note in ops.publish_afresh then done with. DuckDB keeps a deleted row's bytes in the
    file's free blocks, and the copy written afresh once was followed by byte copies of the same
    file, which published them again (verifier V9). Atomic: a crash before the rename leaves the old
    file, whose note makes the next job publish and rewrite afresh again. The file keeps 0600."""
    from warehouse.modes import own_warehouse

    source = Path(warehouse_path)
    logs = _logs_with_writes(source)
    if logs:
        raise NotCheckpointed(f"not rewritten: the warehouse's write-ahead log ({', '.join(logs)}) holds writes")
    for stale in source.parent.glob(f".{source.name}.*.afresh.tmp*"):  # a killed rewrite's (the run lock: one job)
        stale.unlink(missing_ok=True)
    tmp = source.with_name(f".{source.name}.{os.getpid()}.afresh.tmp")
    try:
        _write_afresh(source, tmp)
        _finish(tmp, forget_afresh)
        own_warehouse(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        pause_point("rewrite-afresh")
        os.replace(tmp, source)
    finally:
        _remove_database(tmp)
    fsync_dir(source.parent)


def fsync_dir(folder: Path) -> None:
    """A rename in `folder` made durable (here and in the restricted store's two-file commit)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(warehouse_path: str | Path, finish: Callable[[object], None] | None = None, *,
            afresh: bool = False) -> Path:
    """Copy the checkpointed warehouse file (closed, or open on a connection that runs nothing
    until the copy is made: a statement may write blocks into the file, a commit may checkpoint)
    to its published name, atomically. A source that changed during the copy is not published.
    afresh: the copy renamed into place is a database written afresh from that copy, not its bytes
    (module docstring).
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
    copied = tmp.with_name(tmp.name + ".bytes") if afresh else tmp  # the byte copy, written afresh into tmp
    before = _version(source)
    if afresh:
        # The byte copy holds the freed blocks being left behind: owner-only from its first byte
        # (copyfile keeps an existing file's mode), not the umask's 0644 for the second it lives,
        # nor after a kill until the next publish sweeps it (reviewer RV5).
        os.close(os.open(copied, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    shutil.copyfile(source, copied)
    if _version(source) != before:  # a write during the copy: the copy may mix old and new blocks
        copied.unlink(missing_ok=True)
        raise RuntimeError(f"not copied: {source.name} changed while it was copied; the next job publishes it")
    if afresh:
        try:
            _write_afresh(copied, tmp)
        finally:
            _remove_database(copied)
    if finish is not None:
        _finish(tmp, finish)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o444)
    pause_point("publish")
    # A write-ahead log beside the copy is never the new copy's: one left by a process that opened
    # the copy read-write and was killed would be replayed by every reader of the new file, and
    # fail them all (verifier VB). Removed before the rename, so the new copy never meets it.
    for suffix in WAL_SUFFIXES:
        target.with_name(target.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, target)
    return target


def _write_afresh(copied: Path, tmp: Path) -> None:
    """tmp: a new database holding what copied holds (live rows, catalogue) and none of its bytes."""
    import duckdb

    _remove_database(tmp)
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH {_literal(copied)} AS copied (READ_ONLY)")
        con.execute(f"ATTACH {_literal(tmp)} AS fresh")
        con.execute("COPY FROM DATABASE copied TO fresh")
        con.execute("DETACH fresh")  # checkpointed as it is detached: the whole database in the file
        con.execute("DETACH copied")
    finally:
        con.close()
    Path(f"{tmp}.wal").unlink(missing_ok=True)  # checkpointed: empty, if DuckDB left it at all


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _remove_database(path: Path) -> None:
    path.unlink(missing_ok=True)
    for suffix in WAL_SUFFIXES:
        path.with_name(path.name + suffix).unlink(missing_ok=True)


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
