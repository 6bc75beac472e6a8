"""The format guides for agencies, docs/report-format.md (English) and docs/report-format.th.md (Thai).

The prose is hand-written in one Jinja2 template per language beside this file; everything the code
knows is filled in from the code: the columns and Thai labels (pilots.contract), the spellings the
normaliser reads (pilots.normalise), the defect catalogue with its fixes (pilots/defects.yaml) and
the worked example files kept beside this file, which tests/test_guide.py checks against the demo
registry. `pilotkpi docs` writes the guides; a test fails when the committed ones drift.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from string import ascii_uppercase

import jinja2
import yaml

from pilots.contract import COLUMNS, FUNDING_SOURCES, LINE_TYPES
from pilots.defects import DefectType, catalogue
from pilots.normalise import PLACEHOLDERS, THAI_MONTHS, TOTAL_WORDS
from pilots.readers.csv_reader import SEPARATORS
from pilots.readers.xlsx_reader import PREFERRED_SHEETS

HERE = Path(__file__).parent
LANGUAGES = ("en", "th")
GUIDE_FILES = {"en": "report-format.md", "th": "report-format.th.md"}

# The worked examples (files beside this module).
CSV_EXAMPLE = "PLT-2548-003_03009_2549-Q3.csv"
JSON_EXAMPLE = "PLT-2548-005_07007_2549-Q3.json"
XLSX_EXAMPLE = "PLT-2548-002_01002_2549-Q3.xlsx"  # its layout: XLSX_EXAMPLE + ".yaml"

# Words for the contract's kinds and requirement levels; a new kind or level fails here (KeyError).
KINDS = {
    "text": ("text", "ข้อความ"),
    "agency_code": ("5-digit code", "รหัสตัวเลข 5 หลัก"),
    "period": ("fiscal quarter", "ไตรมาสของปีงบประมาณ"),
    "date": ("date", "วันที่"),
    "line_type": ("kpi / budget", "ตัวชี้วัด / งบประมาณ"),
    "layer": ("whole number 1-5", "จำนวนเต็ม 1-5"),
    "number": ("number", "ตัวเลข"),
    "amount": ("amount in baht", "จำนวนเงิน (บาท)"),
    "funding_source": ("see below", "ดูด้านล่าง"),
}
NEEDED = {
    "always": ("every row", "ทุกแถว"),
    "kpi": ("kpi rows", "แถวตัวชี้วัด"),
    "budget": ("budget rows", "แถวงบประมาณ"),
    "never": ("optional", "ไม่บังคับ"),
}
MEANINGS = {
    "pilot_id": ("the pilot's code in the registry, e.g. PLT-2548-003", "รหัสโครงการตามทะเบียน เช่น PLT-2548-003"),
    "agency_code": ("your agency's code, e.g. 03009", "รหัสหน่วยงานผู้รายงาน เช่น 03009"),
    "period": ("the fiscal quarter reported on, e.g. 2549-Q3", "ไตรมาสที่รายงาน เช่น ไตรมาส 3/2549"),
    "submitted_on": ("the day the report was signed", "วันที่ลงนามในรายงาน"),
    "line_type": ("what the row holds: a KPI value or a budget line", "ชนิดของแถว: ผลตัวชี้วัด หรือรายการงบประมาณ"),
    "item_code": ("a KPI code of the pilot (kpi rows) or an activity code (budget rows), e.g. K1, ACT-L3-01",
                  "รหัสตัวชี้วัดของโครงการ (แถวตัวชี้วัด) หรือรหัสกิจกรรม (แถวงบประมาณ) เช่น K1, ACT-L3-01"),
    "layer": ("the activity's development layer", "ชั้นการพัฒนาของกิจกรรม"),
    "actual": ("the KPI's value at the end of the quarter", "ผลของตัวชี้วัด ณ สิ้นไตรมาส"),
    "allocated_thb": ("the activity's allocation for the whole fiscal year", "งบจัดสรรของกิจกรรมทั้งปีงบประมาณ"),
    "disbursed_thb": ("paid from the start of the fiscal year to the end of the quarter",
                      "ยอดเบิกจ่ายสะสมตั้งแต่ต้นปีงบประมาณถึงสิ้นไตรมาส"),
    "funding_source": ("how this money is planned", "ลักษณะการวางแผนงบประมาณนี้"),
    "note": ("free text; no personal data", "ข้อความอิสระ ห้ามมีข้อมูลส่วนบุคคล"),
}
FUNDING_MEANINGS = {
    "own": ("the agency's own budget, planned by itself", "งบประมาณของหน่วยงานเอง ที่หน่วยงานวางแผนเอง"),
    "lead_integrated": ("budget planned and requested through the lead agency's integrated plan",
                        "งบประมาณที่วางแผนและขอผ่านแผนบูรณาการของหน่วยงานหลัก"),
    "support_contribution": ("money a supporting agency gives because the lead agency asked for it "
                             "(supporting agencies only)",
                             "งบที่หน่วยงานเสริมสมทบตามคำขอของหน่วยงานหลัก (เฉพาะหน่วยงานเสริม)"),
}

# Spellings the normaliser reads, each with the canonical value it gives; tests/test_guide.py runs
# every one through pilots.normalise, so the guide cannot promise what the code does not do.
PERIOD_VARIANTS = (
    ("2548-Q1", "2548-Q1"), ("Q1/2548", "2548-Q1"), ("ไตรมาส 1/2548", "2548-Q1"), ("ไตรมาสที่ 1/2548", "2548-Q1"),
    ("ไตรมาส ๑/๒๕๔๘", "2548-Q1"), ("ไตรมาส 1/48", "2548-Q1"), ("1/48", "2548-Q1"), ("FY2005-Q1", "2548-Q1"),
)
PERIOD_REFUSED = ("2005-Q1", "ไตรมาส 5/2548", "Q1-Q2/2548")
DATE_VARIANTS = (
    ("2004-12-20", "2004-12-20"), ("2547-12-20", "2004-12-20"), ("20/12/2547", "2004-12-20"),
    ("20/12/2004", "2004-12-20"), ("20/12/47", "2004-12-20"), ("20 ธ.ค. 2547", "2004-12-20"),
    ("20 ธ.ค. 47", "2004-12-20"), ("20 ธค 2547", "2004-12-20"), ("20 ธันวาคม 2547", "2004-12-20"),
    ("๒๐/๑๒/๒๕๔๗", "2004-12-20"),
)
NUMBER_VARIANTS = (  # (written, canonical, where it is accepted: actual | amount | percent)
    ("1250000", "1250000", "any"), ("1,250,000.00", "1250000.00", "any"), ("๑,๒๕๐,๐๐๐", "1250000", "any"),
    ("1250000 บาท", "1250000", "baht"), ("1.25 ล้านบาท", "1250000.00", "baht"), ("85%", "85", "percent"),
)
AGENCY_VARIANTS = (("03009", "03009"), ("3009", "03009"), ("3009.0", "03009"), ("11002.0", "11002"),
                   ("๐๓๐๐๙", "03009"))


@dataclass(frozen=True)
class Defect:
    code: str
    message: str
    fix: str


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[LANGUAGES.index(lang)]


def example_text(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


@cache
def xlsx_layout() -> dict:
    """{"sheet": name, "rows": [[cell, ...], ...]}: the Excel example as its cells."""
    return yaml.safe_load(example_text(XLSX_EXAMPLE + ".yaml"))


def example_workbook() -> bytes:
    """The Excel example as a workbook agencies can download (web/app.py): the layout's cells, on
    the sheet the guide names, with the cell types the guide describes (a date cell, number cells)."""
    import io

    import openpyxl

    layout = xlsx_layout()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = layout["sheet"]
    for row in layout["rows"]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _sheet_table(layout: dict) -> list[list[str]]:
    """The sheet as a grid with column letters and row numbers; dates shown day/month/year."""
    rows = layout["rows"]
    width = max(len(r) for r in rows)
    grid = [["", *ascii_uppercase[:width]]]
    for n, row in enumerate(rows, start=1):
        cells = []
        for cell in row:
            if cell is None:
                cells.append("")
            elif isinstance(cell, dt.date):
                cells.append(f"*{cell.day}/{cell.month}/{cell.year}*")
            else:
                cells.append(str(cell))
        grid.append([str(n), *cells])
    return grid


def _cells_of(layout: dict, kind: type) -> list[str]:
    """Column ranges (A2:A6) of the cells of one Python type, for "these are date cells"."""
    out = []
    rows = layout["rows"]
    for col in range(max(len(r) for r in rows)):
        numbers = [n for n, r in enumerate(rows, start=1)
                   if col < len(r) and isinstance(r[col], kind) and not isinstance(r[col], bool)]
        if numbers:
            letter = ascii_uppercase[col]
            spans, start = [], numbers[0]
            for prev, cur in zip(numbers, numbers[1:] + [None]):
                if cur != prev + 1:
                    spans.append(f"{letter}{start}" if start == prev else f"{letter}{start}:{letter}{prev}")
                    start = cur
            out += spans
    return out


def _defects(lang: str, severity: str) -> list[Defect]:
    def make(d: DefectType) -> Defect:
        return Defect(d.code, d.en if lang == "en" else d.th, d.fix_en if lang == "en" else d.fix_th)
    return [make(d) for d in catalogue().values() if d.severity == severity]


def _context(lang: str) -> dict:
    layout = xlsx_layout()
    names = sorted(THAI_MONTHS, key=lambda n: THAI_MONTHS[n])  # stable: month order, then catalogue order
    short = [n for n in names if "." in n]
    undotted = {n.replace(".", "") for n in short}
    return {
        "lang": lang,
        "columns": [{"name": c.name, "thai": c.thai, "kind": _pick(KINDS[c.kind], lang),
                     "needed": _pick(NEEDED[c.required], lang), "meaning": _pick(MEANINGS[c.name], lang)}
                    for c in COLUMNS],
        "line_types": LINE_TYPES,
        "funding_sources": [(code, thai, _pick(FUNDING_MEANINGS[code], lang)) for code, thai in FUNDING_SOURCES.items()],
        "separators": ["tab" if s == "\t" else s for s in SEPARATORS],
        "sheets": PREFERRED_SHEETS,
        "placeholders": sorted(p for p in PLACEHOLDERS if p),
        "total_words": TOTAL_WORDS,
        "months_full": [n for n in names if "." not in n and n not in undotted],
        "months_short": short,
        "period_variants": PERIOD_VARIANTS,
        "period_refused": PERIOD_REFUSED,
        "date_variants": DATE_VARIANTS,
        "number_variants": NUMBER_VARIANTS,
        "agency_variants": AGENCY_VARIANTS,
        "csv_name": CSV_EXAMPLE, "csv_text": example_text(CSV_EXAMPLE).rstrip("\n"),
        "json_name": JSON_EXAMPLE, "json_text": example_text(JSON_EXAMPLE).rstrip("\n"),
        "xlsx_name": XLSX_EXAMPLE, "xlsx_sheet": layout["sheet"], "xlsx_grid": _sheet_table(layout),
        "xlsx_numbers": _cells_of(layout, (int, float)), "xlsx_dates": _cells_of(layout, dt.date),
        "errors": _defects(lang, "error"),
        "warnings": _defects(lang, "warning"),
    }


def _environment() -> jinja2.Environment:
    # Markdown, not HTML: nothing to escape, and every value is the project's own text.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE)), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)


def guide_markdown(lang: str) -> str:
    """The agency format guide in `lang` (en | th)."""
    if lang not in LANGUAGES:
        raise ValueError(f"no guide in {lang!r}")
    return _environment().get_template(f"report-format.{lang}.md.j2").render(_context(lang))


def guides() -> dict[str, str]:
    """docs file name -> text, for `pilotkpi docs`."""
    return {GUIDE_FILES[lang]: guide_markdown(lang) for lang in LANGUAGES}
