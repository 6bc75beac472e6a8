"""Closed quarters end to end (data-quality.md §2), on tests/test_flow.py's scenario as of 2005-05-15.

After the first run (hand-computed in test_flow): 2548-Q1 composite (3.7×60 + 2.4×40)/100 = 3.1800,
2548-Q2 (4.5×60 + 3.0×40)/100 = 3.9000. Q1 is due 2005-01-30; the lead 03009 reported on
2005-01-20 (submission 1), the secondary 15001 on 2005-02-15 (submission 2), the supporting
11002 not at all. The story, one job after another:

  refused  close-quarter 2548-Q3 (the quarter ends 2005-06-30, after the as-of date)
  1 close-quarter 2548-Q1 (all pilots)
  2 a run with three valid files for Q1 (held) and a bad one (quarantined)
  3 approve the lead's resubmission
  4 reject the supporting agency's late report; refused: a second decision on either file
  5 reopen Q1: the secondary's held file stays held
  6 approve it: an accepted version with a later submitted_on exists, so it is superseded
  7 close 2548-Q2, raise K1's thresholds, rebuild: Q2 changed since closing
"""
from __future__ import annotations

import re
import shutil
from datetime import date
from decimal import Decimal as D

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from kpis.build import MART_NAMES
from tests.test_flow import AS_OF, _csv, run_cli

P = "PLT-2548-003"


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def query(path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def marts(path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {name: con.execute(f"SELECT * FROM marts.{name} ORDER BY ALL").fetchall() for name in MART_NAMES}
    finally:
        con.close()


def validation_links(out) -> set[str]:
    """The validation reports the summaries link to."""
    return {link for lang in ("th", "en") for fmt, pattern in (("html", r'href="(validation[^"]*)"'),
                                                                 ("md", r"\]\((validation[^)]*)\)"))
            for link in re.findall(pattern, (out / f"summary.{lang}.{fmt}").read_text(encoding="utf-8"))}


def pages(out) -> dict[str, str]:
    return {f"{lang}.{fmt}": (out / f"summary.{lang}.{fmt}").read_text(encoding="utf-8")
            for lang in ("th", "en") for fmt in ("html", "md")}


def scores(path) -> list[tuple]:
    return query(path, "SELECT period, composite_score, status, closed, changed_since_closing "
                       "FROM marts.pilot_scores ORDER BY period")


@pytest.fixture(scope="module")
def story(tmp_path_factory, prefect_harness, scenario_night):
    root = tmp_path_factory.mktemp("closed")
    # The scenario's first night is the session's (tests/conftest.py scenario_night: make_scenario,
    # then run_cli), copied: one night less per worker than running it here again.
    shutil.copytree(scenario_night, root, dirs_exist_ok=True)
    registry = root / "registry"
    wh = root / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(root / "out"), "--as-of", AS_OF]
    s: dict = {"root": root, "wh": wh, "base": base, "registry": registry}

    s["before_refused"] = marts(wh)
    s["refused_not_due"] = cli("close-quarter", "2548-Q3", "--pilot", P, "--by", "Somchai", *base)
    s["after_refused"] = marts(wh)

    s["close"] = cli("close-quarter", "2548-Q1", "--by", "Somchai", "--note", "approved at meeting 3/2548", *base)
    s["closed_marts"] = marts(wh)
    s["closures"] = query(wh, "SELECT pilot_id, period, closed_by, note, composite_at_closing, status_at_closing, "
                              "reopened_at FROM approval.quarter_closures")

    late = root / "inbox2"
    late.mkdir()
    (late / "g_lead_q1_fix.csv").write_bytes(_csv(
        f"{P},03009,2548-Q1,2005-05-10,kpi,K1,,57,,,,",
        f"{P},03009,2548-Q1,2005-05-10,kpi,K2,,60,,,,",
        f"{P},03009,2548-Q1,2005-05-10,budget,ACT-1,5,,1000000,250000,own,"))
    (late / "h_sup_q1_late.csv").write_bytes(_csv(
        f"{P},11002,2548-Q1,2005-05-12,budget,ACT-1,5,,100000,0,support_contribution,"))
    (late / "i_lead_q1_bad.csv").write_bytes(_csv(
        f"{P},03009,2548-Q1,2005-05-13,budget,ACT-1,5,,100000,150000,own,"))
    (late / "j_sec_q1_older.csv").write_bytes(_csv(
        f"{P},15001,2548-Q1,2005-02-10,budget,ACT-1,5,,500000,100000,own,"))
    s["run"] = run_cli(registry, late, root)
    s["held_marts"] = marts(wh)
    s["held_pages"] = pages(root / "out")
    s["statuses"] = query(wh, "SELECT file_name, status FROM ingest.submissions WHERE submission_id > 6 ORDER BY 1")
    s["core_from_late"] = query(wh, "SELECT count(*) FROM core.kpi_actuals WHERE submission_id > 6")
    s["ids"] = dict(query(wh, "SELECT file_name, submission_id FROM ingest.submissions WHERE submission_id > 6"))
    ids = s["ids"]

    s["approve"] = cli("approve", str(ids["g_lead_q1_fix.csv"]), "--by", "Somchai", "--note", "typo", *base)
    s["approved_marts"] = marts(wh)
    s["approved_scores"] = scores(wh)
    s["approved_budget"] = query(wh, "SELECT period, disbursed_thb, disbursement_rate FROM marts.budget_integration "
                                     "ORDER BY 1")
    s["reject"] = cli("reject", str(ids["h_sup_q1_late.csv"]), "--by", "Somchai", "--reason", "wrong pilot", *base)
    s["rejected_marts"] = marts(wh)
    s["second_approve"] = cli("approve", str(ids["g_lead_q1_fix.csv"]), "--by", "Malee", *base)
    s["approve_rejected"] = cli("approve", str(ids["h_sup_q1_late.csv"]), "--by", "Malee", *base)
    s["after_second"] = marts(wh)

    s["reopen"] = cli("reopen", "2548-Q1", "--pilot", P, "--by", "Somchai", "--reason", "ministry asked", *base)
    s["reopened_status"] = query(wh, f"SELECT status FROM ingest.submissions "
                                     f"WHERE submission_id = {ids['j_sec_q1_older.csv']}")
    s["reopened_scores"] = scores(wh)
    s["reopened_marts"] = marts(wh)
    s["reopened_links"] = validation_links(root / "out")
    s["approve_older"] = cli("approve", str(ids["j_sec_q1_older.csv"]), "--by", "Somchai", *base)
    s["older_marts"] = marts(wh)

    s["close_q2"] = cli("close-quarter", "2548-Q2", "--pilot", P, "--by", "Somchai", *base)
    path = registry / "pilots" / f"{P}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("[20, 30, 40, 50, 60]", "[30, 40, 50, 60, 70]"),
                    encoding="utf-8")
    s["rebuild"] = cli("rebuild", *base)
    s["final_pages"] = pages(root / "out")
    s["reports"] = sorted(p.name for p in (root / "out").glob("validation*.html"))
    return s


def test_closing_a_period_that_is_not_due_is_refused(story):
    code, out = story["refused_not_due"]
    # 2548-Q3 is April-June 2005: it ends 2005-06-30, after the as-of date 2005-05-15.
    assert code == 1, out
    assert "2548-Q3 is not due for PLT-2548-003 as of 2005-05-15: the quarter ends on 2005-06-30" in out
    assert story["after_refused"] == story["before_refused"]


def test_closing_records_the_composite_and_status_of_that_moment(story):
    code, out = story["close"]
    assert code == 0, out
    assert "closed 2548-Q1 for PLT-2548-003: composite 3.1800, on_target" in out
    wh = story["wh"]
    assert story["closures"] == [
        (P, "2548-Q1", "Somchai", "approved at meeting 3/2548", D("3.1800"), "on_target", None)]
    # Closing marks the period and changes no figure.
    closed = story["closed_marts"]
    assert [r for r in closed["pilot_scores"] if r[1] == "2548-Q1"][0][-2:] == (True, False)
    assert {k: v for k, v in closed.items() if k != "pilot_scores"} == \
        {k: v for k, v in story["after_refused"].items() if k != "pilot_scores"}


def test_valid_files_for_a_closed_quarter_are_held_and_change_only_compliance(story):
    code, out = story["run"]
    assert code == 0, out
    assert "files seen 4: accepted 0, superseded 0, duplicates 0, quarantined 1, held 3" in out
    wh, ids = story["wh"], story["ids"]
    assert story["statuses"] == [
        ("g_lead_q1_fix.csv", "held"), ("h_sup_q1_late.csv", "held"), ("i_lead_q1_bad.csv", "quarantined"),
        ("j_sec_q1_older.csv", "held")]
    assert query(wh, "SELECT held, quarantined FROM ops.runs WHERE kind = 'run' ORDER BY started_at DESC LIMIT 1"
                 ) == [(3, 1)]
    # Held files say why, in both languages; their lines are stored, outside core.*.
    assert query(wh, f"SELECT code, severity FROM ingest.issues WHERE submission_id = {ids['g_lead_q1_fix.csv']}"
                 ) == [("QUARTER_CLOSED", "warning")]
    assert query(wh, "SELECT submission_id, kpi_code, actual FROM ingest.held_kpi_actuals ORDER BY kpi_code") == [
        (ids["g_lead_q1_fix.csv"], "K1", D(57)), (ids["g_lead_q1_fix.csv"], "K2", D(60))]
    assert story["core_from_late"] == [(0,)]
    before, after = story["closed_marts"], story["held_marts"]
    # Reminders are built on compliance (kpis/reminders.sql): the supporting agency's held late
    # report for 2548-Q1 ends its reminder for that period, and nothing else changes.
    derived = ("reporting_compliance", "reminders")
    assert {k: v for k, v in after.items() if k not in derived} == \
        {k: v for k, v in before.items() if k not in derived}
    assert [r[:4] for r in before["reminders"] if r[:4] not in [x[:4] for x in after["reminders"]]] == [
        ("11002", "PLT-2548-003", "supporting", "2548-Q1")]
    assert query(wh, "SELECT agency_code, submitted, first_submitted_on, on_time, days_late, versions, quarantined "
                     "FROM marts.reporting_compliance WHERE period = '2548-Q1' ORDER BY agency_code") == [
        # Lead: accepted 1 (20 Jan) + held g: 2 versions, first still 20 Jan; the bad file quarantined.
        ("03009", True, date(2005, 1, 20), True, 0, 2, 1),
        # Supporting: its late first report (12 May) counts: 1 + 28 + 31 + 30 + 12 = 102 days after 30 Jan.
        ("11002", True, date(2005, 5, 12), False, 102, 1, 0),
        # Secondary: held j (10 Feb) is earlier than accepted 2 (15 Feb): 10 Feb − 30 Jan = 11 days, 2 versions.
        ("15001", True, date(2005, 2, 10), False, 11, 2, 0),
    ]


def test_approving_applies_the_resubmission_rules(story):
    code, out = story["approve"]
    assert code == 0, out
    wh, g = story["wh"], story["ids"]["g_lead_q1_fix.csv"]
    assert f"submission {g} (PLT-2548-003 03009 2548-Q1) approved: accepted, replacing submission 1" in out
    assert query(wh, f"SELECT submission_id, status, superseded_by FROM ingest.submissions "
                     f"WHERE submission_id IN (1, {g}) ORDER BY 1") == [(1, "superseded", g), (g, "accepted", None)]
    m = story["approved_marts"]
    # K1 Q1 a=57 between t4=50 and t5=60: 4 + 7/10 = 4.7000; K2 Q1 still 60: 2.4000.
    # Composite (4.7×60 + 2.4×40)/100 = (282 + 96)/100 = 3.7800, not the 3.1800 closed: changed.
    assert [(r[0], r[1], r[2], r[11]) for r in m["kpi_scores"] if r[2] == "2548-Q1"] == [
        (P, "K1", "2548-Q1", D("4.7000")), (P, "K2", "2548-Q1", D("2.4000"))]
    assert story["approved_scores"][0] == ("2548-Q1", D("3.7800"), "on_target", True, True)
    # Q1 budget: the lead's ACT-1 now disbursed 250,000; + secondary 100,000 + 0 = 350,000 of
    # 1,800,000 allocated: 0.19444 → 0.1944. Q2 (the lead's own Q2 lines) does not move.
    assert story["approved_budget"] == [
        ("2548-Q1", D("350000.00"), D("0.1944")), ("2548-Q2", D("550000.00"), D("0.3056"))]
    assert [r for r in m["pilot_scores"] if r[1] == "2548-Q2"] == \
        [r for r in story["held_marts"]["pilot_scores"] if r[1] == "2548-Q2"]


def test_rejecting_changes_nothing_else(story):
    code, out = story["reject"]
    assert code == 0, out
    wh, h = story["wh"], story["ids"]["h_sup_q1_late.csv"]
    assert query(wh, f"SELECT status FROM ingest.submissions WHERE submission_id = {h}") == [("rejected",)]
    assert story["rejected_marts"] == story["approved_marts"]


def test_a_second_decision_on_the_same_file_is_refused(story):
    g, h = story["ids"]["g_lead_q1_fix.csv"], story["ids"]["h_sup_q1_late.csv"]
    code, out = story["second_approve"]
    assert code == 1 and f"submission {g} was approved already (decision 2, by Somchai" in out
    assert "is now accepted: a held file takes one decision" in out
    code, out = story["approve_rejected"]
    assert code == 1 and f"submission {h} was rejected already (decision 3, by Somchai" in out
    assert story["after_second"] == story["rejected_marts"]


def test_reopening_keeps_held_files_held(story):
    code, out = story["reopen"]
    assert code == 0, out
    assert story["reopened_status"] == [("held",)]
    # Reopened: no longer closed, so no longer "changed since closing" either.
    assert story["reopened_scores"][0] == ("2548-Q1", D("3.7800"), "on_target", False, False)
    assert query(story["wh"], "SELECT reopened_by, reopen_reason FROM approval.quarter_closures "
                              "WHERE period = '2548-Q1'") == [("Somchai", "ministry asked")]


def test_approving_an_older_version_supersedes_it(story):
    code, out = story["approve_older"]
    assert code == 0, out
    j = story["ids"]["j_sec_q1_older.csv"]
    # Accepted submission 2 has submitted_on 2005-02-15, later than j's 2005-02-10: j is superseded by it.
    assert query(story["wh"], f"SELECT status, superseded_by FROM ingest.submissions WHERE submission_id IN (2, {j}) "
                              f"ORDER BY submission_id") == [("accepted", None), ("superseded", 2)]
    assert story["older_marts"] == story["reopened_marts"]


def test_a_threshold_change_marks_changed_since_closing(story):
    assert story["close_q2"][0] == 0, story["close_q2"][1]
    assert story["rebuild"][0] == 0, story["rebuild"][1]
    wh = story["wh"]
    # K1 thresholds 30..70: Q1 a=57 between t3=50 and t4=60 → 3 + 7/10 = 3.7, composite
    # (3.7×60 + 2.4×40)/100 = 3.1800 (reopened: not closed, so not flagged); Q2 a=55 → 3 + 5/10 = 3.5,
    # composite (3.5×60 + 3.0×40)/100 = 3.3000, closed at 3.9000: changed.
    assert scores(wh) == [("2548-Q1", D("3.1800"), "on_target", False, False),
                          ("2548-Q2", D("3.3000"), "on_target", True, True)]
    assert query(wh, "SELECT composite_at_closing FROM approval.quarter_closures WHERE period = '2548-Q2'"
                 ) == [(D("3.9000"),)]


def test_every_decision_is_a_row_and_published(story):
    rows = query(story["wh"], "SELECT decision_id, action, pilot_id, period, submission_id, status_after, decided_by "
                              "FROM approval.decisions ORDER BY decision_id")
    ids = story["ids"]
    assert rows == [
        (1, "close", P, "2548-Q1", None, None, "Somchai"),
        (2, "approve", P, "2548-Q1", ids["g_lead_q1_fix.csv"], "accepted", "Somchai"),
        (3, "reject", P, "2548-Q1", ids["h_sup_q1_late.csv"], "rejected", "Somchai"),
        (4, "reopen", P, "2548-Q1", None, None, "Somchai"),
        (5, "approve", P, "2548-Q1", ids["j_sec_q1_older.csv"], "superseded", "Somchai"),
        (6, "close", P, "2548-Q2", None, None, "Somchai"),
    ]
    # Each decision job is a row of ops.runs, and the analysts' copy has the last one's state.
    assert query(story["wh"], "SELECT kind, count(*) FROM ops.runs WHERE status = 'succeeded' GROUP BY 1 ORDER BY 1"
                 ) == [("approve", 2), ("close", 2), ("rebuild", 1), ("reject", 1), ("reopen", 1), ("run", 2)]
    assert query(story["root"] / "wh.published.duckdb", "SELECT count(*) FROM approval.decisions") == [(6,)]


def section(page: str, heading: str) -> str:
    """The text of a page from a heading to the next one (h3 in HTML, ### in Markdown)."""
    rest = page.split(heading, 1)[1]
    return rest.split("<h3>" if "<h3>" in rest else "\n### ", 1)[0]


def test_the_summary_lists_held_files_with_agency_and_date(story):
    from tests.test_report_html import parse

    held = story["held_pages"]
    ids = story["ids"]
    g, h, j = ids["g_lead_q1_fix.csv"], ids["h_sup_q1_late.csv"], ids["j_sec_q1_older.csv"]
    en = section(held["en.html"], "Files waiting for the committee&#39;s decision")
    assert [f["key"] for f in parse(en)] == [str(g), str(h), str(j)]
    assert {f["key"]: f["value"] for f in parse(en)} == {str(g): "2005-05-10", str(h): "2005-05-12",
                                                         str(j): "2005-02-10"}
    assert "Office of the Public Sector Development Commission" in en and "g_lead_q1_fix.csv" in en
    assert "i_lead_q1_bad.csv" not in en  # quarantined, not held
    th = section(held["th.md"], "### ไฟล์ที่รอคณะกรรมการพิจารณา")
    # Thai edition: Buddhist Era dates, 10 May 2005 = 10 พ.ค. 2548; the agency's Thai name (the
    # registry's text: its "." escaped in Markdown, warehouse/display.py md_text).
    assert f"| {g} | ไตรมาส 1/2548 | 03009 สำนักงาน ก\\.พ\\.ร\\. | 10 พ.ค. 2548 |" in th
    assert "กระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร | 12 พ.ค. 2548" in th
    # Closed quarter marked; composite at closing 3.1800 and now 3.1800 (held files change nothing).
    closed = section(held["en.md"], "### Closed quarters")
    assert "| 🔒 FY2005 Q1 |" in closed and "| Somchai | 3.1800 | 3.1800 | unchanged |" in closed
    # After every decision, nothing is held any more: the list is gone.
    assert "Files waiting" not in story["final_pages"]["en.html"]


def test_the_summary_flags_a_changed_figure_beside_its_score(story):
    from tests.test_report_html import parse

    final = story["final_pages"]
    # The headline period 2548-Q2 is closed; its composite 3.3000 differs from 3.9000 at closing.
    assert "**3.3000** · 🔒 **closed** · ⚠ **the composite differs from the one at closing (3.9000)**" in final["en.md"]
    assert "**3.3000** · 🔒 **ปิดงวดแล้ว** · ⚠ **คะแนนรวมต่างจากเมื่อปิดงวด (3.9000)**" in final["th.md"]
    for lang in ("th", "en"):
        html = final[f"{lang}.html"]
        headline = html.split('class="headline"', 1)[1].split("</div>\n</div>", 1)[0]
        assert 'data-closed="2548-Q2"' in headline and 'data-changed="2548-Q2"' in headline
        figures = {(f["field"], f["period"]): f["value"] for f in parse(html)
                   if f["field"] in ("composite_at_closing", "closure_composite")}
        # Only Q2 is closed (Q1 was reopened): at closing 3.9000, now 3.3000.
        assert figures == {("composite_at_closing", "2548-Q2"): "3.9", ("closure_composite", "2548-Q2"): "3.3"}
    con = duckdb.connect(str(story["wh"]), read_only=True)
    try:
        assert con.execute("SELECT composite_at_closing FROM approval.quarter_closures WHERE reopened_at IS NULL"
                           ).fetchall() == [(D("3.9000"),)]
    finally:
        con.close()


def test_decisions_and_rebuild_write_no_validation_report(story):
    """A job that read no file writes no validation report, and the summary keeps linking to the
    last report that read files: the second night's (issue 23 item 3)."""
    assert story["reports"] == ["validation.html"]  # nothing from close, approve, reject, reopen, rebuild
    assert story["reopened_links"] == {"validation.html"}
    assert validation_links(story["root"] / "out") == {"validation.html"}
    page = (story["root"] / "out" / "validation.html").read_text(encoding="utf-8")
    assert "g_lead_q1_fix.csv" in page  # the second night's files, not "no file in this run"


# --- changed since closing without a marts row (reviewer RV11 F4) -------------------------------

CLOSURE_ROWS = """
    -- (pilot, period, composite at closing, reopened?)  registry dates / the period's quarter -> changed?
    ('P1', '2548-Q1', 3.1800, false),  -- scored now 3.1800: the row's flag, unchanged
    ('P1', '2548-Q2', 3.9000, false),  -- scored now 4.1000: the row's flag, changed
    ('P1', '2548-Q3', 2.5000, false),  -- Apr-Jun 2005 inside 2004-10-01..2005-09-30, not yet due: unchanged
    ('P1', '2548-Q4', 2.5000, true),   -- reopened: not an open closure
    ('P1', '2549-Q1', 3.0000, false),  -- Oct-Dec 2005, after the pilot's end: gone, changed
    ('P1', '2549-Q2', NULL, false),    -- after the end too, but no composite at closing: unchanged
    ('P2', '2548-Q1', 2.0000, false),  -- Oct-Dec 2004, before P2's start 2005-02-15: changed
    ('P2', '2548-Q3', 2.0000, false),  -- Apr-Jun 2005 meets 2005-02-15..2005-05-10: unchanged
    ('P2', '2548-Q4', 2.0000, false),  -- Jul-Sep 2005, after P2's end 2005-05-10: changed
    ('P9', '2548-Q2', 3.9000, false),  -- P9 is no longer in the registry: changed
    ('P9', '2548-Q3', NULL, false)     -- ... but none at closing: unchanged
"""


def _closures_db() -> duckdb.DuckDBPyConnection:
    """Hand-made rows: registry.pilots, approval.quarter_closures, marts.pilot_scores and the marts'
    macros (kpis/macros.sql: quarter_start, quarter_end), as a published copy holds them."""
    from tests.support import ROOT

    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts; CREATE SCHEMA approval; CREATE SCHEMA registry")
    con.execute((ROOT / "kpis" / "macros.sql").read_text(encoding="utf-8"))
    con.execute(f"""
        CREATE TABLE registry.pilots (pilot_id VARCHAR, start_date DATE, end_date DATE);
        INSERT INTO registry.pilots VALUES ('P1', '2004-10-01', '2005-09-30'), ('P2', '2005-02-15', '2005-05-10');
        CREATE TABLE approval.quarter_closures (pilot_id VARCHAR, period VARCHAR, closed_at TIMESTAMP,
            closed_by VARCHAR, note VARCHAR, composite_at_closing DECIMAL(9, 4), status_at_closing VARCHAR,
            reopened_at TIMESTAMP, reopened_by VARCHAR, reopen_reason VARCHAR);
        INSERT INTO approval.quarter_closures
            SELECT pid, period, TIMESTAMP '2005-08-01 03:00', 'Somchai', NULL, at_closing, 'on_target',
                   CASE WHEN reopened THEN TIMESTAMP '2005-08-02 03:00' END, NULL, NULL
            FROM (VALUES {CLOSURE_ROWS}) v(pid, period, at_closing, reopened);
        CREATE TABLE marts.pilot_scores (pilot_id VARCHAR, period VARCHAR, composite_score DECIMAL(9, 4),
            status VARCHAR, closed BOOLEAN, changed_since_closing BOOLEAN);
        INSERT INTO marts.pilot_scores VALUES ('P1', '2548-Q1', 3.1800, 'on_target', true, false),
                                              ('P1', '2548-Q2', 4.1000, 'on_target', true, true)""")
    return con


def test_a_closed_quarter_without_a_row_is_changed_only_when_its_dates_left_it_and_it_had_a_composite():
    """Worked by hand from the rows' comments: a closed quarter with no marts row changed since
    closing when it had a composite at closing and the pilot's registry dates no longer cover it
    (or the pilot is gone); still covered, it is only not due yet as of the as-of date."""
    from kpis.summary.controls import closures
    from web.held import QUARTER_CLOSURES_SQL

    con = _closures_db()
    got = {pid: [(c.period, c.composite_at_closing, c.composite, c.changed_since_closing) for c in rows]
           for pid, rows in closures(con).items()}
    assert got == {
        "P1": [("2549-Q2", None, None, False), ("2549-Q1", D("3.0000"), None, True),
               ("2548-Q3", D("2.5000"), None, False), ("2548-Q2", D("3.9000"), D("4.1000"), True),
               ("2548-Q1", D("3.1800"), D("3.1800"), False)],
        "P2": [("2548-Q4", D("2.0000"), None, True), ("2548-Q3", D("2.0000"), None, False),
               ("2548-Q1", D("2.0000"), None, True)],
        "P9": [("2548-Q3", None, None, False), ("2548-Q2", D("3.9000"), None, True)],
    }
    # The web's Closed quarters page, one period at a time: the same flags; a reopened closure none.
    web = {period: [(r[0], r[-1]) for r in con.execute(QUARTER_CLOSURES_SQL, [period]).fetchall()]
           for period in ("2548-Q2", "2548-Q3", "2548-Q4")}
    assert web == {"2548-Q2": [("P1", True), ("P9", True)],
                   "2548-Q3": [("P1", False), ("P2", False), ("P9", False)],
                   "2548-Q4": [("P1", None), ("P2", True)]}


def _closed_rows(out) -> dict[str, list[str]]:
    text = pages(out)
    return {lang: [line for line in section(text[f"{lang}.md"], heading).splitlines() if line.startswith("| 🔒")]
            for lang, heading in (("en", "### Closed quarters"), ("th", "### งวดที่ปิดแล้ว"))}


def test_a_closed_quarter_not_due_as_of_an_earlier_day_or_without_a_composite_is_unchanged(tmp_path, scenario_night):
    """Reviewer RV11 F4, on the scenario (test_flow; Q2 3.9000 hand-computed there). As of
    2005-07-15, 2548-Q2 is closed at 3.9000 and 2548-Q3 (Apr-Jun 2005, no report: no composite) at
    none. A rebuild as of 2005-03-15 has neither due (Q2 ends 2005-03-31), yet the pilot's dates
    (2004-10-01..2005-09-30) still cover both: nothing changed, so neither is flagged. Then the
    registry ends the pilot on 2005-03-31 and a rebuild as of 2005-07-15 leaves Q3 out: its
    composite is gone, as it was at closing (none), so it is still unchanged; Q2 is scored alike."""
    root = tmp_path / "s"
    shutil.copytree(scenario_night, root)
    registry, wh = root / "registry", root / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(root / "out")]
    for period in ("2548-Q2", "2548-Q3"):
        code, output = cli("close-quarter", period, "--pilot", P, "--by", "Somchai", *base, "--as-of", "2005-07-15")
        assert code == 0, output
    assert query(wh, "SELECT period, composite_at_closing FROM approval.quarter_closures "
                     "WHERE reopened_at IS NULL ORDER BY period") == [("2548-Q2", D("3.9000")), ("2548-Q3", None)]

    code, output = cli("rebuild", *base, "--as-of", "2005-03-15")
    assert code == 0, output
    assert [r[0] for r in scores(wh)] == ["2548-Q1"]  # neither closed quarter is due as of 2005-03-15
    rows = _closed_rows(root / "out")
    assert [r.split(" | ", 1)[0] for r in rows["en"]] == ["| 🔒 FY2005 Q3", "| 🔒 FY2005 Q2"]
    assert rows["en"][0].endswith(" | Somchai | – | – | unchanged |"), rows["en"]
    assert rows["en"][1].endswith(" | Somchai | 3.9000 | – | unchanged |"), rows["en"]
    assert all("เปลี่ยนแปลงหลังปิดงวด" not in r for r in rows["th"]) and len(rows["th"]) == 2, rows["th"]
    for lang in ("en", "th"):
        assert 'data-changed="2548-Q' not in pages(root / "out")[f"{lang}.html"], lang

    pilot = registry / "pilots" / f"{P}.yaml"
    pilot.write_text(pilot.read_text(encoding="utf-8").replace("end: 2005-09-30", "end: 2005-03-31"),
                     encoding="utf-8")
    code, output = cli("rebuild", *base, "--as-of", "2005-07-15")
    assert code == 0, output
    assert scores(wh) == [("2548-Q1", D("3.1800"), "on_target", False, False),
                          ("2548-Q2", D("3.9000"), "on_target", True, False)]  # Q3: no row
    rows = _closed_rows(root / "out")
    assert rows["en"][0].endswith(" | Somchai | – | – | unchanged |"), rows["en"]
    assert rows["en"][1].endswith(" | Somchai | 3.9000 | 3.9000 | unchanged |"), rows["en"]
    for lang in ("en", "th"):
        assert 'data-changed="2548-Q' not in pages(root / "out")[f"{lang}.html"], lang


def test_a_closed_quarter_the_new_dates_leave_out_is_changed_since_closing(tmp_path, scenario_night):
    """Verifier VN F3. Close 2548-Q1 (3.1800) and 2548-Q2 (3.9000, both hand-computed in test_flow),
    then the registry ends the pilot on 2004-12-31: Q2 is no longer due, so it has no marts row
    (docs/registry.md: a quarter outside the dates has none) and its composite is gone. Gone differs
    from 3.9000 (data-quality.md §2), so the Closed quarters tables of both summaries say Q2 changed
    since closing, with `–` now; Q1, still due and scored alike, stays unchanged."""
    root = tmp_path / "s"
    shutil.copytree(scenario_night, root)
    registry, wh = root / "registry", root / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(root / "out"), "--as-of", AS_OF]
    for period in ("2548-Q1", "2548-Q2"):
        code, output = cli("close-quarter", period, "--pilot", P, "--by", "Somchai", *base)
        assert code == 0, output
    pilot = registry / "pilots" / f"{P}.yaml"
    pilot.write_text(pilot.read_text(encoding="utf-8").replace("end: 2005-09-30", "end: 2004-12-31"),
                     encoding="utf-8")
    code, output = cli("rebuild", *base)
    assert code == 0, output

    assert scores(wh) == [("2548-Q1", D("3.1800"), "on_target", True, False)]  # Q2: no row
    assert query(wh, "SELECT period, composite_at_closing FROM approval.quarter_closures "
                     "WHERE reopened_at IS NULL ORDER BY period") == [("2548-Q1", D("3.1800")),
                                                                       ("2548-Q2", D("3.9000"))]
    text = pages(root / "out")
    rows = {lang: [line for line in section(text[f"{lang}.md"], heading).splitlines() if line.startswith("| 🔒")]
            for lang, heading in (("en", "### Closed quarters"), ("th", "### งวดที่ปิดแล้ว"))}
    assert [r.split(" | ", 1)[0] for r in rows["en"]] == ["| 🔒 FY2005 Q2", "| 🔒 FY2005 Q1"]
    assert rows["en"][0].endswith(" | Somchai | 3.9000 | – | ⚠ **changed since closing** |"), rows["en"]
    assert rows["en"][1].endswith(" | Somchai | 3.1800 | 3.1800 | unchanged |"), rows["en"]
    assert rows["th"][0].startswith("| 🔒 ไตรมาส 2/2548 |"), rows["th"]
    assert rows["th"][0].endswith(" | Somchai | 3.9000 | – | ⚠ **เปลี่ยนแปลงหลังปิดงวด** |"), rows["th"]
    for lang in ("en", "th"):
        html = text[f"{lang}.html"]
        assert html.count('data-changed="2548-Q2"') == 1 and 'data-changed="2548-Q1"' not in html, lang
