"""pilots/ingest._line_columns: a batch's lines go to the insert column by column, the rows
_lines gives a resubmission's comparison, in the same order. Expected values worked out by hand."""
from __future__ import annotations

from pilots.ingest import FileRead, _line_columns, _lines


def _row(n: int, line_type: str, item: str, *, layer=None, allocated=None, disbursed=None, source=None,
         actual=None, note=None, period="2549-Q2") -> dict:
    return {"row_number": n, "pilot_id": "PLT-2548-001", "agency_code": "02003", "period": period,
            "submitted_on": "2006-04-20", "line_type": line_type, "item_code": item, "layer": layer,
            "actual": actual, "allocated_thb": allocated, "disbursed_thb": disbursed, "funding_source": source,
            "note": note}


def _file(name: str, rows: list[dict]) -> FileRead:
    return FileRead(name, "0" * 64, "csv", "utf-8", rows, [], {})


def test_a_batchs_lines_column_by_column_are_the_rows_of_each_file_in_turn():
    a = _file("a.csv", [_row(2, "kpi", "K1", actual="47.5"),
                        _row(3, "budget", "ACT-1", layer="5", allocated="100", disbursed="90.5", source="own"),
                        _row(4, "kpi", "K2", actual="3", note="หมายเหตุ")])
    b = _file("b.csv", [_row(2, "budget", "ACT-9", layer="2", allocated="7", disbursed="7", source="lead_integrated",
                             period="2548-Q4")])
    kpis, budget = _line_columns([(11, a), (12, b)])
    assert len(kpis) == 2 and len(budget) == 2
    assert kpis.values == {
        "pilot_id": ["PLT-2548-001"] * 2, "agency_code": ["02003"] * 2, "period": ["2549-Q2"] * 2,
        "fiscal_year": [2549, 2549], "quarter": [2, 2], "note": [None, "หมายเหตุ"], "submission_id": [11, 11],
        "row_number": [2, 4], "kpi_code": ["K1", "K2"], "actual": ["47.5", "3"]}
    assert budget.values == {
        "pilot_id": ["PLT-2548-001"] * 2, "agency_code": ["02003"] * 2, "period": ["2549-Q2", "2548-Q4"],
        "fiscal_year": [2549, 2548], "quarter": [2, 4], "note": [None, None], "submission_id": [11, 12],
        "row_number": [3, 2], "activity_code": ["ACT-1", "ACT-9"], "layer": [5, 2],
        "funding_source": ["own", "lead_integrated"], "allocated_thb": ["100", "7"], "disbursed_thb": ["90.5", "7"]}
    # The same rows as the dicts a resubmission is compared with.
    for columns, dicts in zip((kpis, budget), ([r for sid, f in ((11, a), (12, b)) for r in _lines(sid, f)[0]],
                                               [r for sid, f in ((11, a), (12, b)) for r in _lines(sid, f)[1]])):
        assert [dict(zip(columns.values, cells)) for cells in zip(*columns.values.values())] == dicts


def test_no_files_give_no_lines():
    kpis, budget = _line_columns([])
    assert len(kpis) == 0 and len(budget) == 0
