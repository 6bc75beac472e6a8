"""A DOS end-of-file marker (Ctrl-Z, 0x1A) ending a report, through whole nights.

DOS-era tools and `copy /a` end a text file with Ctrl-Z. It is no line of the table, but it was
read as a row of one cell holding U+001A: the file was quarantined with seven defects of a row
5 the agency cannot see (ROW_RAGGED, five VALUE_REQUIRED, and ROWS_DISAGREE quoting the control
character), and a JSON document ending in it was "invalid JSON". The marker is dropped when it is
the text's last character (pilots/readers/base.py decode_text); anywhere else it stays and is judged.

The scenario and its registry are tests/test_flow.py's: lead 03009, secondary 15001; K1
percent/higher/last weight 60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40,
thresholds [100..500] (x q/4 for sums).
"""
from __future__ import annotations

import json
from decimal import Decimal

from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"
THAI_HEADER = "รหัสโครงการ;รหัสหน่วยงาน;งวดรายงาน;วันที่ส่ง;ประเภทรายการ;รหัสรายการ;ชั้น;งบจัดสรร;เบิกจ่าย;แหล่งงบประมาณ"


def test_a_trailing_ctrl_z_is_the_end_of_the_file_not_a_row(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the secondary's Q1 in Windows-874 with CRLF lines, ending in Ctrl-Z; and a Q2
    # file whose Ctrl-Z is not at the end: that one is judged (a row of its own).
    (inbox / "a_sec_q1.csv").write_bytes("\r\n".join([
        THAI_HEADER,
        f"{P};15001;2548-Q1;15/02/2548;งบประมาณ;ACT-1;5;500,000;100,000;งบของหน่วยงาน",
        f"{P};15001;2548-Q1;15/02/2548;งบประมาณ;ACT-2;4;300000;0;งบบูรณาการ", ""]).encode("cp874") + b"\x1a")
    (inbox / "b_sec_q2.csv").write_bytes("\r\n".join([
        THAI_HEADER, f"{P};15001;2548-Q2;15/04/2548;งบประมาณ;ACT-1;5;500000;200000;งบของหน่วยงาน", ""]).encode("cp874")
        + b"\x1a\r\n")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    assert query(wh, "SELECT period, activity_code, layer, funding_source, allocated_thb, disbursed_thb "
                     "FROM core.budget_lines ORDER BY activity_code") == [
        ("2548-Q1", "ACT-1", 5, "own", D("500000.00"), D("100000.00")),
        ("2548-Q1", "ACT-2", 4, "lead_integrated", D("300000.00"), D("0.00"))]
    # The Ctrl-Z before the last line break is row 3 of b (a row of one cell), judged as before.
    assert ("ROW_RAGGED", 3) in query(wh, "SELECT i.code, i.row_number FROM ingest.issues i JOIN ingest.submissions s "
                                          "USING (submission_id) WHERE s.file_name = 'b_sec_q2.csv'")

    # Night 2: the lead's Q1 as JSON ending in Ctrl-Z.
    (inbox / "c_lead_q1.json").write_bytes(json.dumps({
        "pilot_id": P, "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",
        "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 47},
                  {"line_type": "kpi", "item_code": "K2", "actual": 60}]}).encode("utf-8") + b"\x1a")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    # scoring.md: K1 47 -> 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2.4; composite
    # (3.7*60 + 2.4*40)/100 = 3.18. Budget Q1: 800,000 allocated, 300,000 of it lead_integrated.
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.1800"),)]
    assert query(wh, "SELECT total_allocated_thb, integrated_thb, integration_ratio FROM marts.budget_integration "
                     "WHERE period = '2548-Q1'") == [(D("800000.00"), D("300000.00"), D("0.3750"))]
