"""A seeded generator of hostile report files, built from the demo's valid reports.

Each file starts as one of the demo's regular reports (pilots.demo), written in a random format and
house style (CSV in UTF-8, UTF-8 with BOM or cp874, separated by `,`, `;` or tab, Thai or English
headers; XLSX; JSON), and then gets a few mutations: hostile header fields (period, pilot_id,
agency_code, submitted_on), hostile numbers, duplicated/reordered/dropped columns, JSON shape
changes, wrong encodings, truncation (also of one member inside the xlsx zip), a wrong extension.
Some files stay valid, some only use the spec's accepted variants, and some are byte-identical
copies of an earlier file under another name, so the run also accepts, supersedes and dedupes.

File i of seed S depends only on (S, i) (and, for a copy, on the file it copies), so a finding is
reproduced with `generate(S, N)[i]`; `FuzzFile.mutations` names what was done to it.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable

import openpyxl
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from pilots import demo
from pilots.contract import BY_NAME, COLUMN_NAMES, FUNDING_SOURCES, HEADER_FIELDS, LINE_TYPES

AS_OF = demo.AS_OF
FIXED_TIME = datetime(2006, 8, 1, 9, 0, 0)  # workbook and zip timestamps: never the clock
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
               "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
THAI_MONTHS_ABBR = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
NUMERIC = ("layer", "actual", "allocated_thb", "disbursed_thb")

# --- hostile values ------------------------------------------------------------------------------

WRONG = {
    "period": ["2548-Q5", "2548-Q0", "2399-Q1", "Q1/2548/2549", "ไตรมาส 5/2548", "Q1-Q2/2548", "2005-Q1", "9999-Q4",
               "2550-Q1", "2547-Q4"],
    "pilot_id": ["PLT-9999-999", "plt-2548-003", "PLT-2548-03", "PLT 2548 003", "PLT-2548-0030", "PLT-2548-006 "],
    "agency_code": ["99999", "3009x", "0300", "123456", "-3009", "3.009e3", "03009.0", "0x3009"],
    "submitted_on": ["2547-02-30", "31/02/2548", "2548-13-01", "0000-00-00", "2099-01-01", "1900-01-01",
                     "20/12/2547 10:00", "2547-12-20T25:61", "12/31/2004", "2006-08-16"],
}
PARTIAL = ["2548-", "Q1", "2548", "-Q1", "PLT-", "PLT-2548", "03", "2005-01", "20/12", "ธ.ค. 2547", "ไตรมาส", "/", "Q"]
THAI = ["ไตรมาส ๑/๒๕๔๘", "ไตรมาสที่ ๒/๔๘", "๒๕๔๘-Q๑", "๒๐ ธันวาคม ๒๕๔๗", "๒๐ ธ.ค. ๔๗", "๒๐/๑๒/๒๕๔๗", "๐๓๐๐๙",
        "ปีงบประมาณ ๒๕๔๘ ไตรมาส ๑", "สิบห้า สิงหาคม สองห้าสี่เก้า", "๓๑ กุมภาพันธ์ ๒๕๔๘", "PLT-๒๕๔๘-๐๐๓",
        "ไตรมาส ๑/๒๕๔๘ ถึง ไตรมาส ๒/๒๕๔๘", "๑ ธันวา ๔๗", "วันที่ ๒๐ เดือน ธันวาคม พ.ศ. ๒๕๔๗"]
EMPTY = ["", " ", "-", "N/A", "รอข้อมูล", "\u200b", "\ufeff", "\u200b\u200c\u200d", None]
CONTROL = ["2548-Q1\x00", "2548\r\nQ1", "2548-Q1\r", "\n2548-Q1", "2548\t-Q1", "\u202e1Q-8452", "\u202eexe.csv",
           "\u200b2548-Q1\u200d", "\ufeff03009", "<script>alert('x')</script>", "</td></tr></table><script>alert(1)</script>",
           "<!--", "]]>", "a|b|c", "`rm -rf /`", "```", "{{ 7*7 }}", "{% for x in y %}{% endfor %}", "{#", "${7*7}",
           "\x1b[31mred\x1b[0m", "\x0b\x0c\x7f", "&amp;&lt;", "'\"><img src=x onerror=alert(1)>", "=cmd|' /C calc'!A0",
           "\ud800", "\U0001f600", "[link](javascript:alert(1))", "| x | y |\n|---|---|", "# heading", "**bold**",
           "\u2028\u2029", "\ufffe\uffff", "\x85", "2548-Q1\u0301"]


def huge(rnd: random.Random) -> str:
    return rnd.choice(["x" * 10_001, "๑" * 12_000, "<script>alert(1)</script>" * 500, "2548-Q1" * 2000,
                       "{{" * 6000, "\u202e" * 10_500, "a|" * 6000, "ไตรมาส " * 2000])


HOSTILE_NUMBERS = ["1e308", "1e309", "-1e309", "9" * 400, "-5", "-0", "NaN", "nan", "inf", "-inf", "Infinity", "1e-400",
                   "1.5e3", "๑๒๓", "๑,๒๕๐,๐๐๐", "1,2,3", "1,,2", "1.2.3", "0x10", "+-1", "1_000", "١٢٣", "１２３", "1 000",
                   "12%", "1.25 ล้านบาท", "ล้านบาท", "%", "(500)", "500-", "5e", ".", "-", "0" * 500 + "1", "1" + "0" * 40,
                   "3,912 คน", "6", "0", "101", "1e2", "<script>alert(1)</script>", "{{ 7*7 }}", "\u202e123"]
HOSTILE_JSON_NUMBERS = [1e308, float("inf"), float("-inf"), float("nan"), 10 ** 400, -1, True, False, [1, 2], {"v": 1},
                        None, 1.5e-320, 2 ** 63, -(2 ** 63) - 1]


# --- a report before it is written ---------------------------------------------------------------

@dataclass
class Draft:
    report: demo.Report
    fmt: str                                   # csv | xlsx | json
    fields: dict[str, object]                  # the four header fields, as the file writes them
    lines: list[dict[str, object]]             # line fields, canonical keys
    columns: list[str]                         # written column order (may repeat or miss keys)
    header_text: dict[int, str] = field(default_factory=dict)   # column index -> header cell override
    row_fields: dict[int, dict] = field(default_factory=dict)   # line index -> header fields that disagree
    thai: bool = False
    encoding: str = "utf-8"
    sep: str = ","
    newline: str = "\n"
    sheet: str | None = None                   # xlsx: a decoy first sheet and the report on this one
    doc_hooks: list[Callable[[dict], object]] = field(default_factory=list)
    byte_hooks: list[Callable[[bytes], bytes]] = field(default_factory=list)
    ext: str | None = None                     # a wrong extension
    mutations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FuzzFile:
    index: int
    name: str
    data: bytes
    mutations: tuple[str, ...]


def base_reports() -> list[demo.Report]:
    """The demo's regular reports: every pilot, reporting agency and period (valid by construction)."""
    return [r for p in demo.PILOTS for r in demo._regular_reports(p)]


def _draft(report: demo.Report, rnd: random.Random) -> Draft:
    fmt = rnd.choice(("csv", "csv", "csv", "xlsx", "json"))
    fields = {"pilot_id": report.pilot_id, "agency_code": report.agency_code, "period": report.period,
              "submitted_on": report.submitted_on.isoformat()}
    d = Draft(report, fmt, fields, [dict(line) for line in report.lines], list(COLUMN_NAMES))
    if fmt == "csv":
        d.encoding = rnd.choice(("utf-8", "utf-8-sig", "cp874"))
        d.sep = rnd.choice((",", ";", "\t"))
        d.newline = rnd.choice(("\n", "\r\n"))
        d.thai = rnd.random() < 0.5
    elif fmt == "xlsx":
        d.thai = rnd.random() < 0.5
        d.sheet = rnd.choice((None, None, "report", "รายงาน"))
    d.mutations.append(f"{fmt}" + (f" {d.encoding} sep={d.sep!r}" if fmt == "csv" else "") + (" thai" if d.thai else ""))
    return d


# --- mutations -----------------------------------------------------------------------------------

def _variant(name: str, value: str, rnd: random.Random) -> str:
    """A spelling of a valid header value that the spec says must be accepted."""
    try:
        return _spelling(name, value, rnd)
    except ValueError:  # the value was mutated already: no variant of it is valid
        return f" {value} "


def _spelling(name: str, value: str, rnd: random.Random) -> str:
    if name == "period":
        fy, q = int(value[:4]), value[-1]
        return rnd.choice([f"Q{q}/{fy}", f"ไตรมาส {q}/{fy % 100}", f"ไตรมาส {q}/{fy}".translate(THAI_DIGITS),
                           f"FY{fy - 543}-Q{q}", f"{fy}Q{q}", f" {value} "])
    if name == "submitted_on":
        d = date.fromisoformat(value)
        be = d.year + 543
        return rnd.choice([f"{be}-{d.month:02d}-{d.day:02d}", f"{d.day:02d}/{d.month:02d}/{be}",
                           f"{d.day}/{d.month}/{d.year}", f"{d.day} {THAI_MONTHS_ABBR[d.month - 1]} {be % 100}",
                           f"{d.day} {THAI_MONTHS[d.month - 1]} {be}",
                           f"{d.day}/{d.month:02d}/{be}".translate(THAI_DIGITS)])
    if name == "agency_code":
        return rnd.choice([value.lstrip("0"), f"\u200b{value}", value.translate(THAI_DIGITS)])
    return rnd.choice([f" {value} ", f"{value}\u200b"])


def mutate_header(d: Draft, rnd: random.Random) -> None:
    name = rnd.choice(HEADER_FIELDS)
    kind = rnd.choice(("wrong", "partial", "thai", "empty", "huge", "control", "control", "variant", "json_type"))
    if kind == "wrong":
        value = rnd.choice(WRONG[name])
    elif kind == "partial":
        value = rnd.choice(PARTIAL)
    elif kind == "thai":
        value = rnd.choice(THAI)
    elif kind == "empty":
        value = rnd.choice(EMPTY)
    elif kind == "huge":
        value = huge(rnd)
    elif kind == "control":
        value = rnd.choice(CONTROL)
        if rnd.random() < 0.5:  # hidden inside an otherwise valid value
            value = f"{d.fields[name]}{value}"
    elif kind == "variant":
        value = _variant(name, str(d.fields[name]), rnd)
    else:
        value = rnd.choice([2548, 3009, 1e308, None, True, [d.fields[name]], {"value": d.fields[name]}, [[[[]]]]])
    where = rnd.choice(("all", "all", "first", "one"))
    if where == "all" or not d.lines:
        d.fields[name] = value
    else:
        i = 0 if where == "first" else rnd.randrange(len(d.lines))
        d.row_fields.setdefault(i, {})[name] = value
    d.mutations.append(f"header {name}={_short(value)} ({kind}, {where})")


def mutate_number(d: Draft, rnd: random.Random) -> None:
    if not d.lines:
        return
    i = rnd.randrange(len(d.lines))
    name = rnd.choice([k for k in NUMERIC if d.lines[i].get(k) is not None] or list(NUMERIC))
    value = rnd.choice(HOSTILE_JSON_NUMBERS) if d.fmt == "json" and rnd.random() < 0.4 else rnd.choice(HOSTILE_NUMBERS)
    d.lines[i][name] = value
    d.mutations.append(f"number line {i + 1} {name}={_short(value)}")


def mutate_columns(d: Draft, rnd: random.Random) -> None:
    kind = rnd.choice(("reorder", "duplicate", "duplicate", "drop", "extra", "header_text"))
    if kind == "reorder":
        rnd.shuffle(d.columns)
    elif kind == "duplicate":
        i = rnd.randrange(len(d.columns))
        d.columns.insert(rnd.randrange(len(d.columns) + 1), d.columns[i])
        if rnd.random() < 0.5:  # the copy disagrees with the original
            for line in d.lines:
                line.setdefault("__dup__", {})[d.columns[i]] = rnd.choice(HOSTILE_NUMBERS + CONTROL[:12])
    elif kind == "drop":
        d.columns.remove(rnd.choice(d.columns))
    elif kind == "extra":
        d.columns.insert(rnd.randrange(len(d.columns) + 1), "extra")
        for line in d.lines:
            line["extra"] = rnd.choice(CONTROL + PARTIAL)
        d.header_text[d.columns.index("extra")] = rnd.choice(CONTROL[:20] + ["extra", "รหัสโครงการ "])
    else:
        i = rnd.randrange(len(d.columns))
        d.header_text[i] = rnd.choice(CONTROL + THAI + [huge(rnd), "", " PILOT_ID ", "Pilot_Id\u200b", "actual actual"])
    d.mutations.append(f"columns {kind}")


JSON_SHAPES: dict[str, Callable[[dict], object]] = {
    "no lines": lambda doc: {k: v for k, v in doc.items() if k != "lines"},
    "empty lines": lambda doc: {**doc, "lines": []},
    "lines is a string": lambda doc: {**doc, "lines": "kpi,K1,55"},
    "lines is an object": lambda doc: {**doc, "lines": {"0": doc["lines"][0] if doc["lines"] else {}}},
    "lines is null": lambda doc: {**doc, "lines": None},
    "lines is a number": lambda doc: {**doc, "lines": 3},
    "top-level array": lambda doc: [doc],
    "top-level array of lines": lambda doc: doc["lines"],
    "top-level string": lambda doc: "report",
    "top-level null": lambda doc: None,
    "lines hold junk": lambda doc: {**doc, "lines": [*doc["lines"], 1, None, "x", [], [[{"a": 1}]], True]},
    "nested junk in a line": lambda doc: {**doc, "lines": [
        _Pairs([*ln, ("note", {"a": [1, {"b": [None, "<script>"]}]}), ("actual", [[1]])]) for ln in doc["lines"]]},
    "deep nesting": lambda doc: {**doc, "lines": [*doc["lines"], _deep(30)]},
    "very deep nesting": lambda doc: {**doc, "extra": _deep(5000)},
    "lines of lines": lambda doc: {**doc, "lines": [doc["lines"]]},
    "extra top-level junk": lambda doc: {**doc, "x": {"y": [1, 2, {"z": None}]}, "": "", "lines ": []},
}


class _Raw(str):
    """JSON text written as is (a nesting too deep to build as Python lists)."""


def _deep(n: int) -> object:
    return _Raw("[" * n + '"bottom"' + "]" * n)


def mutate_json_shape(d: Draft, rnd: random.Random) -> None:
    if d.fmt != "json" or d.doc_hooks:  # one shape change per document
        return mutate_columns(d, rnd)
    name = rnd.choice(sorted(JSON_SHAPES))
    d.doc_hooks.append(JSON_SHAPES[name])
    d.mutations.append(f"json shape: {name}")


def _invalid_utf8(data: bytes, rnd: random.Random) -> bytes:
    pos = rnd.randrange(len(data) + 1)
    return data[:pos] + rnd.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe0\xb8", b"\x80\x80", b"\xfe\xff"]) + data[pos:]


def mutate_encoding(d: Draft, rnd: random.Random) -> None:
    if d.fmt == "xlsx":
        return mutate_xlsx_zip(d, rnd)
    kind = rnd.choice(("bom on cp874", "invalid utf-8", "utf-16", "utf-16-le no bom", "utf-32", "cp874 json",
                       "latin-1 mojibake", "nul byte", "bom twice"))
    if kind == "bom on cp874":  # declares UTF-8 with a BOM, but the body is Windows-874
        d.encoding = "cp874"
        d.thai = True
        d.byte_hooks.append(lambda b: b"\xef\xbb\xbf" + b)
    elif kind == "invalid utf-8":
        seed = rnd.random()
        d.byte_hooks.append(lambda b: _invalid_utf8(b, random.Random(seed)))
    elif kind == "utf-16":
        d.encoding = "utf-16"
    elif kind == "utf-16-le no bom":
        d.encoding = "utf-16-le"
    elif kind == "utf-32":
        d.encoding = "utf-32"
    elif kind == "cp874 json":
        d.encoding = "cp874"
    elif kind == "latin-1 mojibake":  # UTF-8 bytes read as Latin-1 and saved again as UTF-8
        d.byte_hooks.append(lambda b: b.decode("latin-1").encode("utf-8"))
    elif kind == "nul byte":
        d.byte_hooks.append(lambda b: b[: len(b) // 2] + b"\x00" + b[len(b) // 2:])
    else:
        d.encoding = "utf-8-sig"
        d.byte_hooks.append(lambda b: b"\xef\xbb\xbf" + b)
    d.mutations.append(f"encoding: {kind}")


def mutate_truncate(d: Draft, rnd: random.Random) -> None:
    seed = rnd.random()
    d.byte_hooks.append(lambda b: b[: random.Random(seed).randrange(len(b))])
    d.mutations.append("truncated at a random byte")


def mutate_xlsx_zip(d: Draft, rnd: random.Random) -> None:
    if d.fmt != "xlsx":
        return mutate_truncate(d, rnd)
    kind = rnd.choice(("truncate member", "drop member", "garbage member", "flip bytes", "dimension"))
    seed = rnd.random()
    d.byte_hooks.append(lambda b: _rezip(b, kind, random.Random(seed)))
    d.mutations.append(f"xlsx zip: {kind}")


def _rezip(data: bytes, kind: str, rnd: random.Random) -> bytes:
    """Rewrite the workbook's zip with one member damaged (the zip itself stays valid)."""
    if kind == "flip bytes":
        b = bytearray(data)
        for _ in range(rnd.randint(1, 20)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        return bytes(b)
    try:
        src = zipfile.ZipFile(io.BytesIO(data))
        bodies = {i.filename: src.read(i.filename) for i in src.infolist()}
    except Exception:  # damaged by an earlier mutation already (zipfile raises many types)
        return data
    members = list(bodies)
    target = rnd.choice([m for m in members if m.startswith("xl/")])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME.timetuple()[:6])
            body = bodies[name]
            if name == target and kind == "truncate member":
                body = body[: rnd.randrange(len(body) + 1)]
            elif name == target and kind == "garbage member":
                body = rnd.choice([b"", b"<x", b"\x00\xff" * 50, b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'a'>]><x>&a;</x>"])
            elif name == target and kind == "drop member":
                continue
            elif kind == "dimension" and name.startswith("xl/worksheets/"):
                body = re.sub(rb'<dimension ref="[^"]*"', rnd.choice([b'<dimension ref="A1:L2"', b'<dimension ref="A1"',
                                                                     b'<dimension ref="ZZ9:A1"', b'<dimension ref=""']), body)
            dst.writestr(info, body, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def mutate_extension(d: Draft, rnd: random.Random) -> None:
    d.ext = rnd.choice([e for e in (".csv", ".xlsx", ".json", ".CSV", ".Json", ".txt", "") if e != f".{d.fmt}"])
    d.mutations.append(f"extension {d.ext or '(none)'}")


MUTATORS: tuple[tuple[Callable[[Draft, random.Random], None], int], ...] = (
    (mutate_header, 10), (mutate_number, 5), (mutate_columns, 4), (mutate_json_shape, 3), (mutate_encoding, 3),
    (mutate_truncate, 2), (mutate_xlsx_zip, 2), (mutate_extension, 1),
)


# --- writing -------------------------------------------------------------------------------------

def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}…({len(text)} chars)"


def _cells(d: Draft) -> tuple[list[str], list[list[object]]]:
    header = [d.header_text.get(i, BY_NAME[k].thai if d.thai and k in BY_NAME else k) for i, k in enumerate(d.columns)]
    rows = []
    for n, line in enumerate(d.lines):
        seen: set[str] = set()
        row = []
        for k in d.columns:
            values = {**d.fields, **d.row_fields.get(n, {}), **{x: y for x, y in line.items() if x != "__dup__"}}
            value = line.get("__dup__", {}).get(k, values.get(k)) if k in seen else values.get(k)
            seen.add(k)
            if d.thai and k == "line_type":
                value = LINE_TYPES.get(value, value)
            if d.thai and k == "funding_source":
                value = FUNDING_SOURCES.get(value, value)
            row.append(value)
        rows.append(row)
    return header, rows


def _text(value: object) -> str:
    return "" if value is None else str(value)


def render_csv(d: Draft) -> bytes:
    header, rows = _cells(d)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=d.sep, lineterminator=d.newline)
    writer.writerow(header)
    writer.writerows([[_text(v) for v in row] for row in rows])
    return _encode(buf.getvalue(), d.encoding)


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8", errors="surrogatepass")
    if encoding == "utf-8":
        return text.encode("utf-8", errors="surrogatepass")  # a lone surrogate gives invalid UTF-8, as some tools do
    return text.encode(encoding, errors="replace" if encoding == "cp874" else "surrogatepass")


def _xlsx_value(value: object) -> object:
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value).encode("utf-8", "replace").decode("utf-8")[:32_767]
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def render_xlsx(d: Draft, rnd: random.Random) -> bytes:
    header, rows = _cells(d)
    book = openpyxl.Workbook()
    sheet = book.active
    if d.sheet:
        sheet.title = "notes"
        sheet.append(["decoy sheet", "<script>alert(1)</script>"])
        sheet = book.create_sheet(d.sheet)
    if rnd.random() < 0.3:
        sheet.append([])  # blank rows above the header
    sheet.append([_xlsx_value(h) for h in header])
    for row in rows:
        cells = []
        for k, v in zip(d.columns, row):
            if isinstance(v, str) and k in ("actual", "allocated_thb", "disbursed_thb", "layer") and rnd.random() < 0.5:
                try:
                    number = float(v) if "." in v else int(v)  # a number cell, as Excel stores it
                except ValueError:
                    number = None
                if number is not None and abs(number) < 1e15:  # Excel keeps 15 digits; larger stays text
                    v = number
            elif isinstance(v, str) and k == "submitted_on" and rnd.random() < 0.3:
                try:
                    v = date.fromisoformat(v)  # an Excel date cell
                except ValueError:
                    pass
            elif isinstance(v, str) and k == "agency_code" and v.isascii() and v.isdigit() and len(v) < 15 \
                    and rnd.random() < 0.3:
                v = int(v)  # Excel turned the code into a number and lost the leading zero
            cells.append(_xlsx_value(v))
        sheet.append(cells)
    book.properties.created = FIXED_TIME
    out = io.BytesIO()
    book.save(out)
    return _fixed_zip_times(out.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """The same workbook bytes on any day: openpyxl stamps each zip member with the clock."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # save() writes "modified" from the clock
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2006-08-01T09:00:00Z", body)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6]), body,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _json_value(key: str, value: object) -> object:
    if isinstance(value, str) and key in NUMERIC:
        return demo._json_number(value)
    return value


def _dumps(value: object) -> str:
    """JSON text; an object may repeat a key (a duplicated column) when given as a list of pairs."""
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, _Pairs):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_dumps(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # NaN and Infinity as Python writes them


class _Pairs(list):
    pass


def render_json(d: Draft) -> bytes:
    lines = []
    for n, line in enumerate(d.lines):
        pairs, seen = _Pairs(), set()
        extra = d.row_fields.get(n, {})
        for k, v in extra.items():
            pairs.append((k, v))
        for k in d.columns:
            if k in HEADER_FIELDS:
                continue
            value = line.get("__dup__", {}).get(k, line.get(k)) if k in seen else line.get(k)
            seen.add(k)
            if value is not None:
                pairs.append((k, _json_value(k, value)))
        lines.append(pairs)
    doc: object = {**{k: d.fields[k] for k in HEADER_FIELDS if k in d.columns}, "lines": lines}
    for hook in d.doc_hooks:
        doc = hook(doc)
    return _encode(_dumps(doc), d.encoding)


def build(d: Draft, rnd: random.Random) -> bytes:
    data = {"csv": render_csv, "json": render_json}[d.fmt](d) if d.fmt != "xlsx" else render_xlsx(d, rnd)
    for hook in d.byte_hooks:
        data = hook(data)
    return data


HOSTILE_NAMES = ["<script>alert(1)", "<svg onload=alert(1)>", "{{ 7*7 }}", "a|b|c", "`x`", "\u202egpj", "ไฟล์รายงาน ไตรมาส ๑",
                 "new\nline", "tab\there", "\x1b[31m", "&amp;", "'\"><img src=x onerror=alert(1)>", "# title",
                 "\u200bzero width", "สำเนา (2)", "..", "CON", "name with  spaces ", "\ufffe"]


def _name(i: int, d: Draft, rnd: random.Random) -> str:
    r = d.report
    stem = f"{i:05d}_{r.pilot_id}_{r.agency_code}_{r.period}"
    if rnd.random() < 0.08:
        stem = f"{i:05d} {rnd.choice(HOSTILE_NAMES)}"
    ext = d.ext if d.ext is not None else f".{d.fmt}"
    return stem + ext


def generate_one(seed: int, i: int, reports: list[demo.Report]) -> FuzzFile:
    rnd = random.Random(f"pilotkpi-fuzz:{seed}:{i}")
    report = rnd.choice(reports)
    d = _draft(report, rnd)
    roll = rnd.random()
    if roll < 0.12:
        d.mutations.append("valid")
    elif roll < 0.25:
        for name in rnd.sample(HEADER_FIELDS, rnd.randint(1, 4)):
            d.fields[name] = _variant(name, str(d.fields[name]), rnd)
            d.mutations.append(f"variant {name}={_short(d.fields[name])}")
        if rnd.random() < 0.5:  # a later signature, so the variant file supersedes an earlier copy
            later = min(report.submitted_on + timedelta(days=rnd.randint(0, 5)), AS_OF)
            d.fields["submitted_on"] = later.isoformat()
    else:
        mutators, weights = zip(*MUTATORS)
        for mutator in rnd.choices(mutators, weights, k=rnd.randint(1, 3)):
            mutator(d, rnd)
    return FuzzFile(i, _name(i, d, rnd), build(d, rnd), tuple(d.mutations))


def generate(seed: int, count: int) -> list[FuzzFile]:
    """`count` files for `seed`; about 3% are byte-identical copies of an earlier file (another name)."""
    reports = base_reports()
    files: list[FuzzFile] = []
    for i in range(count):
        rnd = random.Random(f"pilotkpi-fuzz-copy:{seed}:{i}")
        if files and rnd.random() < 0.03:
            original = rnd.choice(files)
            files.append(FuzzFile(i, f"{i:05d} copy of {original.name}", original.data,
                                  (f"copy of file {original.index}",)))
        else:
            files.append(generate_one(seed, i, reports))
    return files
