"""A JSON document whose top-level identity field is written empty, over lines that carry their own.

agency-report-v1.md: a JSON report is {"pilot_id", "agency_code", "period", "submitted_on",
"lines": [...]}, and an empty value or a placeholder (`-`, `N/A`, `รอข้อมูล`) is missing. The
top-level fields are the submission's identity (scoring.md §6; tests/test_hostile_json_identity.py,
tests/test_hostile_json_top_level.py). A document whose top level says `"period": null` (or "",
or "N/A") states no period; when its lines each said "2548-Q1", no line was empty, no check saw
the top level, and the document was accepted as a Q1 resubmission: it replaced the Q1 report the
committee's scores came from. Now each line that carries its own value under an empty top-level
field is JSON_LINE_DISAGREES (the fix it gives: write the identity once, at the top); a line
without its own inherits the empty value and is VALUE_REQUIRED, as before.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import json
from decimal import Decimal

from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
PILOT = "PLT-2548-003"
OWN = {"pilot_id": PILOT, "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-25"}


def document(top: dict, lines: list[dict]) -> bytes:
    return json.dumps({"pilot_id": PILOT, "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",
                       **top, "lines": lines}, ensure_ascii=False).encode("utf-8")


def disagrees(row: int, column: str, value: str, top: str) -> tuple:
    return (row, column, "JSON_LINE_DISAGREES",
            f"'{column}' is '{value}' on this line but '{top}' at the top of the document: one file holds one report.",
            f"'{column}' ในรายการนี้คือ '{value}' แต่ส่วนต้นของเอกสารระบุว่า '{top}' ไฟล์หนึ่งต้องเป็นรายงานเดียว")


def test_an_empty_top_level_identity_quarantines_the_document_whatever_its_lines_say(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the lead's Q1 report; then later documents whose lines all carry a full Q1
    # identity, under a top level where one field is null, empty or a placeholder.
    (inbox / "a_lead_q1.json").write_bytes(document({}, [
        {"line_type": "kpi", "item_code": "K1", "actual": 47},
        {"line_type": "kpi", "item_code": "K2", "actual": 60}]))
    empty_tops = {"b_null_period.json": {"period": None}, "c_empty_period.json": {"period": ""},
                  "d_null_agency.json": {"agency_code": None}, "e_placeholder_date.json": {"submitted_on": "N/A"},
                  "f_blank_pilot.json": {"pilot_id": "  "}}
    for name, top in empty_tops.items():
        (inbox / name).write_bytes(document({**OWN, **top}, [
            {"line_type": "kpi", "item_code": "K1", "actual": 55, **OWN},
            {"line_type": "kpi", "item_code": "K2", "actual": 90, **OWN}]))
    # One line with its own period, one without (it inherits the null).
    (inbox / "g_null_period_half.json").write_bytes(document({"period": None}, [
        {"line_type": "kpi", "item_code": "K1", "actual": 55, "period": "ไตรมาส 1/2548"},
        {"line_type": "kpi", "item_code": "K2", "actual": 90}]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: "accepted 1, superseded 5, ... quarantined 1" (b..f each taken as a Q1 resubmission).
    assert "files seen 7: accepted 1, superseded 0, duplicates 0, quarantined 6" in out
    assert query(wh, "SELECT file_name, status FROM ingest.submissions ORDER BY submission_id") == [
        ("a_lead_q1.json", "accepted"), ("b_null_period.json", "quarantined"),
        ("c_empty_period.json", "quarantined"), ("d_null_agency.json", "quarantined"),
        ("e_placeholder_date.json", "quarantined"), ("f_blank_pilot.json", "quarantined"),
        ("g_null_period_half.json", "quarantined")]
    # defects.yaml's message, on every line that carries its own value, naming it and the top's.
    assert issues_of(wh, "b_null_period.json") == [disagrees(n, "period", "2548-Q1", "") for n in (1, 2)]
    assert issues_of(wh, "c_empty_period.json") == [disagrees(n, "period", "2548-Q1", "") for n in (1, 2)]
    assert issues_of(wh, "d_null_agency.json") == [disagrees(n, "agency_code", "03009", "") for n in (1, 2)]
    assert issues_of(wh, "e_placeholder_date.json") == [disagrees(n, "submitted_on", "2005-01-25", "N/A") for n in (1, 2)]
    assert issues_of(wh, "f_blank_pilot.json") == [disagrees(n, "pilot_id", PILOT, "  ") for n in (1, 2)]
    assert issues_of(wh, "g_null_period_half.json") == [
        disagrees(1, "period", "ไตรมาส 1/2548", ""),
        (2, "period", "VALUE_REQUIRED", "A value for 'period' is required on this row.", "แถวนี้ต้องระบุค่า 'period'")]
    # scoring.md: K1 47 -> 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18. Taken as a Q1 resubmission, K1 55 would have made 4.5.
    assert query(wh, "SELECT period, kpi_code, actual FROM core.kpi_actuals ORDER BY period, kpi_code") == [
        ("2548-Q1", "K1", D(47)), ("2548-Q1", "K2", D(60))]
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: the lead sends Q2, its identity at the top only.
    (inbox / "h_lead_q2.json").write_bytes(document({"period": "2548-Q2", "submitted_on": "2005-04-20"}, [
        {"line_type": "kpi", "item_code": "K1", "actual": 55},
        {"line_type": "kpi", "item_code": "K2", "actual": 90}]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    # Q2: K1 55 -> 4 + 5/10 = 4.5; K2 sum 60 + 90 = 150 against [50,100,150,200,250] -> 3;
    # composite (4.5*60 + 3*40)/100 = 3.9. Q1 unchanged.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000"))]
