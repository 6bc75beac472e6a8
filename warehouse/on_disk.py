"""A DuckDB file read as it is on disk now, in a process that may hold it open already.

DuckDB hands a new connection of a path the database a connection still open in the process
holds, and the web keeps the published copy and the restricted store open (web/published.py), so
a file renamed into place since was read as the one before it (verifier VB, reviewer RV6). A
module of its own, importing nothing of the warehouse: the outputs' code keys (kpis/steps.py)
reach it through warehouse/errors.py.
"""
from __future__ import annotations

from pathlib import Path

import duckdb


def read_as_on_disk(path: str | Path) -> duckdb.DuckDBPyConnection:
    """The file as it is on disk now, read-only: an in-memory database with the file attached
    (module doc), for the web's decision read-back and the names a job's messages hide."""
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS stored (READ_ONLY)")
        con.execute("USE stored")
    except BaseException:
        con.close()
        raise
    return con
