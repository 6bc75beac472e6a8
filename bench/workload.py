"""A deterministic national workload (issue 12): a registry and an inbox for N pilots.

400 pilots (the default) give about 20,000 files and 1,000,000 lines: eight agencies per pilot
(a lead, six that report, an adviser) over the demo's seven quarters, 40-60 budget lines per
file plus the lead's KPI lines. Agencies keep a house style (70% CSV, 19% XLSX, 11% JSON by
agency, with every spelling agency-report-v1.md accepts); 2% of the reports arrive defective
first and corrected after, 1% are resubmitted, 0.5% arrive twice.

Seeded `random.Random` per subject and no clock: the same N writes the same bytes. The story
(scores, budgets, dates) comes from pilots/demo.py's generators, so every regular file is valid.
`manifest` says what a run must find: files, lines, and each file's expected status.
"""
from __future__ import annotations

import io
import json
import random
import re
import zipfile
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import openpyxl

from pilots import demo
from pilots.contract import COLUMNS, FUNDING_SOURCES, HEADER_FIELDS, LINE_TYPES

SEED = "pilotkpi-bench-national"
AS_OF = demo.AS_OF
REPORTING = 7          # agencies that report per pilot (lead included); one adviser more
AGENCIES_PER_PILOT = 0.75  # 400 pilots -> 300 agencies
FIXED_TIME = datetime(2006, 8, 1, 9, 0, 0)  # workbook timestamps: never the clock
THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
               "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
THAI_MONTHS_ABBR = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
NOTES = ("จัดซื้อครุภัณฑ์คอมพิวเตอร์", "จ้างที่ปรึกษาออกแบบระบบ", "ฝึกอบรมเจ้าหน้าที่", "เช่าวงจรสื่อสาร",
         "พัฒนาซอฟต์แวร์ระบบงาน", "ประชาสัมพันธ์โครงการ")
MINISTRIES = ("Office of the Prime Minister", "Ministry of Finance", "Ministry of Interior", "Ministry of Commerce",
              "Ministry of Labour", "Ministry of Science and Technology", "Ministry of Public Health",
              "Ministry of Education", "Ministry of Transport", "Ministry of Justice", "Ministry of Industry",
              "Ministry of Agriculture and Cooperatives", "Ministry of Energy", "Ministry of Culture",
              "Ministry of Information and Communication Technology", "Ministry of Social Development")
DEFECTS = ("disbursed_over_allocated", "missing_column", "unknown_pilot")
ID_COLUMNS = ("pilot_id", "agency_code", "period", "submitted_on", "item_code")  # kept as text by the bare read


def _rng(*parts: object) -> random.Random:
    return random.Random(":".join((SEED, *map(str, parts))))


# --- agencies and their house styles -------------------------------------------------------------

@dataclass(frozen=True)
class HouseStyle:
    fmt: str                      # csv | xlsx | json
    encoding: str = "utf-8"       # csv: utf-8 | utf-8-sig | cp874
    sep: str = ","
    newline: str = "\n"
    thai: bool = False            # Thai headers, line types and funding sources
    period: int = 0               # index into _period_text's spellings
    dates: int = 0                # index into _date_text's spellings
    thousands: bool = False       # amounts as 1,250,000.00
    percent_sign: bool = False    # 85% on percent KPIs
    short_agency: bool = False    # the agency code lost its leading zero (or is a number cell)
    total_row: bool = False       # a "รวม" row at the end (dropped with a warning)
    zero_width: bool = False      # zero-width spaces in the notes
    sheet: str | None = None      # xlsx: a decoy first sheet, the report on this one
    number_cells: bool = False    # xlsx: amounts as number cells, submitted_on as a date cell


def agency_codes(n_agencies: int) -> list[str]:
    # Ministry number (2 digits) + department (3 digits): 5-digit codes, many with leading zeros.
    return [f"{i % len(MINISTRIES) + 1:02d}{i // len(MINISTRIES) + 1:03d}" for i in range(n_agencies)]


def house_style(code: str) -> HouseStyle:
    r = _rng("style", code)
    # The format by the agency's number (inverse of agency_codes), stepping 37 around 100: every
    # 100 agencies are exactly 70 CSV, 19 XLSX, 11 JSON, and the first nine already hold all three.
    index = (int(code[2:]) - 1) * len(MINISTRIES) + int(code[:2]) - 1
    draw = index * 37 % 100
    fmt = "csv" if draw < 70 else "xlsx" if draw < 89 else "json"
    common = dict(period=r.randrange(6), dates=r.randrange(7), thousands=r.random() < 0.3,
                  percent_sign=r.random() < 0.3, short_agency=r.random() < 0.1, total_row=r.random() < 0.1,
                  zero_width=r.random() < 0.1)
    if fmt == "csv":
        encoding = r.choice(("utf-8", "utf-8", "utf-8-sig", "cp874"))
        if encoding == "cp874":
            common["zero_width"] = False  # Windows-874 has no zero-width space
        return HouseStyle("csv", encoding=encoding, sep=r.choice((",", ",", ";", "\t")),
                          newline=r.choice(("\n", "\r\n")), thai=r.random() < 0.4, **common)
    if fmt == "xlsx":
        return HouseStyle("xlsx", thai=r.random() < 0.4, sheet=r.choice((None, None, "report", "รายงาน")),
                          number_cells=r.random() < 0.5, **common)
    return HouseStyle("json", **{**common, "total_row": False})


# --- pilots --------------------------------------------------------------------------------------

def pilot_id(i: int) -> str:
    return f"PLT-{2548 + i // 999}-{i % 999 + 1:03d}"


KPI_POOL = tuple(k for p in demo.PILOTS for k in p.kpis)


def pilot_plans(n_pilots: int) -> tuple[list[demo.AgencyInfo], list[demo.PilotPlan]]:
    codes = agency_codes(max(REPORTING + 3, round(n_pilots * AGENCIES_PER_PILOT)))  # 10+: all three formats
    agencies = [demo.AgencyInfo(c, f"หน่วยงานที่ {n + 1}", f"Agency {n + 1}", MINISTRIES[int(c[:2]) - 1])
                for n, c in enumerate(codes)]
    plans = []
    for i in range(n_pilots):
        pid = pilot_id(i)
        r = _rng("pilot", pid)
        members = r.sample(codes, REPORTING + 1)
        roles = ["lead"] + [r.choice(("secondary", "supporting")) for _ in range(REPORTING - 1)] + ["advisory"]
        templates = r.sample(KPI_POOL, r.randint(2, 5))
        weights = [100 // len(templates)] * len(templates)
        weights[0] += 100 - sum(weights)
        kpis = tuple(replace(k, code=f"K{j + 1}", weight=w) for j, (k, w) in enumerate(zip(templates, weights)))
        activities = {}
        for code, role in zip(members[:REPORTING], roles):
            ra = _rng("activities", pid, code)
            # Only a supporting agency may report a support contribution (SUPPORT_NOT_SUPPORTING).
            sources = tuple(FUNDING_SOURCES) if role == "supporting" else ("own", "lead_integrated")
            acts = []
            for j in range(ra.randint(40, 60)):
                layer = ra.randint(1, 5)
                m48 = round(ra.uniform(0.5, 40.0), 1)
                acts.append(demo._a(f"ACT-L{layer}-{j + 1:02d}", layer, ra.choice(sources), m48,
                                    round(m48 * ra.uniform(0.8, 1.3), 1), ra.choice(NOTES)))
            activities[code] = tuple(acts)
        plans.append(demo.PilotPlan(
            pid, f"โครงการนำร่องที่ {i + 1}", f"Pilot project {i + 1}", layer=r.randint(1, 5),
            strategies=tuple(sorted(r.sample(range(1, 8), r.randint(1, 3)))),
            classification="restricted" if i % 50 == 49 else "open", end=demo.END_FY2549,
            agencies=tuple(zip(members, roles)), kpis=kpis, activities=activities,
            trend=(round(r.uniform(1.5, 4.5), 2), round(r.uniform(1.5, 4.5), 2))))
    return agencies, plans


# --- spellings -----------------------------------------------------------------------------------

def _period_text(period: str, style: int) -> str:
    fy, q = int(period[:4]), period[-1]
    return (period, f"Q{q}/{fy}", f"ไตรมาส {q}/{fy}", f"ไตรมาส {q}/{fy}".translate(THAI_DIGITS),
            f"ไตรมาส {q}/{fy % 100}", f"FY{fy - 543}-Q{q}")[style]


def _date_text(d: date, style: int) -> str:
    be = d.year + 543
    return (d.isoformat(), f"{be}-{d.month:02d}-{d.day:02d}", f"{d.day:02d}/{d.month:02d}/{be}",
            f"{d.day}/{d.month}/{d.year}", f"{d.day} {THAI_MONTHS_ABBR[d.month - 1]} {be}",
            f"{d.day} {THAI_MONTHS[d.month - 1]} {be}", f"{d.day:02d}/{d.month:02d}/{be}".translate(THAI_DIGITS))[style]


# --- files ---------------------------------------------------------------------------------------

@dataclass
class Planned:
    """One file of the workload and what a run must make of it."""
    name: str
    report: demo.Report
    style: HouseStyle
    expect: str                       # accepted | superseded | duplicate | quarantined
    defect: str | None = None
    copy_of: str | None = None        # a duplicate: the same bytes as this file
    lines: int = 0                    # data rows written (a total row included)
    core_lines: int = 0               # rows that reach core.* if the file ends accepted


def _ext(style: HouseStyle) -> str:
    return style.fmt


def _rows(report: demo.Report, style: HouseStyle, units: dict[str, str], defect: str | None) -> list[dict]:
    """The report's rows as the agency writes them: canonical values respelled in its style."""
    r = _rng("cells", report.pilot_id, report.agency_code, report.period)
    agency = report.agency_code.lstrip("0") if style.short_agency else report.agency_code
    rows = []
    for line in report.lines:
        row = {"pilot_id": report.pilot_id, "agency_code": agency,
               "period": _period_text(report.period, style.period),
               "submitted_on": _date_text(report.submitted_on, style.dates), **line}
        if row.get("actual") is not None and style.percent_sign and units.get(line["item_code"]) == "percent":
            row["actual"] = f"{row['actual']}%"
        for name in ("allocated_thb", "disbursed_thb"):
            if row.get(name) is not None and style.thousands:
                row[name] = f"{float(row[name]):,.2f}"
        if row.get("note") and style.zero_width and r.random() < 0.5:
            row["note"] = row["note"][:3] + "\u200b" + row["note"][3:]
        if style.thai:
            row["line_type"] = LINE_TYPES[row["line_type"]]
            if row.get("funding_source"):
                row["funding_source"] = FUNDING_SOURCES[row["funding_source"]]
        rows.append(row)
    if defect == "disbursed_over_allocated":
        budget = [row for row in rows if row["line_type"] in ("budget", LINE_TYPES["budget"])]
        target = budget[r.randrange(len(budget))]
        allocated = float(str(target["allocated_thb"]).replace(",", ""))
        target["disbursed_thb"] = f"{allocated * 1.18:.2f}"
    elif defect == "unknown_pilot":
        for row in rows:
            row["pilot_id"] = "PLT-2547-001"  # no generated pilot is from 2547
    if style.total_row:
        rows.append({"pilot_id": report.pilot_id, "agency_code": agency, "period": row["period"],
                     "submitted_on": row["submitted_on"], "line_type": "", "item_code": "", "note": "รวม"})
    return rows


def render(report: demo.Report, style: HouseStyle, units: dict[str, str], defect: str | None = None) -> tuple[bytes, int]:
    """(bytes, data rows) of one report file."""
    rows = _rows(report, style, units, defect)
    drop = ("disbursed_thb",) if defect == "missing_column" else ()
    columns = [c for c in COLUMNS if c.name not in drop]
    if style.fmt == "json":
        doc = {name: rows[0][name] for name in HEADER_FIELDS}
        doc["lines"] = [{c.name: _json_value(c.name, row[c.name]) for c in columns
                         if c.name not in HEADER_FIELDS and row.get(c.name) is not None} for row in rows]
        return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode("utf-8"), len(rows)
    header = [c.thai if style.thai else c.name for c in columns]
    table = [[row.get(c.name) or "" for c in columns] for row in rows]
    if style.fmt == "xlsx":
        return _xlsx(header, table, [c.name for c in columns], style), len(rows)
    text = style.newline.join(style.sep.join(_csv_cell(v, style.sep) for v in line)
                              for line in [header, *table]) + style.newline
    if style.encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8"), len(rows)
    return text.encode(style.encoding), len(rows)


def _csv_cell(value: str, sep: str) -> str:
    if any(ch in value for ch in (sep, '"', "\n", "\r")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _json_value(name: str, value: str) -> object:
    if name in ("layer", "actual", "allocated_thb", "disbursed_thb") and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return demo._json_number(value)
    return value


def _xlsx(header: list[str], table: list[list[str]], names: list[str], style: HouseStyle) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if style.sheet:
        sheet.title = "notes"
        sheet.append(["หมายเหตุ", "รายงานอยู่ในแผ่นงานถัดไป"])
        sheet = book.create_sheet(style.sheet)
        sheet.append([])  # a blank row above the header
    sheet.append(header)
    for line in table:
        cells: list[object] = []
        for name, value in zip(names, line):
            if style.number_cells and name in ("allocated_thb", "disbursed_thb", "layer") and value \
                    and re.fullmatch(r"\d+(\.\d+)?", value):
                cells.append(float(value) if "." in value else int(value))
            elif style.number_cells and name == "submitted_on" and re.fullmatch(r"\d{4}-\d\d-\d\d", value) \
                    and int(value[:4]) < 2400:
                cells.append(date.fromisoformat(value))  # an Excel date cell
            else:
                cells.append(value)
        sheet.append(cells)
    book.properties.created = book.properties.modified = FIXED_TIME
    out = io.BytesIO()
    book.save(out)
    return _fixed_zip_times(out.getvalue())


def _fixed_zip_times(data: bytes) -> bytes:
    """The same workbook bytes on any day: openpyxl stamps zip members and 'modified' with the clock."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2006-08-01T09:00:00Z", body)
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6]), body,
                         compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _core_lines(report: demo.Report) -> int:
    return len(report.lines)


def plan_files(plans: list[demo.PilotPlan]) -> list[Planned]:
    """Every file of the inbox with its expected status (in no particular order)."""
    out: list[Planned] = []
    for plan in plans:
        for report in demo._regular_reports(plan):
            style = house_style(report.agency_code)
            base = demo.default_file_name(report.pilot_id, report.agency_code, report.period, _ext(style))
            stem = base.rsplit(".", 1)[0]
            r = _rng("fate", report.pilot_id, report.agency_code, report.period)
            draw = r.random()
            if draw < 0.02:  # defective first, corrected 8 days later (names sort in that order)
                out.append(Planned(base, report, style, "quarantined", defect=r.choice(DEFECTS)))
                fixed = replace(report, submitted_on=min(report.submitted_on + timedelta(days=8), AS_OF - timedelta(days=1)))
                out.append(Planned(f"{stem}_v2.{_ext(style)}", fixed, style, "accepted"))
            elif draw < 0.03:  # sent, then resubmitted 5 days later with a corrected note
                first = demo._copy(report)
                first.lines[-1]["note"] = "ฉบับร่าง"
                out.append(Planned(base, first, style, "superseded"))
                later = replace(report, submitted_on=min(report.submitted_on + timedelta(days=5), AS_OF - timedelta(days=1)))
                out.append(Planned(f"{stem}_rev1.{_ext(style)}", later, style, "accepted"))
            else:
                out.append(Planned(base, report, style, "accepted"))
                if draw > 0.995:  # the same bytes again under another name: a duplicate
                    out.append(Planned(f"สำเนา {base}", report, style, "duplicate", copy_of=base))
    return out


def increment(plans: list[demo.PilotPlan], fraction: float) -> list[Planned]:
    """The next night's new files: revisions of `fraction` of the reports (each replaces the accepted one)."""
    reports = [r for plan in plans for r in demo._regular_reports(plan)]
    chosen = _rng("increment").sample(range(len(reports)), max(1, round(len(reports) * fraction)))
    out = []
    for i in sorted(chosen):
        report = demo._copy(reports[i], submitted_on=min(reports[i].submitted_on + timedelta(days=12),
                                                         AS_OF - timedelta(days=1)))
        report.lines[-1]["note"] = "ฉบับปรับปรุง"
        style = house_style(report.agency_code)
        stem = demo.default_file_name(report.pilot_id, report.agency_code, report.period, "x")[:-2]
        out.append(Planned(f"{stem}_rev9.{_ext(style)}", report, style, "accepted"))
    return out


@dataclass
class Workload:
    registry: Path
    inbox: Path
    as_of: date
    manifest: dict = field(default_factory=dict)


def write_files(planned: list[Planned], plans: list[demo.PilotPlan], inbox: Path) -> dict:
    """Write the files; return their manifest (counts the run must reproduce)."""
    inbox.mkdir(parents=True, exist_ok=True)
    units = {p.pilot_id: {k.code: k.unit for k in p.kpis} for p in plans}
    written: dict[str, bytes] = {}
    for f in sorted(planned, key=lambda f: f.copy_of is not None):  # originals before their copies
        if f.copy_of is not None:
            data = written[f.copy_of]
            f.lines = next(g.lines for g in planned if g.name == f.copy_of)
        else:
            data, f.lines = render(f.report, f.style, units[f.report.pilot_id], f.defect)
            written[f.name] = data
        f.core_lines = _core_lines(f.report)
        (inbox / f.name).write_bytes(data)
    by_fmt: dict[str, int] = {}
    expect: dict[str, int] = {}
    for f in planned:
        by_fmt[f.style.fmt] = by_fmt.get(f.style.fmt, 0) + 1
        expect[f.expect] = expect.get(f.expect, 0) + 1
    return {
        "files": len(planned), "bytes": sum(len(d) for d in written.values())
        + sum(len(written[f.copy_of]) for f in planned if f.copy_of),
        "lines": sum(f.lines for f in planned), "by_format": dict(sorted(by_fmt.items())),
        "expected": dict(sorted(expect.items())),
        "core_lines": sum(f.core_lines for f in planned if f.expect == "accepted"),
        "defects": dict(sorted((d, sum(f.defect == d for f in planned)) for d in DEFECTS)),
        # The Windows-874 files (their agencies' house style), so the floor decodes them once.
        "cp874_files": sorted(f.name for f in planned if f.style.fmt == "csv" and f.style.encoding == "cp874"),
    }


def registry_files(agencies: list[demo.AgencyInfo], plans: list[demo.PilotPlan]) -> dict[str, str]:
    """The registry in pilot-registry.md's format, written by the demo's own writer."""
    return demo.registry_files(tuple(agencies), tuple(plans))


def write_workload(folder: Path, n_pilots: int) -> Workload:
    """folder/registry and folder/inbox for n_pilots; folder/manifest.json says what to expect."""
    folder = Path(folder)
    agencies, plans = pilot_plans(n_pilots)
    registry = folder / "registry"
    (registry / "pilots").mkdir(parents=True, exist_ok=True)
    for rel, text in registry_files(agencies, plans).items():
        (registry / rel).write_bytes(text.encode("utf-8"))
    manifest = write_files(plan_files(plans), plans, folder / "inbox")
    manifest.update(pilots=n_pilots, agencies=len(agencies))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return Workload(registry, folder / "inbox", AS_OF, manifest)


def write_increment(folder: Path, n_pilots: int, fraction: float, inbox: Path) -> dict:
    """The 1%-new night's files into `inbox`; their manifest."""
    _, plans = pilot_plans(n_pilots)
    return write_files(increment(plans, fraction), plans, inbox)
