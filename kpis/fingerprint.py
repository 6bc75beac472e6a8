"""Fingerprints of what the marts and the job's outputs are made from (issue 12, cheap nights).

A relation's digest is its row count and the sum of DuckDB's hash of every row: independent of row
order, and one scan (about 0.1 s for a million lines). A mart's key is SHA-256 over its SQL (and
the macros and outlier code it runs), the digests of the relations it reads and, where its SQL uses
$as_of, the as-of date. A mart whose key equals the one recorded in ops.mart_inputs is left as it
is; since a mart reads only base tables and the marts built before it, equal keys mean equal rows.

The state digest of a job is SHA-256 over the digests of every registry, ingest, core, approval and
mart relation and the job's as-of date: ops.* is left out, so a job that changed nothing has the
previous job's state, whatever it wrote in ops.runs.
"""
from __future__ import annotations

import hashlib
import re
from datetime import date
from importlib import resources

import duckdb

DATA_SCHEMAS = ("registry", "ingest", "core", "approval", "marts")
_REF = re.compile(r"\b(registry|ingest|core|approval|marts)\.([a-z_][a-z0-9_]*)\b")


def sha(*parts: object) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def source_digest(package: str, *names: str) -> str:
    """SHA-256 of some source files of a package: a change of code rebuilds what it makes."""
    files = resources.files(package)
    return sha(*[(files / n).read_bytes().hex() for n in names])


class Digests:
    """Row digests of relations, each computed once (call forget() after rewriting one)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self._done: dict[str, str] = {}
        self._base: set[str] | None = None

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
        if table not in self._done:
            count, total = self.con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} t").fetchone()
            self._done[table] = f"{count}:{total}"
        return self._done[table]

    def forget(self, table: str) -> None:
        self._done.pop(table, None)


def references(sql: str) -> set[str]:
    """schema.name of every relation an SQL text names (comments included: a few extra inputs only
    cost a rebuild, a missing one would keep a stale mart)."""
    return {f"{s}.{n}" for s, n in _REF.findall(sql)}


def mart_key(name: str, sql: str, code: str, inputs: dict[str, str], as_of: date) -> str:
    """inputs: relation -> digest of every relation the mart reads."""
    return sha(name, code, sql, "$as_of" in sql and as_of.isoformat(), *sorted(inputs.items()))


def state_digest(digests: Digests, as_of: date) -> str:
    return sha(as_of.isoformat(), *[f"{t}={digests.of(t)}" for t in digests.tables()])
