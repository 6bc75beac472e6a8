"""Excel reports (.xlsx), read with openpyxl (DuckDB has no offline excel extension).

The sheet named `report` or `รายงาน` wins over the first sheet; the header is the first row with
a non-empty cell; fully empty rows are skipped. Cells become text like CSV cells: Excel dates
become ISO dates, numbers keep their shortest form (agency 3009 is padded by the normaliser),
formulas give their cached value, or a defect when the file has none or asks to be recalculated
when opened (fullCalcOnLoad: XlsxWriter saves 0 for every formula; _recalculated_on_load). A
formula has no saved value only when its cell has no `<v>` element: a string formula saved with an
empty one (`<c t="str"><f>IF(H2>0,"","check")</f><v></v></c>`, as Excel and LibreOffice save a
formula giving "") has the saved value "", an empty cell like a formula saved as an empty shared
or inline string (openpyxl reads that `<v>` as None: _FormulaRowsParser tells the two apart). A date
cell that holds a time of day is the date its format shows (`d/m/yyyy`: the day), or, under a
format that shows the time (`d/m/yyyy h:mm`, `h:mm`), the whole value as text, which a date field
refuses as it refuses the same text typed (_date_shown).

Rows never depend on the sheet's `<dimension ref=...>` tag: openpyxl's read-only mode trusts it,
and some exporters write it wrong (`A1:L2` on a 4-row report returned one row: a wrong figure).
Every sheet read here first calls `reset_dimensions()`, so the rows present in the XML are read.
A row numbered at or below a row before it (rows out of order, repeated), or a cell at or left of
a cell before it in its row, is FILE_UNREADABLE, where openpyxl dropped or overwrote it
(_UnsizedSheet._cells_by_row).

Percentage cells (agency-report-v1.md, "Percentage cells"): a number cell whose number format
shows a percentage stores a fraction (82.5% is stored as 0.825). The reader gives its value as
shown, in decimal arithmetic from the float's shortest repr (0.788 -> 78.8, never
78.80000000000001), and records where it was (RawTable.percent_cells); the normaliser decides
whether a percentage may stand there. A number shown with a Thai unit of baht (a whole word,
บาท .. ล้านล้านบาท) is given as what it shows, in baht (`1250000 บาท` for 1.25 under
`0.00 "ล้านบาท"`), which the normaliser reads as it reads that text typed. A number shown with
another word of scale, one the spec does not list as a unit (ล้าน, แสน, หมื่น, พัน, ลบ., ล้านคน,
K, M, mn, bn, million, thousand: _scale_words) among the words it shows, is given as what it
shows too (`1.5 ล้าน` for 1.5 under `0.00" ล้าน"`), which the normaliser refuses (NOT_A_NUMBER)
as it refuses that text typed. A word after `/`, ต่อ or per is a rate's denominator, not a scale
(`0.0 "ราย/แสน"`, `0.0 "ต่อ แสน ประชากร"`, `0.0 "per thousand"`: a rate per 100,000 is the
stored number), and mm (rainfall) is none. Unless the format divides it by scale commas (`#,##0.00,, "ล้าน"` shows 2.50 ล้าน for 2,500,000: the
stored number is the amount, and is read). The section of a format that applies is Excel's: by
sign, or by its conditions (`[<1]0.0%;0.0`). Number formats are only looked at when the
workbook's styles hold such a format at all (a percentage, a unit of baht, a word of scale), or
its report sheet a date cell holding a time of day: other workbooks are read as fast as before.

What one workbook may cost is bounded (limits.py): the zip's declared sizes, the shared-strings
table and the styles part (each one's bytes and its number of entries or elements, counted in a
streamed pass before openpyxl loads it whole), the cells of the report sheet, the XML elements
its parse holds at once (_RowsOnlyParser), and the time spent reading it. Past a bound the file
is FILE_TOO_LARGE, found early and in bounded memory.

The zip is opened once (_Archive) for the bounds, openpyxl and the formula check, and each part
is inflated once where it can be: [Content_Types].xml is parsed once, the styles part counted
by the bounds is handed to openpyxl, and the report sheet is looked at for formula tags while
openpyxl parses it (_ScannedSource). At 400 pilots (3,816 workbooks) that was 0.5 ms a workbook.

XML entities are never expanded: openpyxl parses through defusedxml when it is installed (a pinned
dependency), which refuses any entity declaration: no billion laughs, no external entity reading a
local file (XXE). Such a workbook is FILE_UNREADABLE (`xml_entities`). Should openpyxl ever run
without it (OPENPYXL_DEFUSEDXML=False), no workbook is read: the run fails rather than expand them.
"""
from __future__ import annotations

import io
import re
import time as clock
import zipfile
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

import openpyxl
import openpyxl.xml
from defusedxml import DefusedXmlException
from openpyxl.packaging.manifest import Manifest
from openpyxl.reader.excel import ExcelReader, _find_workbook_part
from openpyxl.styles.numbers import BUILTIN_FORMATS, BUILTIN_FORMATS_MAX_SIZE, is_date_format, is_timedelta_format
from openpyxl.cell.read_only import EMPTY_CELL, ReadOnlyCell
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet.formula import ArrayFormula, DataTableFormula
from openpyxl.worksheet._reader import ROW_TAG, VALUE_TAG, WorkSheetParser
from openpyxl.xml.constants import ARC_CONTENT_TYPES, ARC_STYLE, SHARED_STRINGS
from openpyxl.utils import get_column_letter
from openpyxl.xml.functions import fromstring, iterparse

from pilots.defects import detail, make_issue
from pilots.readers.base import RawTable, ReadFailure
from pilots.readers.limits import LIMITS

PREFERRED_SHEETS = ("report", "รายงาน")
# [Content_Types].xml is tiny in every real workbook (1-3 KB); it is parsed whole to find the
# shared-strings part, so it is bounded before it is parsed.
MAX_CONTENT_TYPES_BYTES = 1024 * 1024
# A styles part up to this size (inflated) is kept once counted, for openpyxl's read of it.
KEEP_STYLES_BYTES = 1024 * 1024
# How often (in rows) the clock is read while the sheet is read.
ROWS_PER_CLOCK_CHECK = 500


class _Shown:
    """A percentage cell's value as the cell shows it (82.5 for a stored 0.825)."""
    __slots__ = ("value",)

    def __init__(self, value: Decimal):
        self.value = value


class _Deadline:
    """The time bound of one workbook (LIMITS.max_read_seconds), checked between steps and rows."""

    def __init__(self) -> None:
        self.seconds = LIMITS.max_read_seconds
        self.until = clock.monotonic() + self.seconds

    def check(self) -> None:
        if clock.monotonic() > self.until:
            raise _too_costly("seconds", "limit_seconds", limit=f"{self.seconds:,}")


class _Archive(zipfile.ZipFile):
    """A workbook's zip, opened once (a central directory's parse is 0.1 ms) for the bounds
    (_check_zip), openpyxl's read and the formula check. What the bounds read of it is handed on:
    [Content_Types].xml parsed (`manifest`: 0.2 ms a workbook, which openpyxl would parse again)
    and the styles part's bytes (`kept`, given once to the first read of that part)."""

    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.manifest: Manifest | None = None
        self.kept: dict[str, bytes] = {}

    def read(self, name, pwd=None) -> bytes:
        if isinstance(name, str) and name in self.kept:
            return self.kept.pop(name)
        return super().read(name, pwd)


class _ScannedSource:
    """A sheet part's stream as openpyxl parses it, looked at on the way for a formula tag (`<f`),
    so that a workbook without one is not inflated again to look for it (_formulas_without_values).
    `complete` once the whole part went by (its CRC checked by zipfile at the end)."""

    def __init__(self, stream):
        self.stream = stream
        self.formula_tag = False
        self.complete = False
        self._last = b""

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if not chunk:
            self.complete = True
        elif not self.formula_tag:
            self.formula_tag = b"<f" in self._last + chunk[:1] or b"<f" in chunk
            self._last = chunk[-1:]
        return chunk

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> _ScannedSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _RowsOnlyParser(WorkSheetParser):
    """openpyxl's sheet parser, reading the rows only, within a bound on the XML elements it holds.

    openpyxl's own parse() keeps every element of the sheet part that is not a row until the part
    ends (iterparse builds the tree; only rows are cleared as they are read), and turns merged
    cells, conditional formats, hyperlinks and validations into objects; and a row's elements are
    all held until the row ends. So a small workbook whose sheet held, after its rows, 200,000
    conditional formats (1.2 MB, 27 MB inflated: within every bound of limits.py) took 20 s and
    330 MB, and ran past the time bound unchecked (it is checked between rows); 128 MB of them, or
    of empty elements, or one row of millions of cells, would take gigabytes before any bound saw
    it. None of those elements is read here: the rows are the report.

    Counted from the parser's end events, so that the count stops the parse while the elements
    are still coming: the elements of one row, with those between it and the row before
    (LIMITS.max_row_elements), and those outside every row (LIMITS.max_other_elements), whose
    number is known at each row's end (the elements counted since the last row, less the row's).
    Each element is counted once, as it ends: the elements since the last row are all the row's
    when the first of them is the row's first leaf (a few steps down its first children), as in
    every real sheet; only otherwise (elements between rows) is the row walked to count them."""

    def parse(self):
        in_row_limit, outside_limit = LIMITS.max_row_elements, LIMITS.max_other_elements
        outside = 0
        ended = map(itemgetter(1), iterparse(self.source))
        for element in ended:
            first, since_row = element, 0  # the first element to end since the last row
            while element.tag != ROW_TAG:
                since_row += 1
                if since_row > in_row_limit:
                    raise _too_many_elements(in_row_limit)
                element = next(ended, None)
                if element is None:  # the part's end: since_row elements after the last row
                    if outside + since_row > outside_limit:
                        raise _too_many_elements(outside_limit)
                    return
            outside += since_row - _row_elements(element, first, since_row)
            if outside > outside_limit:
                raise _too_many_elements(outside_limit)
            row = self.parse_row(element)
            element.clear()
            yield row

    def parse_cell(self, element):
        """openpyxl's cell, but a number past a float's range (`<v>1e309</v>`, an infinity) as its
        stored text: openpyxl's float was quoted back to the agency as `inf`, a value the file
        never held (verifier VO). The text is what the file wrote, judged as that text typed in a
        CSV is (NOT_A_NUMBER, as a JSON exponent past MAX_PLAIN_EXPONENT is). openpyxl reads a
        stored `nan` or `inf` (no dot, no exponent) with int(), which refuses it: a damaged file."""
        cell = super().parse_cell(element)
        value = cell["value"]
        if value.__class__ is float and value - value != 0:  # inf - inf is nan; a finite x - x is 0
            cell["value"], cell["data_type"] = element.findtext(VALUE_TAG), "s"
        return cell


class _FormulaRowsParser(_RowsOnlyParser):
    """The parser of the formulas' read (data_only=False, _formulas_without_values): a formula
    cell of type `str` whose `<v>` element is there but empty (`<c t="str"><f>IF(H2>0,"","check")
    </f><v></v></c>`, as Excel and LibreOffice save a formula whose value is the empty string) is
    marked `_SavedEmpty`: its saved value is "", which openpyxl's values read gives as None, as it
    gives a cell with no `<v>` at all (no saved value). Only the formula cells of a workbook that
    holds formulas pass here; every other read uses _RowsOnlyParser as it is."""

    def parse_cell(self, element):
        cell = super().parse_cell(element)
        if cell["data_type"] == "f" and element.get("t") == "str":
            saved = element.find(VALUE_TAG)
            if saved is not None and not saved.text:
                cell["value"] = _SavedEmpty(cell["value"])
        return cell


class _SavedEmpty(NamedTuple):
    """A formula (text, ArrayFormula or DataTableFormula) whose saved value is the empty string."""
    formula: object


def _row_elements(row, first, since_row: int) -> int:
    """The elements inside `row` (not itself), of the `since_row` that ended since the row before,
    `first` the first of them. A row's elements end one after another just before it (nothing
    else ends inside it), and the first to end is its first leaf: if that is `first`, all are."""
    leaf = row
    while len(leaf):
        leaf = leaf[0]
    if leaf is first:
        return since_row
    return len(list(row.iter())) - 1


def _too_many_elements(limit: int) -> ReadFailure:
    return _too_costly("sheet_elements", "limit_sheet_elements", limit=f"{limit:,}")


class _UnsizedSheet(ReadOnlyWorksheet):
    """A read-only sheet opened without openpyxl's look at its `<dimension>` tag.

    openpyxl starts an XML parse of every sheet when the workbook opens, only to read that tag;
    this reader never trusts it (`reset_dimensions()` before every read), and the parse cost a
    quarter of a small report's read (1 ms a sheet, 0.8 s for the 470 workbooks of the 40-pilot
    bench). The state it leaves is the one `reset_dimensions()` sets. A sheet's XML is now first
    parsed when it is read: damage there is `damaged_xlsx` (it was `not_xlsx` when the tag's parse
    met it first), and a sheet that is not the report is not parsed at all.

    Each read of the sheet's part goes through a _ScannedSource: `source` is the last one."""

    source: _ScannedSource | None = None

    def _get_size(self) -> None:
        self.reset_dimensions()

    def _get_source(self) -> _ScannedSource:
        self.source = _ScannedSource(super()._get_source())
        return self.source

    def _cells_by_row(self, min_col, min_row, max_col, max_row, values_only=False):
        """ReadOnlyWorksheet._cells_by_row of openpyxl 3.1 with its parser a _RowsOnlyParser (and
        the missing rows filled as there; tests/test_xlsx_open.py compares the two), except for a
        row whose number is not above the rows already read (rows listed 1,2,3,4,6,5, a row number
        repeated, a row 0): openpyxl drops it silently, and a budget line was lost from an accepted
        file. Excel writes rows in ascending order (ECMA-376 Part 1, 18.3.1.73: `r` is the row's
        1-based index), so such a sheet is a damaged file (_row_out_of_place). So are a row's cells
        (18.3.1.4): openpyxl sized a row by its last cell (`<c r="L2">` then `<c r="A2">`: L2 lost)
        and let a repeated reference overwrite the cell before it (_get_row)."""
        filler = None if values_only else EMPTY_CELL
        max_col = max_col or self.max_column
        max_row = max_row or self.max_row
        empty_row = (filler,) * (max_col + 1 - min_col) if max_col is not None else []
        counter, idx = min_row, 1
        with self._get_source() as src:
            parser_class = _RowsOnlyParser if self.parent.data_only else _FormulaRowsParser
            parser = parser_class(src, self._shared_strings, data_only=self.parent.data_only,
                                  epoch=self.parent.epoch, date_formats=self.parent._date_formats,
                                  timedelta_formats=self.parent._timedelta_formats)
            for idx, row in parser.parse():
                if max_row is not None and idx > max_row:
                    break
                for _ in range(counter, idx):  # rows the XML leaves out
                    counter += 1
                    yield empty_row
                if counter > idx:
                    raise _row_out_of_place(idx, counter - 1 if counter > min_row else None)
                counter += 1
                yield self._get_row(row, min_col, max_col, values_only)
        if max_row is not None and max_row < idx:
            for _ in range(counter, max_row + 1):
                yield empty_row

    def _get_row(self, row, min_col=1, max_col=None, values_only=False):
        """ReadOnlyWorksheet._get_row of openpyxl 3.1 (the row's cells, or values, from min_col to
        max_col, or to its last cell), refusing a cell at or left of the cell before it: openpyxl
        sized the row by its last cell and let a cell overwrite an earlier one of the same column.
        Checked in the loop over the cells that was there (one comparison a cell)."""
        if not row and not max_col:
            return ()
        max_col = max_col or row[-1]["column"]
        new_row = [None if values_only else EMPTY_CELL] * (max_col + 1 - min_col)
        previous = 0
        for cell in row:
            column = cell["column"]
            if column <= previous:
                raise _cell_out_of_place(cell["row"], column, previous)
            previous = column
            if min_col <= column <= max_col:
                new_row[column - min_col] = cell["value"] if values_only else ReadOnlyCell(self, **cell)
        return tuple(new_row)


def _row_out_of_place(row: int, previous: int | None) -> ReadFailure:
    """FILE_UNREADABLE for a sheet row numbered `row` after the row `previous` (None: before any
    row, a number below 1)."""
    key = "row_number_invalid" if previous is None else "row_repeated" if row == previous else "rows_out_of_order"
    return ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", key, row=row, previous=previous)),
                       format="xlsx")


def _cell_out_of_place(row: int, column: int, previous: int) -> ReadFailure:
    """FILE_UNREADABLE for a cell of sheet row `row` in `column`, after a cell in `previous`."""
    key = "cell_repeated" if column == previous else "cells_out_of_order"
    cell, before = (f"{get_column_letter(c)}{row}" for c in (column, previous))
    return ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", key, cell=cell, previous=before)),
                       format="xlsx")


class _UnsizedReader(ExcelReader):
    """openpyxl's ExcelReader, read-only, of an open _Archive, whose worksheets are
    `_UnsizedSheet`s: the read-only branch of ExcelReader.read_worksheets with that one class
    changed, and ExcelReader.__init__'s settings (openpyxl 3.1) without opening the zip again
    (tests/test_xlsx_open.py checks that they are the same)."""

    def __init__(self, archive: _Archive, *, data_only: bool):
        self.archive = archive
        self.valid_files = archive.namelist()
        self.read_only = True
        self.keep_vba = False
        self.data_only = data_only
        self.keep_links = True
        self.rich_text = False
        self.shared_strings = []

    def read_manifest(self) -> None:
        if self.archive.manifest is None:
            super().read_manifest()
            self.archive.manifest = self.package  # for the second open and _recalculated_on_load
        else:
            self.package = self.archive.manifest

    def read_worksheets(self) -> None:
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)
                continue
            ws = _UnsizedSheet(self.wb, sheet.name, rel.target, self.shared_strings)
            ws.sheet_state = sheet.state
            self.wb._sheets.append(ws)


def open_workbook(data: bytes, *, data_only: bool = True):
    """A read-only workbook of `data` (as openpyxl.load_workbook(read_only=True) opens it, less the
    dimension parse: _UnsizedSheet). Every sheet read from it must go through `_rows` or call
    `reset_dimensions()` first, as this module does."""
    return _open(_Archive(data), data_only=data_only)


def _open(archive: _Archive, *, data_only: bool = True):
    """The read-only workbook of an open archive (closing it closes the archive)."""
    reader = _UnsizedReader(archive, data_only=data_only)
    reader.read()
    _read_locale_formats(reader.wb)
    return reader.wb


# Built-in number formats whose code depends on the locale (ECMA-376 Part 1, 18.8.30), each read
# as the built-in format of the same kind that openpyxl knows. openpyxl knows ids 0-49 only: a cell
# under id 67 (Thai Excel's `t0%`) storing 0.825 showed 82.5% and was read 0.825, and a date under
# id 71 (`ว/ด/ปปปป`) or 81 (`d/m/bb`, the Buddhist year) was read as its serial number (38382).
# The Thai ids (59-81) as th-TH's list gives them, since the agencies' Excel is Thai: 67-68 are
# percentages; 71-74 and 81 dates; 75-76, 78-80 times; 77 a date with a time. Of the East Asian
# ids, those that are dates in each of ja-JP, ko-KR, zh-CN and zh-TW (27-31, 36, 50-51, 54, 57-58)
# are read as dates (SheetJS reads them as 14); 32-35, 52-53, 55-56 are times in one of them and
# are read as stored, as before. No locale id but 67-68 is a percentage. Ids 59-62 and 69-70
# (Thai-digit numbers, fractions) show the stored number: read as stored already.
_LOCALE_BUILTIN_FORMATS = {
    **dict.fromkeys((27, 28, 29, 30, 31, 36, 50, 51, 54, 57, 58), 14),
    67: 9, 68: 10,                      # t0%, t0.00%
    71: 14, 72: 15, 73: 16, 74: 17,     # ว/ด/ปปปป, ว-ดดด-ปป, ว-ดดด, ดดด-ปป
    75: 20, 76: 21, 77: 22,             # ช:นน, ช:นน:ทท, ว/ด/ปปปป ช:นน
    78: 45, 79: 46, 80: 47,             # นน:ทท, [ช]:นน:ทท, นน:ทท.0
    81: 14,                             # d/m/bb
}


def _read_locale_formats(book) -> None:
    """Give each cell style under a locale's built-in format (_LOCALE_BUILTIN_FORMATS) the built-in
    format of its kind, before any sheet is read: its cells are then dates, times or percentages
    as they show. openpyxl keeps a read-only workbook's styles in `_cell_styles` (ids below 164 are
    built-in) and the styles of date cells in `_date_formats`; should that ever change, every
    workbook is refused as unreadable (the AttributeError, inside _read_workbook's open) rather
    than read with wrong figures."""
    for index, style in enumerate(book._cell_styles):
        builtin = _LOCALE_BUILTIN_FORMATS.get(style.numFmtId)
        if builtin is None:
            continue
        style.numFmtId = builtin
        code = BUILTIN_FORMATS[builtin]
        if is_date_format(code):
            book._date_formats.add(index)
        if is_timedelta_format(code):
            book._timedelta_formats.add(index)


def read_xlsx(data: bytes) -> RawTable:
    if not openpyxl.xml.DEFUSEDXML:  # fail closed: an operator error, not the agency's file
        raise RuntimeError("openpyxl is not using defusedxml (is OPENPYXL_DEFUSEDXML set to something other "
                           "than True?): refusing to parse workbooks that could expand XML entities")
    deadline = _Deadline()
    archive = _check_zip(data)
    try:
        return _read_workbook(archive, deadline)
    finally:
        archive.close()


def _read_workbook(archive: _Archive, deadline: _Deadline) -> RawTable:
    deadline.check()
    try:
        book = _open(archive)
    except Exception as exc:  # openpyxl raises many types for corrupt workbooks
        _refuse_entities(exc)
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "not_xlsx", error=type(exc).__name__)),
                          format="xlsx") from None
    try:
        deadline.check()
        sheet = _pick_sheet(book)
        shown_formats = _has_shown_format(book)
        values = _bounded_rows(sheet, shown_formats, deadline)
        try:
            table_rows = _texts(values, shown_formats)
        except _TimedDate:  # a date cell holds a time of day: only its format says what it shows
            shown_formats, values = True, None  # the first read's rows freed before the second
            values = _bounded_rows(sheet, shown_formats, deadline)
            table_rows = _texts(values, shown_formats)
    except ReadFailure:
        raise
    except Exception as exc:
        _refuse_entities(exc)
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "damaged_xlsx", error=type(exc).__name__)),
                          format="xlsx") from None

    percent_cells = {n: frozenset(at) for n, _, at in table_rows if at}
    table_rows = [(n, cells) for n, cells, _ in table_rows if any(c is not None and c.strip() for c in cells)]
    if not table_rows:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "sheet_empty")), format="xlsx")
    (_, header), rows = table_rows[0], table_rows[1:]
    if not rows:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "no_rows")), format="xlsx")
    width = max(i + 1 for i, c in enumerate(header) if c is not None)
    # A value right of the header's last cell is a column without a header: the table takes it in
    # (an empty header cell), for the normaliser to name it (COLUMN_UNNAMED), never dropped unsaid.
    # Only the columns that hold text are taken in (`columns` says which they are): one stray cell
    # at XFD must not widen every row to 16,384 cells (reviewer RV14: 425 MB for 1,500 rows).
    beyond = sorted({i for _, cells in rows if len(cells) > width
                     for i in range(width, len(cells)) if cells[i] is not None and cells[i].strip()})
    keep = list(range(width)) + beyond
    columns = keep if beyond else None
    position = {column: i for i, column in enumerate(keep)}

    def cut(cells: list) -> list:
        if columns is None:  # without a trusted dimension a row is as long as its last cell in the XML
            return cells if len(cells) == width else cells[:width] + [None] * (width - len(cells))
        return [cells[i] if i < len(cells) else None for i in keep]

    table = RawTable("xlsx", None, [c or "" for c in header[:width]] + [""] * (len(keep) - min(len(header), width)),
                     [(n, cut(cells)) for n, cells in rows],
                     percent_cells={n: frozenset(position[i] for i in at if i in position) for n, at in percent_cells.items()
                                    if n != table_rows[0][0] and any(i in position for i in at)},
                     columns=columns)
    try:
        deadline.check()
        table.issues.extend(_formulas_without_values(archive, sheet, values, {n for n, _ in rows}, header[:width]))
    except ReadFailure:
        raise
    except Exception as exc:  # a damaged member that the cached-value read did not touch
        _refuse_entities(exc)
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "damaged_xlsx", error=type(exc).__name__)),
                          format="xlsx") from None
    return table


def _texts(values: list[tuple | list], shown_formats: bool) -> list[tuple[int, list, set | tuple]]:
    """Each row's number, its cells as text, and where its percentage cells are. Text and empty
    cells are what they are (most cells); only the others go through _cell. Only the rows read
    with formats (_cell_rows) can hold a _Shown value; a date cell with a time of day in rows read
    without them raises _TimedDate (its format is needed: _date_shown)."""
    return [(n, [v if v is None or v.__class__ is str else _cell(v) for v in row],
             {i for i, v in enumerate(row) if isinstance(v, _Shown)} if shown_formats else ())
            for n, row in enumerate(values, start=1)]


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


def _check_zip(data: bytes) -> _Archive:
    """Refuse zip bombs before openpyxl inflates anything; the archive, open, if none is found.

    The sizes checked are those the zip's central directory declares. A member cannot inflate
    to more than it declares: Python's zipfile (which openpyxl reads through) stops each member
    at its declared size and then fails its CRC check (BadZipFile, so FILE_UNREADABLE), as
    tests/test_xlsx.py checks with a member that lies. So the declared sizes bound the work.
    """
    try:
        archive = _Archive(data)
    except Exception:  # hostile archives raise BadZipFile, NotImplementedError, EOFError, …
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "not_xlsx", error="truncated or corrupt")),
                          format="xlsx") from None
    try:
        _check_archive(archive, len(data))
    except BaseException:
        archive.close()
        raise
    return archive


def _check_archive(archive: _Archive, size: int) -> None:
    infos = archive.infolist()
    inflated = sum(i.file_size for i in infos)
    if inflated > LIMITS.max_inflated_bytes:
        raise ReadFailure(make_issue("FILE_TOO_LARGE", detail=detail("FILE_TOO_LARGE", "inflated", size=f"{inflated:,}"),
                                     limit=detail("FILE_TOO_LARGE", "limit_bytes", limit=f"{LIMITS.max_inflated_bytes:,}")), format="xlsx")
    if inflated > LIMITS.max_compression_ratio * max(size, 1):  # said as the ratio it is refused for
        raise _too_costly("ratio", "limit_ratio", ratio=f"{inflated / max(size, 1):,.0f}",
                          limit=f"{LIMITS.max_compression_ratio:,}")
    # One part alone (say shared strings) can stall the run within the total: openpyxl holds
    # the shared strings in memory (a 182 MB part took 911 MB and a minute).
    biggest = max(infos, key=lambda i: i.file_size, default=None)
    if biggest is not None and biggest.file_size > LIMITS.max_member_bytes:
        raise ReadFailure(make_issue("FILE_TOO_LARGE",
                                     detail=detail("FILE_TOO_LARGE", "part", part=biggest.filename,
                                                   size=f"{biggest.file_size:,}"),
                                     limit=detail("FILE_TOO_LARGE", "limit_part", limit=f"{LIMITS.max_member_bytes:,}")),
                          format="xlsx")
    by_name = {i.filename: i for i in infos}
    strings = _check_shared_strings(archive, by_name)
    _check_styles(archive, by_name)
    _check_other_parts(archive, infos, {ARC_CONTENT_TYPES, ARC_STYLE, strings})


def _too_costly(what: str, limit_key: str, **params: str) -> ReadFailure:
    """FILE_TOO_LARGE for a workbook past one of its cost bounds (detail `what`, limit `limit_key`)."""
    return ReadFailure(make_issue("FILE_TOO_LARGE", detail=detail("FILE_TOO_LARGE", what, **params),
                                  limit=detail("FILE_TOO_LARGE", limit_key, **params)), format="xlsx")


def _check_shared_strings(archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo]) -> str | None:
    """Bound the shared-strings table before openpyxl loads it whole into memory.

    The part is the one [Content_Types].xml declares, found as openpyxl finds it (any name will
    do). Its declared size is bounded first; then its entries are counted in one streamed pass,
    inflated 1 MiB at a time, stopping past the bound (250,001 short entries: 0.36 s, the whole
    read included).
    """
    types = infos.get(ARC_CONTENT_TYPES)
    if types is None:
        return None  # openpyxl refuses it: FILE_UNREADABLE
    if types.file_size > MAX_CONTENT_TYPES_BYTES:
        raise _too_costly("part", "limit_part", part=ARC_CONTENT_TYPES, size=f"{types.file_size:,}",
                          limit=f"{MAX_CONTENT_TYPES_BYTES:,}")
    try:
        manifest = Manifest.from_tree(fromstring(archive.read(types)))
        part = manifest.find(SHARED_STRINGS)
    except Exception:
        return None  # damaged: openpyxl refuses it the same way (FILE_UNREADABLE, or xml_entities)
    if types is archive.NameToInfo.get(ARC_CONTENT_TYPES):  # the part openpyxl reads by that name
        archive.manifest = manifest
    info = infos.get(part.PartName[1:]) if part is not None else None
    if info is None:
        return None
    _bound_part(archive, info, LIMITS.max_shared_strings_bytes, _STRING_ENTRY, LIMITS.max_shared_strings,
                "strings", "limit_strings")
    return info.filename


def _check_styles(archive: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo]) -> None:
    """Bound the styles part before openpyxl parses it whole when the workbook opens (a "styles
    bomb": a million tiny <xf/> entries compress into a few kilobytes, and openpyxl makes an
    object of each). openpyxl reads it from its fixed name, xl/styles.xml. Its declared size is
    bounded first; then its elements (start tags) are counted in one streamed pass."""
    info = infos.get(ARC_STYLE)
    if info is None:
        return
    # A real report's styles part (a few KB) is kept as counted, for openpyxl's read of it; a large
    # one is not (it is counted in bounded memory, and read again if it passes).
    chunks: list[bytes] = []
    _bound_part(archive, info, LIMITS.max_styles_bytes, _ELEMENT, LIMITS.max_style_elements,
                "styles", "limit_styles", part=info.filename, keep=chunks if info.file_size <= KEEP_STYLES_BYTES else None)
    if chunks and info is archive.NameToInfo.get(ARC_STYLE):
        archive.kept[ARC_STYLE] = b"".join(chunks)


# Parts that openpyxl's read-only open never parses (ExcelReader.read and this module's
# _UnsizedReader: the sheets are read by _RowsOnlyParser; pivot caches, comments, tables and a
# worksheet's drawings are parsed only by a full, not a read-only, load). Excel writes some of them
# in proportion to the data (calcChain.xml: one element per formula cell; a pivot cache: one per
# record), so counting them would refuse a valid report of many rows (review of 2026-12-06).
_NOT_OPENED = ("xl/worksheets/", "xl/calcChain.xml", "xl/metadata.xml", "xl/volatileDependencies.xml",
               "xl/connections.xml", "xl/pivotCache/", "xl/pivotTables/", "xl/tables/", "xl/queryTables/",
               "xl/comments", "xl/threadedComments/", "xl/persons/", "xl/richData/", "xl/slicers/",
               "xl/slicerCaches/", "xl/timelines/", "xl/timelineCaches/", "xl/ctrlProps/", "xl/model/",
               "xl/activeX/", "customXml/")
# Parsed only through a chart sheet (ExcelReader.read_chartsheet: its drawing and charts).
_OPENED_WITH_CHARTSHEETS = ("xl/drawings/", "xl/charts/")


def _check_other_parts(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], counted: set) -> None:
    """Bound the XML elements of the parts openpyxl parses whole when the workbook opens, other
    than those bounded above: the workbook part (its sheets and defined names), the
    relationships, the document properties, external links, chart sheets. A 2.9 MB workbook whose
    xl/workbook.xml held 1,000,000 defined names took 14 s and 892 MB and passed; 1,000,000
    relationships 938 MB. Real ones hold a few hundred elements in all. Every .xml or .rels part is
    counted but the parts never opened (_NOT_OPENED; drawings and charts unless the workbook has a
    chart sheet) and the parts counted already, in one streamed pass each and
    LIMITS.max_part_elements in all; the workbook part the manifest names is counted wherever it
    lies. A part too damaged to count is left to openpyxl, which refuses it."""
    names = {info.filename for info in infos}
    chartsheets = any(name.startswith("xl/chartsheets/") for name in names)
    always = _workbook_parts(archive)
    left = LIMITS.max_part_elements
    for info in infos:
        name = info.filename
        if name in counted or not name.endswith((".xml", ".rels")):
            continue
        if name not in always and (name.startswith(_NOT_OPENED)
                                   or (not chartsheets and name.startswith(_OPENED_WITH_CHARTSHEETS))):
            continue
        try:
            left -= _count_in_part(archive, info, _ELEMENT, left)
        except Exception:
            continue
        if left < 0:
            raise _too_costly("part_elements", "limit_sheet_elements", limit=f"{LIMITS.max_part_elements:,}")


def _workbook_parts(archive) -> set[str]:
    """The workbook part the manifest names, and its relationships (both parsed at open)."""
    from openpyxl.packaging.relationship import get_rels_path

    try:
        part = _find_workbook_part(archive.manifest).PartName[1:]
    except Exception:  # no manifest or no workbook part: openpyxl refuses the file itself
        return set()
    return {part, get_rels_path(part)}


def _bound_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int, pattern: re.Pattern,
                max_count: int, what: str, limit_key: str, keep: list[bytes] | None = None, **params: str) -> None:
    """FILE_TOO_LARGE if a part declares more than max_bytes, or holds more than max_count matches
    of `pattern` (detail `what`, limit `limit_key`). A part too damaged to count is left to
    openpyxl, which refuses it (FILE_UNREADABLE). `keep`: filled with the part's bytes, in
    chunks, when the whole part was read and counted within the bound (else left empty)."""
    if info.file_size > max_bytes:
        raise _too_costly("part", "limit_part", part=info.filename, size=f"{info.file_size:,}", limit=f"{max_bytes:,}")
    chunks: list[bytes] = []
    try:
        count = _count_in_part(archive, info, pattern, max_count, chunks if keep is not None else None)
    except Exception:
        return
    if count <= max_count and keep is not None:
        keep.extend(chunks)
    if count > max_count:
        raise _too_costly(what, limit_key, limit=f"{max_count:,}", **params)


# An entry of the table, with or without a namespace prefix (<si>, <si/>, <x:si ...>).
_STRING_ENTRY = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?si[\s/>]")
# An element's start tag (not an end tag, a declaration, a comment or a processing instruction):
# unescaped `<` appears nowhere else in XML (a comment's or CDATA's content may over-count: that
# only refuses sooner).
_ELEMENT = re.compile(rb"<[A-Za-z_]")


def _count_in_part(archive: zipfile.ZipFile, info: zipfile.ZipInfo, pattern: re.Pattern, stop_after: int,
                   chunks: list[bytes] | None = None) -> int:
    """Matches of `pattern` (which starts with `<` and matches under 256 bytes) in one part,
    counted in chunks (appended to `chunks` if given); stops once past `stop_after`."""
    count, tail = 0, b""
    with archive.open(info) as stream:
        while chunk := stream.read(1024 * 1024):
            if chunks is not None:
                chunks.append(chunk)
            block = tail + chunk
            # An entry holds no `<` after its first byte, so every one that starts before the
            # block's last `<` ends before it; from that `<` on is counted with the next chunk.
            # A `<` more than 256 bytes from the end starts no entry cut in two: nothing is kept.
            cut = block.rfind(b"<")
            cut = len(block) if cut == -1 or len(block) - cut > 256 else cut
            count += sum(1 for _ in pattern.finditer(block, 0, cut))
            tail = block[cut:]
            if count > stop_after:
                return count
    return count + sum(1 for _ in pattern.finditer(tail))


def _bounded_rows(sheet, shown_formats: bool, deadline: _Deadline) -> list[tuple | list]:
    """The sheet's rows as values (a percentage cell as `_Shown`, a cell shown with a Thai word of
    scale as its text), within the cell and time bounds.

    Each row counts as many cells as openpyxl makes of it (up to its last cell; an empty row as
    one), so a cell far to the right or a row far down costs what it costs to read.
    """
    limit, cells, out = LIMITS.max_cells, 0, []
    rows = _cell_rows(sheet) if shown_formats else _rows(sheet)
    for n, row in enumerate(rows, start=1):
        cells += max(len(row), 1)
        if cells > limit:
            raise _too_costly("cells", "limit_cells", limit=f"{limit:,}")
        if n % ROWS_PER_CLOCK_CHECK == 0:
            deadline.check()
        out.append(row)
    deadline.check()
    return out


def _cell_rows(sheet):
    """Rows of values, each number cell as shown where its format changes what it means, and each
    date cell holding a time of day as the date it shows (_date_shown): the slower path, taken
    only by workbooks whose styles hold a percentage, a unit of baht or a word of scale, or whose
    sheet holds such a date cell (openpyxl makes a cell object per cell)."""
    sheet.reset_dimensions()
    for row in sheet.iter_rows(min_row=1):
        yield [_as_shown(v, c.number_format) if _is_number(v := c.value)
               else _date_shown(v, c.number_format) if v.__class__ is datetime and v.time() != _MIDNIGHT
               else v for c in row]


def _date_shown(value: datetime, number_format: str | None) -> date | str:
    """A date cell that holds a time of day (2005-01-20 10:30), as its format shows it.

    Its format shows a date and no time (`d/m/yyyy`, `d mmm bbbb`): the date, as Excel shows the
    day of the stored time (openpyxl gave that time to the millisecond). Its format shows a time
    (`d/m/yyyy h:mm`, or only `h:mm`): the text of the whole value, as shown. A date field does not
    take it (DATE_INVALID), as it does not take the same text typed in a CSV or JSON file
    (`20/4/2005 16:45`: a text timestamp's day may depend on a time zone); a note keeps the time
    the agency sees (reviewed 2026-12-06: reading every such cell as its day dropped it)."""
    shown = number_format or "General"
    if _shows_a_date(shown) and not _shows_a_time(shown):
        return value.date()
    return value.isoformat(sep=" ")


_MIDNIGHT = time(0)
# A format's literal text (quoted, or after a backslash or `_`/`*` padding), its brackets but
# elapsed time's ([h], [mm], [ss]: colours, locales, conditions) and `General` (the serial
# number): none of them shows a part of a date.
_FORMAT_LITERALS = re.compile(r'"[^"]*"|\\.|[_*].|\[(?!hh?\]|mm?\]|ss?\])[^\]]*\]|(?i:general)')
# A day, a year (Gregorian y, Buddhist-Era b of Thai Excel, era e) or a month's name (mmm).
_DATE_PARTS = re.compile(r"[dybe]|mmm", re.I)


@lru_cache(maxsize=256)
def _shows_a_date(number_format: str) -> bool:
    """Whether the format's first section (the one Excel shows a date with) shows a date: a day,
    a month or a year, not only a time of day (`h:mm`, `mm:ss`). An `m` is a month unless the
    section shows hours or seconds (then Excel reads `m` beside them as minutes)."""
    section = _FORMAT_LITERALS.sub("", number_format.split(";")[0])
    if _DATE_PARTS.search(section):
        return True
    return "m" in section.lower() and not any(ch in section.lower() for ch in "hs")


@lru_cache(maxsize=256)
def _shows_a_time(number_format: str) -> bool:
    """Whether the format's first section shows a time of day: hours or seconds (`h:mm`, `mm:ss`;
    an `m` alone is a month or, beside them, minutes)."""
    section = _FORMAT_LITERALS.sub("", number_format.split(";")[0]).lower()
    return "h" in section or "s" in section


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _as_shown(value: int | float, number_format: str | None) -> object:
    """A number cell's value as its format shows it, where that changes what it means: a
    percentage (`_Shown`: 82.5 for a stored 0.825), or an amount shown with a Thai unit of baht
    (the text `1250000 บาท` for a stored 1.25 under `0.00 "ล้านบาท"`, and for a stored 1,250,000
    under `#,##0,"พันบาท"`, which shows 1,250 พันบาท), which the normaliser reads as it reads that
    text typed: baht where a unit of baht may stand, a defect elsewhere; or a number shown with a
    word of scale that is no unit (the text `1.5 ล้าน` for a stored 1.5 under `0.00" ล้าน"`), a
    defect wherever a number stands, as that text typed is. Else the value.

    The unit and the percentage are read from the format, the decimals are not: every decimal the
    cell stores is kept (2.7478427 shown `2.75 ล้านบาท` is 2,747,842.70 baht). The stored number is
    what the agency typed or its formula computed, and what Excel itself adds up; the format rounds
    only the screen, and reading the rounded 2,750,000 would change the amount by 2,157.30 baht
    without a word (docs/report-format.md §2)."""
    section = _section_of(number_format or "General", value)
    if section is None:
        return value
    if section.percent:
        return _shown(value)
    if section.baht_power is not None:
        baht = _shifted(_decimal(value), section.baht_power - 3 * section.scale_commas)
        return value if baht is None else f"{baht} {BAHT}"
    if section.scale_words is not None:
        number = _shifted(_decimal(value), 0)
        return value if number is None else f"{number} {section.scale_words}"
    return value


def _shifted(number: Decimal, power: int) -> str | None:
    """`number` x 10^power as plain text, exactly: the exponent is moved (no division, no context,
    so no rounding at any length), then trailing zeros dropped. None for an infinity or NaN."""
    if not number.is_finite():
        return None
    sign, digits, exponent = number.as_tuple()
    text = format(Decimal((sign, digits, exponent + power)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _decimal(value: int | float) -> Decimal:
    """The number's shortest decimal form: repr gives the float's (Excel writes 0.788 as
    0.78800000000000003; its float's repr is 0.788)."""
    return Decimal(repr(value) if isinstance(value, float) else value)


def _shown(value: int | float) -> _Shown:
    """The value a percentage cell shows, in decimal arithmetic."""
    return _Shown(_decimal(value) * 100)


def _has_shown_format(book) -> bool:
    """Whether any cell format of the workbook shows a percentage, a Thai unit of baht or a word of
    scale (_shown_sections). openpyxl keeps a read-only workbook's cell formats in `_cell_styles`
    and its custom number formats in `_number_formats`; should that ever change, every workbook
    takes the slower, always-correct path."""
    try:
        codes = [BUILTIN_FORMATS.get(s.numFmtId, "General") if s.numFmtId < BUILTIN_FORMATS_MAX_SIZE
                 else book._number_formats[s.numFmtId - BUILTIN_FORMATS_MAX_SIZE] for s in book._cell_styles]
    except (AttributeError, IndexError, TypeError):
        return True
    return any(_shown_sections(code) for code in set(codes))


class _Section(NamedTuple):
    """What one `;` section of a number format shows of a number: scaled by 100 with a % sign;
    a Thai unit of baht as a literal word (10^baht_power baht per unit shown: 6 for ล้านบาท);
    the commas after its last digit placeholder (each divides by 1,000); its condition;
    whether it is Excel's text section (an unquoted @), never chosen for a number; and its
    literal text, when a word it shows is a word of scale that is no unit of baht (`ล้าน`, `K`)
    and no comma divides the number (_scale_words)."""
    percent: bool
    baht_power: int | None
    scale_commas: int
    condition: tuple[str, Decimal] | None = None  # `[<1]`: ("<", 1)
    text: bool = False
    scale_words: str | None = None


BAHT = "บาท"
# The Thai units of baht a format may show as a whole word, and the power of ten of baht each
# stands for. Only these: a word that merely contains พัน, ล้าน, แสน or หมื่น (พันธุ์ varieties,
# พันธมิตร partners, ผูกพัน, สัมพันธ์) is no unit of baht, and its cell is read as stored.
_BAHT_WORDS = {
    "บาท": 0, "พันบาท": 3, "หมื่นบาท": 4, "แสนบาท": 5, "ล้านบาท": 6, "สิบล้านบาท": 7,
    "ร้อยล้านบาท": 8, "พันล้านบาท": 9, "หมื่นล้านบาท": 10, "แสนล้านบาท": 11, "ล้านล้านบาท": 12,
}
# The spaces and brackets that may stand around the word: `" (ล้านบาท)"`.
_AROUND_WORDS = re.compile(r"[\s()\[\]]+")
# Excel keeps a format code to 255 characters, and 4 trailing commas already divide by 10^12
# (a ล้านล้านบาท figure). A longer code, or more commas, is no format Excel writes: it is not
# read as a scale (the stored value is read, as before), so that a cell costs O(1) whatever
# the code (100,000 commas made 1000^100000, a minute's arithmetic per workbook).
_MAX_FORMAT_CHARS = 255
_MAX_SCALE_COMMAS = 4
_DIGIT_PLACEHOLDERS = "0#?"


def _section_of(number_format: str, value: int | float) -> _Section | None:
    """The section of `number_format` that shows `value`, if any section shows it as something
    else than its number (a percentage, a Thai unit of baht). The section that applies is Excel's:
    one section for all numbers; with two, the second for negatives; with three or more, the
    third for zero. With conditions (`[<1]0.0%;0.0`: a fraction shown as a percentage, 5 as 5):
    the first section whose condition holds, of the first two (one without a condition holds),
    else the third; none when no section applies (Excel shows ####). A last section with an
    unquoted @ is the text section (SheetJS's choose_fmt): not counted (`0.00 "ล้านบาท";@` shows
    every number by its first section; `@" ล้านบาท"` alone shows a number as General)."""
    sections = _shown_sections(number_format)
    if sections and sections[-1].text and len(sections) < 4:
        sections = sections[:-1]
    if not sections:
        return None
    if any(section.condition for section in sections):
        number = _decimal(value)
        for section in sections[:2]:
            if section.condition is None or _holds(section.condition, number):
                return _number_section(section)
        return _number_section(sections[2]) if len(sections) > 2 else None
    if value < 0 and len(sections) >= 2:
        return _number_section(sections[1])
    if value == 0 and len(sections) >= 3:
        return _number_section(sections[2])
    return _number_section(sections[0])


def _number_section(section: _Section) -> _Section | None:
    """A section that shows a number: a text section (@) never does."""
    return None if section.text else section


@lru_cache(maxsize=256)
def _shown_sections(number_format: str) -> tuple[_Section, ...]:
    """Each `;` section of a number format, as _Section; () if none shows a percentage, a Thai
    unit of baht or a word of scale. A % in quotes or after a backslash is a literal and does not
    scale; a unit or word of scale is literal text (in quotes, after backslashes, or Thai letters
    as they stand)."""
    bounded = len(number_format) <= _MAX_FORMAT_CHARS
    sections: list[_Section] = []
    percent, literal, digits, commas, condition, text = False, [], False, 0, None, False
    shown: list[str] = []  # the section's text as it shows around its number (the number a space)
    quoted = escaped = False
    bracket: list[str] | None = None  # the text of a `[...]` being read
    code = number_format + ";"
    for at, ch in enumerate(code):
        if escaped:
            escaped = False
            literal.append(ch)
            shown.append(ch)
        elif quoted:
            quoted = ch != '"'
            if quoted:
                literal.append(ch)
                shown.append(ch)
        elif bracket is not None:
            if ch != "]":
                bracket.append(ch)
            else:
                condition = _condition("".join(bracket)) or condition
                bracket = None
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = True
        elif ch == "[":
            bracket = []
        elif ch == ";":
            shown_commas = commas if digits else 0
            words = "".join(literal)
            power = _baht_power(words) if bounded and shown_commas <= _MAX_SCALE_COMMAS else None
            scaled = _scale_words(words, "".join(shown)) if bounded and power is None and not shown_commas else None
            sections.append(_Section(percent, power, shown_commas, condition, text, scaled))
            percent, literal, digits, commas, condition, text = False, [], False, 0, None, False
            shown = []
        elif ch == "%":
            percent = True
        elif ch == "@":
            text = True
        elif ch in _DIGIT_PLACEHOLDERS or (ch in "Gg" and code[at:at + 7].lower() == "general"):
            digits, commas = digits or ch in _DIGIT_PLACEHOLDERS, 0  # commas before a digit placeholder separate thousands
            shown.append(" ")  # the number: the words before it and after it are apart
        elif ch == ",":
            commas += 1
        elif "\u0e00" <= ch <= "\u0e7f":
            literal.append(ch)
            shown.append(ch)
        elif ch in _SHOWN_AS_THEY_STAND:
            shown.append(ch)  # separates words: `0.0/"แสน"` shows 12.5/แสน
    return tuple(sections) if any(x.percent or x.baht_power is not None or x.scale_words for x in sections) else ()


def _baht_power(literal: str) -> int | None:
    """The power of ten of baht that a section's literal text shows a number in, if the text is
    one Thai unit of baht as a whole word (spaces and brackets around it allowed): 6 for
    `" ล้านบาท"` or `"(ล้านบาท)"`; None for any other text (`พันธุ์`, `คน`, `บาท/คน`)."""
    words = [w for w in _AROUND_WORDS.split(literal) if w]
    return _BAHT_WORDS.get(words[0]) if len(words) == 1 else None


# Words of scale that are no unit of baht (agency-report-v1.md lists only ล้านบาท and บาท; anything
# else is a defect): พัน, หมื่น, แสน or ล้าน anywhere in a run of Thai (ล้าน, พันล้าน, ล้านคน,
# ล้านบาท; and, Thai being written without spaces between words, ประมาณล้านบาท, หน่วยล้านบาท:
# reviewer RV5 found these read as the stored number, a wrong amount), but in the words that merely
# hold one (พันธุ์ varieties, พันธมิตร, พันธกิจ, กองพัน, ผูกพัน, ล้านนา); the abbreviations ลบ. and
# ล.บ. (ล้านบาท); and the English K, k, M (one letter, case as written: m is metres or minutes),
# mn, mln, bn, thousand(s), million(s), billion(s), in any case, alone or with THB or baht (MTHB,
# THBm); never mm or MM (millimetres of rain). Any word the format shows counts, before the number
# or after it (`" ล้าน"`, `" (หน่วย: ล้าน)"`, `"ล้าน "0.0`: each scales what it shows), up to a
# rate's separator, `/`, ต่อ or per, after which a word is the rate's denominator (`ราย/แสน`,
# `ครั้ง/ล้านคน`, `ต่อ แสน ประชากร`, `per thousand`: a rate per 100,000 is the stored number).
_THAI_SCALE_IN_WORD = re.compile(r"(?<!กอง)(?<!ผูก)พัน(?!ธ)|หมื่น|แสน|ล้าน(?!นา)|ลบ\.|ล\.บ\.")
_ENGLISH_SCALE = re.compile(r"(?:(?:thb|baht)?(?:mn|mln|bn|thousands?|millions?|billions?)(?:thb|baht)?"
                            r"|(?:thb|baht)[km]|[km](?:thb|baht))", re.I)
_ONE_LETTER_SCALES = frozenset("KkM")
# Where a rate's denominator starts: what is shown from there on scales nothing.
_RATE = re.compile(r"/|ต่อ|\bper\b", re.I)
# The words of what a format shows (spaces, brackets and signs separate them).
_WORDS = re.compile(r"[^\s()\[\]{}/,:;|+=<>*~-]+")
# Characters a format shows as they stand, unquoted (Excel's list, less the letters): kept, with
# the quoted text, in what a section shows (_shown_sections), so that they separate its words.
_SHOWN_AS_THEY_STAND = frozenset(" $-+/():!^&'~{}<>=")


def _scale_words(literal: str, shown: str) -> str | None:
    """A section's literal text (spaces at its ends dropped) if a word of what it shows (`shown`:
    its literal text and the characters it shows as they stand, the number a space), before any
    rate's separator (_RATE), is a word of scale that is no unit of baht (_THAI_SCALE_IN_WORD,
    _ENGLISH_SCALE), else None: `" ล้าน"`, `" (หน่วย: ล้าน)"`, `" K"`, `" ล้านคน"`,
    `" ประมาณล้านบาท"`, `"ล้าน "` before the number give it; `" คน"`, `" พันธุ์"`, `"ราย/แสน"`,
    `" per thousand"`, `" mm"` give None. A whole unit of baht (`ล้านบาท` alone) is _baht_power's."""
    for word in _WORDS.findall(_RATE.split(shown, maxsplit=1)[0]):
        english = word.rstrip(".")
        if (word in _ONE_LETTER_SCALES or english in _ONE_LETTER_SCALES or _THAI_SCALE_IN_WORD.search(word)
                or _ENGLISH_SCALE.fullmatch(english)):
            return literal.strip()
    return None


# A section's condition, as Excel writes it in brackets: `[<1]`, `[>=100]`, `[<>0]`. Other
# brackets (colours, locales, elapsed time) are no condition.
_CONDITION = re.compile(r"\s*(<=|>=|<>|<|>|=)\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*")
_COMPARE = {"<": Decimal.__lt__, ">": Decimal.__gt__, "=": Decimal.__eq__, "<=": Decimal.__le__,
            ">=": Decimal.__ge__, "<>": Decimal.__ne__}


def _condition(text: str) -> tuple[str, Decimal] | None:
    found = _CONDITION.fullmatch(text)
    return (found.group(1), Decimal(found.group(2))) if found else None


def _holds(condition: tuple[str, Decimal], number: Decimal) -> bool:
    operator, bound = condition
    return _COMPARE[operator](number, bound)


def _rows(sheet):
    """Every row the sheet's XML holds, whatever its <dimension> tag says (see the docstring)."""
    sheet.reset_dimensions()
    return sheet.iter_rows(min_row=1, values_only=True)


def _pick_sheet(book):
    for sheet in book.worksheets:
        if sheet.title.strip().casefold() in PREFERRED_SHEETS:
            return sheet
    return book.worksheets[0]


class _TimedDate(Exception):
    """A date cell that holds a time of day, met in rows read without formats (_rows): the sheet
    is read again with them (_cell_rows), which gives the date it shows (_date_shown). Such
    cells are rare; the workbooks without them pay nothing for it."""


def _datetime_text(value: datetime) -> str:
    if value.time() != _MIDNIGHT:
        raise _TimedDate
    return value.date().isoformat()


_EXACT_INTEGERS = 2.0 ** 53  # every whole number below it is a float exactly


def _float_text(value: float) -> str:
    """A number cell's shortest decimal text, never an exponent: a cell of 0.00001 is 1e-05 in
    Python's repr, which no number reading takes (a float's exponent is within +-324). A whole
    number past 2**53 is written from its repr too, as the file wrote it: a cell of 1E+308 is 1
    and 308 zeros, not the float's binary value (1000000000000000010979...), which a message
    quoted back to the agency."""
    if value.is_integer():
        if -_EXACT_INTEGERS < value < _EXACT_INTEGERS:
            return str(int(value))
        return format(Decimal(repr(value)), "f").removesuffix(".0")
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text else text


# The text of a cell value by its exact class (the classes openpyxl gives most), without the
# isinstance tests of _cell; a bool is no int here (its class is bool): "true", by _cell.
_TEXT_BY_CLASS = {int: str, float: _float_text, datetime: _datetime_text, date: date.isoformat}


def _cell(value: object) -> str | None:
    text_of = _TEXT_BY_CLASS.get(value.__class__)
    if text_of is not None:
        return text_of(value)
    if value is None:
        return None
    if isinstance(value, _Shown):
        return format(value.value.normalize(), "f")  # 78.800 -> "78.8", 1E+2 -> "100"
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):  # a subclass of float
        return _float_text(value)
    return str(value)


def _formulas_without_values(archive: _Archive, sheet: _UnsizedSheet, values: list[tuple | list], data_rows: set[int],
                             header: list) -> list:
    """Formula cells without a trustworthy saved value: the value is missing (no `<v>` element: a
    file written by a program, never opened in Excel; an empty `<v>` of a string formula is the
    saved value "", _FormulaRowsParser), or the workbook asks to be recalculated when opened
    (_recalculated_on_load: XlsxWriter, pandas' xlsx engine, saves 0 as every formula's value).
    Only workbooks that hold formulas pay for the second read: whether a worksheet part holds a
    formula tag is looked for in each one in turn (as they are stored), the report sheet's as it
    was read (its _ScannedSource), the others' by inflating them. `values` are the report sheet's
    rows of saved values, as read."""
    report_part = archive.NameToInfo.get(sheet._worksheet_path)
    scanned = sheet.source if sheet.source is not None and sheet.source.complete else None

    def formula_tag(info: zipfile.ZipInfo) -> bool:
        if scanned is not None and info is report_part:
            return scanned.formula_tag
        return b"<f" in archive.read(info)

    if not any(formula_tag(i) for i in archive.infolist() if i.filename.startswith("xl/worksheets/")):
        return []
    issues = []
    formulas = _open(archive, data_only=False)
    untrusted = _recalculated_on_load(archive)
    rows_f = _rows(formulas[sheet.title])
    for n, (fr, vr) in enumerate(zip(rows_f, values), start=1):
        if n not in data_rows:
            continue
        for i, (f, v) in enumerate(zip(fr, vr)):
            formula = _formula_text(f)
            if formula is not None and ((v is None and f.__class__ is not _SavedEmpty) or untrusted):
                column = header[i] if i < len(header) and header[i] else f"#{i + 1}"
                issues.append(make_issue("FORMULA_WITHOUT_VALUE", n, column, formula=formula))
    return issues


def _formula_text(cell: object) -> str | None:
    """The formula a cell of the formulas' read holds (`=404/10`; an array formula as Excel shows
    it, `{=SUM(A1:A3*B1:B3)}`), or None if it holds none. A `_SavedEmpty` cell holds its formula."""
    if cell.__class__ is _SavedEmpty:
        cell = cell.formula
    if cell.__class__ is str:
        return cell if cell.startswith("=") else None
    if isinstance(cell, ArrayFormula):
        return "{" + cell.text + "}"
    if isinstance(cell, DataTableFormula):
        return "{=TABLE(" + ",".join(x for x in (cell.r1, cell.r2) if x) + ")}"
    return None


def _recalculated_on_load(archive: _Archive) -> bool:
    """Whether the workbook part's calcPr says fullCalcOnLoad (ECMA-376 Part 1, 18.2.2 calcPr: the
    application shall fully calculate the workbook when it is opened; an xsd:boolean, "1" or
    "true", false when absent). Such a workbook's saved formula values are not to be trusted:
    XlsxWriter (pandas' xlsx engine) writes `<v>0</v>` for every formula and sets it so that
    Excel computes them on opening; a K1 `=404/10` was read 0 and accepted. openpyxl sets it too
    (with no `<v>`: FORMULA_WITHOUT_VALUE already); Excel and LibreOffice, saving values they
    calculated, do not.

    openpyxl parses calcPr when the workbook opens, but its CalcProperties takes fullCalcOnLoad
    as true when the attribute is absent (Excel's files), so it cannot tell. The part (1-3 KB) is
    read here again, only for a workbook that holds formulas, and parsed only if the attribute's
    name is in it at all (an Excel file pays one bytes search)."""
    data = archive.read(_find_workbook_part(archive.manifest).PartName[1:])
    if b"fullCalcOnLoad" not in data and data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        return False  # UTF-8 without the attribute; a UTF-16 part (OPC allows it) is parsed
    for child in fromstring(data):  # defusedxml's parse (read_xlsx checks openpyxl uses it)
        if isinstance(child.tag, str) and child.tag.rpartition("}")[2] == "calcPr":
            return (child.get("fullCalcOnLoad") or "").strip() in ("1", "true")
    return False
