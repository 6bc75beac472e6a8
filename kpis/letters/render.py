"""Render the reminder letters (one self-contained HTML file per agency and language) and
reminders.csv for a mail merge, into OUT/reminders/.

The Thai letter follows the layout of a Thai external official letter (หนังสือราชการภายนอก,
follow-up.md); the English one is its counterpart in an English business-letter layout. Agency
text (file names, column names, messages quoting values) passes Jinja's autoescape after
warehouse.display.html_text, like the summaries.
"""
from __future__ import annotations

import csv
import io
import logging
import re
from datetime import date
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from warehouse.display import html_text, visible
from kpis.files import write_if_changed
from kpis.letters.model import Batch, Letter
from pilots.fiscal import be_year, quarter_months as _quarter_months
from pilots.thai_dates import ENGLISH_MONTHS, THAI_MONTHS, THAI_MONTHS_ABBR
from kpis.letters.register import earlier_reminders, latest_date, number_letters, read_register, record, register_lock
from warehouse.export import csv_cell
from warehouse.paths import component

LOGGER = logging.getLogger(__name__)

LANGS = ("th", "en")
FOLDER = "reminders"
CSV_NAME = "reminders.csv"
# What the letters folder holds; anything else in it (a note of the secretariat) is left alone.
_LETTER_FILE = re.compile(r"[0-9]{5}\.(th|en)\.(html|pdf)")
_PERIOD = re.compile(r"([0-9]{4})-Q([1-4])")

THAI_DIGITS = str.maketrans("0123456789", "๐๑๒๓๔๕๖๗๘๙")


def thai_digits(value: object) -> str:
    return str(value).translate(THAI_DIGITS)


def date_th(d: date, long: bool = True) -> str:
    """Buddhist Era in Thai digits: ๑๕ สิงหาคม ๒๕๔๙ (long) or ๓๐ ก.ค. ๒๕๔๙."""
    months = THAI_MONTHS if long else THAI_MONTHS_ABBR
    return thai_digits(f"{d.day} {months[d.month - 1]} {be_year(d.year)}")


def date_en(d: date) -> str:
    return f"{d.day} {ENGLISH_MONTHS[d.month - 1]} {d.year}"  # not strftime: it follows the locale


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
    return thai_digits(f"({THAI_MONTHS_ABBR[first - 1]}–{THAI_MONTHS_ABBR[last - 1]} {be_year(year)})")


def period_en(period: str, code: bool = True) -> str:
    """April–June 2006 (2549-Q3): CE months, with the BE period code in brackets."""
    m = _PERIOD.fullmatch(period or "")
    if not m:
        return str(period)
    first, last, year = _quarter_months(int(m.group(1)), int(m.group(2)))
    text = f"{ENGLISH_MONTHS[first - 1]}–{ENGLISH_MONTHS[last - 1]} {year}"
    return f"{text} ({period})" if code else text


# English names of Thai government bodies take the article inside a sentence ("reports of the
# Department of Provincial Administration"): a name built as "<body> of …" or on one of these nouns.
_ORGANISATION_NOUNS = {"ministry", "department", "office", "bureau", "division", "institute", "council",
                       "commission", "committee", "agency", "secretariat", "royal", "national", "court", "bank",
                       "metropolitan", "government", "thai", "central", "provincial"}


def with_article(name: str, capital: bool = False) -> str:
    """"the Department of …" inside a sentence; a name that already starts with "the" is only
    re-cased, and a proper name without "of" (e.g. "Thailand Post") is left as it is."""
    words = name.split(maxsplit=1)
    if not words:
        return name
    if words[0].lower() == "the":
        rest = name[len(words[0]):]
    elif " of " in f" {name} " or words[0].lower() in _ORGANISATION_NOUNS:
        rest = " " + name
    else:
        return name
    return ("The" if capital else "the") + rest


@cache  # one per process: a new Environment compiled the template again for every letter
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("kpis.letters", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(["html.j2"]), trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True, finalize=html_text)
    env.filters.update(thai=thai_digits, date_th=date_th, date_en=date_en, period_th=period_th,
                       quarter_months_th=quarter_months_th, period_en=period_en, the=with_article)
    return env


def compile_templates() -> int:
    """Compile the letters' templates now (the number compiled). The forkserver of `pilotkpi serve`
    calls it (flows/warm_preload.py): a served night with letters to write compiled both languages'
    (and the style they include) each time, about 30 ms of CPU after the commit. Jinja compiles a
    template again when its file changed on disk."""
    env = _environment()
    names = env.list_templates(filter_func=lambda name: name.endswith(".j2"))
    for name in names:
        env.get_template(name)
    return len(names)


def render_letter(batch: Batch, letter: Letter, lang: str) -> str:
    return _environment().get_template(f"letter.{lang}.html.j2").render(
        b=batch, letter=letter, sender=batch.sender, document_no=batch.document_no(letter),
        addressee=addressee_th(letter) if lang == "th" else addressee_en(letter))


# One row per agency and letter (issue 23): a mail merge sends each letter once. The reports it
# lists are in one cell, one line each; marts.reminders keeps one row per report.
CSV_COLUMNS = ("agency_code", "agency_name_th", "agency_name_en", "email", "addressee_th", "addressee_en",
               "document_no", "level", "report_count", "reports", "letter_th", "letter_en")


def addressee_th(letter: Letter) -> str:
    return letter.head_th or f"หัวหน้าส่วนราชการ {letter.name_th}"


def addressee_en(letter: Letter) -> str:
    return letter.head_en or f"The Head of {with_article(letter.name_en)}"


def report_line(item) -> str:
    """One report of a letter in the CSV's reports cell: pilot, name (none for a restricted pilot),
    period, due date, days overdue, level, reason and the latest quarantined file."""
    parts = [item.pilot_id]
    if item.pilot_name_en:
        # Registry text, which refuses control characters (pilots/registry.py); shown visible anyway:
        # a newline in a name would start a fake report line.
        parts.append(f"({visible(item.pilot_name_th)} / {visible(item.pilot_name_en)})")
    days = f"{item.days_overdue} day{'' if item.days_overdue == 1 else 's'} overdue"  # English: 1 day, 2 days
    parts += [item.period, f"due {item.due_date.isoformat()}", days,
              f"level {item.level}", item.reason]
    if item.latest_file:
        parts.append(f"file {visible(item.latest_file)}")  # its own newline must not end the line
    return " ".join(parts)


def reminders_csv(batch: Batch) -> str:
    """One row per agency and letter, its reports one line each in the reports cell; for Excel (a
    mail merge, follow-up.md) as the web's CSV downloads are (warehouse.export.csv_cell): an
    identifier Excel would turn into a number is written `="01002"` (the agency code, and a letter
    number `0105/12`), text that Excel would run as a formula is neutralised like the exports, and
    control characters are made visible."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for letter in batch.letters:
        # A line starting "=" inside the cell is harmless: Excel evaluates a cell, not its lines.
        reports = "\n".join(report_line(i) for i in letter.items)
        row = (letter.agency_code, visible(letter.name_th), visible(letter.name_en), visible(letter.email or ""),
               visible(addressee_th(letter)), visible(addressee_en(letter)), visible(batch.document_no(letter)),
               letter.level, len(letter.items), reports, f"{letter.agency_code}.th.html",
               f"{letter.agency_code}.en.html")
        writer.writerow([csv_cell(v) for v in row])
    return out.getvalue()


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    write_if_changed(path, text, encoding)  # atomic; an unchanged letter is left as it is


def write_letters(batch: Batch, out_dir: Path) -> list[Path]:
    """OUT/reminders/<agency_code>.<lang>.html and reminders.csv, and the batch added to the
    register of letters sent (register.py), which numbers the letters (the running number of the
    year: the letters, reminders.csv and the register show the same) and which the next stage's
    letters cite; the letters (and their PDFs) of
    an earlier run that this batch does not rewrite are removed, so the folder holds exactly the
    reminders as of this run.

    One writer at a time: the whole step holds the register's lock (register.register_lock), so
    the night's letters step and `pilotkpi letters` never interleave. A back-dated batch (its
    as-of date before the latest date in the register: a run back in time, or `pilotkpi letters`
    on a published copy older than the night's letters) is numbered and recorded as any batch,
    but its letters and reminders.csv go to OUT/reminders/<as-of date>/: the later date's letters
    in OUT/reminders/ are neither overwritten nor removed as stale."""
    reminders = Path(out_dir) / FOLDER
    reminders.mkdir(parents=True, exist_ok=True)
    with register_lock(reminders):
        register = read_register(reminders)  # once: the lock keeps it as read until record()
        latest = latest_date(register)
        folder = reminders / batch.as_of.isoformat() if latest is not None and batch.as_of < latest else reminders
        if folder != reminders:  # said, not only done: the morning routine reads OUT/reminders (RV8 F2)
            LOGGER.warning("the letters as of %s are back-dated (the register of letters holds letters of %s): "
                           "written to %s; the letters in %s are left as they are", batch.as_of, latest, folder, reminders)
        folder.mkdir(exist_ok=True)
        written = []
        number_letters(register, batch)  # the year's running numbers, before anything shows them
        cited = earlier_reminders(register, batch)
        for letter in batch.letters:
            letter.earlier = cited.get(letter.agency_code)
            for lang in LANGS:
                # Registry agency codes are 5 digits; checked again here, where a code becomes a path.
                path = folder / f"{component(letter.agency_code)}.{lang}.html"
                _write(path, render_letter(batch, letter, lang))
                written.append(path)
        csv_path = folder / CSV_NAME
        _write(csv_path, reminders_csv(batch), encoding="utf-8-sig")  # the BOM makes Excel read UTF-8
        record(register, batch)
        for old in folder.iterdir():
            if _LETTER_FILE.fullmatch(old.name) and old not in written:
                old.unlink()  # a stale letter, or a PDF printed from yesterday's letter
    return written + [csv_path]


def letter_pdfs(written: list[Path]) -> list[Path]:
    """Print each letter to PDF beside it (kpis/summary/browser.py, the summaries' Chromium path)."""
    from kpis.summary.browser import print_pdf

    return [print_pdf(p, p.with_suffix(".pdf")) for p in written if p.suffix == ".html"]
