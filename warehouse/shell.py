"""A read-only SQL shell on the published copy for analysts (`pilotkpi sql`).

The duckdb Python package ships no CLI binary, so this is a small one. The connection is opened
read-only with external access disabled, then the configuration is locked: no file reads or
writes (read_csv, COPY, ATTACH, INSTALL), no way to switch either setting back on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, TextIO

import duckdb

from warehouse.db import connect
from warehouse.paths import PUBLISHED_SUFFIX
from warehouse.publish import published_path

QUIT = {".quit", ".exit", "\\q", "quit", "exit"}


def open_sandboxed(path: Path) -> duckdb.DuckDBPyConnection:
    con = connect(path, read_only=True, config={"enable_external_access": False})
    con.execute("SET lock_configuration = true")
    return con


def resolve(warehouse: Path) -> Path:
    """The published copy of a working warehouse file, or the file itself if it is a published copy."""
    if warehouse.name.endswith(PUBLISHED_SUFFIX):
        return warehouse
    return published_path(warehouse)


def run_statement(con: duckdb.DuckDBPyConnection, sql: str, out: TextIO) -> bool:
    """Run one statement and print its result as a table; False (with the reason) on an error."""
    try:
        rel = con.sql(sql)
        if rel is not None:
            out.write(str(rel))
            out.flush()
        return True
    except duckdb.Error as exc:
        out.write(f"Error: {exc}\n")
        return False


def statements(lines: Iterable[str]) -> Iterable[str]:
    """Statements ended by ';' (a line on its own like .quit also ends the input)."""
    buffer: list[str] = []
    for line in lines:
        if not buffer and line.strip() in QUIT:
            return
        buffer.append(line)
        if line.rstrip().endswith(";"):
            yield "\n".join(buffer)
            buffer = []
    if "".join(buffer).strip():
        yield "\n".join(buffer)


def interactive_lines(prompt: Callable[[str], str]) -> Iterable[str]:
    first = True
    while True:
        try:
            yield prompt("pilotkpi> " if first else "     ...> ")
        except EOFError:
            return
        first = False
