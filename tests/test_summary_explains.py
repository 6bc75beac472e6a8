"""A summary that explains itself (issue 23 item 5): |z| for flags either way, a glossary in
both languages with the status bands the marts use, quarantined files that no pilot could take,
and pilots past their end date.

The warehouse below, as of 2006-02-15 (2549-Q1 ends 2005-12-31, due 2006-01-30):
- P-FLAG (lead 03009, to 2006-09-30): KPI M reported 10, 12, 10, 12 for 2548-Q1..Q4, then 2 in
  2549-Q1. H = [10, 12, 10, 12], m = 11, |h − m| = 1 each, MAD = 1; z = 0.6745 × (2 − 11) / 1 =
  −6.0705: |z| > 3.5, flagged (a negative z).
- P-ENDED ended on 2005-09-30, before the as-of date; P-FLAG has not.
- Submission 10: a file for pilot "PLT-9999<b>", not in the registry, its name hostile: no
  pilot's section can list it. Submission 11: a file whose written pilot id is the restricted
  pilot's, spelt " p-secret ": never shown. Submission 12: the restricted pilot's own file.
"""
from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest

from kpis.cases import built_warehouse
from kpis.summary.model import build_model
from kpis.summary.render import render_html, render_markdown

AS_OF = date(2006, 2, 15)
HOSTILE = '<script>alert(1)</script>=cmd|x\x1b.csv'
PERIODS = ["2548-Q1", "2548-Q2", "2548-Q3", "2548-Q4", "2549-Q1"]

GIVEN = {
    "registry.agencies": [{"agency_code": "03009", "name_th": "สำนักงาน ก.พ.ร.", "name_en": "OPDC"},
                          {"agency_code": "15001", "name_th": "กรมการปกครอง", "name_en": "Department of Provincial Administration"}],
    "registry.pilots": [
        {"pilot_id": "P-FLAG", "start_date": date(2004, 10, 1), "end_date": date(2006, 9, 30), "lead_agency_code": "03009"},
        {"pilot_id": "P-ENDED", "start_date": date(2004, 10, 1), "end_date": date(2005, 9, 30), "lead_agency_code": "03009"},
        {"pilot_id": "P-SECRET", "classification": "restricted", "start_date": date(2004, 10, 1),
         "end_date": date(2006, 9, 30), "lead_agency_code": "03009"},
    ],
    "registry.pilot_agencies": [{"pilot_id": p, "agency_code": "03009", "role": "lead"} for p in ("P-FLAG", "P-ENDED", "P-SECRET")],
    "registry.kpis": [{"pilot_id": "P-FLAG", "kpi_code": "M", "weight": 100}],
    "registry.kpi_thresholds": [{"pilot_id": "P-FLAG", "kpi_code": "M", "fiscal_year": fy, "t": [1, 2, 3, 4, 5]}
                                for fy in (2548, 2549)],
    "ingest.submissions": [
        *({"submission_id": i + 1, "pilot_id": "P-FLAG", "agency_code": "03009", "period": p,
           "submitted_on": date(2006, 1, 20)} for i, p in enumerate(PERIODS)),
        {"submission_id": 10, "pilot_id": None, "raw_pilot_id": "PLT-9999<b>", "agency_code": "15001", "period": "2548-Q4",
         "status": "quarantined", "error_count": 1, "file_name": HOSTILE},
        {"submission_id": 11, "pilot_id": None, "raw_pilot_id": " p-secret ", "agency_code": "15001",
         "status": "quarantined", "error_count": 1, "file_name": "secret-misspelt.csv"},
        {"submission_id": 12, "pilot_id": "P-SECRET", "agency_code": "03009", "period": "2548-Q4",
         "status": "quarantined", "error_count": 1, "file_name": "secret-own.csv"},
    ],
    "core.kpi_actuals": [{"submission_id": i + 1, "kpi_code": "M", "actual": v} for i, v in enumerate([10, 12, 10, 12, 2])],
    "ingest.issues": [
        {"submission_id": 10, "row_number": 2, "column_name": "pilot_id", "code": "PILOT_UNKNOWN", "severity": "error",
         "message_en": "Pilot 'PLT-9999<b>' is not in the registry.", "message_th": "ไม่พบโครงการ 'PLT-9999<b>' ในทะเบียน"},
        {"submission_id": 11, "row_number": 2, "column_name": "pilot_id", "code": "PILOT_UNKNOWN", "severity": "error",
         "message_en": "secret 4242", "message_th": "ลับ 4242"},
    ],
}


@pytest.fixture(scope="module")
def model():
    con = built_warehouse(GIVEN, AS_OF)
    try:
        yield build_model(con, AS_OF)
    finally:
        con.close()


def text(page: str) -> str:
    """The page's text as a reader sees it (entities decoded)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<head>.*?</head>", "", page, flags=re.S))).split())


def test_a_negative_z_is_labelled_by_its_absolute_value(model):
    flags = next(p for p in model.pilots if p.pilot_id == "P-FLAG").to_confirm
    assert [(f.period, f.modified_z, f.rule) for f in flags] == [("2549-Q1", Decimal("-6.0705"), "modified_z")]
    en, th = text(render_html(model, "en")), text(render_html(model, "th"))
    assert "-6.0705 |z| (modified z-score) above 3.5" in en and "above 3.5" in en.split("-6.0705")[1][:40]
    assert "-6.0705 ค่า |z| ปรับแก้เกิน 3.5" in th
    assert "modified z-score above 3.5" not in en  # the old words, wrong for a negative z
    assert "| -6.0705 | \\|z\\| (modified z-score) above 3.5 |" in render_markdown(model, "en")


def test_glossary_in_both_languages_with_the_bands_the_marts_use(model):
    # scoring.md §2: on_target ≥ 3, at_risk ≥ 2, else off_track; asked of marts.score_band itself.
    assert model.bands == {"on_target": Decimal("3"), "at_risk": Decimal("2")}
    en, th = text(render_html(model, "en")), text(render_html(model, "th"))
    assert "Glossary Flag (figure to confirm) A KPI value that breaks sharply with its own history" in en
    assert "|z|, is above 3.5" in en and "whether the value rose or fell" in en
    assert "Fragmented budget Money that agencies other than the lead allocate from their own budgets" in en
    assert "Lead share The lead agency's own allocated budget as a share of the pilot's total allocated." in en
    assert ("on target composite 3 or more at risk composite from 2 to under 3 off track composite under 2 "
            "no data no KPI reported") in en
    assert "คำอธิบายศัพท์ ตัวเลขที่ควรยืนยัน (ธง)" in th and "(|z|) เกิน 3.5" in th
    assert "งบแยกส่วน งบที่หน่วยงานอื่นนอกจากหน่วยงานหลัก" in th and "สัดส่วนหน่วยงานหลัก งบจัดสรรในรายการของหน่วยงานหลักเอง" in th
    assert ("บรรลุเป้าหมาย คะแนนรวมตั้งแต่ 3 ขึ้นไป มีความเสี่ยง คะแนนรวมตั้งแต่ 2 แต่ต่ำกว่า 3 "
            "ไม่บรรลุเป้าหมาย คะแนนรวมต่ำกว่า 2") in th
    md = render_markdown(model, "th")
    assert "## คำอธิบายศัพท์" in md and "  - 🟡 มีความเสี่ยง: คะแนนรวมตั้งแต่ 2 แต่ต่ำกว่า 3" in md


def test_a_changed_band_in_the_marts_changes_the_glossary():
    """The glossary reads the one definition (marts.score_band): no second copy to drift."""
    con = built_warehouse(GIVEN, AS_OF)
    try:
        con.execute("""CREATE OR REPLACE MACRO marts.score_band(s) AS CASE WHEN s IS NULL THEN 'no_data'
                       WHEN s >= 3.5 THEN 'on_target' WHEN s >= 2.25 THEN 'at_risk' ELSE 'off_track' END""")
        m = build_model(con, AS_OF)
    finally:
        con.close()
    assert m.bands == {"on_target": Decimal("3.5"), "at_risk": Decimal("2.25")}
    assert "composite from 2.25 to under 3.5" in text(render_html(m, "en"))


def test_files_no_pilot_could_take_are_listed_escaped_and_never_restricted(model):
    assert [(q.submission_id, q.raw_pilot_id) for q in model.unplaced] == [(10, "PLT-9999<b>")]
    for lang in ("en", "th"):
        html = render_html(model, lang)
        section = html.split('id="unplaced"')[1].split("</section>")[0]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;=cmd|x\u241b.csv" in section  # escaped, ESC shown as ␛
        assert "<script>" not in html and "<b>" not in html
        assert "PLT-9999&lt;b&gt;" in section and "(PILOT_UNKNOWN)" in section
        for secret in ("secret-misspelt.csv", "secret-own.csv", "4242"):
            assert secret not in html, secret
    en = text(render_html(model, "en"))
    assert "Quarantined files that no pilot could take" in en
    assert "(pilot as written PLT-9999<b>, Department of Provincial Administration (15001), FY2005 Q4)" in en
    md = render_markdown(model, "en")
    assert "## Quarantined files that no pilot could take" in md and "\\<script\\>" not in md
    # No raw HTML, no table break, no Markdown at all: every ASCII punctuation character escaped.
    assert ("\n- &lt;script&gt;alert\\(1\\)&lt;\\/script&gt;\\=cmd\\|x\u241b\\.csv (pilot as written PLT-9999&lt;b&gt;, "
            "Department of Provincial Administration \\(15001\\), FY2005 Q4); row 2, column pilot_id: "
            "Pilot \\'PLT-9999&lt;b&gt;\\' is not in the registry\\. (PILOT_UNKNOWN)\n") in md


def test_a_pilot_past_its_end_date_says_so(model):
    ended = {p.pilot_id: p.ended for p in model.pilots}
    assert ended == {"P-ENDED": True, "P-FLAG": False, "P-SECRET": False}
    en, th = render_html(model, "en"), render_html(model, "th")
    assert 'data-ended="2005-09-30">Ended on 30 Sep 2005: past its end date<' in en
    assert "สิ้นสุดโครงการแล้วเมื่อ 30 ก.ย. 2548 (เลยวันสิ้นสุดโครงการ)" in th
    assert en.count("past its end date") == 1
    assert "**Ended on 30 Sep 2005: past its end date**" in render_markdown(model, "en")


def test_on_the_demo_the_unknown_pilot_file_and_the_ended_pilot_show(demo_run):
    """docs/demo.md: PLT-2548-030_15001_2548-Q2.csv names a pilot not in the registry; PLT-2548-007
    ended on 2006-03-31, before the demo's as-of date 2006-08-15."""
    out = demo_run[0] / "out"
    en = text((out / "summary.en.html").read_text(encoding="utf-8"))
    assert ("Quarantined files that no pilot could take The pilot code in the file is unreadable or not in the "
            "registry, so no pilot's section lists them. PLT-2548-030_15001_2548-Q2.csv (pilot as written "
            "PLT-2548-030, Department of Provincial Administration (15001), FY2005 Q2)") in en
    assert "Ended on 31 Mar 2006: past its end date" in en
    th = (out / "summary.th.md").read_text(encoding="utf-8")
    assert "**สิ้นสุดโครงการแล้วเมื่อ 31 มี.ค. 2549 (เลยวันสิ้นสุดโครงการ)**" in th
