"""Connection to the DuckDB warehouse: open, migrate, and run one transaction per run."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import duckdb

from warehouse.migrate import migrate


def connect(path: str | Path = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file, creating and upgrading it when opened for writing."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    migrate(con)
    return con


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


def evidence_dir_for(warehouse_path: str | Path) -> Path:
    """The evidence folder lives next to the warehouse file."""
    p = Path(warehouse_path)
    return p.with_name(p.stem + ".evidence")
