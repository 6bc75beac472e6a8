"""A value in a column its line type does not use is named, not dropped without a word (verifier
V7, O1): an amount typed on a kpi line, or an actual on a budget line, was accepted and went
nowhere. Now each is a VALUE_NOT_USED warning on its row and column, in Thai and English; the file
is accepted and its figures are what they were (pilots/checks.py UNUSED_COLUMNS).

The registry is tests/test_flow.py's: lead 03009 of PLT-2548-003 (K1 percent, K2 ...), secondary
15001 on a layer-5 pilot.
"""
from __future__ import annotations

from decimal import Decimal

from tests.test_flow import _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

P = "PLT-2548-003"


def test_values_on_the_wrong_line_type_are_warned_of_and_the_figures_stay(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_lead_q1.csv").write_bytes(_csv(
        f"{P},03009,2548-Q1,2005-01-20,kpi,K1,3,47,5000,,own,",  # layer, allocated and source on a kpi line
        f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,22,,,,",
        f"{P},03009,2548-Q1,2005-01-20,budget,ACT-1,5,99,1000000,200000,own,"))  # an actual on a budget line
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    warehouse = tmp_path / "wh.duckdb"
    assert query(warehouse, "SELECT row_number, column_name, code, severity, message_en, message_th "
                            "FROM ingest.issues ORDER BY row_number, column_name") == [
        (2, "allocated_thb", "VALUE_NOT_USED", "warning",
         "'allocated_thb' is not used on a kpi line: its value '5000' was not read.",
         "คอลัมน์ 'allocated_thb' ไม่ใช้กับรายการประเภทตัวชี้วัด ระบบจึงไม่ได้อ่านค่า '5000'"),
        (2, "funding_source", "VALUE_NOT_USED", "warning",
         "'funding_source' is not used on a kpi line: its value 'own' was not read.",
         "คอลัมน์ 'funding_source' ไม่ใช้กับรายการประเภทตัวชี้วัด ระบบจึงไม่ได้อ่านค่า 'own'"),
        (2, "layer", "VALUE_NOT_USED", "warning",
         "'layer' is not used on a kpi line: its value '3' was not read.",
         "คอลัมน์ 'layer' ไม่ใช้กับรายการประเภทตัวชี้วัด ระบบจึงไม่ได้อ่านค่า '3'"),
        (4, "actual", "VALUE_NOT_USED", "warning",
         "'actual' is not used on a budget line: its value '99' was not read.",
         "คอลัมน์ 'actual' ไม่ใช้กับรายการประเภทงบประมาณ ระบบจึงไม่ได้อ่านค่า '99'")]
    # The figures are the file's kpi actuals and budget line, as before.
    assert query(warehouse, "SELECT kpi_code, actual FROM core.kpi_actuals ORDER BY kpi_code") == [
        ("K1", Decimal("47")), ("K2", Decimal("22"))]
    assert query(warehouse, "SELECT activity_code, layer, allocated_thb, disbursed_thb, funding_source "
                            "FROM core.budget_lines") == [("ACT-1", 5, Decimal("1000000.00"), Decimal("200000.00"), "own")]
    report = (tmp_path / "out" / "validation.html").read_text(encoding="utf-8")
    assert report.count("<code>VALUE_NOT_USED</code>") == 4


def test_a_wrong_value_on_the_wrong_line_type_gets_its_error_alone(tmp_path, prefect_harness):
    """A layer `x` on a kpi line is LAYER_INVALID (the file quarantined) and not also "not read"
    (verifier V9: the two messages contradicted each other); a number there stays a warning."""
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_lead_q1.csv").write_bytes(_csv(
        f"{P},03009,2548-Q1,2005-01-20,kpi,K1,x,47,5000,,,",
        f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,22,,,,"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "quarantined 1" in out, out
    assert query(tmp_path / "wh.duckdb", "SELECT row_number, column_name, code FROM ingest.issues "
                                         "ORDER BY row_number, column_name, code") == [
        (2, "allocated_thb", "VALUE_NOT_USED"), (2, "layer", "LAYER_INVALID")]
