"""Render the reminder letters (one self-contained HTML file per agency and language) and
reminders.csv for a mail merge, into OUT/reminders/.

The Thai letter follows the layout of a Thai external official letter (หนังสือราชการภายนอก,
follow-up.md); the English one is its counterpart in an English business-letter layout. Agency
text (file names, column names, messages quoting values) passes Jinja's autoescape after
kpis.display.html_text, like the summaries.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from kpis.display import html_text, visible
from kpis.files import write_if_changed
from kpis.letters.model import Batch, Letter
from warehouse.export import safe_cell
from warehouse.paths import component

LANGS = ("th", "en")
FOLDER = "reminders"
CSV_NAME = "reminders.csv"
# What the letters folder holds; anything else in it (a note of the secretariat) is left alone.
_LETTER_FILE = re.compile(r"[0-9]{5}\.(th|en)\.(html|pdf)")
_PERIOD = re.compile(r"([0-9]{4})-Q([1-4])")

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")
THAI_MONTHS = ("มกราคม", "กุมภาพันธ์", "มีนาคม", "เมษายน", "พฤษภาคม", "มิถุนายน", "กรกฎาคม", "สิงหาคม",
               "กันยายน", "ตุลาคม", "พฤศจิกายน", "ธันวาคม")
THAI_MONTHS_ABBR = ("ม.ค.", "ก.พ.", "มี.ค.", "เม.ย.", "พ.ค.", "มิ.ย.", "ก.ค.", "ส.ค.", "ก.ย.", "ต.ค.", "พ.ย.", "ธ.ค.")
ENGLISH_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
                  "October", "November", "December")


def thai_digits(value: object) -> str:
    return str(value).translate(THAI_DIGITS)


def date_th(d: date, long: bool = True) -> str:
    """Buddhist Era in Thai digits: ๑๕ สิงหาคม ๒๕๔๙ (long) or ๓๐ ก.ค. ๒๕๔๙."""
    months = THAI_MONTHS if long else THAI_MONTHS_ABBR
    return thai_digits(f"{d.day} {months[d.month - 1]} {d.year + 543}")


def date_en(d: date) -> str:
    return f"{d.day} {ENGLISH_MONTHS[d.month - 1]} {d.year}"  # not strftime: it follows the locale


def _quarter_months(fy: int, q: int) -> tuple[int, int, int]:
    """(first month, last month, CE year) of quarter q of BE fiscal year fy (Q1 is Oct–Dec)."""
    first = (q * 3 + 7) % 12 or 12  # Q1 -> 10, Q2 -> 1, Q3 -> 4, Q4 -> 7
    return first, first + 2, fy - 543 - (1 if q == 1 else 0)


def period_th(period: str, months: bool = True) -> str:
    """ไตรมาส ๓/๒๕๔๙ (เม.ย.–มิ.ย. ๒๕๔๙); a non-canonical text is shown as it is (formatters are total)."""
    m = _PERIOD.fullmatch(period or "")
    if not m:
        return str(period)
    text = thai_digits(f"ไตรมาส {m.group(2)}/{m.group(1)}")
    return f"{text} {quarter_months_th(period)}" if months else text


def quarter_months_th(period: str) -> str:
    """(เม.ย.–มิ.ย. ๒๕๔๙): the quarter's months, BE year of the months themselves."""
    m = _PERIOD.fullmatch(period or "")
    if not m:
        return ""
    first, last, year = _quarter_months(int(m.group(1)), int(m.group(2)))
    return thai_digits(f"({THAI_MONTHS_ABBR[first - 1]}–{THAI_MONTHS_ABBR[last - 1]} {year + 543})")


def period_en(period: str, code: bool = True) -> str:
    """April–June 2006 (2549-Q3): CE months, with the BE period code in brackets."""
    m = _PERIOD.fullmatch(period or "")
    if not m:
        return str(period)
    first, last, year = _quarter_months(int(m.group(1)), int(m.group(2)))
    text = f"{ENGLISH_MONTHS[first - 1]}–{ENGLISH_MONTHS[last - 1]} {year}"
    return f"{text} ({period})" if code else text


@cache  # one per process: a new Environment compiled the template again for every letter
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("kpis.letters", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html.j2"]), trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, finalize=html_text)
    env.filters.update(thai=thai_digits, date_th=date_th, date_en=date_en, period_th=period_th,
                       quarter_months_th=quarter_months_th, period_en=period_en)
    return env


def render_letter(batch: Batch, letter: Letter, lang: str) -> str:
    return _environment().get_template(f"letter.{lang}.html.j2").render(
        b=batch, letter=letter, sender=batch.sender, document_no=batch.document_no(letter),
        addressee=addressee_th(letter) if lang == "th" else addressee_en(letter))


CSV_COLUMNS = ("agency_code", "agency_name_th", "agency_name_en", "pilot_id", "pilot_name_th", "pilot_name_en",
               "period", "due_date", "days_overdue", "level", "reason", "latest_quarantined_file",
               # for the mail merge: whom to write to, and which letter to attach
               "email", "addressee_th", "addressee_en", "document_no", "letter_th", "letter_en")


def addressee_th(letter: Letter) -> str:
    return letter.head_th or f"หัวหน้าส่วนราชการ {letter.name_th}"


def addressee_en(letter: Letter) -> str:
    return letter.head_en or f"The Head of {letter.name_en}"


def reminders_csv(batch: Batch) -> str:
    """One row per (agency, pilot, period); text that Excel would run as a formula is neutralised
    like the exports (warehouse/export.py), and control characters are made visible."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for letter in batch.letters:
        for i in letter.items:
            row = (letter.agency_code, letter.name_th, letter.name_en, i.pilot_id, i.pilot_name_th or "",
                   i.pilot_name_en or "", i.period, i.due_date.isoformat(), i.days_overdue, i.level, i.reason,
                   i.latest_file or "", letter.email or "", addressee_th(letter), addressee_en(letter),
                   batch.document_no(letter), f"{letter.agency_code}.th.html", f"{letter.agency_code}.en.html")
            writer.writerow([safe_cell(visible(v)) if isinstance(v, str) else v for v in row])
    return out.getvalue()


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    write_if_changed(path, text, encoding)  # atomic; an unchanged letter is left as it is


def write_letters(batch: Batch, out_dir: Path) -> list[Path]:
    """OUT/reminders/<agency_code>.<lang>.html and reminders.csv; the letters (and their PDFs) of
    an earlier run that this batch does not rewrite are removed, so the folder holds exactly the
    reminders as of this run."""
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for letter in batch.letters:
        for lang in LANGS:
            # Registry agency codes are 5 digits; checked again here, where a code becomes a path.
            path = folder / f"{component(letter.agency_code)}.{lang}.html"
            _write(path, render_letter(batch, letter, lang))
            written.append(path)
    csv_path = folder / CSV_NAME
    _write(csv_path, reminders_csv(batch), encoding="utf-8-sig")  # the BOM makes Excel read UTF-8
    for old in folder.iterdir():
        if _LETTER_FILE.fullmatch(old.name) and old not in written:
            old.unlink()  # a stale letter, or a PDF printed from yesterday's letter
    return written + [csv_path]


def letter_pdfs(written: list[Path]) -> list[Path]:
    """Print each letter to PDF beside it (kpis/summary/browser.py, the summaries' Chromium path)."""
    from kpis.summary.browser import print_pdf

    return [print_pdf(p, p.with_suffix(".pdf")) for p in written if p.suffix == ".html"]
