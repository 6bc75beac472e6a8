"""Forward-only numbered SQL migrations (warehouse/migrations/NNNN_name.sql).

Each migration runs in its own transaction together with its row in ops.schema_migrations,
so a failed migration leaves the file as it was; running again applies only what is missing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import duckdb

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    folder = resources.files("warehouse") / "migrations"
    found = []
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 0001, 0002, … without gaps: {versions}")
    return found


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    con.execute("CREATE SCHEMA IF NOT EXISTS ops")
    con.execute(
        "CREATE TABLE IF NOT EXISTS ops.schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    return {row[0] for row in con.execute("SELECT version FROM ops.schema_migrations").fetchall()}


def migrate(con: duckdb.DuckDBPyConnection, *, target: int | None = None) -> list[int]:
    """Apply the pending migrations up to `target` (default: all). Returns the versions applied."""
    done = applied_versions(con)
    newly = []
    for mig in available_migrations():
        if mig.version in done or (target is not None and mig.version > target):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(mig.sql)
            con.execute(
                "INSERT INTO ops.schema_migrations VALUES (?, ?, now()::TIMESTAMP)",
                [mig.version, mig.name],
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        newly.append(mig.version)
    return newly
