"""A line field written at the top of a JSON document, through a night.

agency-report-v1.md lays a JSON report out as {"pilot_id", "agency_code", "period",
"submitted_on", "lines": [{line fields…}]}. The reader built each line as {**top, **line}, so a
line field at the top (`"actual": 60`, a document total `"allocated_thb": 30000000`) filled
every line that lacked its own: the required-value check never fired, and the K1 line without an
actual was read as 60 (score 5) and accepted. Now only the four identity fields, in any spelling
a header may take (the Thai label too), are the lines'; any other column at the top is not read
and is JSON_FIELD_AT_TOP (a warning, on the file), and a line missing a required value is
VALUE_REQUIRED on its row. A top-level field that names no column is COLUMN_UNKNOWN, as before.

The scenario and its registry are tests/test_flow.py's: lead 03009, secondary 15001; K1
percent/higher/last weight 60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40,
thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
PILOT = "PLT-2548-003"


def document(top: dict, lines: list[dict], agency: str = "03009") -> bytes:
    return json.dumps({"pilot_id": PILOT, "agency_code": agency, "period": "2548-Q1", "submitted_on": "2005-01-20",
                       **top, "lines": lines}, ensure_ascii=False).encode("utf-8")


def at_top(field: str, column: str) -> tuple:
    return (None, column, "JSON_FIELD_AT_TOP",
            f"'{field}' is at the top of the document, where only pilot_id, agency_code, period and submitted_on "
            f"are read: it was not read; put it on each line.",
            f"'{field}' อยู่ที่ส่วนต้นของเอกสาร ซึ่งระบบอ่านเฉพาะ 'pilot_id', 'agency_code', 'period' และ "
            f"'submitted_on' ระบบจึงไม่ได้อ่านค่านี้ กรุณาระบุไว้ในแต่ละรายการ")


def required(row: int, column: str) -> tuple:
    return (row, column, "VALUE_REQUIRED", f"A value for '{column}' is required on this row.",
            f"แถวนี้ต้องระบุค่า '{column}'")


def test_a_line_field_at_the_top_is_not_read_onto_the_lines(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # The lead's K1 line has no actual; the top says 60. The secondary's ACT-2 has no allocation;
    # the top gives a document total of 30,000,000. Both were accepted, read from the top.
    (inbox / "a_kpi_actual_at_top.json").write_bytes(document({"actual": 60}, [
        {"line_type": "kpi", "item_code": "K1"},
        {"line_type": "kpi", "item_code": "K2", "actual": 60}]))
    (inbox / "b_budget_total_at_top.json").write_bytes(document({"allocated_thb": 30000000}, [
        {"line_type": "budget", "item_code": "ACT-1", "layer": 5, "allocated_thb": 1000000, "disbursed_thb": 0,
         "funding_source": "own"},
        {"line_type": "budget", "item_code": "ACT-2", "layer": 5, "disbursed_thb": 0, "funding_source": "own"}],
        agency="15001"))
    # Complete lines under a top-level note (a column) and a field that names no column.
    (inbox / "c_kpi_note_at_top.json").write_bytes(document({"note": "ส่งตามกำหนด", "version": "2"}, [
        {"line_type": "kpi", "item_code": "K1", "actual": 47},
        {"line_type": "kpi", "item_code": "K2", "actual": 60}]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: "accepted 3, ... quarantined 0".
    assert "files seen 3: accepted 1, superseded 0, duplicates 0, quarantined 2" in out
    assert query(wh, "SELECT file_name, status FROM ingest.submissions ORDER BY submission_id") == [
        ("a_kpi_actual_at_top.json", "quarantined"), ("b_budget_total_at_top.json", "quarantined"),
        ("c_kpi_note_at_top.json", "accepted")]
    assert issues_of(wh, "a_kpi_actual_at_top.json") == [at_top("actual", "actual"), required(1, "actual")]
    assert issues_of(wh, "b_budget_total_at_top.json") == [
        at_top("allocated_thb", "allocated_thb"), required(2, "allocated_thb")]
    assert issues_of(wh, "c_kpi_note_at_top.json") == [
        at_top("note", "note"),
        (None, None, "COLUMN_UNKNOWN", "Column 'version' is not a column of the report format: it was not read.",
         "คอลัมน์ 'version' ไม่ใช่คอลัมน์ของแบบรายงาน ระบบไม่ได้อ่านคอลัมน์นี้")]
    # Only c's lines count, as written, the top's note on none of them. scoring.md: K1 47 ->
    # 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4; composite
    # (3.7*60 + 2.4*40)/100 = 3.18 (taking a's K1 as 60 gave 5.0 first, then c replaced it).
    assert query(wh, "SELECT period, kpi_code, actual, note FROM core.kpi_actuals ORDER BY period, kpi_code") == [
        ("2548-Q1", "K1", D(47), None), ("2548-Q1", "K2", D(60), None)]
    assert query(wh, "SELECT count(*) FROM core.budget_lines") == [(0,)]
    assert query(wh, "SELECT kpi_code, score FROM marts.kpi_scores WHERE period = '2548-Q1' ORDER BY 1") == [
        ("K1", D("3.7000")), ("K2", D("2.4000"))]
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: Q2, its identity at the top partly in Thai labels (read onto the lines, as a header
    # would be), and a Thai-labelled note there (not read: named as written).
    for p in inbox.glob("*.json"):
        p.unlink()
    (inbox / "d_lead_q2.json").write_bytes(json.dumps({
        "รหัสโครงการ": PILOT, "agency_code": "03009", "งวดรายงาน": "2548-Q2", "วันที่ส่ง": "2005-04-20",
        "หมายเหตุ": "ฉบับแก้ไข", "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 55},
                                           {"line_type": "kpi", "item_code": "K2", "actual": 90}]},
        ensure_ascii=False).encode("utf-8"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    assert issues_of(wh, "d_lead_q2.json") == [at_top("หมายเหตุ", "note")]
    assert query(wh, "SELECT pilot_id, agency_code, period, submitted_on FROM ingest.submissions "
                     "WHERE file_name = 'd_lead_q2.json'") == [(PILOT, "03009", "2548-Q2", date(2005, 4, 20))]
    # K1 55 -> 4 + 5/10 = 4.5; K2 sum 60 + 90 = 150 on Q2's [50,100,150,200,250] -> 3.0;
    # composite (4.5*60 + 3.0*40)/100 = 3.9.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000"))]


def test_a_repeated_field_at_the_top_that_is_not_read_is_no_defect():
    # COLUMN_REPEATED is for what is read: `actual` given twice at the top is read neither way.
    from pilots.readers import read_report

    doc = ('{"pilot_id": "PLT-2548-003", "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20", '
           '"actual": 47, "actual": 99, "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 47}]}')
    table = read_report("a.json", doc.encode("utf-8"))
    assert [(i.code, i.row_number, i.column_name) for i in table.issues] == [("JSON_FIELD_AT_TOP", None, "actual")]
    assert [cells[table.header.index("actual")] for _, cells in table.rows] == ["47"]
