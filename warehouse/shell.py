"""A read-only SQL shell on the published copy for analysts (`pilotkpi sql`, and the web's `/sql`).

The duckdb Python package ships no CLI binary, so this is a small one. The lockdown is
`open_sandboxed`, the one way both the CLI and the web open the published copy: read-only, with
external access disabled, then the configuration locked: no file reads or writes (read_csv, COPY,
ATTACH, INSTALL), no way to switch either setting back on. `run_limited` runs a page's SQL on such
a connection with a row cap and a time limit.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TextIO

import duckdb

from warehouse.db import connect
from warehouse.paths import PUBLISHED_SUFFIX
from warehouse.publish import published_path

QUIT = {".quit", ".exit", "\\q", "quit", "exit"}


LOCKDOWN = {"enable_external_access": False}


def open_sandboxed(path: Path) -> duckdb.DuckDBPyConnection:
    """The published copy, locked down. DuckDB shares one database instance per file within a
    process, and the lock is the instance's: a second opening of a file already open here gets the
    same, already locked instance (locking it again is refused, so it is not asked)."""
    con = connect(path, read_only=True, config=LOCKDOWN)
    if con.execute("SELECT current_setting('lock_configuration')").fetchall()[0][0] is not True:
        con.execute("SET lock_configuration = true")
    return con


@dataclass
class Result:
    """One statement's outcome on the SQL page: its columns and at most `max_rows` rows
    (`truncated`: there were more), or DuckDB's error message."""
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)
    truncated: bool = False
    error: str | None = None


def run_limited(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int, seconds: float) -> list[Result]:
    """Every statement of `sql` on a locked-down connection (open_sandboxed, or a cursor of one), as
    `pilotkpi sql` runs them (DuckDB splits the text), together within `seconds`: the statement
    running when they are used up is stopped (interrupted), those after it are not run; each is cut
    at `max_rows` rows. Statements after a failed one still run, as in the shell.

    Why the request's time, not each statement's: the web reads the published copy while its
    queries run, and a newly published copy waits for them (web/published.py); four statements of
    9 s each held the old copy 36 s, and every other page answered 503 meanwhile (reviewer RV6)."""
    try:
        parts = [p.query for p in con.extract_statements(sql)]
    except duckdb.Error as exc:
        return [Result(sql, error=str(exc))]
    results = []
    deadline = time.monotonic() + seconds
    for part in parts:
        result = Result(part)
        left = deadline - time.monotonic()
        if left <= 0:
            result.error = f"not run: the page's time limit of {seconds:g} s was used up"
            results.append(result)
            continue
        timer = threading.Timer(left, con.interrupt)
        timer.start()
        try:
            rel = con.sql(part)
            if rel is not None:
                # The names as the statement gives them, as `pilotkpi sql` shows them: limit() would
                # rename a second column "a" to "a_1".
                names = list(rel.columns)
                rel = trimmed_decimals(rel.limit(max_rows + 1))
                rows = rel.fetchall()
                result.columns = names
                result.rows, result.truncated = rows[:max_rows], len(rows) > max_rows
        except duckdb.InterruptException:
            result.error = f"stopped after {seconds:g} s (the page's time limit)"
        except duckdb.Error as exc:
            result.error = str(exc)
        finally:
            timer.cancel()
        results.append(result)
    return results


def resolve(warehouse: Path) -> Path:
    """The published copy of a working warehouse file, or the file itself if it is a published copy."""
    if warehouse.name.endswith(PUBLISHED_SUFFIX):
        return warehouse
    return published_path(warehouse)


HELP = """\
Statements end with ';' and may span lines; every statement's result is shown.
  .tables            the relations, by schema
  .schema NAME       the columns of a relation (schema.name or name), with types and comments
  .help              this text
  .quit              leave (also .exit, Ctrl-D)
"""


def run_statement(con: duckdb.DuckDBPyConnection, sql: str, out: TextIO) -> bool:
    """Run a dot command, or every statement in `sql`, printing each result; False on any error."""
    if sql.lstrip().startswith("."):
        return run_dot_command(con, sql.strip(), out)
    try:
        parts = [p.query for p in con.extract_statements(sql)]
    except duckdb.Error as exc:  # a syntax error anywhere: DuckDB's message says where
        out.write(f"Error: {exc}\n")
        return False
    ok = True
    for part in parts:
        try:
            rel = con.sql(part)
            if rel is not None:
                out.write(shown(rel))
        except duckdb.Error as exc:
            out.write(f"Error: {exc}\n")
            ok = False
        out.flush()
    return ok


def trimmed_decimals(rel: duckdb.DuckDBPyRelation) -> duckdb.DuckDBPyRelation:
    """The result as shown: each DECIMAL column with only the decimals its values need.

    Actuals are DECIMAL(18,10), so 65.6 showed as 65.6000000000. Each such column is cast, for
    display only, to the smallest scale that keeps every value in the result exact (65.6 and 47
    give DECIMAL(…,1): 65.6 and 47.0), so the column stays numeric, right-aligned and exact. The
    stored types do not change. Money (scale 2 or less) keeps its two decimals."""
    wide = [(i, dict(t.children)) for i, t in enumerate(rel.types) if t.id == "decimal" and dict(t.children)["scale"] > 2]
    if not wide:
        return rel
    # Columns are taken by position (#1, #2 …), never by name: a join's result holds columns of the
    # same name (a.actual, b.actual), each shown with its own values (RV9 item 2); names come back
    # as aliases, duplicates kept.
    # Fractional digits of a value without its trailing zeros, the largest per column.
    needed = rel.aggregate(", ".join(
        f"coalesce(max(length(regexp_extract(#{i + 1}::VARCHAR, '\\.([0-9]*[1-9])', 1))), 0)" for i, _ in wide)
    ).fetchall()[0]
    casts = {i: f"::DECIMAL({d['precision'] - d['scale'] + n}, {n})" for (i, d), n in zip(wide, needed)}
    return rel.project(", ".join(f"#{i + 1}{casts.get(i, '')} AS {_quoted(name)}" for i, name in enumerate(rel.columns)))


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _decimal_type(t: duckdb.typing.DuckDBPyType) -> str:
    d = dict(t.children)
    return f"decimal({d['precision']},{d['scale']})"  # as DuckDB's table spells a type


def shown(rel: duckdb.DuckDBPyRelation) -> str:
    """The result as `pilotkpi sql` prints it: DuckDB's table of trimmed_decimals(rel), each column
    still headed by the type it is stored with (verifier VI F7: the display cast's type showed, so
    composite_score DECIMAL(9,4) read decimal(8,3), or decimal(5,0) when every value was NULL).

    A trimmed column's name is padded for the render, so its cell is wide enough for the stored
    type; then the name is centred again and the stored type written in the type row. Only the two
    header rows change, found by their cell borders; a header that cannot be matched cell for
    column (a column name holding the border character) is shown untrimmed instead, as stored."""
    trimmed = trimmed_decimals(rel)
    stored = {i: _decimal_type(a) for i, (a, b) in enumerate(zip(rel.types, trimmed.types)) if a != b}
    if not stored:
        return str(trimmed)
    names = list(rel.columns)
    padded = [n.ljust(len(stored[i])) if i in stored else n for i, n in enumerate(names)]
    text = str(trimmed.project(", ".join(f"#{i + 1} AS {_quoted(p)}" for i, p in enumerate(padded))))
    lines = text.split("\n")
    if len(lines) < 3 or not lines[0].startswith("┌"):
        return str(rel)
    cells = lines[0].count("┬") + 1
    name_row, type_row = lines[1].split("│")[1:-1], lines[2].split("│")[1:-1]
    if len(name_row) != cells or len(type_row) != cells:
        return str(rel)
    elided = [c for c, piece in enumerate(type_row) if piece.strip() == "…"]
    if not elided and cells != len(names):
        return str(rel)
    for c in range(cells):
        column = c if not elided or c < elided[0] else len(names) - (cells - c)
        if column not in stored or (elided and c == elided[0]):
            continue
        width = len(type_row[c])  # a type is ASCII: one character, one column of the terminal
        left = (width - len(stored[column])) // 2
        type_row[c] = " " * left + stored[column] + " " * (width - left - len(stored[column]))
        label = name_row[c].strip()
        spaces = len(name_row[c]) - len(label)  # kept: the name's own width on the terminal is unchanged
        name_row[c] = " " * (spaces // 2) + label + " " * (spaces - spaces // 2)
    lines[1], lines[2] = "│" + "│".join(name_row) + "│", "│" + "│".join(type_row) + "│"
    return "\n".join(lines)


def run_dot_command(con: duckdb.DuckDBPyConnection, command: str, out: TextIO) -> bool:
    name, _, arg = command.partition(" ")
    arg = arg.strip().rstrip(";")
    if name == ".help":
        out.write(HELP)
        return True
    if name == ".tables":
        rows = con.execute(
            "SELECT schema_name || '.' || table_name FROM duckdb_tables() WHERE NOT internal "
            "UNION ALL SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal "
            "ORDER BY 1").fetchall()
        out.write("".join(f"{r[0]}\n" for r in rows))
        return True
    if name == ".schema" and arg:
        schema, _, table = arg.rpartition(".")
        rel = con.sql(
            "SELECT schema_name || '.' || table_name AS relation, column_name, data_type, comment "
            "FROM duckdb_columns() WHERE NOT internal AND table_name = $table "
            "AND ($schema = '' OR schema_name = $schema) ORDER BY schema_name, table_name, column_index",
            params={"table": table, "schema": schema})
        if not rel.fetchall():
            out.write(f"Error: no relation named {arg!r} (try .tables)\n")
            return False
        out.write(str(rel))
        return True
    out.write(f"Error: unknown command {command!r} (try .help)\n")
    return False


def statements(lines: Iterable[str]) -> Iterable[str]:
    """Input split at lines ending in ';' (DuckDB splits further); a dot command is a line of its own."""
    buffer: list[str] = []
    for line in lines:
        if not buffer and line.strip() in QUIT:
            return
        if not buffer and line.lstrip().startswith("."):
            yield line.strip()
            continue
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
