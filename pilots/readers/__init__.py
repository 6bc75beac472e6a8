"""Report readers: bytes of one file -> a RawTable (header cells + data rows as text).

Each format has its own module; `read_report` picks one by file extension. Readers only get the
table out of the file; turning cells into canonical values is pilots.normalise's job, so that a
new format (xlsx) or a new spelling of a value slots in without touching the other side.
"""
from __future__ import annotations

from pathlib import PurePath

from pilots.defects import Issue, detail, make_issue
from pilots.readers.base import RawTable, ReadFailure
from pilots.readers.csv_reader import read_csv
from pilots.readers.json_reader import read_json
from pilots.readers.limits import LIMITS


def read_xlsx(data: bytes) -> RawTable:
    """pilots.readers.xlsx_reader.read_xlsx, imported on the first workbook: openpyxl takes a
    noticeable share of a cold start, and a night without new workbooks never needs it."""
    from pilots.readers.xlsx_reader import read_xlsx as read

    return read(data)


READERS = {".csv": read_csv, ".json": read_json, ".xlsx": read_xlsx}


def file_too_large(size: int) -> Issue:
    """FILE_TOO_LARGE for a file of `size` bytes (the inbox finds it with stat, before reading)."""
    return make_issue("FILE_TOO_LARGE", detail=detail("FILE_TOO_LARGE", "bytes", size=f"{size:,}"),
                      limit=detail("FILE_TOO_LARGE", "limit_bytes", limit=f"{LIMITS.max_file_bytes:,}"))


def format_of(file_name: str) -> str | None:
    """The format a file's extension names, if it is one we read."""
    ext = PurePath(file_name).suffix.lower()
    return ext.lstrip(".") if ext in READERS else None


def read_report(file_name: str, data: bytes) -> RawTable:
    """Read one received file. Raises ReadFailure (with a catalogued issue) when it has no table."""
    ext = PurePath(file_name).suffix.lower()
    reader = READERS.get(ext)
    if reader is None:
        raise ReadFailure(make_issue("FILE_FORMAT_UNKNOWN", extension=ext or file_name), format=None)
    if len(data) > LIMITS.max_file_bytes:
        raise ReadFailure(file_too_large(len(data)), format=ext.lstrip("."))
    if not data.strip():
        raise ReadFailure(make_issue("FILE_NO_TABLE", detail=detail("FILE_NO_TABLE", "empty")), format=ext.lstrip("."))
    table = reader(data)
    if len(table.rows) > LIMITS.max_rows:
        raise ReadFailure(make_issue("FILE_TOO_LARGE", detail=detail("FILE_TOO_LARGE", "rows", size=f"{len(table.rows):,}"),
                                     limit=detail("FILE_TOO_LARGE", "limit_rows", limit=f"{LIMITS.max_rows:,}")), format=table.format, encoding=table.encoding)
    return table


__all__ = ["RawTable", "ReadFailure", "read_report", "READERS", "file_too_large", "format_of"]
