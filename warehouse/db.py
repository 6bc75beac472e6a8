"""Connection to the DuckDB warehouse: open, migrate, and run one transaction per run.

Every opening goes through `connect`, which refuses (WarehouseRefused, one line naming the
file) a file that is not a DuckDB database or is damaged, and a warehouse written by a newer
pilotkpi (a schema version this code does not know), before anything is written to it.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from warehouse.errors import WarehouseRefused
from warehouse import migrate as migrations
from warehouse.modes import own_warehouse
from warehouse.paths import files_of

__all__ = ["WarehouseRefused", "check_warehouse", "connect", "evidence_dir_for", "limit_memory",
           "memory_for_queries", "transaction"]

# DuckDB's memory per store for a job (its default is 80% of the machine's RAM), so that what a
# night needs does not grow with the data (issue 22 item 4). Measured at 400 pilots
# (bench/results/2026-12-05-vm-memory-limits.md): the marts raised the process's peak by 165 MiB
# at 256 MB, 108 MiB at 96 MB, 79 MiB at 64 MB, for 1.40, 1.53 and 1.75 CPU s; at 100 pilots by
# 88 and 70 MiB at 256 and 96 MB. Beyond the limit DuckDB spills to its temporary folder beside
# the file (`<warehouse>.tmp`; the restricted store's inside its staging folder). Raise it with
# PILOTKPI_DUCKDB_MEMORY_LIMIT if a query ever stops with DuckDB's "Out of Memory Error".
JOB_MEMORY_LIMIT_ENV = "PILOTKPI_DUCKDB_MEMORY_LIMIT"
JOB_MEMORY_LIMIT = "96MB"
# While a job writes (from its start to its marts), a lower limit. Its uncommitted rows grow with
# the inbox (about 7.5 MiB of DuckDB's memory per 1,000 files, all held until the one commit:
# 150 MiB at 400 pilots). Beyond this limit DuckDB moves them out of memory: into its spill folder
# (below), or whole row groups into free blocks of the store's file. Neither is part of a commit
# until the job's own: a reader sees the last commit, and a rollback or a crash leaves the store as
# it was (tests/test_crash_kill.py kills a job after it spilled; the next job removes the files).
# The inserts cost the same (1.44 s and 1.46 s at 100 pilots). Not much lower: at 8 MB DuckDB
# thrashes (7 times slower), at 4 MB an insert fails for want of memory.
INGEST_MEMORY_LIMIT_ENV = "PILOTKPI_DUCKDB_INGEST_MEMORY_LIMIT"
INGEST_MEMORY_LIMIT = "64MB"


def connect(path: str | Path = ":memory:", *, read_only: bool = False,
            config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file, creating and upgrading it when opened for writing."""
    if str(path) == ":memory:":
        con = duckdb.connect(":memory:", config=config or {})
        migrations.migrate(con)
        return con
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only, config)
    try:
        current = _check_schema(con, path, read_only)
        if not read_only:
            own_warehouse(path)
            if not current:  # else migrate() would only find every migration applied (a night's case)
                migrations.migrate(con)
                own_warehouse(path)  # migrating may have made the WAL
    except BaseException:
        con.close()
        raise
    return con


def limit_memory(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """con (a job's, just opened, before its transaction) with its spill folder ready and the
    writing limit (INGEST_MEMORY_LIMIT): a job writes first, then builds its marts
    (`memory_for_queries`). Set now, while DuckDB holds little: lowered later, inside the job,
    DuckDB refuses a limit below what it cannot evict, and the refusal would abort the job."""
    _own_spill_folder(con)
    try:
        _set_limit(con, f"{writing_limit_bytes(con)}B")
    except duckdb.OutOfMemoryException:  # a limit set too low by hand: the job's own limit then
        _set_limit(con, _job_limit())
    return con


# DuckDB keeps the primary-key indexes it loads in memory, and cannot spill them: about 210 bytes a
# key (8 MiB for the 40,000 submissions and status changes of a 400-pilot night). They grow with
# the history, not the inbox; the writing limit grows with them, so a store years old keeps the
# same room for a night's rows (at 16 MB and less, a night's insert stopped with "transaction
# is aborted").
INDEX_BYTES_PER_KEY = 256
_INDEXED = ("ingest.submissions", "ingest.status_changes")


def writing_limit_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """The writing limit (INGEST_MEMORY_LIMIT, or its variable) plus room for the store's indexes."""
    keys = sum(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] for table in _INDEXED)
    return _bytes(os.environ.get(INGEST_MEMORY_LIMIT_ENV) or INGEST_MEMORY_LIMIT) + INDEX_BYTES_PER_KEY * keys


_UNITS = {"b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _bytes(limit: str, name: str = INGEST_MEMORY_LIMIT_ENV) -> int:
    """A memory limit as DuckDB spells it ("64MB", "1 GiB", "61.0 MiB") in bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*", limit)
    if match is None or match[2].lower() not in _UNITS:
        raise ValueError(f"{name}={limit!r}: give a size such as 64MB or 1GiB")
    number, unit = match[1], match[2].lower()
    return int(float(number) * _UNITS[unit])


def memory_for_queries(*cons: duckdb.DuckDBPyConnection) -> None:
    """Raise each store's limit to the job's (JOB_MEMORY_LIMIT) for the marts and the outputs.
    Never lower it (an old store's writing limit may be higher): inside the job's transaction
    DuckDB may refuse a lower one, and the refusal would abort the job."""
    for con in cons:
        now = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        if _bytes(_job_limit(), JOB_MEMORY_LIMIT_ENV) > _bytes(now, "memory_limit"):
            _set_limit(con, _job_limit())


def _job_limit() -> str:
    return os.environ.get(JOB_MEMORY_LIMIT_ENV) or JOB_MEMORY_LIMIT


def _set_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")


def _own_spill_folder(con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB's temporary folder of this store, owner-only and without a killed job's files.

    What DuckDB spills there are the job's uncommitted rows (agency data), in files it makes with
    the umask's mode: the folder is made 0700 first, as every owner-only folder. A job killed while
    it had spilled leaves its files there, and DuckDB never removes another process's files: the
    next job does (the run lock and DuckDB's own file lock, held by `con`, mean no other process
    has this store open). Its own files are named after its process id.
    """
    stored, folder = con.execute("SELECT path, current_setting('temp_directory') FROM duckdb_databases() "
                                 "WHERE database_name = current_database()").fetchall()[0]
    if not stored or not folder:  # an in-memory database (whose default folder is `.tmp` in the cwd)
        return
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    mine = f"duckdb_temp_{os.getpid()}_"
    for leftover in folder.glob("duckdb_temp_*"):
        if not leftover.name.startswith(mine):
            leftover.unlink(missing_ok=True)


def check_warehouse(path: str | Path) -> None:
    """Refuse an existing file that connect() would refuse, without writing to it.

    Commands that start a Prefect flow call this first (under the run lock), so a bad file is
    one line, not a failed flow run. A missing file is fine: the run creates it.
    """
    files_of(path)
    if Path(path).exists():
        con = _open(path, True, None)
        try:
            # A DuckDB file that is not yet a pilotkpi warehouse is fine for a writer: it migrates.
            _check_schema(con, path, read_only=False)
        finally:
            con.close()


def _open(path: str | Path, read_only: bool, config: dict | None) -> duckdb.DuckDBPyConnection:
    if read_only and not Path(path).exists():
        raise WarehouseRefused(path, "no such file")
    try:
        return duckdb.connect(str(path), read_only=read_only, config=config or {})
    except duckdb.Error as exc:
        reason = _reason(exc, path)
    raise WarehouseRefused(path, reason)  # outside the except: keep no DuckDB exception alive


# DuckDB's lock error: `Could not set lock on file "…": Conflicting lock is held in <program>
# (PID <n>). [However, you would be able to open this database in read-only mode, …] See also …`
_LOCK_HOLDER = re.compile(r"held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


def _reason(exc: duckdb.Error, path: str | Path | None = None) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "lock" in message.lower():
        return _held_by_another(message, path)
    return f"not a DuckDB database, or damaged ({message})"


def _held_by_another(message: str, path: str | Path | None) -> str:
    """The lock error as the operator needs it: which process holds the file, that nothing was
    changed, and where analysts should read instead. DuckDB's own hint (open it read-only, the
    CLI's -readonly) is left out: a job must write, and a reader of the working file is what stops
    it (verifier VB)."""
    holder = _LOCK_HOLDER.search(message)
    who = f"another program (PID {holder['pid']}, {holder['program']})" if holder else "another program"
    text = (f"in use by {who}, which holds DuckDB's lock on it; nothing was changed, and a nightly run's inbox "
            "files stay there for the next night")
    try:
        copy = files_of(path).published if path is not None else None
    except WarehouseRefused:  # a published copy or restricted store itself: no copy to read instead
        copy = None
    if copy is not None:
        text += (f". Analysts should open the published copy {copy} instead (as `pilotkpi sql` does), "
                 "never the working file")
    return text


def _check_schema(con: duckdb.DuckDBPyConnection, path: str | Path, read_only: bool) -> bool:
    """Refuse a schema version this code does not know (a warehouse from a newer pilotkpi).
    Returns whether every migration this code has is applied already."""
    versions = {m.version for m in migrations.available_migrations()}  # the list migrate() applies
    known = max(versions)
    reason = None
    try:
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ops' "
                             "AND table_name = 'schema_migrations'").fetchone()[0]
        applied = {r[0] for r in con.execute("SELECT version FROM ops.schema_migrations").fetchall()} if tables else set()
        newest = max(applied, default=None)
    except duckdb.Error as exc:  # the catalogue opened, but a block behind it is damaged
        reason = _reason(exc, path)
    if reason:
        raise WarehouseRefused(path, reason)
    if newest is None and read_only:
        raise WarehouseRefused(path, "not a pilotkpi warehouse (it has no ops.schema_migrations table)")
    if newest is not None and newest > known:
        raise WarehouseRefused(path, f"made by a newer pilotkpi (schema version {newest}; this version knows up "
                                     f"to {known}): upgrade pilotkpi, or restore a backup made by this version")
    return versions <= applied


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: a crash or exception inside leaves the warehouse as it was."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    _own_wal(con)


def _own_wal(con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB makes the WAL when a transaction first writes, with the umask's mode: 0600 like the
    file (warehouse/modes.py). A restricted store's WAL is already private (restricted.private_umask)."""
    row = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    if row and row[0]:
        own_warehouse(row[0])


def evidence_dir_for(warehouse_path: str | Path) -> Path:
    """The evidence folder lives next to the warehouse file (naming rule: warehouse/paths.py)."""
    return files_of(warehouse_path).evidence
