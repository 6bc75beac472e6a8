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
         "letter_prefix": "นร 1200", "phone": "0 2356 9999"},
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


def test_thai_letter_has_the_parts_of_an_external_official_letter_in_order(batch):
    html = render_letter(batch, letter(batch, "11002"), "th")
    text = " ".join(text_of(html).split())
    parts = ["ที่ นร ๑๒๐๐/๑",                                  # document number: <letter_prefix>/<running number>
             "สำนักงานคณะกรรมการพัฒนาระบบราชการ",              # the sending office
             "๑๕ มีนาคม ๒๕๔๘",                                  # 2005-03-15 in BE: 2005 + 543
             "เรื่อง ติดตามรายงานผลการดำเนินงานโครงการนำร่องรายไตรมาส (ครั้งที่ ๒)",  # level 2
             "เรียน ปลัดกระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร",   # head_th
             "อ้างถึง", "โครงการนำร่อง P-OPEN ระบบบริการประชาชนแบบเบ็ดเสร็จ", "โครงการนำร่อง P-SECRET",
             "ตามที่", "ไตรมาส ๑/๒๕๔๘ (ต.ค.–ธ.ค. ๒๕๔๗)", "๓๐ ม.ค. ๒๕๔๘", "๔๔",
             "ขอแสดงความนับถือ", "โทร. ๐ ๒๓๕๖ ๙๙๙๙"]
    positions = [text.find(p) for p in parts]
    assert all(p >= 0 for p in positions), [p for p, i in zip(parts, positions) if i < 0]
    assert positions == sorted(positions)


def test_addressed_to_the_head_of_the_agency_by_name_without_head_th(batch):
    th = " ".join(text_of(render_letter(batch, letter(batch, "15001"), "th")).split())
    en = " ".join(text_of(render_letter(batch, letter(batch, "15001"), "en")).split())
    assert "เรียน หัวหน้าส่วนราชการ กรมการปกครอง" in th and "ที่ นร ๑๒๐๐/๒" in th
    assert "To The Head of Department of Provincial Administration" in en
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
    assert [(r["agency_code"], r["pilot_id"], r["period"], r["due_date"], r["days_overdue"], r["level"], r["reason"])
            for r in rows] == [("11002", "P-OPEN", "2548-Q1", "2005-01-30", "44", "2", "rejected_file"),
                               ("11002", "P-SECRET", "2548-Q1", "2005-01-30", "44", "2", "rejected_file"),
                               ("15001", "P-OPEN", "2548-Q1", "2005-01-30", "44", "2", "missing")]
    assert (rows[0]["pilot_name_th"], rows[0]["pilot_name_en"]) == ("ระบบบริการประชาชนแบบเบ็ดเสร็จ", "One-stop e-citizen service")
    assert (rows[1]["pilot_name_th"], rows[1]["pilot_name_en"], rows[1]["latest_quarantined_file"]) == ("", "", "")
    # A file name that Excel would run as a formula starts with an apostrophe; ESC is made visible.
    assert rows[0]["latest_quarantined_file"] == "'" + HOSTILE.replace("\x1b", "\u241b")
    assert (rows[0]["email"], rows[0]["document_no"], rows[0]["letter_th"]) == ("saraban@mict.go.th", "นร 1200/1", "11002.th.html")
    assert rows[2]["addressee_th"] == "หัวหน้าส่วนราชการ กรมการปกครอง" and rows[2]["email"] == ""


def test_a_later_batch_replaces_the_letters_and_leaves_other_files(batch, tmp_path):
    folder = tmp_path / "reminders"
    write_letters(batch, tmp_path)
    (folder / "15001.th.pdf").write_bytes(b"%PDF yesterday")
    (folder / "notes.txt").write_text("the secretariat's own note", encoding="utf-8")
    fewer = type(batch)(batch.as_of, batch.sender, [letter(batch, "11002")])
    write_letters(fewer, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["11002.en.html", "11002.th.html", "notes.txt", "reminders.csv"]
    assert len((folder / "reminders.csv").read_text(encoding="utf-8-sig").splitlines()) == 1 + 2


def test_without_secretariat_letters_are_signed_by_the_committee_secretariat():
    given = {k: v for k, v in GIVEN.items() if k != "registry.secretariat"}
    con = built_warehouse(given, AS_OF)
    try:
        b = build_letters(con, AS_OF)
    finally:
        con.close()
    th = " ".join(text_of(render_letter(b, b.letters[0], "th")).split())
    en = " ".join(text_of(render_letter(b, b.letters[0], "en")).split())
    assert th.startswith("ที่ ๑ ฝ่ายเลขานุการคณะกรรมการโครงการนำร่อง")
    assert "Ref. 1 The pilot-project committee secretariat" in en


# --- on the demo ------------------------------------------------------------------------------

def test_demo_letters_and_summary(demo_run, tmp_path):
    """docs/demo.md: DBD (10004) sends nothing for PLT-2548-004 in 2548-Q3, 2549-Q2 and 2549-Q3.
    As of 2006-08-15, with 30 report days: 2548-Q3 due 2005-07-30, 365 + 16 = 381 days (level 3);
    2549-Q2 due 2006-04-30, 31 + 30 + 31 + 15 = 107 days (level 3); 2549-Q3 due 2006-07-30, 16 days
    (level 1). Every other missing report was sent, and the quarantined files were corrected."""
    folder, result = demo_run
    assert "reminder letters: 1 agency in" in result.output
    letters = folder / "out" / "reminders"
    assert sorted(p.name for p in letters.iterdir()) == ["10004.en.html", "10004.th.html", "reminders.csv"]
    rows = list(csv.DictReader(io.StringIO((letters / "reminders.csv").read_text(encoding="utf-8-sig"))))
    assert [(r["pilot_id"], r["period"], r["due_date"], r["days_overdue"], r["level"], r["reason"]) for r in rows] == [
        ("PLT-2548-004", "2548-Q3", "2005-07-30", "381", "3", "missing"),
        ("PLT-2548-004", "2549-Q2", "2006-04-30", "107", "3", "missing"),
        ("PLT-2548-004", "2549-Q3", "2006-07-30", "16", "1", "missing")]
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
