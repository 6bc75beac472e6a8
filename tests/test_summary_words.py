"""The committee summary names what it counts and speaks one language per edition (issue 15,
items 3 and 4): layers and strategies by name, KPI units, year-to-date actuals and pro-rated
thresholds said, resolved quarantined files shown as resolved, agencies by name."""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from kpis.build import build_marts
from kpis.summary import labels
from kpis.summary.model import build_model
from kpis.summary.render import render_html, render_markdown
from pilots.contract import COLUMNS, COLUMN_NAMES
from pilots.defects import catalogue
from tests.test_report_html import hostile_model
from warehouse import store
from warehouse.db import connect


class VisibleText(HTMLParser):
    """The text a reader sees, without the style sheet and without agency file names (agency text is
    shown as received, whatever its language)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "title") or (tag == "code" and dict(attrs).get("class") == "file"):
            self._skip.append(tag)

    def handle_endtag(self, tag):
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def visible(page: str) -> str:
    parser = VisibleText()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def outside_brackets(text: str) -> str:
    """The text with every (…) removed: codes may follow in brackets."""
    while True:
        stripped = re.sub(r"\([^()]*\)", " ", text)
        if stripped == text:
            return text
        text = stripped


def english_words(text: str) -> list[str]:
    """Report column names and defect codes standing as words outside brackets."""
    words = set(COLUMN_NAMES) | set(catalogue())
    return sorted({w for w in re.findall(r"[A-Za-z_]+", outside_brackets(text)) if w in words})


@pytest.fixture(scope="module")
def editions(demo_run):
    out = demo_run[0] / "out"
    return {(lang, fmt): (out / f"summary.{lang}.{fmt}").read_text(encoding="utf-8")
            for lang in ("th", "en") for fmt in ("html", "md")}


def test_the_thai_edition_has_no_english_column_name_or_bare_defect_code(editions):
    html, md = visible(editions["th", "html"]), editions["th", "md"]
    # The demo's quarantined files carry these codes and columns: they are there, in brackets.
    for code in ("PERCENT_OUT_OF_RANGE", "COLUMN_MISSING", "KPI_NOT_LEAD", "KPI_UNKNOWN", "NOT_A_NUMBER"):
        assert f"({code})" in html and f"(`{code}`)" in md, code
    assert "คอลัมน์ ผลการดำเนินงาน (actual)" in html and "คอลัมน์ ประเภทรายการ (line_type)" in html
    assert english_words(html) == [] and english_words(md) == []
    assert "marts" not in outside_brackets(html)


def test_the_check_finds_a_bare_code_and_column():
    assert english_words("แถว 2, คอลัมน์ actual: PERCENT_OUT_OF_RANGE") == ["PERCENT_OUT_OF_RANGE", "actual"]
    assert english_words("คอลัมน์ ผลการดำเนินงาน (actual): ... (PERCENT_OUT_OF_RANGE)") == []


def test_the_english_edition_counts_in_ce_throughout(editions):
    for fmt in ("html", "md"):
        text = visible(editions["en", fmt]) if fmt == "html" else editions["en", fmt]
        text = re.sub(r"PLT-[0-9]{4}-[0-9]{3}\S*", "", text)  # pilot ids and file names carry their BE year
        assert "As of 15 Aug 2006" in text and "FY2006 Q3" in text  # BE 2549 = CE 2006; FY ends Sep 2006
        assert not re.search(r"(?<![0-9,.])25[0-9]{2}(?![0-9])", text), re.search(r".{40}25[0-9]{2}.{20}", text)


@pytest.mark.parametrize("lang, layer1, layer5", [
    ("en", "1 Network", "5 Integration for citizens (e-citizen / one-stop service)"),
    ("th", "1 โครงข่ายโทรคมนาคม", "5 การบูรณาการข้อมูลเพื่อบริการประชาชน (E-Citizen / One Stop Service)"),
])
def test_layers_and_strategies_are_named_in_both_editions(editions, lang, layer1, layer5):
    strategy6 = {"en": "6 Modernising the public sector", "th": "6 การเสริมสร้างระบบราชการให้ทันสมัย"}[lang]
    strategy3 = {"en": "3 Reforming the financial and budgeting systems",
                 "th": "3 การรื้อปรับระบบการเงินและการงบประมาณ"}[lang]
    for fmt in ("html", "md"):
        page = editions[lang, fmt]
        for name in (layer1, layer5, strategy6, strategy3):
            assert name in page, (lang, fmt, name)
    # The demo's pilots serve strategies 1, 3, 6 and 7 (docs/demo.md): 7 by PLT-2548-002 and -007.
    strategy7 = {"en": "7 Opening the public sector to public participation",
                 "th": "7 การเปิดระบบราชการให้มีส่วนร่วมจากภาคประชาชน"}[lang]
    assert f"| {strategy7} | 2 |" in editions[lang, "md"]
    strategy2 = {"en": "Restructuring the roles", "th": "การปรับปรุงบทบาท"}[lang]  # serves no pilot: no row
    assert strategy2 not in editions[lang, "md"] and strategy2 not in editions[lang, "html"]


def test_a_strategy_without_a_name_shows_its_number_alone():
    model = hostile_model()  # strategy 1, and no strategies.yaml behind it
    assert model.strategy_names == {}
    assert "| 1 | 1 |" in render_markdown(model, "en")
    assert labels.strategy_name(4, {1: {"en": "A", "th": "ก"}}, "en") == "4"
    assert labels.strategy_name(1, {1: {"en": "A", "th": "ก"}}, "th") == "1 ก"


def test_kpi_units_year_to_date_and_pro_rated_thresholds(editions):
    """PLT-2548-005 R2 (baht, sum), 2549-Q3: registered thresholds 8,000 … 20,000 million baht; applied
    × 3/4 = 6,000 / 8,250 / 10,500 / 12,750 / 15,000 million. R1 is percent, R3 days (pilots/demo.py)."""
    en = visible(editions["en", "html"]).split("PLT-2548-005 · ", 2)[2]
    th = visible(editions["th", "html"]).split("PLT-2548-005 · ", 2)[2]
    assert "6,000.00 million THB / 8,250.00 million THB / 10,500.00 million THB / 12,750.00 million THB / " \
           "15,000.00 million THB" in en
    assert "year to date (Q1–Q3)" in en
    assert "pro-rated to the share of the year elapsed (3/4) from the annual thresholds 8,000.00 million THB / " \
           "11,000.00 million THB / 14,000.00 million THB / 17,000.00 million THB / 20,000.00 million THB" in en
    assert "Thresholds for scores 1–5, as applied" in en
    assert "15% / 20% / 25% / 30% / 35%" in en and "60 days / 50 days / 40 days / 30 days / 20 days" in en
    assert "6,000.00 ล้านบาท / 8,250.00 ล้านบาท" in th and "ผลสะสมตั้งแต่ต้นปีงบประมาณ (ไตรมาส 1–3)" in th
    assert "ปรับตามสัดส่วนของปีที่ผ่านไป (3/4) จากเกณฑ์ทั้งปี 8,000.00 ล้านบาท" in th
    assert "60 วัน / 50 วัน / 40 วัน / 30 วัน / 20 วัน" in th
    # A `last` KPI says neither.
    r1 = en.split("R1 ", 1)[1].split("R2 ", 1)[0]
    assert "year to date" not in r1 and "pro-rated" not in r1


def test_fmt_quantity_by_unit():
    assert labels.fmt_quantity(Decimal("85.5"), "percent", "th") == "85.5%"
    assert labels.fmt_quantity(Decimal("13003411920"), "baht", "th") == "13,003.41 ล้านบาท"  # 13,003,411,920 / 10^6
    assert labels.fmt_quantity(Decimal("950000"), "baht", "en") == "950,000.00 THB"  # under a million: baht
    assert labels.fmt_quantity(Decimal("12"), "days", "th") == "12 วัน"
    assert labels.fmt_quantity(Decimal("3045"), "count", "en") == "3,045"
    assert labels.fmt_quantity(None, "days", "en") == "–"


def test_thai_column_labels_match_the_contract():
    assert labels.COLUMNS_TH == {c.name: c.thai for c in COLUMNS}


def test_resolved_quarantined_files_and_agencies_by_name(editions):
    # Demo: OPDC-ICT's (11002) G1 typo in 2548-Q3 was re-sent as _v2 (docs/demo.md), submission 4.
    en = visible(editions["en", "html"])  # without the file names (agency text)
    assert "resolved (Ministry of Information and Communication Technology (11002), FY2005 Q3)" in en
    assert "a valid version replaced it: (submission 4, in use)" in en
    th = visible(editions["th", "html"])
    assert "แก้ไขแล้ว" in th and "กระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร (11002), ไตรมาส 3/2548" in th
    assert "PLT-2548-001_11002_2548-Q3_v2\\.csv (ลำดับรับที่ 4, ใช้ข้อมูลชุดนี้)" in editions["th", "md"]


# --- the resolution rule on a warehouse of hand-made rows ------------------------------------

def _warehouse():
    con = connect(":memory:")
    store.replace_registry(con, {
        "registry.agencies": [{"agency_code": "03009", "name_th": "สำนักงาน ก.พ.ร.",
                               "name_en": "Office of the Public Sector Development Commission", "ministry": None}],
        "registry.pilots": [{"pilot_id": "PLT-2548-003", "name_th": "ก", "name_en": "A", "layer": 5,
                             "strategies": [1], "classification": "open", "start_date": date(2004, 10, 1),
                             "end_date": date(2006, 9, 30), "lead_agency_code": "03009", "report_due_days": 30}],
        "registry.pilot_agencies": [{"pilot_id": "PLT-2548-003", "agency_code": "03009", "role": "lead"}],
    })
    return con


def _submission(sid, status, period="2548-Q1", agency="03009", raw_agency=None):
    return {"submission_id": sid, "sha256": f"{sid:064d}", "file_name": f"f{sid}.csv", "format": "csv",
            "encoding": "utf-8", "size_bytes": 1, "received_at": datetime(2005, 1, sid), "run_id": "r",
            "pilot_id": "PLT-2548-003", "agency_code": agency, "period": period, "submitted_on": date(2005, 1, 5),
            "status": status, "error_count": int(status == "quarantined"), "warning_count": 0,
            "raw_agency_code": raw_agency}


def test_a_later_valid_version_resolves_a_quarantined_file_an_earlier_one_does_not():
    con = _warehouse()
    store.write_submissions(con, [
        _submission(1, "quarantined"),                   # Q1: broken, then …
        _submission(2, "superseded"),                    # … a valid version, since replaced by …
        _submission(3, "accepted"),                      # … the accepted one: 1 is resolved by 3
        _submission(4, "accepted", "2548-Q2"),           # Q2: accepted first, then …
        _submission(5, "quarantined", "2548-Q2"),        # … a broken correction: not resolved
        _submission(6, "quarantined", "2548-Q3", agency=None, raw_agency="3oo9"),  # agency unread
    ])
    build_marts(con, date(2005, 8, 15))
    files = {q.submission_id: q for q in build_model(con, date(2005, 8, 15)).pilots[0].quarantined}
    assert sorted(files) == [1, 5, 6]
    assert (files[1].resolved_by.submission_id, files[1].resolved_by.status) == (3, "accepted")
    assert files[5].resolved_by is None and files[6].resolved_by is None
    assert files[1].agency_name_en == "Office of the Public Sector Development Commission"
    page = render_html(build_model(con, date(2005, 8, 15)), "en")
    assert page.count("s-resolved") == 1 + 1 and page.count('class="badge s-unresolved"') == 2  # +1: the CSS rule
    assert "(Office of the Public Sector Development Commission (03009), FY2005 Q1)" in page
    assert "(3oo9, FY2005 Q3)" in page  # the agency as the file wrote it
