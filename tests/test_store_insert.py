"""warehouse/store._insert at national scale: exact values whatever the first rows look like."""
from __future__ import annotations

from decimal import Decimal

import pytest

from warehouse import store


def test_a_large_threshold_after_many_small_ones_is_stored_exactly(warehouse):
    # 400 pilots' thresholds: DuckDB typed the object column from a sample of its rows; 2,000 rows of
    # 10-digit baht thresholds made it DECIMAL(10,0), and the 11-digit one after them failed the insert.
    cols = ["pilot_id", "kpi_code", "fiscal_year", "t1", "t2", "t3", "t4", "t5"]
    small = [dict(zip(cols, [f"PLT-2548-{i % 999:03d}", f"K{i}", 2549, *map(Decimal, ("30", "6000000000", "50", "60", "70"))]))
             for i in range(2000)]
    large = dict(zip(cols, ["PLT-2548-005", "B1", 2549, *map(Decimal, ("6000000000", "11000000000", "12000000000.5",
                                                                         "13000000000", "14000000000"))]))
    # (the sample skips rows: here the large one sits where it does not look)
    assert store._insert(warehouse, "registry.kpi_thresholds", cols, [*small[:1001], large, *small[1001:]]) == 2001
    got = warehouse.execute("SELECT t1, t2, t3 FROM registry.kpi_thresholds WHERE kpi_code = 'B1'").fetchone()
    assert got == (Decimal("6000000000"), Decimal("11000000000"), Decimal("12000000000.5"))
    assert warehouse.execute("SELECT sum(t1) FROM registry.kpi_thresholds WHERE kpi_code <> 'B1'").fetchone()[0] == 60000  # 2,000 × 30


def test_agency_text_is_masked_in_every_row_that_repeats_it(warehouse):
    # Each distinct text is masked once and the result spread to every row holding it: 1-1017-00203-93-0
    # has a valid check digit (tests/test_personal_data.py's worked example), -1 has not.
    cols = ["pilot_id", "agency_code", "period", "fiscal_year", "quarter", "kpi_code", "actual", "note",
            "submission_id", "row_number"]
    base = {"pilot_id": "PLT-2548-001", "agency_code": "02003", "period": "2548-Q1", "fiscal_year": 2548,
            "quarter": 1, "kpi_code": "K1", "actual": "5", "submission_id": 1}
    notes = ["ติดต่อ 1-1017-00203-93-0", None, "ติดต่อ 1-1017-00203-93-1", "ติดต่อ 1-1017-00203-93-0"]
    rows = [{**base, "row_number": n, "note": note} for n, note in enumerate(notes, start=2)]
    del rows[1]["note"]  # a missing key is NULL, like None
    assert store._insert(warehouse, "core.kpi_actuals", cols, iter(rows)) == 4  # any iterable of rows
    got = warehouse.execute("SELECT row_number, note FROM core.kpi_actuals ORDER BY row_number").fetchall()
    assert got == [(2, "ติดต่อ [masked-id]"), (3, None), (4, "ติดต่อ 1-1017-00203-93-1"), (5, "ติดต่อ [masked-id]")]


def test_registry_text_is_not_masked_and_no_rows_insert_nothing(warehouse):
    # kpi_code is agency text in a submission's lines (masked there), the committee's own in the registry.
    cols = ["pilot_id", "kpi_code", "name_th", "name_en", "unit", "direction", "aggregation", "weight"]
    assert store._insert(warehouse, "registry.kpis", cols, []) == 0
    row = dict(zip(cols, ["PLT-2548-001", "K 1-1017-00203-93-0", "ตัวชี้วัด", "KPI", "count", "higher", "sum",
                          Decimal("0.5")]))
    assert store._insert(warehouse, "registry.kpis", cols, [row]) == 1
    assert warehouse.execute("SELECT kpi_code, weight FROM registry.kpis").fetchall() == [
        ("K 1-1017-00203-93-0", Decimal("0.5000"))]


@pytest.mark.parametrize("strategies", [[[1, 2, 3]], [[1, 2], [3, 4]]])
def test_a_list_value_is_one_value_of_its_row(warehouse, strategies):
    # registry.pilots.strategies is INTEGER[]: one row with a list of 3, two rows with lists of 2
    # (as many rows as list items: an object array must not unpack them into a second dimension).
    from datetime import date

    cols = ["pilot_id", "name_th", "name_en", "layer", "strategies", "classification", "start_date", "end_date",
            "lead_agency_code", "report_due_days"]
    rows = [dict(zip(cols, [f"PLT-2548-00{n}", "โครงการ", "Pilot", 1, listed, "open", date(2004, 10, 1),
                            date(2006, 9, 30), "03009", 30])) for n, listed in enumerate(strategies, start=1)]
    assert store._insert(warehouse, "registry.pilots", cols, rows) == len(strategies)
    assert warehouse.execute("SELECT strategies FROM registry.pilots ORDER BY pilot_id").fetchall() == [
        (listed,) for listed in strategies]


def test_rows_given_column_by_column_are_stored_as_the_same_rows_given_as_dicts(warehouse):
    # store.Columns (how a night's lines reach the insert): a column not given is NULL, each
    # distinct agency text is masked, amounts given as text keep every digit. By hand: two lines
    # of submission 7, the second's note holds a valid ID (tests/test_personal_data.py's example).
    lines = store.Columns({
        "pilot_id": ["PLT-2548-001", "PLT-2548-001"], "agency_code": ["02003", "02003"],
        "period": ["2548-Q1", "2548-Q1"], "fiscal_year": [2548, 2548], "quarter": [1, 1],
        "activity_code": ["ACT-1", "ACT-2"], "layer": [5, 3], "funding_source": ["own", "own"],
        "allocated_thb": ["1234567890123.45", "100"], "disbursed_thb": ["0.01", "100.5"],
        "note": [None, "ติดต่อ 1-1017-00203-93-0"], "submission_id": [7, 7], "row_number": [2, 3],
    }, 2)
    assert store._insert(warehouse, "core.budget_lines", store.BUDGET_COLUMNS, lines) == 2
    assert warehouse.execute("SELECT row_number, layer, allocated_thb, disbursed_thb, note FROM core.budget_lines "
                             "ORDER BY row_number").fetchall() == [
        (2, 5, Decimal("1234567890123.45"), Decimal("0.01"), None),
        (3, 3, Decimal("100.00"), Decimal("100.50"), "ติดต่อ [masked-id]")]
    kpis = store.Columns({"pilot_id": ["PLT-2548-001"], "agency_code": ["02003"], "period": ["2548-Q1"],
                          "fiscal_year": [2548], "quarter": [1], "kpi_code": ["K1"], "actual": ["47.5"],
                          "submission_id": [7], "row_number": [4]}, 1)  # no note given: NULL
    assert store._insert(warehouse, "core.kpi_actuals", store.KPI_COLUMNS, kpis) == 1
    assert warehouse.execute("SELECT kpi_code, actual, note FROM core.kpi_actuals").fetchall() == [
        ("K1", Decimal("47.5000000000"), None)]
    assert store._insert(warehouse, "core.kpi_actuals", store.KPI_COLUMNS, store.Columns({}, 0)) == 0
