"""A workbook number past a float's range is quoted as the file wrote it, not as `inf` (verifier VO).

A number cell stores decimal text (`<v>1e309</v>`); openpyxl reads it with float(), which gives
infinity for anything past 1.8E+308, and the defect quoted `'inf' in 'actual' is not a number` (a
percentage cell: `'Infinity'`), a value the agency never wrote and cannot find in its file. Now
such a cell's stored text is its value (pilots/readers/xlsx_reader.py, _RowsOnlyParser.parse_cell),
judged as the same text typed in a CSV: `'1e309' in 'actual' is not a number.`

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

from decimal import Decimal

from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import report
from tests.test_xlsx import rewrite_members

D = Decimal


def _stored(data: bytes, texts: dict[bytes, bytes]) -> bytes:
    """The workbook with each placeholder number's stored text replaced (openpyxl cannot write them)."""
    def edit(name: str, content: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            for placeholder, text in texts.items():
                assert content.count(b"<v>%s</v>" % placeholder) == 1, placeholder
                content = content.replace(b"<v>%s</v>" % placeholder, b"<v>%s</v>" % text)
        return content
    return rewrite_members(data, edit)


def _not_a_number(row: int, text: str) -> tuple:
    return (row, "actual", "NOT_A_NUMBER", f"'{text}' in 'actual' is not a number.",
            f"'{text}' ในคอลัมน์ 'actual' ไม่ใช่ตัวเลข")


def test_numbers_past_a_floats_range_are_quoted_as_stored(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # Q1: K2's cell stores 1e309. Q2: K1's is a percentage cell (the reader's other path, by
    # formats) storing 1E+309, and K2's stores -1e309.
    (inbox / "a_q1.xlsx").write_bytes(_stored(report("2548-Q1", "2005-01-20", [
        ("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 123456.5})]), {b"123456.5": b"1e309"}))
    (inbox / "b_q2.xlsx").write_bytes(_stored(report("2548-Q2", "2005-04-20", [
        ("kpi", "K1", None, {"actual": (0.125, "0.0%")}), ("kpi", "K2", None, {"actual": 654321.5})]),
        {b"0.125": b"1E+309", b"654321.5": b"-1e309"}))
    (inbox / "c_q1_again.xlsx").write_bytes(report("2548-Q1", "2005-01-21", [
        ("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 60})]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 3: accepted 1, superseded 0, duplicates 0, quarantined 2" in out, out
    # Before: 'inf', 'Infinity' and '-inf'.
    assert issues_of(wh, "a_q1.xlsx") == [_not_a_number(3, "1e309")]
    assert issues_of(wh, "b_q2.xlsx") == [_not_a_number(2, "1E+309"), _not_a_number(3, "-1e309")]
    # Q1 from the file sent again: K1 47 -> 3 + 7/10 = 3.7; K2 60 over [25..125] -> 2 + 10/25 = 2.4;
    # (3.7*60 + 2.4*40)/100 = 3.18. Q2 has no accepted report.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]
