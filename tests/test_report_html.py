"""The HTML committee summary: every figure it shows equals the marts, it is self-contained,
restricted pilots show status and composite only, and agency text is escaped."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.prefect_reads import summary_artifacts_of
from kpis.summary.model import KpiRow, PilotSection, QuarantinedFile, SummaryModel
from kpis.summary.render import render_html, render_markdown

AS_OF = date(2006, 8, 15)


class Figures(HTMLParser):
    """Collects every <span class="fig"> with its data-* attributes and the text it shows."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "span" and a.get("class") == "fig":
            self._open = {k[5:]: v for k, v in a.items() if k.startswith("data-")} | {"text": ""}

    def handle_data(self, data):
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.figures.append(self._open)
            self._open = None


KPI_FIELDS = {"actual", "t1", "t2", "t3", "t4", "t5"}


def shown_number(text: str, percent_points: bool = False) -> tuple[Decimal, Decimal]:
    """The number a reader sees, and half a unit of its last shown digit (the display's tolerance).

    A KPI's actual and thresholds carry the KPI's unit: "78.8%" is 78.8 percent points (registry unit
    percent), not the ratio 0.788, and "5.1 วัน" / "5.1 days" is 5.1."""
    t = text.replace(",", "").strip()
    scale = Decimal(1)
    for suffix, factor in (("%", Decimal(1) if percent_points else Decimal("0.01")),
                           (" million THB", Decimal(10**6)), (" ล้านบาท", Decimal(10**6)),
                           (" THB", Decimal(1)), (" บาท", Decimal(1)), (" วัน", Decimal(1)), (" days", Decimal(1))):
        if t.endswith(suffix):
            t, scale = t[: -len(suffix)], factor
            break
    value = Decimal(t)
    return value * scale, Decimal(1).scaleb(value.as_tuple().exponent) * scale / 2


@pytest.fixture(scope="module")
def demo_html(demo_run):
    folder, _ = demo_run
    pages = {lang: (folder / "out" / f"summary.{lang}.html").read_text(encoding="utf-8") for lang in ("th", "en")}
    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    yield pages, con
    con.close()


def parse(page: str) -> list[dict]:
    parser = Figures()
    parser.feed(page)
    return parser.figures


def marts_value(con, f: dict):
    """The figure as the marts hold it, looked up independently of the summary model."""
    field, pilot = f["field"], f.get("pilot")
    if field in ("actual", "t1", "t2", "t3", "t4", "t5", "score"):
        return con.execute(f"SELECT {field} FROM marts.kpi_scores WHERE pilot_id = ? AND kpi_code = ? AND period = ?",
                           [pilot, f["kpi"], f["period"]]).fetchone()[0]
    if field in ("composite_score", "kpis_reported", "kpis_expected"):
        return con.execute(f"SELECT {field} FROM marts.pilot_scores WHERE pilot_id = ? "
                           "ORDER BY period DESC LIMIT 1", [pilot]).fetchone()[0]
    if field == "days_late":
        return con.execute("SELECT days_late FROM marts.reporting_compliance WHERE pilot_id = ? AND agency_code = ? "
                           "AND period = ?", [pilot, f["kpi"], f["period"]]).fetchone()[0]
    if field == "pilots_by_status":
        return con.execute("SELECT count(*) FROM registry.pilots p LEFT JOIN (SELECT pilot_id, status FROM "
                           "marts.pilot_scores QUALIFY row_number() OVER (PARTITION BY pilot_id ORDER BY period DESC)"
                           " = 1) s USING (pilot_id) WHERE coalesce(s.status, 'no_data') = ?",
                           [f["key"]]).fetchone()[0]
    if field == "pilots_by_layer":
        return con.execute("SELECT count(*) FROM registry.pilots WHERE layer = ?", [int(f["key"])]).fetchone()[0]
    if field == "pilots_by_strategy":
        return con.execute("SELECT count(*) FROM registry.pilots WHERE list_contains(strategies, ?)",
                           [int(f["key"])]).fetchone()[0]
    if field.startswith("layer_"):
        column = field.removeprefix("layer_")
        return con.execute(
            f"SELECT sum(b.{column}) FROM marts.budget_integration_by_layer b JOIN (SELECT pilot_id, max(period) "
            "AS period FROM marts.pilot_scores GROUP BY pilot_id) USING (pilot_id, period) JOIN registry.pilots p "
            "USING (pilot_id) WHERE p.classification <> 'restricted' AND b.layer = ?", [int(f["key"])]).fetchone()[0]
    if field == "as_of":
        return AS_OF
    if field == "reminders_by_level":
        return con.execute("SELECT count(*) FROM marts.reminders WHERE level = ?", [int(f["key"])]).fetchone()[0]
    if field == "escalated_reports":
        return con.execute("SELECT count(*) FROM marts.reminders WHERE level = 3 AND agency_code = ?",
                           [f["key"]]).fetchone()[0]
    return controls_value(con, f)


def controls_value(con, f: dict):
    """The committee's controls (kpis/summary/controls.py): outlier flags, closures, held files;
    any other field is a marts.budget_integration column."""
    field, pilot = f["field"], f.get("pilot")
    if field.startswith("outlier_"):
        return con.execute(f"SELECT {field.removeprefix('outlier_')} FROM marts.kpi_outliers WHERE pilot_id = ? "
                           "AND kpi_code = ? AND period = ?", [pilot, f["kpi"], f["period"]]).fetchone()[0]
    if field == "composite_at_closing":
        return con.execute("SELECT composite_at_closing FROM approval.quarter_closures WHERE pilot_id = ? "
                           "AND period = ? AND reopened_at IS NULL", [pilot, f["period"]]).fetchone()[0]
    if field == "closure_composite":
        return con.execute("SELECT composite_score FROM marts.pilot_scores WHERE pilot_id = ? AND period = ?",
                           [pilot, f["period"]]).fetchone()[0]
    if field == "held_submitted_on":
        return con.execute("SELECT submitted_on FROM ingest.submissions WHERE submission_id = ? AND status = 'held'",
                           [int(f["key"])]).fetchone()[0]
    return con.execute(f"SELECT {field} FROM marts.budget_integration WHERE pilot_id = ? AND period = ?",
                       [pilot, f["period"]]).fetchone()[0]


@pytest.mark.parametrize("lang", ["th", "en"])
def test_every_figure_shown_equals_the_marts(demo_html, lang):
    pages, con = demo_html
    figures = parse(pages[lang])
    assert len(figures) > 150  # the demo's 7 pilots: guard against a template that shows nothing
    for f in figures:
        expected = marts_value(con, f)
        where = f"{lang} {f}"
        if expected is None:
            assert f["value"] == "" and f["text"] in ("–", ""), where
            continue
        if isinstance(expected, date):
            assert f["value"] == expected.isoformat(), where
            continue
        assert Decimal(f["value"]) == Decimal(expected), where
        shown, tolerance = shown_number(f["text"], percent_points=f["field"] in KPI_FIELDS)
        assert abs(shown - Decimal(expected)) <= tolerance, where


def test_every_open_pilots_kpi_of_its_latest_period_is_shown(demo_html):
    pages, con = demo_html
    shown = {(f["pilot"], f["kpi"]) for f in parse(pages["en"]) if f["field"] == "score"}
    expected = set(con.execute("""
        SELECT s.pilot_id, s.kpi_code FROM marts.kpi_scores s JOIN registry.pilots p USING (pilot_id)
        WHERE p.classification = 'open'
          AND s.period = (SELECT max(period) FROM marts.pilot_scores x WHERE x.pilot_id = s.pilot_id)""").fetchall())
    assert shown == expected and len(expected) >= 12


def test_demo_headline_figures(demo_html):
    """Spot values the committee sees, hand-checked against docs/demo.md's story."""
    pages, _ = demo_html
    th = pages["th"]
    assert "15 ส.ค. 2549" in th and "ไตรมาส 3/2549" in th
    # The English edition counts in CE throughout: fiscal year 2549 (Oct 2005 - Sep 2006) is FY2006.
    assert "As of" in pages["en"] and "15 Aug 2006" in pages["en"] and "FY2006 Q3" in pages["en"]
    assert "FY2549" not in pages["en"]
    by_status = {f["key"]: int(f["value"]) for f in parse(th) if f["field"] == "pilots_by_status"}
    assert by_status == {"on_target": 3, "at_risk": 2, "off_track": 2, "no_data": 0}


@pytest.mark.parametrize("lang", ["th", "en"])
def test_the_page_is_self_contained(demo_html, lang):
    page = demo_html[0][lang]
    lowered = page.lower()
    for forbidden in ("<script", "<link", "<img", "<iframe", "@import", "url(", " src="):
        assert forbidden not in lowered, forbidden
    # The only URL is the SVG namespace, which browsers never fetch.
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "@media print" in page and "size: A4" in page
    assert '"Loma"' in page and '"Garuda"' in page  # a named Thai font stack (fonts-thai-tlwg)


def test_restricted_pilot_shows_status_and_composite_only(demo_html):
    pages, con = demo_html
    restricted = con.execute("SELECT pilot_id FROM registry.pilots WHERE classification = 'restricted'").fetchall()
    assert restricted == [("PLT-2548-006",)]
    for lang, page in pages.items():
        section = page.split('id="PLT-2548-006"', 1)[1].split("</section>", 1)[0]
        fields = {f["field"] for f in parse(section)}
        assert fields == {"composite_score", "kpis_reported", "kpis_expected"}, (lang, fields)
        assert "<table" not in section and ".csv" not in section and ".xlsx" not in section
        # No file name, actual or budget figure of that pilot anywhere on the page (its file names
        # are in the restricted store only).
        rs = duckdb.connect(str(demo_html_folder(con)), read_only=True)
        try:
            names = [r[0] for r in rs.execute(
                "SELECT file_name FROM ingest.submissions WHERE pilot_id = 'PLT-2548-006'").fetchall()]
        finally:
            rs.close()
        assert names and not any(n in page for n in names)
        assert not any(f.get("pilot") == "PLT-2548-006" and f["field"] not in fields for f in parse(page))


def demo_html_folder(con) -> Path:
    """The demo's restricted store, beside the published copy `con` reads."""
    path = Path(con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()[0])
    return path.with_name("warehouse.restricted.duckdb")


PAYLOAD = '<script>alert(1)</script>"onerror=alert(1)'


def hostile_model() -> SummaryModel:
    kpi = KpiRow("K1", PAYLOAD, PAYLOAD, "count", "higher", "latest", Decimal(100), Decimal(5),
                 tuple(Decimal(i) for i in range(1, 6)), Decimal(5), "on_target")
    pilot = PilotSection("PLT-2548-001", PAYLOAD, PAYLOAD, 1, [1], False, "2549-Q3", Decimal("5.0000"),
                         "on_target", 1, 1, trend=[("2549-Q3", Decimal(5), "on_target")], kpis=[kpi],
                         quarantined=[QuarantinedFile(7, f"x{PAYLOAD}.csv", "03009", "2549-Q3",
                                                      [(2, "note", "X", PAYLOAD, PAYLOAD)])])
    return SummaryModel(AS_OF, [pilot], {"on_target": 1}, {1: 1}, {1: 1}, [])


@pytest.mark.parametrize("lang", ["th", "en"])
def test_agency_text_is_escaped_in_html_and_markdown(lang):
    html = render_html(hostile_model(), lang)
    assert "<script" not in html and '"onerror' not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;&#34;onerror=alert(1)") >= 3
    md = render_markdown(hostile_model(), lang)
    assert "<script" not in md and "&lt;script&gt;" in md


def test_payload_in_a_file_name_and_a_note_end_to_end(tmp_path, prefect_harness):
    from tests.test_flow import AS_OF as FLOW_AS_OF, _csv, make_scenario

    registry, inbox = make_scenario(tmp_path)
    name = 'g<svg onload=alert(1)>"onerror=alert(1).csv'  # a file name cannot hold "/"
    (inbox / name).write_bytes(_csv(
        f"PLT-2548-003,03009,2548-Q2,2005-04-20,kpi,K1,,<script>alert(1)</script>,,,,{PAYLOAD}"))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(tmp_path / "wh.duckdb"), "--out", str(out), "--as-of", FLOW_AS_OF])
    assert result.exit_code == 0, result.output
    for lang in ("th", "en"):
        page = (out / f"summary.{lang}.html").read_text(encoding="utf-8")
        assert "<script" not in page and "<svg onload" not in page and '"onerror' not in page
        assert "g&lt;svg onload=alert(1)&gt;&#34;onerror=alert(1).csv" in page  # shown, escaped


def test_report_command_writes_both_editions_from_the_published_copy(demo_run, tmp_path):
    folder, _ = demo_run
    result = CliRunner().invoke(main, ["report", "--warehouse", str(folder / "warehouse.published.duckdb"),
                                       "--out", str(tmp_path), "--lang", "th"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.th.html", "summary.th.md"]
    # Same warehouse, same as-of (taken from the last run): the same page as the run wrote, except
    # the link to the run's validation report, which lives only next to the run's own summaries.
    link = ' · <a href="validation.html">รายงานการตรวจสอบไฟล์</a>'
    run_page = (folder / "out" / "summary.th.html").read_text()
    assert link in run_page and (folder / "out" / "validation.html").exists()
    assert (tmp_path / "summary.th.html").read_text() == run_page.replace(link, "")


def test_pdf_without_chromium_says_how_to_install(demo_run, tmp_path, monkeypatch):
    folder, _ = demo_run
    monkeypatch.setenv("PILOTKPI_CHROMIUM", str(tmp_path / "no-such-browser"))
    result = CliRunner().invoke(main, ["report", "--warehouse", str(folder / "warehouse.published.duckdb"),
                                       "--out", str(tmp_path / "r"), "--pdf"])
    assert result.exit_code == 1
    assert "apt-get install chromium fonts-thai-tlwg" in result.output
    assert (tmp_path / "r" / "summary.th.html").exists()  # the HTML is written all the same


def test_run_publishes_a_prefect_markdown_artifact(demo_run):
    folder, _ = demo_run
    [artifact] = summary_artifacts_of(folder / "out")
    assert artifact.type == "markdown"
    text = artifact.data
    assert "| on target | 3 |" in text and "| off track | 2 |" in text
    assert f"({(folder / 'out' / 'summary.th.html').resolve().as_uri()})" in text
    assert "| PLT-2548-001 | 2549-Q3 | 3.6880 | on target |" in text
    # Quarantined files with their agency by name and the version that resolved them (docs/demo.md).
    # (Agency text in Markdown: every ASCII punctuation escaped but "-" and "_" inside a word.)
    assert ("| PLT-2548-001 | PLT-2548-001_11002_2548-Q3\\.csv | Ministry of Information and Communication Technology "
            "\\(11002\\) | 2548-Q3 | submission 4 (accepted) |") in text
