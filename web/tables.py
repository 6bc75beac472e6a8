"""The tables a page shows, and their downloads: CSV that Excel opens safely, and XLSX.

A page builds each table it shows as a `Table` and answers `?download=<name>.csv` or
`?download=<name>.xlsx` with `download_response` (the same rows, nothing more: a download never
shows what the page would not). Templates link the two files with the `_downloads.html` partial.

CSV: UTF-8 with a byte-order mark (Thai in Excel); text Excel would run as a formula gets a
leading apostrophe (warehouse.export.safe_cell); and a code Excel would turn into a number
(`01002` -> 1002, or more than 15 digits rounded) is written as `="01002"`, which every
spreadsheet shows as the text 01002; so is text Excel would read as a date or a fraction (`1/2`,
`3-4`) or in scientific notation (`1E5`). XLSX: text cells stay text, numbers numbers (a DECIMAL
or integer of more than 15 significant digits, such as a hash, a text cell of its exact digits),
dates dates (warehouse.export.xlsx_cell).
A time is written as the page shows it. A table whose page shows its times in Bangkok time
(`bangkok_times`: a drill-down's, the held files', the closures') holds UTC, the warehouse's
stored TIMESTAMPs (warehouse/times.py) or the audit trail's times, which a reader would take for
Thai time, a day early after 17:00 UTC: CSV writes it in Bangkok time with its offset
(`2006-08-15T03:27:00+07:00`), XLSX, whose cells have no zone, as Bangkok's clock. Any other
table's times are left as they are: the /sql page prints what the analyst's SQL computed, which
need not be UTC (an expression may already be in Bangkok time), and its downloads give the same.
Both show agency text as the page does (warehouse.display.cell_text, as `pilotkpi export` does): a
control, bidi or line-separator character becomes a visible stand-in (`␛`, `[U+202E]`), so a file name or note cannot reorder
what the spreadsheet shows or send escape sequences to a terminal that prints the file. Tab, CR
and LF stay as they are: a quoted CSV field and an XLSX cell hold them as text, and the formula
guard reads them (`\t=1` is written `'\t=1`).
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime

from starlette.responses import Response

from warehouse.display import cell_text
from warehouse.export import csv_cell, safe_cell, xlsx_cell  # csv_cell: also reminders.csv's
from warehouse.times import bangkok_time

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,60}$")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Table:
    name: str  # the download's file name without extension: lowercase ASCII, digits, - and _
    columns: list[str]  # the keys of each row, in order (also the header)
    rows: list[dict] = field(default_factory=list)
    headers: list[str] | None = None  # the header line in the page's language (default: columns)
    # The page shows the times in Bangkok time (the `moment` filter): they are UTC (naive: the
    # warehouse's stored TIMESTAMPs) and the download converts them as the page does. Off: as they are.
    bangkok_times: bool = False

    def __post_init__(self):
        if not _NAME.match(self.name):
            raise ValueError(f"table name {self.name!r} is not a safe file name")


def csv_bytes(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(cell_text(h)) for h in (table.headers or table.columns)])
    for row in table.rows:
        writer.writerow([csv_cell(_shown(table, row.get(c))) for c in table.columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(table: Table) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=table.name[:31])
    ws.append([xlsx_cell(ws, cell_text(h)) for h in (table.headers or table.columns)])
    for row in table.rows:
        ws.append([xlsx_cell(ws, cell_text(_local(table, _shown(table, row.get(c))))) for c in table.columns])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _shown(table: Table, value: object) -> object:
    """A value as the table's page shows it: a time in Bangkok time where the page shows that."""
    return bangkok_time(value) if table.bangkok_times and isinstance(value, datetime) else value


def _local(table: Table, value: object) -> object:
    """An Excel cell has no zone (xlsx_cell would write an aware time in UTC): Bangkok's wall clock,
    where the page shows Bangkok time (elsewhere a zoned time is left to xlsx_cell)."""
    return value.replace(tzinfo=None) if table.bangkok_times and isinstance(value, datetime) else value


def wanted(query_params, tables: list[Table]) -> tuple[Table, str] | None:
    """The table and format a `?download=` asks for, if it names one of this page's tables."""
    asked = query_params.get("download")
    if not asked or "." not in asked:
        return None
    stem, _, fmt = asked.rpartition(".")
    for table in tables:
        if table.name == stem and fmt in ("csv", "xlsx"):
            return table, fmt
    return None


def download_response(table: Table, fmt: str) -> Response:
    body, media = (csv_bytes(table), CSV_TYPE) if fmt == "csv" else (xlsx_bytes(table), XLSX_TYPE)
    return Response(body, media_type=media,
                    headers={"content-disposition": f'attachment; filename="{table.name}.{fmt}"'})
