"""A JSON document whose top-level identity cannot be read, though every line carries its own.

agency-report-v1.md: a JSON report is {"pilot_id", "agency_code", "period", "submitted_on",
"lines": [...]}; the top-level fields are the submission's identity (scoring.md §6, and
tests/test_hostile_json_identity.py: a line that says otherwise is JSON_LINE_DISAGREES). A document
whose top level says "period": "2548-Q9" states no quarter that can be read. Its lines each
said "2548-Q1", so no line held the bad text, the row checks found nothing, and the document was
accepted as a Q1 resubmission: it replaced the Q1 report the committee's scores came from. Now
the top-level field is checked as the lines' fields are: PERIOD_INVALID (DATE_INVALID,
AGENCY_CODE_INVALID) on the file, and the document is quarantined.

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


def document(top: dict, lines: list[dict]) -> bytes:
    return json.dumps({"pilot_id": PILOT, "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",
                       **top, "lines": lines}, ensure_ascii=False).encode("utf-8")


def issues_of(wh, file_name: str) -> list[tuple]:
    return query(wh, "SELECT i.row_number, i.column_name, i.code, i.message_en, i.message_th FROM ingest.issues i "
                     "JOIN ingest.submissions s USING (submission_id) WHERE s.file_name = ? "
                     "ORDER BY i.row_number NULLS FIRST, i.column_name", [file_name])


def test_an_unreadable_top_level_identity_quarantines_the_document_whatever_its_lines_say(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the lead's Q1 report; then three later documents whose lines all say Q1, 03009,
    # 2005-01-25, under a top level that cannot be read in one field each.
    (inbox / "a_lead_q1.json").write_bytes(document({}, [
        {"line_type": "kpi", "item_code": "K1", "actual": 47},
        {"line_type": "kpi", "item_code": "K2", "actual": 60}]))
    own = {"period": "2548-Q1", "agency_code": "03009", "submitted_on": "2005-01-25"}
    bad_tops = {"b_bad_period.json": {"period": "2548-Q9"},
                "c_bad_date.json": {"submitted_on": "31/02/2548"},
                "d_bad_agency.json": {"agency_code": "3OO9"}}
    for name, top in bad_tops.items():
        (inbox / name).write_bytes(document({**own, **top}, [
            {"line_type": "kpi", "item_code": "K1", "actual": 55, **own},
            {"line_type": "kpi", "item_code": "K2", "actual": 90, **own}]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 4: accepted 1, superseded 0, duplicates 0, quarantined 3" in out
    assert query(wh, "SELECT file_name, status FROM ingest.submissions ORDER BY submission_id") == [
        ("a_lead_q1.json", "accepted"), ("b_bad_period.json", "quarantined"),
        ("c_bad_date.json", "quarantined"), ("d_bad_agency.json", "quarantined")]
    # defects.yaml's messages, on the file (no row): the top level is no line.
    assert issues_of(wh, "b_bad_period.json") == [
        (None, "period", "PERIOD_INVALID", "Period '2548-Q9' is not a fiscal quarter such as 2548-Q1.",
         "งวดรายงาน '2548-Q9' ไม่ใช่ไตรมาสของปีงบประมาณ เช่น '2548-Q1'")]
    assert issues_of(wh, "c_bad_date.json") == [
        (None, "submitted_on", "DATE_INVALID", "'31/02/2548' is not a valid date (day/month/year, BE or CE).",
         "'31/02/2548' ไม่ใช่วันที่ที่ถูกต้อง (วัน/เดือน/ปี พ.ศ. หรือ ค.ศ.)")]
    assert issues_of(wh, "d_bad_agency.json") == [
        (None, "agency_code", "AGENCY_CODE_INVALID", "Agency code '3OO9' is not 5 digits.",
         "รหัสหน่วยงาน '3OO9' ไม่ใช่ตัวเลข 5 หลัก")]
    # scoring.md: K1 47 -> 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18. Taken as a Q1 resubmission, K1 55 would have made 4.5.
    assert query(wh, "SELECT period, kpi_code, actual FROM core.kpi_actuals ORDER BY period, kpi_code") == [
        ("2548-Q1", "K1", D(47)), ("2548-Q1", "K2", D(60))]
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: the lead sends Q2; its top level reads, its lines carry the same identity in other
    # spellings (a variant, no defect).
    clean_night(registry, inbox, tmp_path, {"e_lead_q2.json": document(
        {"period": "ไตรมาส 2/2548", "submitted_on": "2005-04-20"}, [
            {"line_type": "kpi", "item_code": "K1", "actual": 55, "period": "2548-Q2"},
            {"line_type": "kpi", "item_code": "K2", "actual": 90, "submitted_on": "20/04/2548"}])})
