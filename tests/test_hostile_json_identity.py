"""A JSON document's lines that carry their own pilot, agency, period or date, through whole nights.

agency-report-v1.md: a JSON report is {"pilot_id", "agency_code", "period", "submitted_on",
"lines": [...]}; pilot, agency, period and submitted_on are the same on every row of a file, and
rows that disagree on them are a defect. The reader filled each line from the top level but let a
line's own field win, and the file rules took the identity most rows hold: a document for 2548-Q2
whose every line said "period": "2548-Q1" was accepted as a Q1 resubmission and replaced the Q1
report that the committee's scores came from. Now the top level is the submission's identity
(as it already was for a quarantined file, scoring.md §6) and each line that says otherwise is
JSON_LINE_DISAGREES; a line that repeats the same identity in another spelling is no defect.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import json
from decimal import Decimal

from tests.hostile import clean_night
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

D = Decimal
PILOT = "PLT-2548-003"


def document(period: str, submitted: str, lines: list[dict]) -> bytes:
    return json.dumps({"pilot_id": PILOT, "agency_code": "03009", "period": period, "submitted_on": submitted,
                       "lines": lines}, ensure_ascii=False).encode("utf-8")


def test_lines_that_name_another_period_quarantine_the_document_and_q1_keeps_its_scores(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1. Q1, whose lines repeat the identity in other spellings (a variant, no defect);
    # then a Q2 document whose lines all say 2548-Q1.
    (inbox / "a_lead_q1.json").write_bytes(document("2548-Q1", "2005-01-20", [
        {"line_type": "kpi", "item_code": "K1", "actual": 47, "period": "ไตรมาส ๑/๔๘"},
        {"line_type": "kpi", "item_code": "K2", "actual": 60, "agency_code": 3009, "submitted_on": "20/01/2548"}]))
    (inbox / "b_lead_q2.json").write_bytes(document("2548-Q2", "2005-04-20", [
        {"line_type": "kpi", "item_code": "K1", "actual": 55, "period": "2548-Q1"},
        {"line_type": "kpi", "item_code": "K2", "actual": 90, "period": "2548-Q1"}]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    assert query(wh, "SELECT file_name, period, status FROM ingest.submissions ORDER BY submission_id") == [
        ("a_lead_q1.json", "2548-Q1", "accepted"), ("b_lead_q2.json", "2548-Q2", "quarantined")]
    assert query(wh, "SELECT i.row_number, i.column_name, i.code, i.message_en, i.message_th FROM ingest.issues i "
                     "JOIN ingest.submissions s USING (submission_id) WHERE s.file_name = 'b_lead_q2.json' "
                     "ORDER BY i.row_number") == [
        (n, "period", "JSON_LINE_DISAGREES",
         "'period' is '2548-Q1' on this line but '2548-Q2' at the top of the document: one file holds one report.",
         "'period' ในรายการนี้คือ '2548-Q1' แต่ส่วนต้นของเอกสารระบุว่า '2548-Q2' ไฟล์หนึ่งต้องเป็นรายงานเดียว")
        for n in (1, 2)]
    # scoring.md: K1 47 -> 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18. Taken as a Q1 resubmission, b would have made K1 55.
    assert query(wh, "SELECT period, kpi_code, actual FROM core.kpi_actuals ORDER BY period, kpi_code") == [
        ("2548-Q1", "K1", D(47)), ("2548-Q1", "K2", D(60))]
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: the lead sends Q2 again, its lines without a period of their own.
    clean_night(registry, inbox, tmp_path, {"c_lead_q2_fixed.json": document("2548-Q2", "2005-04-25", [
        {"line_type": "kpi", "item_code": "K1", "actual": 55},
        {"line_type": "kpi", "item_code": "K2", "actual": 90}])})
    assert query(wh, "SELECT file_name, period, status FROM ingest.submissions ORDER BY submission_id") == [
        ("a_lead_q1.json", "2548-Q1", "accepted"), ("b_lead_q2.json", "2548-Q2", "quarantined"),
        ("c_lead_q2_fixed.json", "2548-Q2", "accepted")]
