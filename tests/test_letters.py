"""Reminder letters (follow-up.md): one per agency and language, the Thai one laid out as a Thai
external official letter, restricted pilots by id and period only, agency text escaped, and
reminders.csv for a mail merge.

The warehouse below, as of 2005-03-15 (Q1 2548 ends 2004-12-31, due 30 days later on 2005-01-30,
so 1 + 28 + 15 = 44 days overdue, level 2):
- 11002 owes Q1 of the open pilot P-OPEN (its only file, submission 2, was quarantined: rejected
  file) and of the restricted pilot P-SECRET (whose quarantined file, submission 3, must not show);
- 15001 owes Q1 of P-OPEN (nothing sent: missing) and has no head_th: addressed by its name.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from kpis.cases import built_warehouse
from kpis.letters import build_letters, write_letters
from kpis.letters.render import date_th, period_en, period_th, render_letter, thai_digits

AS_OF = date(2005, 3, 15)
HOSTILE = '=HYPERLINK("http://x")<script>alert(1)</script>\x1b[2J.csv'

GIVEN = {
    "registry.agencies": [
        {"agency_code": "03009", "name_th": "สำนักงาน ก.พ.ร.", "name_en": "OPDC"},
        {"agency_code": "11002", "name_th": "กระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร",
         "name_en": "Ministry of Information and Communication Technology", "head_th": "ปลัดกระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร",
         "head_en": "The Permanent Secretary, MICT", "email": "saraban@mict.go.th"},
        {"agency_code": "15001", "name_th": "กรมการปกครอง", "name_en": "Department of Provincial Administration"},
    ],
    "registry.pilots": [
        {"pilot_id": "P-OPEN", "name_th": "ระบบบริการประชาชนแบบเบ็ดเสร็จ", "name_en": "One-stop e-citizen service",
         "start_date": date(2004, 10, 1), "end_date": date(2005, 9, 30), "lead_agency_code": "03009"},
        {"pilot_id": "P-SECRET", "name_th": "ระบบลับเฉพาะ", "name_en": "Secret watch-list exchange",
         "classification": "restricted", "start_date": date(2004, 10, 1), "end_date": date(2005, 9, 30),
         "lead_agency_code": "03009"},
    ],
    "registry.pilot_agencies": [
        {"pilot_id": "P-OPEN", "agency_code": "03009", "role": "lead"},
        {"pilot_id": "P-OPEN", "agency_code": "11002", "role": "supporting"},
        {"pilot_id": "P-OPEN", "agency_code": "15001", "role": "secondary"},
        {"pilot_id": "P-SECRET", "agency_code": "03009", "role": "lead"},
        {"pilot_id": "P-SECRET", "agency_code": "11002", "role": "supporting"},
    ],
    "registry.secretariat": [
        {"name_th": "สำนักงานคณะกรรมการพัฒนาระบบราชการ", "name_en": "Office of the Public Sector Development Commission",
         "letter_prefix": "นร 1200", "phone": "0 2356 9999", "signer_name_th": "นายสมมุติ ตัวอย่าง",
         "signer_name_en": "Mr Sommut Tuayang", "signer_position_th": "รองเลขาธิการ ก.พ.ร. ปฏิบัติราชการแทน เลขาธิการ ก.พ.ร.",
         "signer_position_en": "Deputy Secretary-General of the OPDC", "division_th": "กองติดตามและประเมินผลโครงการนำร่อง",
         "division_en": "Pilot Project Monitoring and Evaluation Division", "fax": "0 2356 9998",
         "email": "pilots@opdc.go.th"},
    ],
    "ingest.submissions": [
        {"submission_id": 1, "pilot_id": "P-OPEN", "agency_code": "03009", "period": "2548-Q1", "submitted_on": date(2005, 1, 20)},
        {"submission_id": 2, "pilot_id": "P-OPEN", "agency_code": "11002", "period": "2548-Q1", "submitted_on": date(2005, 1, 25),
         "status": "quarantined", "error_count": 1, "file_name": HOSTILE},
        {"submission_id": 3, "pilot_id": "P-SECRET", "agency_code": "11002", "period": "2548-Q1",
         "submitted_on": date(2005, 1, 25), "status": "quarantined", "error_count": 1, "file_name": "secret-file.csv"},
        {"submission_id": 4, "pilot_id": "P-SECRET", "agency_code": "03009", "period": "2548-Q1", "submitted_on": date(2005, 1, 20)},
    ],
    "ingest.issues": [
        {"submission_id": 2, "row_number": 3, "column_name": "actual<b>", "code": "NOT_A_NUMBER", "severity": "error",
         "message_en": "'12<i>' is not a number", "message_th": "'12<i>' ไม่ใช่ตัวเลข"},
        {"submission_id": 3, "row_number": 2, "column_name": "disbursed_thb", "code": "DISBURSED_OVER_ALLOCATED",
         "severity": "error", "message_en": "secret figure 4242", "message_th": "ตัวเลขลับ 4242"},
    ],
}


@pytest.fixture(scope="module")
def batch():
    con = built_warehouse(GIVEN, AS_OF)
    try:
        yield build_letters(con, AS_OF)
    finally:
        con.close()


def letter(batch, code):
    return next(x for x in batch.letters if x.agency_code == code)


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<head>.*?</head>", "", html, flags=re.S))


def test_one_letter_per_agency_listing_all_its_overdue_reports(batch):
    assert [(x.number, x.agency_code) for x in batch.letters] == [(1, "11002"), (2, "15001")]
    items = [(i.pilot_id, i.period, i.due_date, i.days_overdue, i.level, i.reason) for i in letter(batch, "11002").items]
    assert items == [("P-OPEN", "2548-Q1", date(2005, 1, 30), 44, 2, "rejected_file"),
                     ("P-SECRET", "2548-Q1", date(2005, 1, 30), 44, 2, "rejected_file")]
    assert [(i.pilot_id, i.reason) for i in letter(batch, "15001").items] == [("P-OPEN", "missing")]


class _Parts(HTMLParser):
    """The letter's parts (data-part) in document order, each with its text."""

    def __init__(self):
        super().__init__()
        self.parts: list[list] = []   # [name, text, tags inside]
        self.open: list[tuple[str, list | None]] = []

    def handle_starttag(self, tag, attrs):
        part = dict(attrs).get("data-part")
        entry = [part, "", []] if part else None
        if entry:
            self.parts.append(entry)
        for _, e in self.open:
            if e is not None:
                e[2].append(tag)
        self.open.append((tag, entry))

    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass

    def handle_data(self, data):
        for _, e in self.open:
            if e is not None:
                e[1] += " " + data


def parts_of(html: str) -> dict[str, str]:
    parser = _Parts()
    parser.feed(html)
    return {name: " ".join(text.split()) for name, text, _ in parser.parts}


def tags_in(html: str, part: str) -> list[str]:
    parser = _Parts()
    parser.feed(html)
    return next(tags for name, _, tags in parser.parts if name == part)


# The parts of a หนังสือภายนอก in the order of the 2526 regulation's form (no สิ่งที่ส่งมาด้วย: nothing
# is enclosed; อ้างถึง only after an earlier reminder).
ORDER = ["garuda", "docno", "office", "date", "subject", "salutation", "body", "closing", "signer", "position",
         "division", "phone", "fax", "email"]


def test_thai_letter_has_the_parts_of_an_external_official_letter_in_order(batch):
    html = render_letter(batch, letter(batch, "11002"), "th")
    parts = parts_of(html)
    assert list(parts) == ORDER
    assert parts["docno"] == "ที่ นร ๑๒๐๐/๑"   # <letter_prefix>/<running number>
    assert parts["office"] == "สำนักงานคณะกรรมการพัฒนาระบบราชการ"
    assert parts["date"] == "๑๕ มีนาคม ๒๕๔๘"   # 2005-03-15 in BE: 2005 + 543
    assert parts["subject"] == "เรื่อง ติดตามรายงานผลการดำเนินงานโครงการนำร่องรายไตรมาส (ครั้งที่ ๒)"  # level 2
    assert parts["salutation"] == "เรียน ปลัดกระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร"  # head_th
    for shown in ("ไตรมาส ๑/๒๕๔๘ (ต.ค.–ธ.ค. ๒๕๔๗)", "๓๐ ม.ค. ๒๕๔๘", "๔๔", "P-OPEN ระบบบริการประชาชนแบบเบ็ดเสร็จ"):
        assert shown in parts["body"]
    assert parts["closing"] == "ขอแสดงความนับถือ"
    # The signature block: the signer's name in brackets, then the position with its department;
    # the division that owns the matter, not the department again.
    assert parts["signer"] == "(นายสมมุติ ตัวอย่าง)"
    assert parts["position"] == "รองเลขาธิการ ก.พ.ร. ปฏิบัติราชการแทน เลขาธิการ ก.พ.ร."
    assert parts["division"] == "กองติดตามและประเมินผลโครงการนำร่อง"
    assert (parts["phone"], parts["fax"], parts["email"]) == (
        "โทร. ๐ ๒๓๕๖ ๙๙๙๙", "โทรสาร ๐ ๒๓๕๖ ๙๙๙๘", "ไปรษณีย์อิเล็กทรอนิกส์ pilots@opdc.go.th")
    # The emblem's place is empty space (no image is fetched or embedded), 3 cm high.
    assert "<img" not in html and ".garuda { height: 30mm" in html


def test_the_letter_states_the_reporting_period_in_days(batch):
    th = parts_of(render_letter(batch, letter(batch, "15001"), "th"))["body"]
    en = parts_of(render_letter(batch, letter(batch, "15001"), "en"))["body"]
    # follow-up.md: due = end of quarter + report_due_days (30 here)
    assert "ส่งรายงานผลการดำเนินงานรายไตรมาสภายใน ๓๐ วันนับแต่วันสิ้นไตรมาส" in th and "ภายในกำหนดนับแต่" not in th
    assert "within 30 days after the end of the quarter" in en


def test_a_pilot_with_its_own_reporting_period(tmp_path):
    """report_due_days 45: Q1 2548 ends 2004-12-31, due 2005-02-14, 29 days overdue on 2005-03-15."""
    given = {**GIVEN, "registry.pilots": [{**GIVEN["registry.pilots"][0], "report_due_days": 45}]}
    con = built_warehouse(given, AS_OF)
    try:
        b = build_letters(con, AS_OF)
    finally:
        con.close()
    x = letter(b, "15001")
    assert [(i.due_date, i.days_overdue, i.level) for i in x.items] == [(date(2005, 2, 14), 29, 1)]
    body = parts_of(render_letter(b, x, "th"))["body"]
    assert "ภายใน ๔๕ วันนับแต่วันสิ้นไตรมาส" in body and "๑๔ ก.พ. ๒๕๔๘" in body


def _batch_on(as_of: date):
    con = built_warehouse(GIVEN, as_of)
    try:
        return build_letters(con, as_of)
    finally:
        con.close()


def test_reference_cites_the_earlier_reminder_only_when_there_was_one(tmp_path):
    """2005-02-10: 11 days overdue, first reminders (11002 is นร 1200/1, 15001 นร 1200/2); a draft
    again on 2005-02-11 is the same first reminder, with the year's next numbers (/3, /4);
    2005-03-15: 44 days, second reminders (/5, /6), which cite the first of 2005-02-10 by number
    and date. A first reminder cites nothing. 2005-03-15 again keeps /5 and /6."""
    folder = tmp_path / "reminders"
    write_letters(_batch_on(date(2005, 2, 10)), tmp_path)
    first = parts_of((folder / "15001.th.html").read_text(encoding="utf-8"))
    assert "reference" not in first and first["subject"] == "เรื่อง ขอให้ส่งรายงานผลการดำเนินงานโครงการนำร่องรายไตรมาส"
    assert "อ้างถึง" not in (folder / "15001.th.html").read_text(encoding="utf-8")
    write_letters(_batch_on(date(2005, 2, 11)), tmp_path)
    assert "reference" not in parts_of((folder / "15001.th.html").read_text(encoding="utf-8"))
    write_letters(_batch_on(AS_OF), tmp_path)
    th = (folder / "15001.th.html").read_text(encoding="utf-8")
    parts = parts_of(th)
    assert list(parts) == ORDER[:6] + ["reference"] + ORDER[6:]
    assert parts["reference"] == "อ้างถึง หนังสือสำนักงานคณะกรรมการพัฒนาระบบราชการ ที่ นร ๑๒๐๐/๒ ลงวันที่ ๑๐ กุมภาพันธ์ ๒๕๔๘"
    assert tags_in(th, "reference") == ["span", "span"]  # one document: no numbered list
    assert parts["body"].startswith("ตามหนังสือที่อ้างถึง")
    en = parts_of((folder / "15001.en.html").read_text(encoding="utf-8"))
    assert en["reference"] == "Reference our letter No. นร 1200/2 of 10 February 2005"
    # The same date again replaces its own rows in the register: still the first reminder cited.
    write_letters(_batch_on(AS_OF), tmp_path)
    assert parts_of((folder / "11002.th.html").read_text(encoding="utf-8"))["reference"].endswith(
        "ที่ นร ๑๒๐๐/๑ ลงวันที่ ๑๐ กุมภาพันธ์ ๒๕๔๘")
    register = list(csv.DictReader(io.StringIO((folder / "register.csv").read_text(encoding="utf-8-sig"))))
    assert [(r["issued_on"], r["agency_code"], r["document_no"], r["level"]) for r in register
            if r["pilot_id"] == "P-OPEN"] == [
        ("2005-02-10", "11002", "นร 1200/1", "1"), ("2005-02-10", "15001", "นร 1200/2", "1"),
        ("2005-02-11", "11002", "นร 1200/3", "1"), ("2005-02-11", "15001", "นร 1200/4", "1"),
        ("2005-03-15", "11002", "นร 1200/5", "2"), ("2005-03-15", "15001", "นร 1200/6", "2")]
    assert parts_of((folder / "11002.th.html").read_text(encoding="utf-8"))["docno"] == "ที่ นร ๑๒๐๐/๕"


def test_addressed_to_the_head_of_the_agency_by_name_without_head_th(batch):
    th = " ".join(text_of(render_letter(batch, letter(batch, "15001"), "th")).split())
    en = " ".join(text_of(render_letter(batch, letter(batch, "15001"), "en")).split())
    assert "เรียน หัวหน้าส่วนราชการ กรมการปกครอง" in th and "ที่ นร ๑๒๐๐/๒" in th
    assert "To The Head of the Department of Provincial Administration" in en
    assert "following 1 report of the Department of Provincial Administration, now past its due date" in en
    # 44 days overdue: 30 ≤ 44 < 60, level 2, a second reminder
    assert "Subject Second reminder: overdue quarterly reports of pilot projects" in en


def test_restricted_pilot_by_id_and_period_only(batch):
    for lang in ("th", "en"):
        html = render_letter(batch, letter(batch, "11002"), lang)
        assert "P-SECRET" in html and 'data-period="2548-Q1"' in html
        for secret in ("ระบบลับเฉพาะ", "Secret watch-list exchange", "secret-file.csv", "4242", "ตัวเลขลับ", "disbursed_thb"):
            assert secret not in html, (lang, secret)


def test_agency_text_is_escaped_and_pages_are_self_contained(batch):
    for x in batch.letters:
        for lang in ("th", "en"):
            html = render_letter(batch, x, lang)
            assert "<script" not in html and "<b>" not in html and "<i>" not in html and "\x1b" not in html
            assert not re.search(r"\b(src|href)=|url\(|@import|<link|<img|<iframe", html)
            assert "@page { size: A4" in html
    html = render_letter(batch, letter(batch, "11002"), "en")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\u241b[2J.csv" in html  # ESC shown as the control picture ␛
    assert "column <code>actual&lt;b&gt;</code>: &#39;12&lt;i&gt;&#39; is not a number (NOT_A_NUMBER)" in html


def test_english_letter_speaks_english(batch):
    text = text_of(render_letter(batch, letter(batch, "11002"), "en"))
    assert "15 March 2005" in text and "January–March 2005" not in text
    assert "October–December 2004 (2548-Q1)" in text and "30 January 2005" in text and "Yours sincerely," in text
    # Thai only in the document number (the office's registered prefix is Thai).
    assert re.findall(r"[\u0e00-\u0e7f]+", text.replace("นร 1200/1", "")) == []


def test_formatters():
    assert thai_digits("2549-Q3 15") == "๒๕๔๙-Q๓ ๑๕"
    assert date_th(date(2006, 8, 15)) == "๑๕ สิงหาคม ๒๕๔๙" and date_th(date(2006, 7, 30), False) == "๓๐ ก.ค. ๒๕๔๙"
    # Q1 of FY 2549 is Oct–Dec 2005 (CE), BE 2548; Q4 is Jul–Sep 2006.
    assert period_th("2549-Q1") == "ไตรมาส ๑/๒๕๔๙ (ต.ค.–ธ.ค. ๒๕๔๘)"
    assert period_en("2549-Q4") == "July–September 2006 (2549-Q4)"
    assert period_th("2549-Q9") == "2549-Q9" and period_en("") == ""  # total: shown as it is


def test_reminders_csv_for_a_mail_merge(batch, tmp_path):
    write_letters(batch, tmp_path)
    raw = (tmp_path / "reminders" / "reminders.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Thai
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    # One row per agency and letter: a mail merge sends each letter once.
    # 11002 and 15001 have no leading zero: Excel keeps them, bare (test below for 01002).
    assert [(r["agency_code"], r["document_no"], r["level"], r["report_count"]) for r in rows] == [
        ("11002", "นร 1200/1", "2", "2"), ("15001", "นร 1200/2", "2", "1")]
    reports = rows[0]["reports"].split("\n")
    # A file name that Excel would run as a formula is inside the cell, not at its start; ESC visible.
    assert reports == [
        "P-OPEN (ระบบบริการประชาชนแบบเบ็ดเสร็จ / One-stop e-citizen service) 2548-Q1 due 2005-01-30 "
        "44 days overdue level 2 rejected_file file " + HOSTILE.replace("\x1b", "\u241b"),
        "P-SECRET 2548-Q1 due 2005-01-30 44 days overdue level 2 rejected_file"]  # restricted: no name, no file
    assert rows[1]["reports"] == "P-OPEN (ระบบบริการประชาชนแบบเบ็ดเสร็จ / One-stop e-citizen service) 2548-Q1 due 2005-01-30 44 days overdue level 2 missing"
    assert (rows[0]["email"], rows[0]["letter_th"], rows[0]["letter_en"]) == ("saraban@mict.go.th", "11002.th.html", "11002.en.html")
    assert rows[1]["addressee_th"] == "หัวหน้าส่วนราชการ กรมการปกครอง" and rows[1]["email"] == ""



def test_reminders_csv_says_1_day_and_2_days_overdue(tmp_path):
    """English singular and plural: due 2005-01-30, so 1 day overdue on 2005-01-31 and 2 days on
    2005-02-01 (the first reminder, level 1; 15001's one missing report)."""
    for as_of, said in ((date(2005, 1, 31), "1 day overdue"), (date(2005, 2, 1), "2 days overdue")):
        write_letters(_batch_on(as_of), tmp_path)
        rows = list(csv.DictReader(io.StringIO((tmp_path / "reminders" / "reminders.csv").read_text(encoding="utf-8-sig"))))
        reports = {r["agency_code"]: r["reports"] for r in rows}
        assert reports["15001"] == ("P-OPEN (ระบบบริการประชาชนแบบเบ็ดเสร็จ / One-stop e-citizen service) "
                                    f"2548-Q1 due 2005-01-30 {said} level 1 missing"), as_of


def test_reminders_csv_keeps_identifiers_excel_would_make_numbers_as_text(batch, tmp_path):
    """follow-up.md: reminders.csv is for a mail merge in Excel, which opens a bare 01002 as the
    number 1002 (verifier VB, repro/e3). Such a cell is written ="01002", as the web's CSV downloads
    write it (warehouse.export.csv_cell), and so is a letter number Excel would take for a date."""
    from copy import deepcopy

    zero = deepcopy(batch)
    zero.letters[0].agency_code = "01002"
    zero.sender["letter_prefix"] = "0105"
    write_letters(zero, tmp_path)
    header, first, second = csv.reader(io.StringIO((tmp_path / "reminders" / "reminders.csv")
                                                   .read_text(encoding="utf-8-sig")))
    cells = dict(zip(header, first))
    assert cells["agency_code"] == '="01002"'  # Excel and LibreOffice show (and merge) the text 01002
    assert cells["document_no"] == '="0105/1"'  # not the date 1 January 105
    assert (cells["letter_th"], cells["letter_en"]) == ("01002.th.html", "01002.en.html")
    assert (cells["level"], cells["report_count"], cells["email"]) == ("2", "2", "saraban@mict.go.th")
    # A code Excel keeps as it is stays bare (15001 is the number 15001 and the text 15001 alike).
    assert dict(zip(header, second))["agency_code"] == "15001" and second[6] == '="0105/2"'


THREE = {**GIVEN, "ingest.submissions": GIVEN["ingest.submissions"][:1], "ingest.issues": []}


def test_an_agency_with_three_overdue_reports_gets_one_csv_row_and_three_mart_rows(tmp_path):
    """15001 owes Q1, Q2 and Q3 of 2548 for P-OPEN as of 2005-09-15: Q1 due 2005-01-30 (228 days,
    level 3), Q2 ends 2005-03-31, due 2005-04-30 (138 days, level 3), Q3 ends 2005-06-30, due
    2005-07-30 (47 days, level 2). Its own name starts with "=": neutralised in the CSV."""
    as_of = date(2005, 9, 15)
    given = {**THREE, "registry.agencies": [a if a["agency_code"] != "15001" else {**a, "name_en": "=cmd|' /C calc'!A0"}
                                           for a in GIVEN["registry.agencies"]]}
    con = built_warehouse(given, as_of)
    try:
        mart = con.execute("SELECT pilot_id, period, days_overdue, level FROM marts.reminders "
                           "WHERE agency_code = '15001' ORDER BY period").fetchall()
        b = build_letters(con, as_of)
    finally:
        con.close()
    assert mart == [("P-OPEN", "2548-Q1", 228, 3), ("P-OPEN", "2548-Q2", 138, 3), ("P-OPEN", "2548-Q3", 47, 2)]
    write_letters(b, tmp_path)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "reminders" / "reminders.csv").read_text(encoding="utf-8-sig"))))
    mine = [r for r in rows if r["agency_code"] == "15001"]
    assert len(mine) == 1 and mine[0]["report_count"] == "3" and mine[0]["level"] == "3"
    assert [line.split(" due ")[1][:10] for line in mine[0]["reports"].split("\n")] == ["2005-01-30", "2005-04-30", "2005-07-30"]
    assert [line.split(") ")[1][:7] for line in mine[0]["reports"].split("\n")] == ["2548-Q1", "2548-Q2", "2548-Q3"]
    assert mine[0]["agency_name_en"] == "'=cmd|' /C calc'!A0"


def test_a_later_batch_replaces_the_letters_and_leaves_other_files(batch, tmp_path):
    folder = tmp_path / "reminders"
    write_letters(batch, tmp_path)
    (folder / "15001.th.pdf").write_bytes(b"%PDF yesterday")
    (folder / "notes.txt").write_text("the secretariat's own note", encoding="utf-8")
    fewer = type(batch)(batch.as_of, batch.sender, [letter(batch, "11002")])
    write_letters(fewer, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["11002.en.html", "11002.th.html", "notes.txt", "register.csv",
                                                        "reminders.csv"]
    assert len(list(csv.reader(io.StringIO((folder / "reminders.csv").read_text(encoding="utf-8-sig"))))) == 1 + 1


def test_without_secretariat_letters_are_signed_by_the_committee_secretariat():
    given = {k: v for k, v in GIVEN.items() if k != "registry.secretariat"}
    con = built_warehouse(given, AS_OF)
    try:
        b = build_letters(con, AS_OF)
    finally:
        con.close()
    th = " ".join(text_of(render_letter(b, b.letters[0], "th")).split())
    en = " ".join(text_of(render_letter(b, b.letters[0], "en")).split())
    assert th.startswith("ตราครุฑ ที่ ๑ ฝ่ายเลขานุการคณะกรรมการโครงการนำร่อง")
    assert "Ref. 1 The pilot-project committee secretariat" in en
    assert "Yours sincerely, (.............................................) Position ......" in en


# --- on the demo ------------------------------------------------------------------------------

def con_rows(folder: Path, sql: str) -> list[tuple]:
    import duckdb

    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_demo_letters_and_summary(demo_run, tmp_path):
    """docs/demo.md: DBD (10004) sends nothing for PLT-2548-004 in 2548-Q3, 2549-Q2 and 2549-Q3.
    As of 2006-08-15, with 30 report days: 2548-Q3 due 2005-07-30, 365 + 16 = 381 days (level 3);
    2549-Q2 due 2006-04-30, 31 + 30 + 31 + 15 = 107 days (level 3); 2549-Q3 due 2006-07-30, 16 days
    (level 1). Every other missing report was sent, and the quarantined files were corrected."""
    folder, result = demo_run
    assert "reminder letters: 1 agency in" in result.output
    letters = folder / "out" / "reminders"
    assert sorted(p.name for p in letters.iterdir()) == ["10004.en.html", "10004.th.html", "register.csv", "reminders.csv"]
    merge = list(csv.DictReader(io.StringIO((letters / "reminders.csv").read_text(encoding="utf-8-sig"))))
    assert [(r["agency_code"], r["report_count"], r["level"]) for r in merge] == [("10004", "3", "3")]  # one e-mail
    rows = [dict(zip(("pilot_id", "period", "due_date", "days_overdue", "level", "reason"), values)) for values in
            con_rows(folder, "SELECT pilot_id, period, due_date::VARCHAR, days_overdue::VARCHAR, level::VARCHAR, "
                             "reason FROM marts.reminders ORDER BY period")]
    assert [tuple(r.values()) for r in rows] == [
        ("PLT-2548-004", "2548-Q3", "2005-07-30", "381", "3", "missing"),
        ("PLT-2548-004", "2549-Q2", "2006-04-30", "107", "3", "missing"),
        ("PLT-2548-004", "2549-Q3", "2006-07-30", "16", "1", "missing")]
    assert [line.split(") ")[1].split(" level")[0] for line in merge[0]["reports"].split("\n")] == [
        "2548-Q3 due 2005-07-30 381 days overdue", "2549-Q2 due 2006-04-30 107 days overdue",
        "2549-Q3 due 2006-07-30 16 days overdue"]
    th = (letters / "10004.th.html").read_text(encoding="utf-8")
    assert "เรียน</span><span>อธิบดีกรมพัฒนาธุรกิจการค้า" in th and "ที่ นร ๑๒๐๐/๑" in th
    assert "เร่งรัดการส่งรายงาน" in th  # level 3 subject
    summary = (folder / "out" / "summary.en.md").read_text(encoding="utf-8")
    assert "| 1 reminder (under 30 days overdue) | 1 |" in summary and "| 3 escalated (60 days or more) | 2 |" in summary
    assert "Department of Business Development (10004, 2 report(s))" in summary
    demo_md = (Path(__file__).parents[1] / "docs" / "demo.md").read_text(encoding="utf-8")
    for row in rows:  # the figures docs/demo.md documents
        assert f"| {row['pilot_id']} | {row['period']} | {row['due_date']} | {row['days_overdue']} | {row['level']} |" in demo_md

    # `pilotkpi letters` writes the same from the published copy.
    out = tmp_path / "again"
    res = CliRunner().invoke(main, ["letters", "--warehouse", str(folder / "warehouse.published.duckdb"),
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("10004.th.html", "10004.en.html", "reminders.csv"):
        assert (out / "reminders" / name).read_bytes() == (letters / name).read_bytes(), name


def test_letters_pdf_without_chromium_says_how_to_install(demo_run, tmp_path, monkeypatch):
    monkeypatch.setenv("PILOTKPI_CHROMIUM", str(tmp_path / "no-such-chromium"))
    res = CliRunner().invoke(main, ["letters", "--warehouse", str(demo_run[0] / "warehouse.published.duckdb"),
                                    "--out", str(tmp_path), "--pdf"])
    assert res.exit_code == 1 and "apt-get install chromium fonts-thai-tlwg" in res.output
    assert (tmp_path / "reminders" / "10004.th.html").exists()


def test_an_agreed_extension_in_the_registry_turns_reminders_off_until_its_date(tmp_path):
    """tests/data/registry/valid: PLT-2548-003 (from 2004-10-01, 30 report days) has lead 03009,
    secondary 15001, supporting 11002 and advisory 20004, and nobody has reported. Q1 2548 is due
    2005-01-30. With `no_reminders_until: 2005-03-15` on 11002: as of 2005-03-15 (44 days) only
    03009 and 15001 get a reminder; as of 2005-03-16 (45 days) 11002 does too. PLT-2548-001 starts
    2005-01-01: its first quarter (Q2, to 2005-03-31) is not due yet."""
    import shutil

    from pilots.registry import load_registry, registry_rows
    from warehouse import store
    from warehouse.db import connect
    from kpis.build import build_marts

    folder = tmp_path / "registry"
    shutil.copytree(Path(__file__).parent / "data" / "registry" / "valid", folder)
    pilot = folder / "pilots" / "PLT-2548-003.yaml"
    text = pilot.read_text(encoding="utf-8")
    assert text.count('{code: "11002", role: supporting}') == 1
    pilot.write_text(text.replace('{code: "11002", role: supporting}',
                                  '{code: "11002", role: supporting, no_reminders_until: 2005-03-15}'), encoding="utf-8")
    con = connect(":memory:")
    try:
        store.replace_registry(con, registry_rows(load_registry(folder)))
        seen = {}
        for day in (date(2005, 3, 15), date(2005, 3, 16)):
            build_marts(con, day)
            seen[day] = con.execute("SELECT agency_code, pilot_id, period, days_overdue, level FROM marts.reminders "
                                    "ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert seen[date(2005, 3, 15)] == [("03009", "PLT-2548-003", "2548-Q1", 44, 2),
                                       ("15001", "PLT-2548-003", "2548-Q1", 44, 2)]
    assert seen[date(2005, 3, 16)] == [("03009", "PLT-2548-003", "2548-Q1", 45, 2),
                                       ("11002", "PLT-2548-003", "2548-Q1", 45, 2),
                                       ("15001", "PLT-2548-003", "2548-Q1", 45, 2)]
