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

DuckDB keeps one database instance per file path in a process while any connection to it is open,
and hands that instance to a new connection of the same path: opening the new copy while a query
still runs on the old one gave the old copy back, and the store then took it for the new one until
the next publish (verifier VB: a pilot just moved to the restricted store stayed readable on the
SQL page). So a new copy is opened only once the old one is closed: a request that finds a new
copy waits (up to REPLACE_WAIT_SECONDS, a little over the SQL page's limit per request) for the
queries still running on the old one to end, and no new request is given the old copy meanwhile;
past the wait it is answered 503 ("being replaced"), never with the old copy. The one exception is
a thread that holds the old copy already (a request that reads it twice): it keeps it, so one
request never mixes two copies, and it never waits for itself.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from warehouse.errors import WarehouseRefused

# How long a request waits for the queries on a replaced copy to end before its 503 (module doc):
# the SQL page stops a request's statements after 10 s in all (web/drilldown.py SQL_SECONDS).
REPLACE_WAIT_SECONDS = 15.0


def damaged(exc: duckdb.Error) -> bool:
    """DuckDB's errors for a file cut short (IOException) or with a block that fails its checksum
    (a plain duckdb.Error, "Corrupt database file"): the file's fault, not the query's."""
    return isinstance(exc, duckdb.IOException) or "Corrupt database file" in str(exc)


class StoreUnavailable(Exception):
    """A store the pages read cannot be read: `problem` is "missing", "unreadable" or "replacing"
    (a new copy waits for the queries on the old one: module doc)."""

    def __init__(self, store: str, path: Path, problem: str, detail: str = ""):
        super().__init__(f"{store} store {path}: {problem}{f' ({detail})' if detail else ''}")
        self.store, self.path, self.problem, self.detail = store, path, problem, detail


class _Open:
    """One open copy and the queries running on it, by thread (it is closed once retired and idle)."""

    def __init__(self, path: Path, key: tuple[int, int], opener: Callable[[Path], duckdb.DuckDBPyConnection]):
        self.con = opener(path)
        self.key, self.retired = key, False
        self.holders: dict[int, int] = {}  # thread ident -> its uses of this copy now

    @property
    def users(self) -> int:
        return sum(self.holders.values())


class ReadOnlyStore:
    """DuckDB caches one database instance per path while any connection to it is open, so a
    replaced file is only seen once every connection to the old one is closed: the old copy is
    closed as soon as its last running query ends."""

    def __init__(self, path: Path, opener: Callable[[Path], duckdb.DuckDBPyConnection] | None = None, *,
                 name: str = "published", required: bool = False):
        self.path, self.name, self.required = path, name, required
        self._opener = opener or (lambda p: duckdb.connect(str(p), read_only=True))
        self._changed = threading.Condition()  # guards _open and _retired; told when a retired copy closes
        self._open: _Open | None = None
        self._retired: list[_Open] = []  # replaced copies still in use: none may be open beside the new one
        self.replace_wait = REPLACE_WAIT_SECONDS

    def unreadable(self, exc: Exception) -> StoreUnavailable:
        reason = getattr(exc, "reason", None) or str(exc)  # WarehouseRefused's reason: its text without the path
        return StoreUnavailable(self.name, self.path, "unreadable", reason.splitlines()[0] if reason else "")

    def _acquire(self, missing_ok: bool = False, me: int = 0) -> _Open | None:
        """The copy for a use by thread `me` (its count raised: _release ends it); None when the
        file does not exist and may not (module doc)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.required and not missing_ok:
                raise StoreUnavailable(self.name, self.path, "missing") from None
            return None
        key = (st.st_ino, st.st_mtime_ns)
        with self._changed:
            # A copy this thread reads already (current or replaced) is the one it keeps (module doc).
            held = [e for e in ([self._open] if self._open else []) + self._retired if me in e.holders]
            if held:
                entry = held[0]
            elif self._open is not None and self._open.key == key:
                entry = self._open
            else:
                if self._open is not None:
                    self._retire(self._open)
                    self._open = None
                # A new copy is opened only when no connection to an older one is left (module doc).
                if not self._changed.wait_for(lambda: not self._retired, timeout=self.replace_wait):
                    raise StoreUnavailable(self.name, self.path, "replacing",
                                           f"queries on the copy before it still run after {self.replace_wait:g} s")
                if self._open is not None and self._open.key != key:  # opened by another request meanwhile
                    self._retire(self._open)  # ... and replaced again since: idle, so closed at once
                    self._open = None
                if self._open is None:
                    try:
                        self._open = _Open(self.path, key, self._opener)
                    except (duckdb.Error, WarehouseRefused) as exc:  # not a DuckDB file, cut short, or too new
                        raise self.unreadable(exc) from None
                entry = self._open
            entry.holders[me] = entry.holders.get(me, 0) + 1
            return entry

    def _retire(self, entry: _Open) -> None:
        """Under the lock: the copy closed now if no query uses it, else by its last user."""
        entry.retired = True
        if entry.users == 0:
            entry.con.close()
        else:
            self._retired.append(entry)

    def _release(self, entry: _Open, me: int) -> None:
        """The use by thread `me` (the one that acquired it) ended."""
        with self._changed:
            entry.holders[me] -= 1
            if not entry.holders[me]:
                del entry.holders[me]
            if entry.retired and entry.users == 0:
                entry.con.close()
                if entry in self._retired:
                    self._retired.remove(entry)
                self._changed.notify_all()

    @contextmanager
    def _opened_cursor(self, missing_ok: bool = False):
        """(cursor, key) on the current copy, or (None, None) when the file does not exist yet; a
        DuckDB error that is the file's damage (`damaged`) leaves as StoreUnavailable. Every
        reader below goes through it, so each request reads the copy the same way."""
        me = threading.get_ident()
        entry = self._acquire(missing_ok, me)
        if entry is None:
            yield None, None
            return
        try:
            cur = entry.con.cursor()  # one cursor per use: requests run on several threads
        except BaseException:
            self._release(entry, me)
            raise
        try:
            yield cur, entry.key
        except duckdb.Error as exc:
            if damaged(exc):
                raise self.unreadable(exc) from exc
            raise
        finally:
            cur.close()
            self._release(entry, me)

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
