"""Read-only access to the published copy and the restricted store.

The published copy (`<warehouse>.published.duckdb`, warehouse/publish.py) is replaced by rename
after each successful run, so a new copy is a new inode: each query checks the path's inode and
mtime (one stat) and reopens when they changed. A connection to the old copy keeps reading the
old file until it is dropped, which is what publish.py promises analysts. The restricted store is
likewise replaced by rename at the end of a job (warehouse/restricted.py) and never written in
place, so it is read the same way. Neither file is ever opened for writing here.

The published copy is opened through the lockdown of `pilotkpi sql` (warehouse.shell.open_sandboxed:
no file access, configuration locked): the SQL page runs analysts' statements on it, and no page's
query can read a file through it either.

A store that cannot be read raises StoreUnavailable, which every page answers with a 503 naming
the file and what is wrong (web/app.py `route`): the published copy missing (it is required: the
pages' figures are its; only an agency's own pages and the upload check read a missing copy as
"nothing stored yet", since agencies must be able to send the files the first night publishes), or either file not a DuckDB database, cut short or with a damaged block
(at open, or at the first query that reaches the block: `damaged`). A missing restricted store is no
error: a warehouse without restricted pilots may have none yet. Each request stats the file again,
so a copy published anew is read at the next request, without a restart.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from warehouse.errors import WarehouseRefused


def damaged(exc: duckdb.Error) -> bool:
    """DuckDB's errors for a file cut short (IOException) or with a block that fails its checksum
    (a plain duckdb.Error, "Corrupt database file"): the file's fault, not the query's."""
    return isinstance(exc, duckdb.IOException) or "Corrupt database file" in str(exc)


class StoreUnavailable(Exception):
    """A store the pages read cannot be read: `problem` is "missing" or "unreadable"."""

    def __init__(self, store: str, path: Path, problem: str, detail: str = ""):
        super().__init__(f"{store} store {path}: {problem}{f' ({detail})' if detail else ''}")
        self.store, self.path, self.problem, self.detail = store, path, problem, detail


class _Open:
    """One open copy and the queries running on it (it is closed once retired and idle)."""

    def __init__(self, path: Path, key: tuple[int, int], opener: Callable[[Path], duckdb.DuckDBPyConnection]):
        self.con = opener(path)
        self.key, self.users, self.retired = key, 0, False


class ReadOnlyStore:
    """DuckDB caches one database instance per path while any connection to it is open, so a
    replaced file is only seen once every connection to the old one is closed: the old copy is
    closed as soon as its last running query ends."""

    def __init__(self, path: Path, opener: Callable[[Path], duckdb.DuckDBPyConnection] | None = None, *,
                 name: str = "published", required: bool = False):
        self.path, self.name, self.required = path, name, required
        self._opener = opener or (lambda p: duckdb.connect(str(p), read_only=True))
        self._lock = threading.Lock()
        self._open: _Open | None = None

    def unreadable(self, exc: Exception) -> StoreUnavailable:
        reason = getattr(exc, "reason", None) or str(exc)  # WarehouseRefused's reason: its text without the path
        return StoreUnavailable(self.name, self.path, "unreadable", reason.splitlines()[0] if reason else "")

    def _acquire(self, missing_ok: bool = False) -> _Open | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.required and not missing_ok:
                raise StoreUnavailable(self.name, self.path, "missing") from None
            return None
        key = (st.st_ino, st.st_mtime_ns)
        with self._lock:
            if self._open is None or self._open.key != key:
                old, self._open = self._open, None
                if old is not None:
                    old.retired = True
                    if old.users == 0:
                        old.con.close()
                try:
                    self._open = _Open(self.path, key, self._opener)
                except (duckdb.Error, WarehouseRefused) as exc:  # not a DuckDB file, cut short, or too new
                    raise self.unreadable(exc) from None
            self._open.users += 1
            return self._open

    def _release(self, entry: _Open) -> None:
        with self._lock:
            entry.users -= 1
            if entry.retired and entry.users == 0:
                entry.con.close()

    @contextmanager
    def _opened_cursor(self, missing_ok: bool = False):
        """(cursor, key) on the current copy, or (None, None) when the file does not exist yet; a
        DuckDB error that is the file's damage (`damaged`) leaves as StoreUnavailable. Every
        reader below goes through it, so each request reads the copy the same way."""
        entry = self._acquire(missing_ok)
        if entry is None:
            yield None, None
            return
        cur = entry.con.cursor()  # one cursor per use: requests run on several threads
        try:
            yield cur, entry.key
        except duckdb.Error as exc:
            if damaged(exc):
                raise self.unreadable(exc) from exc
            raise
        finally:
            cur.close()
            self._release(entry)

    @contextmanager
    def keyed_cursor(self):
        """(cursor, key) on the current copy, for code that reads through a DuckDB connection (the
        summary's model, web/committee.py); key (inode, mtime) names the copy, so what is built from
        it can be kept until a new copy is published. (None, None) when the file does not exist yet."""
        with self._opened_cursor() as opened:
            yield opened

    def rows(self, sql: str, params: list | tuple = (), *, missing_ok: bool = False) -> list[dict]:
        """The rows of a query as dicts. [] when the file does not exist yet, if the store is not
        required or the caller says `missing_ok` (an agency's own files before the first night)."""
        with self._opened_cursor(missing_ok) as (cur, _):
            if cur is None:
                return []
            try:
                cur.execute(sql, list(params))
            except duckdb.CatalogException:  # an older copy without a table: nothing of that kind yet
                return []
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A cursor of the current copy for several queries (None when the file does not exist
        yet); errors are the caller's to handle."""
        with self._opened_cursor() as (cur, _):
            yield cur
