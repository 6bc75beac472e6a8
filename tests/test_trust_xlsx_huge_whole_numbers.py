"""A workbook's huge whole numbers, quoted and read as the file writes them (verifier VH, F7).

A number cell holds a decimal text (`<v>1E+308</v>`); openpyxl gives a float, and the reader wrote
a whole float as str(int(value)): its binary value, 1000000000000000010979063629440455417404923...
for 1E+308, which NUMBER_TOO_LARGE quoted back to the agency as if the file held it, and
99999999999999991611392 for 1E+23, stored as the actual. A whole float past 2**53 is now written
from its shortest repr, as the percent cells are (pilots/readers/xlsx_reader.py, _float_text):
1 and 308 zeros; 100000000000000000000000.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

from decimal import Decimal

from tests.hostile import clean_night
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import report

D = Decimal


def test_huge_whole_numbers_are_quoted_and_stored_as_written(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    (inbox / "a_q1.xlsx").write_bytes(report("2548-Q1", "2005-01-20", [
        ("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 1e308})]))
    (inbox / "b_q2.xlsx").write_bytes(report("2548-Q2", "2005-04-20", [
        ("kpi", "K1", None, {"actual": 55}), ("kpi", "K2", None, {"actual": 1e23})]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    # Messages quote at most 80 characters (defects._shorten): "1", 78 zeros and "…".
    quoted = "1" + "0" * 78 + "…"
    assert issues_of(wh, "a_q1.xlsx") == [(3, "actual", "NUMBER_TOO_LARGE",
        f"'{quoted}' in 'actual' is too large: at most 25 digits before the decimal point.",
        f"'{quoted}' ในคอลัมน์ 'actual' มีค่ามากเกินไป: ก่อนจุดทศนิยมมีได้ไม่เกิน 25 หลัก")]
    # 1E+23 has 24 digits before the point (25 allowed): stored as written.
    assert query(wh, "SELECT period, actual FROM core.kpi_actuals WHERE kpi_code = 'K2'") == [
        ("2548-Q2", D("100000000000000000000000"))]

    # Night 2: Q1 as it should be. scoring.md: Q1 K1 47 -> 3.7, K2 60 -> 2.4: 3.18. Q2 K1 55 ->
    # 4.5, K2 sum 60 + 10^23 over t5 250 -> 5: (4.5*60 + 5*40)/100 = 4.7.
    clean_night(registry, inbox, tmp_path, {"c_q1.xlsx": report("2548-Q1", "2005-01-20", [
        ("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 60})])},
        scores=[("2548-Q1", D("3.1800")), ("2548-Q2", D("4.7000"))])


def test_whole_floats_below_two_to_the_53_are_exact_and_above_are_the_repr():
    from pilots.readers.xlsx_reader import _float_text

    assert [_float_text(v) for v in (72_000_000.0, -5.0, 2.0 ** 53 - 1, 2.0 ** 53, 1.234567890123457e16, 1e16)] == [
        "72000000", "-5", "9007199254740991", "9007199254740992", "12345678901234570", "10000000000000000"]
