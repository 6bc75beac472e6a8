"""CSV reports: UTF-8, UTF-8 with BOM or cp874; separated by `,`, or by `;` or tab when the
file uses them consistently."""
from __future__ import annotations

import csv
import io

from pilots.defects import detail, make_issue
from pilots.readers.base import RawTable, ReadFailure, decode_text

SEPARATORS = (",", ";", "\t")


def read_csv(data: bytes) -> RawTable:
    text, encoding = decode_text(data, "csv")
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), None)
    if first is None:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "empty")), format="csv", encoding=encoding)
    sep = _separator(first)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep))
    except csv.Error as exc:  # e.g. a field over the csv module's size limit
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "broken_csv", error=exc)), format="csv",
                          encoding=encoding) from None
    header_at = next((i for i, rec in enumerate(records) if any(c.strip() for c in rec)), None)
    if header_at is None:  # only separators, no cell with text
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "no_header")), format="csv", encoding=encoding)
    header = records[header_at]
    rows, issues = [], []
    for i, rec in enumerate(records[header_at + 1 :], start=header_at + 2):
        if not any(c.strip() for c in rec):
            continue  # blank lines carry nothing
        if len(rec) != len(header):
            # A ragged row means the separator or quoting is broken: its values would shift columns.
            issues.append(make_issue("ROW_RAGGED", i, None, cells=len(rec), expected=len(header)))
        rows.append((i, [c if c != "" else None for c in rec]))
    if not rows:
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "no_rows")), format="csv", encoding=encoding)
    return RawTable("csv", encoding, header, rows, issues)


def _separator(header_line: str) -> str:
    """The header's most frequent separator; Thai and canonical column names contain none."""
    counts = {sep: header_line.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] else ","
