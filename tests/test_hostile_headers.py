"""Repeated header columns, a BE year under the CE `FY` prefix and a UTF-16 CSV, through whole nights.

- A header with `actual` and `ผลการดำเนินงาน` both names one column twice. Only the first was read:
  a repeat's values were dropped without a word (K1 57 in the Thai column, 47 in the English one,
  was scored 47), or beside an empty first column called missing. Now the two are one column: a
  row takes the repeat's value where the first is empty, and the same value twice is no defect;
  two different values on a row are COLUMN_REPEATED ("anything else is a defect of the file",
  agency-report-v1.md), on the first such row. The same holds for a JSON field spelt two ways
  (a line repeating a top-level field under its Thai label, or lines that spell `actual` two
  ways): before, such a document was refused or its values called missing.
- `FY2548-Q1`: agency-report-v1.md reads `FY2005` as the CE name of FY 2548, so FY2548 was taken
  for FY 3091 and the file was told its period (3091-Q1) lies outside the pilot and that it was
  sent before the period starts (on "2547-10-01"). A BE year under the CE prefix is no period:
  PERIOD_INVALID, naming the text written.
- A CSV saved as UTF-16 (Excel's "Unicode Text", with its byte order mark) is the catalogue's own
  example of FILE_ENCODING_UNKNOWN ("save the file as UTF-8"), but its NUL bytes made it
  FILE_UNREADABLE, "binary data, not text".

The scenario and its registry are tests/test_flow.py's: lead 03009, secondary 15001; K1
percent/higher/last weight 60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40,
thresholds [100..500] (x q/4 for sums).
"""
from __future__ import annotations

import json
from decimal import Decimal

from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"


def write(path, header: str, *rows: str) -> None:
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode("utf-8"))


def issues_of(wh, file_name: str) -> list[tuple]:
    return query(wh, "SELECT i.row_number, i.column_name, i.code, i.message_en FROM ingest.issues i "
                     "JOIN ingest.submissions s USING (submission_id) WHERE s.file_name = ? "
                     "ORDER BY i.row_number, i.code", [file_name])


def test_repeated_columns_and_a_be_fiscal_year_over_two_nights(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1. The lead's Q1 with the actual twice: 47 in `actual`, 57 in `ผลการดำเนินงาน`.
    write(inbox / "a_lead_q1.csv", HEADER + ",ผลการดำเนินงาน",
          f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,,57",
          f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,,60",
          f"{P},03009,2548-Q1,2005-01-20,budget,ACT-1,5,,1000000,200000,own,,")
    # The secondary's Q1 with a second note column (`หมายเหตุ`), saying the same or left empty, and a
    # second allocation column (`งบจัดสรร`) that alone holds ACT-2's: accepted, read as one column each.
    write(inbox / "b_sec_q1.csv", HEADER + ",หมายเหตุ,งบจัดสรร",
          f"{P},15001,2548-Q1,2005-02-15,budget,ACT-1,5,,500000,100000,own,ส่งครั้งแรก,ส่งครั้งแรก,500000",
          f"{P},15001,2548-Q1,2005-02-15,budget,ACT-2,4,,,20000,own,,,80000")
    # The secondary's Q2 with a BE year under FY.
    write(inbox / "c_sec_q2.csv", HEADER,
          f"{P},15001,FY2548-Q2,2005-04-20,budget,ACT-1,5,,500000,300000,own,")
    # The supporting agency's Q1 in UTF-16.
    (inbox / "e_sup_q1.csv").write_bytes("\n".join([
        HEADER, f"{P},11002,2548-Q1,2005-02-01,budget,ACT-9,3,,100000,50000,support_contribution,"]).encode("utf-16"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 4: accepted 1, superseded 0, duplicates 0, quarantined 3" in out
    assert issues_of(wh, "a_lead_q1.csv") == [
        (2, "actual", "COLUMN_REPEATED", "'actual' appears twice (again as 'ผลการดำเนินงาน') with different "
                                         "values: it is unclear which one to read.")]
    assert issues_of(wh, "b_sec_q1.csv") == []
    assert issues_of(wh, "c_sec_q2.csv") == [
        (2, "period", "PERIOD_INVALID", "Period 'FY2548-Q2' is not a fiscal quarter such as 2548-Q1.")]
    # A quarantined file counts for its (pilot, agency, period) only where the period was read.
    assert query(wh, "SELECT file_name, agency_code, period, status FROM ingest.submissions ORDER BY file_name") == [
        ("a_lead_q1.csv", "03009", "2548-Q1", "quarantined"), ("b_sec_q1.csv", "15001", "2548-Q1", "accepted"),
        ("c_sec_q2.csv", "15001", None, "quarantined"), ("e_sup_q1.csv", None, None, "quarantined")]
    assert issues_of(wh, "e_sup_q1.csv") == [
        (None, None, "FILE_ENCODING_UNKNOWN", "The text encoding is not UTF-8 or Windows-874 (TIS-620). Save the file as UTF-8.")]
    assert query(wh, "SELECT agency_code, activity_code, allocated_thb, disbursed_thb, note FROM core.budget_lines "
                     "ORDER BY activity_code") == [
        ("15001", "ACT-1", D("500000.00"), D("100000.00"), "ส่งครั้งแรก"),
        ("15001", "ACT-2", D("80000.00"), D("20000.00"), None)]
    assert query(wh, "SELECT count(*) FROM core.kpi_actuals") == [(0,)]

    # Night 2: the lead sends Q1 again with one actual column.
    write(inbox / "d_lead_q1.csv", HEADER,
          f"{P},03009,2548-Q1,2005-01-25,kpi,K1,,57,,,,",
          f"{P},03009,2548-Q1,2005-01-25,kpi,K2,,60,,,,",
          f"{P},03009,2548-Q1,2005-01-25,budget,ACT-1,5,,1000000,200000,own,")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    # scoring.md: K1 57 -> 4 + 7/10 = 4.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2.4;
    # composite (4.7*60 + 2.4*40)/100 = 2.82 + 0.96 = 3.78.
    assert query(wh, "SELECT kpi_code, actual FROM core.kpi_actuals ORDER BY kpi_code") == [("K1", D(57)), ("K2", D(60))]
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.7800"),)]
    # The lead's ACT-1 (1,000,000 / 200,000) and the secondary's ACT-1 (500,000 / 100,000) and ACT-2
    # (80,000 / 20,000, its allocation from the repeated column).
    assert query(wh, "SELECT total_allocated_thb, disbursed_thb FROM marts.budget_integration WHERE period = '2548-Q1'") == [
        (D("1580000.00"), D("320000.00"))]

    # Night 3: the lead's Q2 as JSON, its first line repeating the period under its Thai label and
    # giving K1 under `ผลการดำเนินงาน`, its second giving K2 under `actual`: accepted, both read.
    (inbox / "f_lead_q2.json").write_bytes(json.dumps({
        "pilot_id": P, "agency_code": "03009", "period": "2548-Q2", "submitted_on": "2005-04-20", "lines": [
            {"งวดรายงาน": "2548-Q2", "line_type": "kpi", "item_code": "K1", "ผลการดำเนินงาน": 45},
            {"line_type": "kpi", "item_code": "K2", "actual": 90}]}, ensure_ascii=False).encode("utf-8"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    assert issues_of(wh, "f_lead_q2.json") == []
    # scoring.md: K1 45 -> 3 + 5/10 = 3.5; K2 (sum, Q2: [50,100,150,200,250]) 60 + 90 = 150 -> 3;
    # composite (3.5*60 + 3*40)/100 = 2.1 + 1.2 = 3.3.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.7800")), ("2548-Q2", D("3.3000"))]
