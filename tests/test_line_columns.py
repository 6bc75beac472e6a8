"""pilots/ingest._line_columns: a batch's lines go to the insert column by column, in the files'
order; what a resubmission is compared on (_file_content) is those very lines. Expected values
worked out by hand."""
from __future__ import annotations

from pilots.ingest import FileRead, _file_content, _line_columns


def _compared_as_written(files, kpis, budget) -> None:
    """RESUBMISSION_UNCHANGED compares the lines the insert writes: each file's _file_content, in
    turn, is the written KPI lines' (kpi_code, actual) and budget lines' (activity_code, layer,
    allocated_thb, disbursed_thb, funding_source, note), the layer as the integer written."""
    content = [_file_content(f) for _, f in files]
    assert [line for kpi_lines, _ in content for line in kpi_lines] == list(
        zip(kpis.values["kpi_code"], kpis.values["actual"]))
    assert [(a, int(layer), *rest) for _, budget_lines in content for a, layer, *rest in budget_lines] == list(
        zip(*(budget.values[c] for c in ("activity_code", "layer", "allocated_thb", "disbursed_thb",
                                          "funding_source", "note"))))


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
    _compared_as_written([(11, a), (12, b)], kpis, budget)


def test_no_files_give_no_lines():
    kpis, budget = _line_columns([])
    assert len(kpis) == 0 and len(budget) == 0


HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note\n"


def _csv(name: str, *lines: str):
    from pilots.reading import ToRead

    return ToRead(name, name.ljust(64, "0"), data=(HEADER + "".join(lines)).encode())


def test_lines_are_taken_from_the_validated_batchs_cells_as_the_rows_say():
    """Through the pure stage (read_batch: read, then validate one batch frame): each valid file
    points into its batch's cells, and its lines come out as its rows say, whatever sits between
    the files in the batch (a quarantined file) or which batch a file came from."""
    from datetime import date
    from pathlib import Path

    from pilots.ingest import read_batch
    from pilots.registry import load_registry

    registry = load_registry(Path(__file__).parent / "data" / "registry" / "valid")
    first = read_batch([
        _csv("a.csv", "PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,\n",
             "PLT-2548-003,03009,2548-Q1,2005-01-20,budget,ACT-1,5,,100,90.5,own,n1\n"),
        _csv("bad.csv", "PLT-2548-003,03009,2548-Q1,2005-01-20,budget,ACT-1,9,,100,90,own,\n"),  # layer 9: quarantined
        _csv("c.csv", "PLT-2548-003,03009,2548-Q2,2005-04-20,budget,ACT-2,3,,7,7,own,\n",
             "PLT-2548-003,03009,2548-Q2,2005-04-20,kpi,K2,,22,,,,\n"),
    ], registry, date(2006, 8, 15))
    (later,) = read_batch([_csv("d.csv", "PLT-2548-003,03009,2548-Q3,2005-07-20,kpi,K1,,50,,,,\n")],
                          registry, date(2006, 8, 15))
    a, bad, c = first
    assert bad.errors and bad.cells is None
    assert a.cells[0] is c.cells[0] and (a.cells[1:], c.cells[1:]) == ((0, 2), (3, 5))
    files = [(11, a), (13, c), (14, later)]
    kpis, budget = _line_columns(files)
    assert kpis.values["kpi_code"] == ["K1", "K2", "K1"] and kpis.values["actual"] == ["47", "22", "50"]
    assert kpis.values["submission_id"] == [11, 13, 14] and kpis.values["row_number"] == [2, 3, 2]
    assert kpis.values["fiscal_year"] == [2548] * 3 and kpis.values["quarter"] == [1, 2, 3]
    assert budget.values["activity_code"] == ["ACT-1", "ACT-2"] and budget.values["layer"] == [5, 3]
    assert budget.values["allocated_thb"] == ["100", "7"] and budget.values["disbursed_thb"] == ["90.5", "7"]
    assert budget.values["note"] == ["n1", None] and budget.values["row_number"] == [3, 2]
    # Python ints, as the insert's object columns took them before (not numpy's).
    assert {type(v) for name in ("submission_id", "fiscal_year", "quarter", "row_number")
            for v in kpis.values[name] + budget.values[name]} | {type(v) for v in budget.values["layer"]} == {int}
    _compared_as_written(files, kpis, budget)
