"""A JSON object that gives one key twice with different values, through two nights.

Python's json keeps the last value of a repeated key, and RFC 8259 calls such a document's meaning
unpredictable: `{"actual": 47, "actual": 99}` was read as 99, though the agency's own tool (or
its reviewer) may see 47; a top level with `"period"` twice was read as its last period; two
`"lines"` lists as the second. Each was accepted, and replaced the report the scores came from.
A field spelt two ways (`actual` and `ผลการดำเนินงาน`) with different values was already
COLUMN_REPEATED (pilots/normalise.py); the same key twice now is too (pilots/readers/json_reader.py,
_Repeats), on the line, or on the file for the top level. A repeat that says the same is no defect.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

from decimal import Decimal

from tests.hostile import clean_night
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
TOP = '"pilot_id": "PLT-2548-003", "agency_code": "03009", "submitted_on": "{date}"'
K = '{{"line_type": "kpi", "item_code": "{code}", {actual}}}'


def lines(k1: str, k2: str) -> str:
    return "[" + K.format(code="K1", actual=k1) + ", " + K.format(code="K2", actual=k2) + "]"


def repeated(column: str, row: int | None) -> tuple:
    return (row, column, "COLUMN_REPEATED",
            f"'{column}' appears twice (again as '{column}') with different values: it is unclear which one to read.",
            f"คอลัมน์ '{column}' ปรากฏซ้ำ (ซ้ำเป็น '{column}') โดยมีค่าต่างกัน จึงไม่ทราบว่าจะอ่านค่าใด")


def test_a_key_given_twice_with_different_values_quarantines_the_document(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    q1 = TOP.format(date="2005-01-20") + ', "period": "2548-Q1"'
    later = TOP.format(date="2005-01-25")

    # Night 1: the lead's Q1 report, then three Q1 resubmissions (written by hand: json.dumps
    # never repeats a key) whose repeats disagree: in a line, at the top, and two lists of lines.
    (inbox / "a_lead_q1.json").write_text(
        "{" + q1 + ', "lines": ' + lines('"actual": 47', '"actual": 60') + "}", encoding="utf-8")
    (inbox / "b_repeat_actual.json").write_text(
        "{" + later + ', "period": "2548-Q1", "lines": ' + lines('"actual": 47, "actual": 99', '"actual": 60') + "}",
        encoding="utf-8")
    (inbox / "c_repeat_period.json").write_text(
        "{" + later + ', "period": "2548-Q2", "period": "2548-Q1", "lines": '
        + lines('"actual": 55', '"actual": 90') + "}", encoding="utf-8")
    (inbox / "d_repeat_lines.json").write_text(
        "{" + later + ', "period": "2548-Q1", "lines": ' + lines('"actual": 47', '"actual": 60')
        + ', "lines": ' + lines('"actual": 10', '"actual": 10') + "}", encoding="utf-8")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: "accepted 1, superseded 3, ... quarantined 0" (b, c and d each taken as Q1, d last).
    assert "files seen 4: accepted 1, superseded 0, duplicates 0, quarantined 3" in out
    assert query(wh, "SELECT file_name, status FROM ingest.submissions ORDER BY submission_id") == [
        ("a_lead_q1.json", "accepted"), ("b_repeat_actual.json", "quarantined"),
        ("c_repeat_period.json", "quarantined"), ("d_repeat_lines.json", "quarantined")]
    assert issues_of(wh, "b_repeat_actual.json") == [repeated("actual", 1)]
    assert issues_of(wh, "c_repeat_period.json") == [repeated("period", None)]
    assert issues_of(wh, "d_repeat_lines.json") == [repeated("lines", None)]
    # scoring.md: K1 47 -> 3 + 7/10 = 3.7; K2 (sum, Q1: [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18.
    assert query(wh, "SELECT period, kpi_code, actual FROM core.kpi_actuals ORDER BY period, kpi_code") == [
        ("2548-Q1", "K1", D(47)), ("2548-Q1", "K2", D(60))]
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: Q2, whose K1 line gives its actual twice, the same: read as one.
    clean_night(registry, inbox, tmp_path, {"e_lead_q2.json": (
        "{" + TOP.format(date="2005-04-20") + ', "period": "2548-Q2", "lines": '
        + lines('"actual": 55, "actual": 55.0', '"actual": 90') + "}").encode("utf-8")})


def test_a_repeated_key_names_its_column_as_a_header_would():
    # normalise reads a header "actual" with a zero-width space as the column actual
    # (pilots/normalise.py header_key); the same key given twice is that column repeated.
    from pilots.readers import read_report

    doc = ('{"pilot_id": "PLT-2548-003", "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20", '
           '"lines": [{"line_type": "kpi", "item_code": "K1", "actual\\u200b": 47, "actual\\u200b": 99}]}')
    table = read_report("a.json", doc.encode("utf-8"))
    assert [(i.code, i.row_number, i.column_name) for i in table.issues] == [("COLUMN_REPEATED", 1, "actual")]
