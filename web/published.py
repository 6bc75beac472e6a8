"""Read-only access to the published copy and the restricted store.

The published copy (`<warehouse>.published.duckdb`, warehouse/publish.py) is replaced by rename
after each successful run, so a new copy is a new inode: each query checks the path's inode and
mtime (one stat) and reopens when they changed. A connection to the old copy keeps reading the
old file until it is dropped, which is what publish.py promises analysts. The restricted store is
likewise replaced by rename at the end of a job (warehouse/restricted.py) and never written in
place, so it is read the same way. Neither file is ever opened for writing here.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import duckdb


class ReadOnlyStore:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._key: tuple[int, int] | None = None
        self._con: duckdb.DuckDBPyConnection | None = None

    def _connection(self) -> duckdb.DuckDBPyConnection | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        key = (st.st_ino, st.st_mtime_ns)
        with self._lock:
            if self._con is None or key != self._key:
                self._con = duckdb.connect(str(self.path), read_only=True)
                self._key = key
            return self._con

    def rows(self, sql: str, params: list | tuple = ()) -> list[dict]:
        """The rows of a query as dicts ([] when the file does not exist yet)."""
        con = self._connection()
        if con is None:
            return []
        cur = con.cursor()  # one cursor per call: requests run on several threads
        try:
            cur.execute(sql, list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        except duckdb.CatalogException:  # an older copy without a table: nothing of that kind yet
            return []
        finally:
            cur.close()

    @property
    def exists(self) -> bool:
        return self.path.exists()
