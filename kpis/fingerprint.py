"""Fingerprints of what the marts and the job's outputs are made from (issue 12, cheap nights).

A relation's digest is its row count and the sum of DuckDB's hash of every row: independent of row
order, and one scan (about 0.1 s for a million lines). The keys of the marts and outputs are made
from these digests and the steps' declared files (kpis/steps.py).

The state digest of a job is SHA-256 over the digests of every registry, ingest, core, approval and
mart relation and the job's as-of date: ops.* is left out, so a job that changed nothing has the
previous job's state, whatever it wrote in ops.runs.
"""
from __future__ import annotations

import hashlib
from datetime import date

import duckdb

from warehouse.catalogue import has_pilot_id

DATA_SCHEMAS = ("registry", "ingest", "core", "approval", "marts")


def sha(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


class Digests:
    """Row digests of relations, each computed once (call forget() after rewriting one)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._done: dict[str, str] = {}
        self._by_pilot: dict[str, dict[str, str]] = {}
        self._pilot_column: dict[str, bool] = {}
        self._base: set[str] | None = None
        self._together: dict[str, list[tuple[str, ...] | None]] = {}

    def tables(self, schemas: tuple[str, ...] = DATA_SCHEMAS) -> list[str]:
        return [f"{s}.{t}" for s, t in self.con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND list_contains(?, schema_name) ORDER BY ALL", [list(schemas)]).fetchall()]

    def base(self) -> set[str]:
        """The tables the marts are made from (every data schema but marts)."""
        if self._base is None:
            self._base = set(self.tables(tuple(s for s in DATA_SCHEMAS if s != "marts")))
        return self._base

    def of(self, table: str) -> str:
        if table not in self._done and table in self._together:
            self._scan_together(table)
        if table not in self._done:
            # fetchall, not fetchone: DuckDB 2.0 keeps a result unfinished until a fetch comes back
            # empty, and then refuses create_function (the marts' outlier UDF) on this connection.
            [(count, total)] = self.con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} t").fetchall()
            self._done[table] = f"{count}:{total}"
        return self._done[table]

    def prefetch(self, tables) -> None:
        """The digests (of) of these relations not known yet, in one statement (a UNION ALL of the
        queries `of` runs, so the same figures): the marts' keys ask for every relation the marts
        read, one statement each cost 17 round trips and plans on the 1%-new night at 400 pilots.
        A relation noted by forget(together=...) is left to its own scan, which gives more."""
        todo = [t for t in dict.fromkeys(tables) if t not in self._done and t not in self._together]
        if len(todo) < 2:
            return
        query = " UNION ALL ".join(f"SELECT {i} AS i, count(*), coalesce(sum(hash(t)), 0) FROM {table} t"
                                   for i, table in enumerate(todo))
        for i, count, total in self.con.execute(query).fetchall():
            self._done[todo[i]] = f"{count}:{total}"

    def forget(self, table: str, together: list[tuple[str, ...] | None] | None = None) -> None:
        """After rewriting the table. together: the column sets (None: the whole row) whose
        by_pilot digests will be asked for next (the marts that read a mart just rebuilt): its
        first digest asked then scans it once for all of them and its whole digest (`_scan_together`)."""
        self._done.pop(table, None)
        self._together.pop(table, None)
        for cached in [k for k in self._by_pilot if k == table or k.startswith((f"{table}(", f"{table}[", f"{table}{{"))]:
            self._by_pilot.pop(cached)
        self._pilot_column.pop(table, None)
        if together and self.per_pilot(table):
            self._together[table] = list(dict.fromkeys(together))

    def per_pilot(self, table: str) -> bool:
        """Whether the relation has a pilot_id column (its rows belong to pilots). Asked again after
        forget(): a mart built for the first time in this job has it from then on."""
        if table not in self._pilot_column:
            self._pilot_column[table] = has_pilot_id(self.con, table)
        return self._pilot_column[table]

    def by_pilot(self, table: str, columns: tuple[str, ...] | None = None, where: str | None = None) -> dict[str, str]:
        """pilot_id -> digest of that pilot's rows (row count and the sum of their hashes), one
        scan; of these columns of its rows only, if given, and of the rows meeting `where` (SQL on
        the row `t`) only, if given (a step that reads no other). Rows without a pilot (a file
        whose pilot could not be read) belong to none."""
        return self._grouped(table, "", columns, where)

    def by_pilot_agency(self, table: str, columns: tuple[str, ...] | None = None,
                        where: str | None = None) -> dict[tuple[str, str | None], str]:
        """(pilot_id, agency_code) -> digest of those rows, as by_pilot (one scan); rows of a pilot
        without an agency are under (pilot_id, None)."""
        return self._grouped(table, "agency_code", columns, where)

    def _grouped(self, table: str, agency: str, columns: tuple[str, ...] | None, where: str | None) -> dict:
        """by_pilot (agency ""), or by_pilot_agency (agency "agency_code"): cached under the table's
        name and what narrows it, which forget() clears."""
        cache = _cache_name(table, agency, columns, where)
        if cache not in self._by_pilot and table in self._together and not agency and where is None:
            self._scan_together(table)
        if cache not in self._by_pilot:
            row = _row(columns)
            group = f"pilot_id, {agency}" if agency else "pilot_id"
            self._by_pilot[cache] = {(tuple(key) if agency else key[0]): f"{n}:{total}" for *key, n, total in self.con.execute(
                f"SELECT {group}, count(*), coalesce(sum(hash({row})), 0) FROM {table} t "
                f"WHERE pilot_id IS NOT NULL{'' if where is None else f' AND ({where})'} GROUP BY {group}").fetchall()}
        return self._by_pilot[cache]

    def _scan_together(self, table: str) -> None:
        """One scan of the table for its whole digest (of) and by_pilot of each column set noted by
        forget(), each the same figures as its own query (the whole digest is the sum over every
        group, rows without a pilot included; sums of hashes are exact integers). A mart rebuilt on
        the 1%-new night was scanned once for its key's digest and once more per column set its
        readers declare (marts.budget_snapshot three times, 961k rows at 400 pilots)."""
        sets = self._together.pop(table)
        rows = [_row(columns) for columns in sets]
        sums = ", ".join(f"coalesce(sum(hash({row})), 0)" for row in rows)
        count, total = 0, 0
        grouped: list[dict[str, str]] = [{} for _ in sets]
        for pilot, n, whole, *each in self.con.execute(
                f"SELECT pilot_id, count(*), coalesce(sum(hash(t)), 0), {sums} FROM {table} t GROUP BY pilot_id").fetchall():
            count, total = count + n, total + whole
            if pilot is not None:
                for digests, value in zip(grouped, each):
                    digests[pilot] = f"{n}:{value}"
        self._done.setdefault(table, f"{count}:{total}")
        for columns, digests in zip(sets, grouped):
            self._by_pilot.setdefault(_cache_name(table, "", columns, None), digests)

    def all(self) -> dict[str, str]:
        """relation -> digest of every data relation."""
        return {t: self.of(t) for t in self.tables()}


def _row(columns: tuple[str, ...] | None) -> str:
    """What a digest hashes of each row of `t`: the whole row, or these columns."""
    return "t" if columns is None else ", ".join(f't."{c}"' for c in columns)


def _cache_name(table: str, agency: str, columns: tuple[str, ...] | None, where: str | None) -> str:
    """The key of a grouped digest in Digests._by_pilot: the table and what narrows it."""
    return table + ("{agency}" if agency else "") + ("" if columns is None else f"({','.join(columns)})") + (
        "" if where is None else f"[{where}]")


def state_digest(digests: Digests, as_of: date) -> str:
    digests.prefetch(digests.tables())
    return sha(as_of.isoformat(), *[f"{t}={digests.of(t)}" for t in digests.tables()])


def data_digest(digests: Digests) -> str:
    """The state without the as-of date: what the published copy holds (ops.* left out)."""
    return sha(*[f"{t}={digests.of(t)}" for t in digests.tables()])
