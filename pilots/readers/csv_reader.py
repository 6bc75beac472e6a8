"""CSV reports: UTF-8, UTF-8 with BOM or cp874; separated by `,`, or by `;` or tab when the
file uses them consistently."""
from __future__ import annotations

import csv
import io
import re

from pilots.defects import detail, make_issue
from pilots.readers.base import RawTable, ReadFailure, decode_text
from pilots.readers.csv_long_cell import FIELD_LIMIT_ERROR as _FIELD_LIMIT, cell_too_long as _cell_too_long
from pilots.readers.csv_long_cell import first_row_identity, line_start
from pilots.readers.limits import LIMITS

SEPARATORS = (",", ";", "\t")


def read_csv(data: bytes) -> RawTable:
    text, encoding = decode_text(data, "csv")
    first = _first_line(text)
    if not first.strip():  # a blank first line: look further (rare)
        first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "empty")), format="csv", encoding=encoding)
    sep = _separator(first)
    records: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    lines_read = [0, 0]  # the physical lines the records in `records` took, and those before the last one
    try:
        _bounded_records(reader, encoding, records, lines_read)
    except csv.Error as exc:
        if _FIELD_LIMIT in str(exc):  # a cell over the csv module's size limit (131,072 characters)
            raise _cell_too_long(text, sep, records, lines_read[0], encoding) from None
        # The record that broke is the one after those read: its row, as rows are numbered below.
        raise ReadFailure(make_issue("FILE_UNREADABLE", len(records) + 1, None,
                                     detail=detail("FILE_UNREADABLE", "broken_csv", error=exc)),
                          format="csv", encoding=encoding) from None
    if records and '"' in text and _quote_left_open(text, sep, lines_read[1]):
        # The csv module ends a quoted cell that is never closed at the end of the file, without a
        # word: every line after the quote was one note, and the file's later lines were lost from
        # an accepted report (verifier VO). Its last record is where the quote opened.
        raise ReadFailure(make_issue("FILE_UNREADABLE", len(records), None,
                                     detail=detail("FILE_UNREADABLE", "quote_not_closed", row=len(records))),
                          format="csv", encoding=encoding, identity=first_row_identity(records[:-1], records[-1]))
    header_at = next((i for i, rec in enumerate(records) if any(c.strip() for c in rec)), None)
    if header_at is None:  # only separators, no cell with text
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "no_header")), format="csv", encoding=encoding)
    header = records[header_at]
    width = len(header)
    # Blank lines carry nothing; an empty cell is None.
    rows = [(i, [c or None for c in rec]) for i, rec in enumerate(records[header_at + 1:], start=header_at + 2)
            if (joined := "".join(rec)) and not joined.isspace()]
    # A ragged row means the separator or quoting is broken: its values would shift columns.
    issues = [make_issue("ROW_RAGGED", i, None, cells=len(cells), expected=width) for i, cells in rows if len(cells) != width]
    if not rows:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "no_rows")), format="csv", encoding=encoding)
    return RawTable("csv", encoding, header, rows, issues)


def _bounded_records(reader, encoding: str, records: list[list[str]], lines_read: list[int]) -> None:
    """Append the records to `records`, within LIMITS.max_cells (each record counted as its cells, a blank one as one),
    as an xlsx sheet is; `lines_read` follows the physical lines they took. Within the byte limit a CSV of separators holds 20 million cells: one
    line of 19 million commas took 1.25 GB to read and normalise (a night killed), where the
    report's own bounds (100,000 rows of 12 columns) are 1.2 million."""
    limit, cells = LIMITS.max_cells, 0
    for record in reader:
        cells += len(record) or 1
        if cells > limit:
            raise ReadFailure(make_issue("FILE_TOO_LARGE", detail=detail("FILE_TOO_LARGE", "csv_cells", limit=f"{limit:,}"),
                                         limit=detail("FILE_TOO_LARGE", "limit_values", limit=f"{limit:,}")),
                              format="csv", encoding=encoding)
        records.append(record)
        lines_read[1], lines_read[0] = lines_read[0], reader.line_num


def _quote_left_open(text: str, sep: str, lines_before: int) -> bool:
    """Whether the file's last record ends inside a quoted cell, its quote never closed: the last
    record (from where it starts: one line, as a rule) scanned as the lenient csv reader reads it.
    A quote opens a quoted cell only as a cell's first character; inside, `""` is a quote and any
    other quote closes the cell; text after a closing quote (`"own" ,`, `"a"b`) joins the cell and
    the next separator ends it (reviewer RV13: a strict re-read stopped at that text first and
    missed the open quote after it); a quote inside an unquoted cell (`5" screen`) is text."""
    start_of_cell, unquoted, quoted, after_quote = range(4)
    state = start_of_cell
    for char in text[line_start(text, lines_before):]:
        if state == quoted:
            if char == '"':
                state = after_quote
        elif state == after_quote:
            state = quoted if char == '"' else start_of_cell if char == sep or char in "\r\n" else unquoted
        elif char == sep or char in "\r\n":
            state = start_of_cell
        elif state == start_of_cell and char == '"':
            state = quoted
        else:
            state = unquoted
    return state == quoted


# Where str.splitlines ends a line.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _first_line(text: str) -> str:
    """text.splitlines()[0] ("" for no text), without splitting the rest."""
    found = _LINE_BREAK.search(text)
    return text[: found.start()] if found else text


def _separator(header_line: str) -> str:
    """The header's most frequent separator; Thai and canonical column names contain none."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] else ","
