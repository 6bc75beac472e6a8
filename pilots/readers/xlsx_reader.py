"""Excel reports (.xlsx), read with openpyxl (DuckDB has no offline excel extension).

The sheet named `report` or `รายงาน` wins over the first sheet; the header is the first row with
a non-empty cell; fully empty rows are skipped. Cells become text like CSV cells: Excel dates
become ISO dates, numbers keep their shortest form (agency 3009 is padded by the normaliser),
formulas give their cached value, or a defect when the file has none.

Rows never depend on the sheet's `<dimension ref=...>` tag: openpyxl's read-only mode trusts it,
and some exporters write it wrong (`A1:L2` on a 4-row report returned one row: a wrong figure).
Every sheet read here first calls `reset_dimensions()`, so the rows present in the XML are read.

XML entities are never expanded: openpyxl parses through defusedxml when it is installed (a pinned
dependency), which refuses any entity declaration: no billion laughs, no external entity reading a
local file (XXE). Such a workbook is FILE_UNREADABLE (`xml_entities`). Should openpyxl ever run
without it (OPENPYXL_DEFUSEDXML=False), no workbook is read: the run fails rather than expand them.
"""
from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time

import openpyxl
import openpyxl.xml
from defusedxml import DefusedXmlException

from pilots.defects import detail, make_issue
from pilots.readers.base import RawTable, ReadFailure
from pilots.readers.limits import LIMITS

PREFERRED_SHEETS = ("report", "รายงาน")


def read_xlsx(data: bytes) -> RawTable:
    if not openpyxl.xml.DEFUSEDXML:  # fail closed: an operator error, not the agency's file
        raise RuntimeError("openpyxl is not using defusedxml (is OPENPYXL_DEFUSEDXML set to something other "
                           "than True?): refusing to parse workbooks that could expand XML entities")
    _check_zip(data)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for corrupt workbooks
        _refuse_entities(exc)
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "not_xlsx", error=type(exc).__name__)),
                          format="xlsx") from None
    try:
        sheet = _pick_sheet(book)
        values = [list(r) for r in _rows(sheet)]
    except Exception as exc:
        _refuse_entities(exc)
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "damaged_xlsx", error=type(exc).__name__)),
                          format="xlsx") from None
    finally:
        book.close()

    table_rows = [(n, [_cell(v) for v in row]) for n, row in enumerate(values, start=1)]
    table_rows = [(n, cells) for n, cells in table_rows if any(c is not None and c.strip() for c in cells)]
    if not table_rows:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "sheet_empty")), format="xlsx")
    (_, header), rows = table_rows[0], table_rows[1:]
    if not rows:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "no_rows")), format="xlsx")
    width = max(i + 1 for i, c in enumerate(header) if c is not None)
    # Without a trusted dimension a row is as long as its last cell in the XML: pad to the header.
    table = RawTable("xlsx", None, [c or "" for c in header[:width]],
                     [(n, cells[:width] + [None] * (width - len(cells))) for n, cells in rows])
    try:
        table.issues.extend(_formulas_without_values(data, sheet.title, {n for n, _ in rows}, header[:width]))
    except Exception as exc:  # a damaged member that the cached-value read did not touch
        _refuse_entities(exc)
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "damaged_xlsx", error=type(exc).__name__)),
                          format="xlsx") from None
    return table


def _refuse_entities(exc: BaseException) -> None:
    """Raise the clear `xml_entities` defect if defusedxml refused the workbook; openpyxl wraps
    some parse errors in its own ValueError, so the whole chain of causes is searched."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, DefusedXmlException):
            raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "xml_entities")),
                              format="xlsx") from None
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__


def _check_zip(data: bytes) -> None:
    """Refuse zip bombs before openpyxl inflates anything.

    The sizes checked are those the zip's central directory declares. A member cannot inflate
    to more than it declares: Python's zipfile (which openpyxl reads through) stops each member
    at its declared size and then fails its CRC check (BadZipFile, so FILE_UNREADABLE), as
    tests/test_xlsx.py checks with a member that lies. So the declared sizes bound the work.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception:  # hostile archives raise BadZipFile, NotImplementedError, EOFError, …
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "not_xlsx", error="truncated or corrupt")),
                          format="xlsx") from None
    inflated = sum(i.file_size for i in infos)
    if inflated > LIMITS.max_inflated_bytes or inflated > LIMITS.max_compression_ratio * max(len(data), 1):
        raise ReadFailure(make_issue("FILE_TOO_LARGE", detail=detail("FILE_TOO_LARGE", "inflated", size=f"{inflated:,}"),
                                     limit=detail("FILE_TOO_LARGE", "limit_bytes", limit=f"{LIMITS.max_inflated_bytes:,}")), format="xlsx")
    # One part alone (say shared strings) can stall the run within the total: openpyxl holds
    # the shared strings in memory (a 182 MB part took 911 MB and a minute).
    biggest = max(infos, key=lambda i: i.file_size, default=None)
    if biggest is not None and biggest.file_size > LIMITS.max_member_bytes:
        raise ReadFailure(make_issue("FILE_TOO_LARGE",
                                     detail=detail("FILE_TOO_LARGE", "part", part=biggest.filename,
                                                   size=f"{biggest.file_size:,}"),
                                     limit=detail("FILE_TOO_LARGE", "limit_part", limit=f"{LIMITS.max_member_bytes:,}")),
                          format="xlsx")


def _rows(sheet):
    """Every row the sheet's XML holds, whatever its <dimension> tag says (see the docstring)."""
    sheet.reset_dimensions()
    return sheet.iter_rows(min_row=1, values_only=True)


def _pick_sheet(book):
    for sheet in book.worksheets:
        if sheet.title.strip().casefold() in PREFERRED_SHEETS:
            return sheet
    return book.worksheets[0]


def _cell(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _formulas_without_values(data: bytes, sheet_title: str, data_rows: set[int], header: list) -> list:
    """Formula cells whose cached value is missing (a file written by a program, never opened in
    Excel). Only workbooks that hold formulas pay for the second read."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if not any(b"<f" in archive.read(i) for i in archive.infolist() if i.filename.startswith("xl/worksheets/")):
            return []
    issues = []
    formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    cached = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows_f = _rows(formulas[sheet_title])
        rows_v = _rows(cached[sheet_title])
        for n, (fr, vr) in enumerate(zip(rows_f, rows_v), start=1):
            if n not in data_rows:
                continue
            for i, (f, v) in enumerate(zip(fr, vr)):
                if isinstance(f, str) and f.startswith("=") and v is None:
                    column = header[i] if i < len(header) and header[i] else f"#{i + 1}"
                    issues.append(make_issue("FORMULA_WITHOUT_VALUE", n, column, formula=f))
    finally:
        formulas.close()
        cached.close()
    return issues
