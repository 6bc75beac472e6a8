"""CELL_TOO_LONG: a CSV cell over the csv module's field limit (131,072 characters).

The csv module stops there with "field larger than field limit", naming neither the row's cell
nor anything else of the file: the night said "broken CSV, export it again", which gives the same
file, and the file counted as quarantined for no pilot. A long note, or a quote opened and never
closed (the rest of the file runs into one cell), is what it is. Here the record that broke is
read again with a small scanner of the csv module's default dialect (quote `"`, doubled to quote
itself), from where it starts, so that the message names the cell's column and the identity
(pilot, agency, period, submitted_on) is taken from the first data row, where the file counts as
quarantined (scoring.md §6). Bounded: str.find and a regex jump over a long cell (a run of quotes,
however long, is one step), a cell's length is a running count and its text is never built once
over the limit, and the scan stops after the header's width of cells (SCAN_PAST_WIDTH more at most).
"""
from __future__ import annotations

import csv
import re

from pilots.contract import HEADER_FIELDS
from pilots.defects import detail, make_issue
from pilots.readers.base import ReadFailure

FIELD_LIMIT_ERROR = "field larger than field limit"
_COLUMN_SHOWN = 40  # characters of a header cell named in the message
# Cells scanned past the header's width for the long one: a report has 12 columns; a line of
# separators (millions within the byte limit) is not scanned to its end.
SCAN_PAST_WIDTH = 1_000


def cell_too_long(text: str, sep: str, records: list[list[str]], lines_read: int, encoding: str) -> ReadFailure:
    """The ReadFailure for the record after `records` (which took `lines_read` physical lines)."""
    from pilots.normalise import HEADER_NAMES, clean_text, header_key  # normalise imports the readers

    limit = csv.field_size_limit()
    start = line_start(text, lines_read)
    header_at = next((i for i, rec in enumerate(records) if any(c.strip() for c in rec)), None)
    header = records[header_at] if header_at is not None else []
    cells, at = _record_at(text, start, sep, limit, max(len(header), 1))
    row = len(records) + 1
    name = written = None
    if header_at is not None and at is not None and at < len(header):
        written = clean_text(header[at])
        name = HEADER_NAMES.get(header_key(header[at]))
    if written:
        shown = written if len(written) <= _COLUMN_SHOWN else written[: _COLUMN_SHOWN - 1] + "…"
        cell = detail("CELL_TOO_LONG", "column", column=shown)
    elif at is not None:
        cell = detail("CELL_TOO_LONG", "position", number=at + 1)
    else:
        cell = detail("CELL_TOO_LONG", "in_row")
    issue = make_issue("CELL_TOO_LONG", row, name, cell=cell, max_chars=f"{limit:,}")
    return ReadFailure(issue, format="csv", encoding=encoding, identity=first_row_identity(records, cells))


def first_row_identity(records: list[list[str]], broken: list[str | None]) -> dict[str, str | None]:
    """The identity fields as the first data row writes them (scoring.md §6: a quarantined file
    counts where its first data row says): a row already read, else the `broken` record's cells."""
    from pilots.normalise import HEADER_NAMES, header_key  # normalise imports the readers

    header_at = next((i for i, rec in enumerate(records) if any(c.strip() for c in rec)), None)
    if header_at is None:
        return {}
    header = records[header_at]
    first = next((rec for rec in records[header_at + 1:] if "".join(rec).strip()), broken)
    positions = {}
    for i, h in enumerate(header):
        positions.setdefault(HEADER_NAMES.get(header_key(h)), i)
    return {f: first[positions[f]] if f in positions and positions[f] < len(first) else None for f in HEADER_FIELDS}


def _record_at(text: str, start: int, sep: str, limit: int, width: int) -> tuple[list[str | None], int | None]:
    """The first `width` cells of the CSV record that starts at `start` (a cell over `limit` is
    None) and the position of the first cell over `limit`; the scan stops once it is found and
    `width` cells are read, or after SCAN_PAST_WIDTH more cells (a line of separators: position None)."""
    plain_end = re.compile(f"[{re.escape(sep)}\r\n]")  # a quote inside an unquoted cell is text
    cells: list[str | None] = []
    at: int | None = None
    i, n = start, len(text)
    for count in range(width + SCAN_PAST_WIDTH):
        # A running length, and the cell's pieces only while it is within `limit`: a cell of
        # doubled quotes ("" x 10 million in a 20 MB file) held one span per quote (2.5 GB).
        pieces: list[str] | None = [] if count < width else None
        length = 0
        if text.startswith('"', i):
            i += 1
            while True:
                j = text.find('"', i)
                if j < 0:  # never closed: the rest of the file
                    length, pieces = _add(text, i, n, length, pieces, limit)
                    i = n
                    break
                # A run of k quotes: k // 2 quotes of text ("" is a quote), and when k is odd the
                # last one closes the cell. One step per run, however long it is.
                k = _QUOTES.match(text, j).end() - j
                length, pieces = _add(text, i, j, length, pieces, limit, quotes=k // 2)
                i = j + k
                if k % 2:
                    break
        # An unquoted cell, or what follows a closing quote up to the separator (the csv module keeps it).
        found = plain_end.search(text, i)
        end = found.start() if found else n
        length, pieces = _add(text, i, end, length, pieces, limit)
        i = end
        too_long = length > limit
        if too_long and at is None:
            at = count
        if count < width:
            cells.append(None if pieces is None else "".join(pieces))
        if i >= n or text[i] in "\r\n" or (at is not None and count + 1 >= width):
            break
        i += 1  # the separator
    return cells, at


_QUOTES = re.compile('"+')
_LINE_END = re.compile("\r\n|\r|\n")  # the physical lines of io.StringIO(text, newline="")


def line_start(text: str, lines: int) -> int:
    """Where the line after the first `lines` physical lines starts (without a copy of the text:
    io.StringIO holds four bytes a character, 80 MB for a 20 MB file)."""
    at = 0
    for _ in range(lines):
        found = _LINE_END.search(text, at)
        if found is None:
            return len(text)
        at = found.end()
    return at


def _add(text: str, a: int, b: int, length: int, pieces: list[str] | None, limit: int,
         quotes: int = 0) -> tuple[int, list[str] | None]:
    """The cell's running length with text[a:b] and `quotes` quotes added, and its pieces, None
    once over `limit` (or when not kept): the text of a long cell is never built."""
    length += b - a + quotes
    if pieces is None or length > limit:
        return length, None
    pieces.append(text[a:b] + '"' * quotes)
    return length, pieces
