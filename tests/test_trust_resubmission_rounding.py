"""RESUBMISSION_UNCHANGED compares the lines as they are stored (agency-report-v1.md: "a
resubmission that changes nothing: the same KPI values and the same budget lines ... whatever the
format"), so its verdict is the same whether the earlier version was stored on an earlier night or
is in the same batch.

Validation accepts more decimals than a column keeps, and the insert rounds them half away from
zero: an actual to 10 decimals (DECIMAL(38,10)), an amount to 2 (DECIMAL(18,2)). The comparison
took a file's numbers as written, so (found by a reviewer, 2026-12-07):
- v1 and v2 both writing 47.00000000004 were "changed" across two nights (stored 47.0000000000
  against the text 47.00000000004), "unchanged" in one batch;
- v1 writing 250000.004 and v2 250000 were "unchanged" across two nights, "changed" in one batch.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, Q1 thresholds [25,50,75,100,125].
"""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.test_flow import AS_OF, _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"


def csv_lines(agency: str, on: str, kpis: dict[str, str], budget: dict[str, tuple[str, str]]) -> bytes:
    rows = [f"{P},{agency},2548-Q1,{on},kpi,{code},,{actual},,,," for code, actual in kpis.items()]
    rows += [f"{P},{agency},2548-Q1,{on},budget,{activity},5,,{allocated},{disbursed},own,"
             for activity, (allocated, disbursed) in budget.items()]
    return _csv(*rows)


def json_lines(agency: str, on: str, kpis: dict[str, str], budget: dict[str, tuple[str, str]]) -> bytes:
    # Numbers as JSON numbers, written digit for digit (the reader takes them exactly).
    lines = [f'{{"line_type": "kpi", "item_code": "{code}", "actual": {actual}}}' for code, actual in kpis.items()]
    lines += [f'{{"line_type": "budget", "item_code": "{activity}", "layer": 5, "allocated_thb": {allocated}, '
              f'"disbursed_thb": {disbursed}, "funding_source": "own"}}' for activity, (allocated, disbursed) in budget.items()]
    head = json.dumps({"pilot_id": P, "agency_code": agency, "period": "2548-Q1", "submitted_on": on})[:-1]
    return f'{head}, "lines": [{", ".join(lines)}]}}'.encode()


FIRST = {  # name -> the first version's bytes
    "a_lead_q1.csv": csv_lines("03009", "2005-01-20", {"K1": "47.00000000004", "K2": "60"},
                               {"ACT-1": ("100.004", "90.005")}),
    "a_support_q1.csv": csv_lines("11002", "2005-01-20", {}, {"ACT-2": ("250000.004", "0")}),
    "a_second_q1.csv": csv_lines("15001", "2005-01-20", {}, {"ACT-3": ("100.004", "0")}),
}
SECOND = {  # name -> the later version's bytes
    # The same numbers, now in JSON: stored alike (47.0000000000; 100.00 and 90.01).
    "b_lead_q1.json": json_lines("03009", "2005-01-25", {"K1": "47.00000000004", "K2": "60"},
                                 {"ACT-1": ("100.004", "90.005")}),
    # 250000.004 and 250000 are both stored 250000.00.
    "b_support_q1.csv": csv_lines("11002", "2005-01-25", {}, {"ACT-2": ("250000", "0.00")}),
    # 100.004 is stored 100.00, 100.006 is stored 100.01: a change.
    "b_second_q1.csv": csv_lines("15001", "2005-01-25", {}, {"ACT-3": ("100.006", "0")}),
}


@pytest.mark.parametrize("nights", ["two nights", "one night"])
def test_a_resubmission_is_compared_on_its_lines_as_stored_in_one_batch_as_across_nights(
        tmp_path, prefect_harness, nights):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    for name, data in FIRST.items():
        (inbox / name).write_bytes(data)
    if nights == "two nights":
        code, out = run_cli(registry, inbox, tmp_path)
        assert code == 0, out
        assert "files seen 3: accepted 3, superseded 0, duplicates 0, quarantined 0" in out, out
    for name, data in SECOND.items():
        (inbox / name).write_bytes(data)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out

    assert query(wh, "SELECT s.file_name, s.status, coalesce(list(i.code ORDER BY i.code) FILTER (WHERE i.code IS NOT NULL), []) "
                     "FROM ingest.submissions s LEFT JOIN ingest.issues i USING (submission_id) "
                     "GROUP BY ALL ORDER BY s.file_name") == [
        ("a_lead_q1.csv", "superseded", []), ("a_second_q1.csv", "superseded", []),
        ("a_support_q1.csv", "superseded", []),
        ("b_lead_q1.json", "accepted", ["RESUBMISSION_UNCHANGED"]),
        ("b_second_q1.csv", "accepted", []),
        ("b_support_q1.csv", "accepted", ["RESUBMISSION_UNCHANGED"])]
    # What is stored: rounded half away from zero to each column's scale.
    assert query(wh, "SELECT kpi_code, actual FROM core.kpi_actuals ORDER BY 1") == [
        ("K1", D("47.0000000000")), ("K2", D("60.0000000000"))]
    assert query(wh, "SELECT activity_code, allocated_thb, disbursed_thb FROM core.budget_lines ORDER BY 1") == [
        ("ACT-1", D("100.00"), D("90.01")), ("ACT-2", D("250000.00"), D("0.00")), ("ACT-3", D("100.01"), D("0.00"))]
    # scoring.md §1: K1 47 -> 3 + (47-40)/(50-40) = 3.7; K2 60 -> 2 + (60-50)/(75-50) = 2.4;
    # composite (3.7*60 + 2.4*40)/100 = 3.18.
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.1800"),)]


def test_every_number_a_file_gives_the_comparison_is_text_whatever_the_format():
    """pilots/ingest.py `_as_stored` takes a Decimal as a stored value (DuckDB's, at its column's
    scale) and rounds only text: so every number a read file gives the comparison must be text,
    from CSV, JSON numbers and XLSX number and percent cells alike."""
    import io
    from datetime import date
    from pathlib import Path

    import openpyxl

    from pilots.ingest import _file_content, read_batch
    from pilots.reading import ToRead
    from pilots.registry import load_registry

    registry = load_registry(Path(__file__).parent / "data" / "registry" / "valid")
    header = ["pilot_id", "agency_code", "period", "submitted_on", "line_type", "item_code", "layer", "actual",
              "allocated_thb", "disbursed_thb", "funding_source", "note"]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    sheet.append([P, "03009", "2548-Q1", "2005-01-20", "kpi", "K1", None, 0.47000000000004])
    sheet["H2"].number_format = "0.00%"  # 47.000000000004% shown as a percent
    sheet.append([P, "03009", "2548-Q1", "2005-01-20", "kpi", "K2", None, 60])
    sheet.append([P, "03009", "2548-Q1", "2005-01-20", "budget", "ACT-1", 5, None, 100.004, 90.005, "own"])
    xlsx = io.BytesIO()
    book.save(xlsx)
    files = {"a.csv": csv_lines("03009", "2005-01-20", {"K1": "47.00000000004", "K2": "60"}, {"ACT-1": ("100.004", "90.005")}),
             "b.json": json_lines("03009", "2005-01-20", {"K1": "47.00000000004", "K2": "60"}, {"ACT-1": ("100.004", "90.005")}),
             "c.xlsx": xlsx.getvalue()}
    reads = read_batch([ToRead(name, name.ljust(64, "0"), data=data) for name, data in files.items()],
                       registry, date(2006, 8, 15))
    for rec in reads:
        assert not rec.errors, (rec.name, rec.errors)
        kpis, budget = _file_content(rec)
        numbers = [actual for _, actual in kpis] + [x for line in budget for x in line[2:4]]
        assert len(numbers) == 4 and all(type(x) is str for x in numbers), (rec.name, numbers)
