"""Connection to the DuckDB warehouse: open, migrate, and run one transaction per run.

Every opening goes through `connect`, which refuses (WarehouseRefused, one line naming the
file) a file that is not a DuckDB database or is damaged, and a warehouse written by a newer
pilotkpi (a schema version this code does not know), before anything is written to it.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from warehouse.errors import WarehouseRefused
from warehouse.migrate import available_migrations, migrate
from warehouse.modes import own_warehouse
from warehouse.paths import files_of

__all__ = ["WarehouseRefused", "check_warehouse", "connect", "evidence_dir_for", "transaction"]


def connect(path: str | Path = ":memory:", *, read_only: bool = False,
            config: dict | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file, creating and upgrading it when opened for writing."""
    if str(path) == ":memory:":
        con = duckdb.connect(":memory:", config=config or {})
        migrate(con)
        return con
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only, config)
    try:
        _check_schema(con, path, read_only)
        if not read_only:
            own_warehouse(path)
            migrate(con)
            own_warehouse(path)  # migrating may have made the WAL
    except BaseException:
        con.close()
        raise
    return con


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
        reason = _reason(exc)
    raise WarehouseRefused(path, reason)  # outside the except: keep no DuckDB exception alive


def _reason(exc: duckdb.Error) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "lock" in message.lower():
        return f"in use by another program, which holds DuckDB's lock on it ({message})"
    return f"not a DuckDB database, or damaged ({message})"


def _check_schema(con: duckdb.DuckDBPyConnection, path: str | Path, read_only: bool) -> None:
    """Refuse a schema version this code does not know (a warehouse from a newer pilotkpi)."""
    known = max(m.version for m in available_migrations())
    reason = None
    try:
        tables = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ops' "
                             "AND table_name = 'schema_migrations'").fetchone()[0]
        newest = con.execute("SELECT max(version) FROM ops.schema_migrations").fetchone()[0] if tables else None
    except duckdb.Error as exc:  # the catalogue opened, but a block behind it is damaged
        reason = _reason(exc)
    if reason:
        raise WarehouseRefused(path, reason)
    if newest is None and read_only:
        raise WarehouseRefused(path, "not a pilotkpi warehouse (it has no ops.schema_migrations table)")
    if newest is not None and newest > known:
        raise WarehouseRefused(path, f"made by a newer pilotkpi (schema version {newest}; this version knows up "
                                     f"to {known}): upgrade pilotkpi, or restore a backup made by this version")


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
