"""The committee's controls in the summary and the validation report, on the demo: "Figures to
confirm" per pilot (outlier flags of its latest two due periods), none for restricted pilots, the
run's new flags in the validation report, and agency text escaped in the new lists.
(tests/test_closed_quarters.py checks closed quarters and held files on a hand-computed story;
tests/test_report_html.py compares every figure of the page, these included, with the marts.)"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import duckdb
import pytest

from kpis.summary.controls import Closure, HeldFile, OutlierFlag
from kpis.summary.render import render_html, render_markdown
from tests.test_report_html import PAYLOAD, hostile_model, parse


@pytest.fixture(scope="module")
def demo(demo_run):
    folder, _ = demo_run
    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    yield folder, con
    con.close()


def page(folder, name: str) -> str:
    return (folder / "out" / name).read_text(encoding="utf-8")


def test_figures_to_confirm_are_the_flags_of_the_latest_two_due_periods(demo):
    folder, con = demo
    expected = set(con.execute("""
        SELECT o.pilot_id, o.kpi_code, o.period FROM marts.kpi_outliers o
        JOIN registry.pilots p USING (pilot_id)
        WHERE p.classification = 'open'
          AND o.period IN (SELECT period FROM marts.pilot_scores s WHERE s.pilot_id = o.pilot_id
                           ORDER BY period DESC LIMIT 2)""").fetchall())
    for lang in ("th", "en"):
        html = page(folder, f"summary.{lang}.html")
        shown = {(f["pilot"], f["kpi"], f["period"]) for f in parse(html) if f["field"] == "outlier_actual"}
        assert shown == expected, lang
    # PLT-2548-001's latest two due periods are 2549-Q3 and 2549-Q2: G1 is flagged in both (and in
    # 2549-Q1, which is older and not listed).
    assert {(k, p) for pilot, k, p in expected if pilot == "PLT-2548-001"} == {("G1", "2549-Q3"), ("G1", "2549-Q2")}
    md = page(folder, "summary.en.md")
    gin = md.split("## PLT-2548-001", 1)[1].split("\n## ", 1)[0]
    assert "### Figures to confirm" in gin and "| G1 | FY2006 Q3 |" in gin and "FY2006 Q1 |" not in gin.split(
        "### Figures to confirm", 1)[1].split("###", 1)[0]
    assert "### ตัวเลขที่ควรยืนยัน" in page(folder, "summary.th.md")


def test_a_restricted_pilots_flags_stay_in_the_restricted_store(demo):
    """marts.kpi_outliers is line-level (warehouse.md): a restricted pilot's flags are in the
    restricted store only, so its section shows none of them, and no figure."""
    folder, con = demo
    rs = duckdb.connect(str(folder / "warehouse.restricted.duckdb"), read_only=True)
    try:
        flags = rs.execute("""
            SELECT kpi_code, period FROM marts.kpi_outliers WHERE pilot_id = 'PLT-2548-006'
              AND period IN ('2549-Q3', '2549-Q2') ORDER BY period DESC, kpi_code""").fetchall()
    finally:
        rs.close()
    assert flags  # the demo's restricted pilot has flags in its latest two periods
    assert con.execute("SELECT count(*) FROM marts.kpi_outliers WHERE pilot_id = 'PLT-2548-006'").fetchone()[0] == 0
    for lang, heading in (("th", "ตัวเลขที่ควรยืนยัน"), ("en", "Figures to confirm")):
        html = page(folder, f"summary.{lang}.html")
        section = html.split('id="PLT-2548-006"', 1)[1].split("</section>", 1)[0]
        assert "data-flag=" not in section and heading not in section
        assert not any(f["field"].startswith("outlier_") for f in parse(section))
        md = page(folder, f"summary.{lang}.md").split("## PLT-2548-006", 1)[1].split("\n## ", 1)[0]
        assert heading not in md and "S1" not in md and "S2" not in md


def test_the_validation_report_lists_the_runs_new_flags(demo):
    folder, con = demo
    html = page(folder, "validation.html")
    run = con.execute("SELECT run_id FROM ops.runs WHERE kind = 'run' ORDER BY started_at DESC LIMIT 1").fetchall()
    expected = con.execute("""
        SELECT o.pilot_id || ' ' || o.kpi_code || ' ' || o.period FROM marts.kpi_outliers o
        JOIN ingest.submissions s USING (submission_id) JOIN registry.pilots p ON p.pilot_id = o.pilot_id
        WHERE s.run_id = ? AND p.classification = 'open' ORDER BY o.pilot_id, o.period, o.kpi_code""",
                           [run[0][0]]).fetchall()
    # The demo is one run: every open flag is new in it (the restricted pilot's stay out).
    assert len(expected) == con.execute("SELECT count(*) FROM marts.kpi_outliers o JOIN registry.pilots p "
                                        "USING (pilot_id) WHERE p.classification = 'open'").fetchone()[0] > 0
    assert re.findall(r'data-flag="([^"]+)"', html) == [r[0] for r in expected]
    assert "PLT-2548-006" not in html.split('id="outliers"', 1)[1]
    # One row as shown: G1 of PLT-2548-001 in 2549-Q3.
    g1 = html.split('data-flag="PLT-2548-001 G1 2549-Q3"', 1)[1].split("</tr>", 1)[0]
    x, m, n, z = con.execute("SELECT actual, history_median, history_n, modified_z FROM marts.kpi_outliers "
                             "WHERE pilot_id = 'PLT-2548-001' AND kpi_code = 'G1' AND period = '2549-Q3'").fetchone()
    assert f"<td>{format(x.normalize(), 'f')}</td>" in g1 and f"{format(m.normalize(), 'f')} ({n})" in g1
    assert f"<td>{z:.4f}</td>" in g1 and "|z| &gt; 3.5" in g1


def test_the_validation_reports_z_keeps_its_four_decimals_beside_the_rule():
    """data-quality.md §1 stores z to 4 decimals; a flagged z of 3.50004 is stored 3.5000 and was
    shown "3.5" beside "|z| > 3.5" (verifier VD), where the summary shows 3.5000. The run's flags
    come from marts.kpi_outlier_checks, due or not (K3's period not yet due), unflagged rows left out (K4)."""
    from kpis.summary.controls import run_flags

    con = duckdb.connect()
    con.execute("""
        CREATE SCHEMA marts; CREATE SCHEMA ingest; CREATE SCHEMA registry;
        CREATE TABLE registry.pilots (pilot_id VARCHAR, classification VARCHAR);
        CREATE TABLE ingest.submissions (submission_id BIGINT, run_id VARCHAR);
        CREATE TABLE marts.kpi_outlier_checks (pilot_id VARCHAR, kpi_code VARCHAR, period VARCHAR,
            actual DECIMAL(38, 10), history_n INTEGER, history_median DECIMAL(38, 10),
            modified_z DECIMAL(18, 4), rule VARCHAR, submission_id BIGINT, row_number INTEGER, due BOOLEAN);
        INSERT INTO registry.pilots VALUES ('P1', 'open');
        INSERT INTO ingest.submissions VALUES (7, 'r1');
        INSERT INTO marts.kpi_outlier_checks VALUES
            ('P1', 'K1', '2549-Q1', 23.3781, 4, 13, -3.5000, 'modified_z', 7, 2, true),
            ('P1', 'K2', '2549-Q1', 150, 4, 100, NULL, 'changed_after_flat', 7, 3, true),
            ('P1', 'K3', '2549-Q1', 1000, 4, 10, 66.4400, 'modified_z', 7, 4, false),
            ('P1', 'K4', '2549-Q1', 12, 4, 10, 1.3490, NULL, 7, 5, true)""")
    flags = run_flags(con, "r1")
    assert [(f["kpi_code"], f["actual"], f["history_median"], f["modified_z"]) for f in flags] == [
        ("K1", "23.3781", "13", "-3.5000"), ("K2", "150", "100", "–"), ("K3", "1000", "10", "66.4400")]


def controls_model():
    model = hostile_model()
    p = model.pilots[0]
    p.closed, p.changed_since_closing, p.composite_at_closing = True, True, Decimal("4.5000")
    p.closures = [Closure("2549-Q3", datetime(2006, 8, 1, 3, 0), PAYLOAD, Decimal("4.5000"), Decimal("5.0000"), True)]
    p.held = [HeldFile(9, "03009", PAYLOAD, PAYLOAD, "2549-Q3", date(2006, 8, 10), date(2006, 8, 11),
                       f"late{PAYLOAD}.csv")]
    p.to_confirm = [OutlierFlag("K1", "2549-Q3", "changed_after_flat", Decimal(5), Decimal(3), None)]
    return model


@pytest.mark.parametrize("lang", ["th", "en"])
def test_the_controls_escape_agency_and_operator_text(lang):
    html = render_html(controls_model(), lang)
    assert "<script" not in html and '"onerror' not in html
    # Agency name and file name of the held file, the closer's name: 3 more than hostile_model's own.
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;&#34;onerror=alert(1)") >= 6
    md = render_markdown(controls_model(), lang)
    assert "<script" not in md and md.count("&lt;script&gt;") >= 6
    # A changed_after_flat flag has no z: shown as a dash, with the rule in the page's language.
    assert ("เปลี่ยนจากค่าที่คงที่มาตลอด" if lang == "th" else "changed after a flat history") in md
    assert ("| K1 | ไตรมาส 3/2549 | 5 | 3 | – |" if lang == "th" else "| K1 | FY2006 Q3 | 5 | 3 | – |") in md
