"""Exports for BI tools (Parquet), for other tools (CSV) and for Excel (xlsx), streamed in chunks.

- Relations with a fiscal_year column are split by fiscal year: Parquet as a hive-partitioned
  folder (`marts.kpi_scores/fiscal_year=2549/data_0.parquet`), CSV and xlsx as one file per year
  (`marts.kpi_scores/fiscal_year=2549.csv`), which also keeps a national year of lines under
  Excel's 1,048,576-row limit. Others are one file each.
- CSV is UTF-8 with a byte-order mark, so Excel shows Thai text correctly; cells that a
  spreadsheet would run as a formula get a leading apostrophe, unless the text is a plain number
  (safe_cell says which). Excel still reads `01002` in a CSV as the number 1002: a CSV carries
  no types, so codes are not safe there.
- Restricted pilots (warehouse.md): only the relations of warehouse.open_side.OPEN_RELATIONS keep
  their rows; every other relation with a pilot_id or a submission_id is exported without them,
  whether or not the file still holds them (open_rows).
- xlsx is the format for Excel: every text value is a text cell (agency codes keep their leading
  zeros, and text starting with `=` stays text, never a formula, so it needs no apostrophe),
  numbers (DECIMAL included) are number cells, but for a DECIMAL or integer of more than 15
  significant digits (Excel's precision), which is a text cell of its exact digits; dates are date
  cells (xlsx_cell). A text longer than
  Excel's cell (32,767 UTF-16 units) is cut there, and says so; CSV and Parquet keep it whole.
- CSV and xlsx show text as the pages and the web's downloads do (warehouse.display.cell_text): a
  control, bidi or line-separator character becomes a visible stand-in (`␛`, `[U+202E]`), so an
  agency's file name or note cannot reorder what a spreadsheet shows or send escape sequences to
  a terminal that prints the file; tab, CR and LF stay (a quoted field, a cell holds them). Parquet
  is data for BI tools, not a page: its text stays exactly as received.
"""
from __future__ import annotations

import csv
import math
import re
import shutil
import unicodedata
from datetime import date, datetime, timezone
from decimal import Decimal
from functools import partial
from pathlib import Path

import duckdb

from warehouse.display import cell_text
from warehouse.open_side import OPEN_RELATIONS, RESTRICTED_PILOTS_SQL, RESTRICTED_SUBMISSIONS_SQL

EXPORTED_SCHEMAS = ("registry", "core", "marts")
FORMATS = ("parquet", "csv", "xlsx")
EXCEL_ROWS = 1_048_576  # rows in one Excel sheet, the header included
CHUNK_ROWS = 50_000
# Our reading of OWASP's CSV-injection guidance (and ASVS 1.2.10), for cells of agency text:
# - a cell whose first character is = + - or @ is a formula to Excel, LibreOffice and Sheets;
# - so is one whose first non-blank character is: LibreOffice and Sheets trim leading spaces
#   on import, and a tab, CR or LF can shift what the first character is (" =1+1", "\n@SUM");
# - the full-width ＝ ＋ － ＠ (U+FF1D, U+FF0B, U+FF0D, U+FF20) are read as their ASCII forms
#   by East Asian Excel, so they count as well;
# - a cell starting with a tab, CR, LF or NUL is guarded whatever follows (OWASP, ASVS).
# Blank is what str.isspace() says (the ideographic and no-break spaces too). A plain number
# (ASCII digits, sign, point, exponent: -12.5, +1.5, -1e3), exactly and alone, is no formula and
# stays a number; " -12.5", "－5" or "-5\n" are text, and get the apostrophe.
_FORMULA_SIGNS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
_GUARDED_FIRST = frozenset("\t\r\n\x00")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


def safe_cell(value: object) -> object:
    """Neutralise text a spreadsheet would evaluate; numbers and other types pass unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in _GUARDED_FIRST or (value.lstrip()[:1] in _FORMULA_SIGNS and not _NUMBER.fullmatch(value)):
        return "'" + value
    return value


def open_rows(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """The SQL of a relation's rows that the open side may show: a restricted pilot's rows only in
    OPEN_RELATIONS; elsewhere none by pilot_id, nor by submission_id (a duplicate file's row
    names no pilot). Relations with neither column hold no pilot's data."""
    columns = {r[0] for r in con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name || '.' || table_name = ?", [relation]).fetchall()}
    conditions = []
    if relation not in OPEN_RELATIONS:
        if "pilot_id" in columns:
            conditions.append(f"(pilot_id IS NULL OR pilot_id NOT IN ({RESTRICTED_PILOTS_SQL}))")
        if "submission_id" in columns:
            conditions.append(f"(submission_id IS NULL OR submission_id NOT IN ({RESTRICTED_SUBMISSIONS_SQL}))")
    return f"SELECT * FROM {relation}" + (f" WHERE {' AND '.join(conditions)}" if conditions else "")


def exported_relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool]]:
    """(schema.table, has fiscal_year) for every exported table, in a stable order."""
    rows = con.execute("""
        SELECT t.schema_name || '.' || t.table_name,
               bool_or(c.column_name = 'fiscal_year')
        FROM duckdb_tables() t JOIN duckdb_columns() c USING (schema_name, table_name)
        WHERE t.schema_name IN ('registry', 'core', 'marts')
        GROUP BY ALL ORDER BY 1""").fetchall()
    return [(name, bool(partitioned)) for name, partitioned in rows]


def export(con: duckdb.DuckDBPyConnection, out_dir: Path, fmt: str) -> list[Path]:
    """Write every exported relation to out_dir; return the files or folders written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for relation, partitioned in exported_relations(con):
        target = out_dir / (relation if partitioned else f"{relation}.{fmt}")
        if target.is_dir():
            shutil.rmtree(target)  # a re-export replaces the relation's files, never mixes years
        if fmt == "parquet":
            _parquet(con, relation, target, partitioned)
        else:
            write = _csv_file if fmt == "csv" else partial(_xlsx_file, sheet=relation.split(".")[1])
            _per_year(con, relation, target, partitioned, write, fmt)
        written.append(target)
    return written


def _parquet(con, relation: str, target: Path, partitioned: bool) -> None:
    path = str(target).replace("'", "''")
    options = "FORMAT parquet, PARTITION_BY (fiscal_year)" if partitioned else "FORMAT parquet"
    con.execute(f"COPY ({open_rows(con, relation)} ORDER BY ALL) TO '{path}' ({options})")


def _per_year(con, relation: str, target: Path, partitioned: bool, write_file, fmt: str) -> None:
    rows = open_rows(con, relation)
    if not partitioned:
        write_file(con, f"{rows} ORDER BY ALL", [], target)
        return
    target.mkdir(parents=True)
    # Years of the open rows only: a year of restricted rows alone leaves no (empty) file behind.
    years = [r[0] for r in con.execute(f"SELECT DISTINCT fiscal_year FROM ({rows}) ORDER BY 1").fetchall()]
    for year in years:
        write_file(con, f"SELECT * FROM ({rows}) WHERE fiscal_year = ? ORDER BY ALL", [year],
                   target / f"fiscal_year={year}.{fmt}")


def _csv_file(con, sql: str, params: list, path: Path) -> None:
    res = con.execute(sql, params)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([d[0] for d in res.description])
        while rows := res.fetchmany(CHUNK_ROWS):
            writer.writerows([safe_cell(cell_text(v)) for v in row] for row in rows)


# Text Excel would turn into another value on opening a CSV: leading zeros dropped, more than 15
# digits rounded, a date (1/2, 3-4, 2006-08-10 stays text only as ="…"), scientific notation; and
# (verifier VB) an accountant's negative (5) -> -5, a percentage 12% -> 0.12, thousands separators
# 1,234 -> 1234, TRUE and FALSE -> the logical values.
CODE_EXCEL_WOULD_CHANGE = re.compile(
    r"^(0\d+|\d{16,}|\d+[eE][+-]?\d+|\d{1,4}[-/]\d{1,2}([-/]\d{1,4})?"
    r"|\(\d+(\.\d+)?\)|[-+]?\d+(\.\d+)?%|[-+]?\d{1,3}(,\d{3})+(\.\d+)?|(?i:true|false))$")


def csv_cell(value: object) -> str:
    """A CSV cell Excel opens as the value it is: a code it would change (CODE_EXCEL_WOULD_CHANGE:
    `01002` -> 1002) as `="01002"`, which every spreadsheet shows as the text 01002, and so a
    DECIMAL or integer of more than 15 significant digits (EXCEL_DIGITS); text it would run as a
    formula with safe_cell's apostrophe. The web's CSV downloads (web/tables.py) and the
    reminder letters' reminders.csv (kpis/letters/render.py), both for Excel, write every cell with it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if _beyond_excel_digits(value):  # more digits than Excel's number keeps: its exact digits, as text
        return f'="{format(value, "f") if isinstance(value, Decimal) else value}"'
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    text = cell_text(str(value))
    if isinstance(value, str) and CODE_EXCEL_WOULD_CHANGE.match(text):
        return f'="{text}"'
    return safe_cell(text)


# Characters an xlsx file cannot hold (XML 1.0): shown as Unicode control pictures (␀, ␛, …), as
# the summaries show them (warehouse/display.py), rather than refused.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# Excel's number is a double, kept and shown to 15 significant digits: a DECIMAL or integer with
# more (an amount of 16 digits such as 98765432109876.54, a hash from the web's SQL page) is written
# as a text cell holding its exact digits, not a number cell Excel (and openpyxl) would read back
# changed (98765432109876.55, 1.23456789012346E+18). Every value of 15 digits or fewer stays a number.
EXCEL_DIGITS = 15


def _beyond_excel_digits(value: object) -> bool:
    """A Decimal or int (not bool) with more significant digits than Excel's number keeps."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return False
    if isinstance(value, int):
        digits = str(abs(value)).rstrip("0")
    elif value.is_finite():
        digits = "".join(map(str, value.as_tuple().digits)).strip("0")  # as_tuple: no context rounding
    else:
        return True  # NaN, Infinity: no number cell holds them
    return len(digits) > EXCEL_DIGITS


def xlsx_cell(ws, value: object):
    """One Excel cell: text as a text cell (never a formula or an error code), numbers as numbers
    (but a DECIMAL or integer of more than 15 significant digits as the text of its exact digits:
    EXCEL_DIGITS), dates as dates, anything else (lists, non-finite floats) as its text."""
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, float) and not math.isfinite(value):
        value = str(value)
    elif _beyond_excel_digits(value):  # 98765432109876.54 would come back as 98765432109876.55
        value = format(value, "f") if isinstance(value, Decimal) else str(value)
    elif isinstance(value, datetime) and value.tzinfo is not None:  # Excel has no zones: UTC
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    elif value is not None and not isinstance(value, (str, bool, int, float, Decimal, date, datetime)):
        value = str(value)
    if isinstance(value, str):
        value = _within_a_cell(_XML_ILLEGAL.sub(lambda m: chr(0x2400 + ord(m.group())), value))
    cell = WriteOnlyCell(ws, value)
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl would make "=…" a formula and "#N/A" an error
    return cell


# Excel holds at most 32,767 characters in a cell, counted in UTF-16 units (an emoji is 2). A note
# may run to the CSV reader's 131,072: openpyxl cut it silently at 32,767 code points, which hid
# the cut and let text beyond the BMP past Excel's limit.
EXCEL_CELL_UNITS = 32_767
CUT_MARK = (" …[ตัดที่ 32,767 ตัวอักษร ตามที่ Excel รับได้ในหนึ่งช่อง ไฟล์ CSV มีข้อความเต็ม"
            " / cut: Excel holds 32,767 characters in a cell; the CSV export has the whole text]")


def _utf16_units(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _within_a_cell(text: str) -> str:
    """Text an Excel cell can hold: a longer text is cut, and says so at its end."""
    if len(text) <= EXCEL_CELL_UNITS // 2 or _utf16_units(text) <= EXCEL_CELL_UNITS:
        return text
    budget, end = EXCEL_CELL_UNITS - len(CUT_MARK), 0
    for ch in text:  # characters beyond the BMP count twice
        budget -= 2 if ord(ch) > 0xFFFF else 1
        if budget < 0:
            break
        end += 1
    # Never between a letter and its marks (a Thai vowel or tone mark, category Mn) nor after a
    # zero-width joiner: the mark would sit on the cut's space, and an emoji sequence split.
    while end and (unicodedata.category(text[end]) in ("Mn", "Me") or text[end - 1] == "\u200d"):
        end -= 1
    return text[:end] + CUT_MARK


def _xlsx_file(con, sql: str, params: list, path: Path, sheet: str) -> None:
    from openpyxl import Workbook

    res = con.execute(sql, params)
    header = [d[0] for d in res.description]
    wb = Workbook(write_only=True)
    ws, rows_in_sheet, sheets = None, EXCEL_ROWS, 0
    while rows := res.fetchmany(CHUNK_ROWS):
        for row in rows:
            if rows_in_sheet == EXCEL_ROWS:  # a full sheet: go on in the next one, header again
                sheets += 1
                ws = wb.create_sheet(_sheet_title(sheet, sheets))
                ws.append([xlsx_cell(ws, h) for h in header])
                rows_in_sheet = 1
            ws.append([xlsx_cell(ws, cell_text(v)) for v in row])
            rows_in_sheet += 1
    if ws is None:  # no rows: the header alone
        ws = wb.create_sheet(_sheet_title(sheet, 1))
        ws.append([xlsx_cell(ws, h) for h in header])
    wb.save(path)


def _sheet_title(name: str, number: int) -> str:
    suffix = "" if number == 1 else f" {number}"
    return name[:31 - len(suffix)] + suffix  # Excel allows 31 characters
