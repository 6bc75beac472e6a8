"""Excel percentage cells (issue 24 item 1; agency-report-v1.md, "Percentage cells").

An agency types 57.5% in a cell formatted as a percentage; Excel stores 0.575. It means what it
shows: on a percent KPI's actual it is 57.5, in decimal arithmetic (0.575 * 100 in binary floats is
57.49999999999999). Anywhere else it is a unit defect, PERCENT_CELL_NOT_ALLOWED. A resubmission that
differs only in how the value was typed is unchanged.

The scenario and its registry are tests/test_flow.py's: K1 percent/higher/last weight 60,
thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4 for sums).
"""
from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

import openpyxl
import pytest
from click.testing import CliRunner

from flows.cli import main
from pilots.normalise import normalise_table
from pilots.readers import read_report, xlsx_reader
from tests.test_flow import AS_OF, make_empty_scenario, make_scenario, run_cli
from tests.test_hostile_sizes import query
from tests.test_xlsx import FULL_HEADER, rewrite_members

D = Decimal
PILOT = "PLT-2548-003"


def report(lines: list[list], formats: dict[tuple[int, int], str] | None = None) -> bytes:
    """A workbook with FULL_HEADER and `lines`; formats: (line index, column name) -> number format."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "report"
    sheet.append(FULL_HEADER)
    for line in lines:
        sheet.append(line)
    for (i, column), number_format in (formats or {}).items():
        sheet.cell(row=i + 2, column=FULL_HEADER.index(column) + 1).number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def lead_q1(k1, submitted: str = "2005-01-20") -> list[list]:
    return [[PILOT, "03009", "2548-Q1", submitted, "kpi", "K1", None, k1],
            [PILOT, "03009", "2548-Q1", submitted, "kpi", "K2", None, 60],
            [PILOT, "03009", "2548-Q1", submitted, "budget", "ACT-1", 5, None, 1000000, 200000, "own"]]


def actual_text(data: bytes) -> str:
    return read_report("r.xlsx", data).rows[0][1][FULL_HEADER.index("actual")]


# --- the reader ------------------------------------------------------------------------------------

@pytest.mark.parametrize("stored, number_format, shown", [
    (0.575, "0.0%", "57.5"),      # 0.575 * 100 == 57.49999999999999 in floats
    (0.788, "0.0%", "78.8"),
    (0.825, "0%", "82.5"),        # the value, not its rounded display: 82.5 shows as 83%
    (0.555, "0.00%", "55.5"),     # 0.555 * 100 == 55.50000000000001
    (1, "0%", "100"),
    (0, "0.0%", "0"),
    (0.825, "0.0%;[Red]-0.0%", "82.5"),
    (0.825, "[Blue]0.0%", "82.5"),
    (0.825, '0.0"%"', "0.825"),   # a quoted % is a literal: Excel shows 0.8%, no scaling
    (0.825, "0.0\\%", "0.825"),   # so is an escaped one
    (0.825, "General", "0.825"),
    (82.5, "General", "82.5"),    # a plain number cell on a percent KPI is read as it is
])
def test_a_percentage_cell_is_read_as_it_shows(stored, number_format, shown):
    assert actual_text(report(lead_q1(stored), {(0, "actual"): number_format})) == shown


def test_excel_seventeen_digit_values_are_read_as_typed():
    """Excel writes 0.788 as <v>0.78800000000000003</v>: the float's shortest repr is what was typed."""
    data = report(lead_q1(0.788), {(0, "actual"): "0.0%"})
    assert b"<v>0.788</v>" in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    as_excel = rewrite_members(data, lambda name, content: content.replace(b"<v>0.788</v>", b"<v>0.78800000000000003</v>"))
    assert b"<v>0.78800000000000003</v>" in zipfile.ZipFile(io.BytesIO(as_excel)).read("xl/worksheets/sheet1.xml")
    assert actual_text(as_excel) == "78.8"


def test_percentage_cells_are_recorded_for_data_rows_only():
    lines = lead_q1(0.575)
    data = report(lines, {(0, "actual"): "0.0%", (2, "allocated_thb"): "0%", (-1, "actual"): "0%"})
    table = read_report("r.xlsx", data)
    # Row 2 (first line) actual, row 4 (the budget line) allocated; the header row is not a cell of data.
    assert table.percent_cells == {2: frozenset({7}), 4: frozenset({8})}
    assert table.rows[2][1][8] == "100000000"  # 1,000,000 as a percentage shows 100,000,000%


def test_workbooks_without_a_percentage_format_take_the_fast_path(monkeypatch):
    def no_cell_objects(sheet):
        raise AssertionError("cell objects were made for a workbook without a percentage format")

    monkeypatch.setattr(xlsx_reader, "_cell_rows", no_cell_objects)
    data = report(lead_q1(57.5), {(0, "submitted_on"): "dd/mm/yyyy", (2, "allocated_thb"): "#,##0.00"})
    assert actual_text(data) == "57.5"


def test_the_normaliser_allows_a_percentage_cell_only_on_a_percent_kpi_actual():
    lines = lead_q1(0.575) + [[PILOT, "03009", "2548-Q1", "2005-01-20", "kpi", "K9", None, 0.5]]
    lines[1][7] = 0.6  # K2 is a count KPI
    data = report(lines, {(0, "actual"): "0.0%", (1, "actual"): "0%", (2, "disbursed_thb"): "0%",
                          (3, "actual"): "0%"})
    units = {(PILOT, "K1"): "percent", (PILOT, "K2"): "count"}
    table = normalise_table(read_report("r.xlsx", data), units)
    assert [r["actual"] for r in table.rows] == ["57.5", "60", None, "50"]
    assert [(i.code, i.row_number, i.column_name, i.message_en) for i in table.issues] == [
        ("PERCENT_CELL_NOT_ALLOWED", 3, "actual",
         "'60%' in 'actual' is a cell formatted as a percentage: only the actual of a percent KPI may be a percentage."),
        ("PERCENT_CELL_NOT_ALLOWED", 4, "disbursed_thb",
         "'20000000%' in 'disbursed_thb' is a cell formatted as a percentage: only the actual of a percent KPI "
         "may be a percentage."),
        ("PERCENT_CELL_NOT_ALLOWED", 5, "actual",  # K9 is no KPI of the pilot: not a percent KPI either
         "'50%' in 'actual' is a cell formatted as a percentage: only the actual of a percent KPI may be a percentage."),
    ]
    assert table.issues[0].message_th == ("'60%' ในคอลัมน์ 'actual' เป็นช่องที่จัดรูปแบบเป็นร้อยละ "
                                          "ซึ่งใช้ได้เฉพาะผลการดำเนินงานของตัวชี้วัดที่เป็นร้อยละเท่านั้น")


# --- check -----------------------------------------------------------------------------------------

def check_json(tmp_path, registry, files: dict[str, bytes]) -> tuple[int, dict]:
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    result = CliRunner().invoke(main, ["check", *paths, "--registry", str(registry), "--as-of", AS_OF,
                                       "--format", "json"])
    return result.exit_code, {o["file"]: o for o in json.loads(result.output)}


def test_check_reads_a_percentage_cell_as_shown_and_names_one_in_the_wrong_place(tmp_path):
    registry, _ = make_scenario(tmp_path)
    good = report(lead_q1(0.575), {(0, "actual"): "0.0%"})
    bad = report([[PILOT, "15001", "2548-Q1", "2005-02-15", "budget", "ACT-1", 5, None, 0.5, 0.25, "own"]],
                 {(0, "allocated_thb"): "0%"})
    code, outcomes = check_json(tmp_path, registry, {"good.xlsx": good, "bad.xlsx": bad})
    assert code == 6  # one file would be quarantined
    assert outcomes["good.xlsx"] == {"file": "good.xlsx", "sha256": outcomes["good.xlsx"]["sha256"],
                                     "status": "accepted", "issues": []}
    assert outcomes["bad.xlsx"]["status"] == "quarantined"
    assert [(i["code"], i["row"], i["column"], i["message_en"]) for i in outcomes["bad.xlsx"]["issues"]] == [
        ("PERCENT_CELL_NOT_ALLOWED", 2, "allocated_thb",
         "'50%' in 'allocated_thb' is a cell formatted as a percentage: only the actual of a percent KPI may be "
         "a percentage.")]
    # Before the fix check said OK and the night scored 0.575: a value of 57.5 out of range nowhere.
    code, outcomes = check_json(tmp_path, registry, {"over.xlsx": report(lead_q1(1.2), {(0, "actual"): "0%"})})
    assert code == 6
    assert [(i["code"], i["message_en"]) for i in outcomes["over.xlsx"]["issues"]] == [
        ("PERCENT_OUT_OF_RANGE", "Percent value 120 is outside 0-100.")]


# --- the whole run, and a resubmission -------------------------------------------------------------

def test_a_run_scores_the_percentage_as_shown_and_a_retyped_resubmission_is_unchanged(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    # Night 1: the lead typed K1 as 57.5% (stored 0.575); the secondary put an amount in a 0% cell.
    (inbox / "a_lead_q1.xlsx").write_bytes(report(lead_q1(0.575), {(0, "actual"): "0.0%"}))
    (inbox / "b_sec_q1.xlsx").write_bytes(report(
        [[PILOT, "15001", "2548-Q1", "2005-02-15", "budget", "ACT-1", 5, None, 0.5, 0.25, "own"]],
        {(0, "allocated_thb"): "0%"}))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    wh = tmp_path / "wh.duckdb"
    assert query(wh, "SELECT kpi_code, actual FROM core.kpi_actuals ORDER BY kpi_code") == [
        ("K1", D("57.5")), ("K2", D("60"))]
    # scoring.md §1: K1 57.5 -> 4 + (57.5-50)/(60-50) = 4.75; K2 (sum, Q1: thresholds x 1/4 =
    # [25,50,75,100,125]) 60 -> 2 + 10/25 = 2.4; composite (4.75*60 + 2.4*40)/100 = 2.85 + 0.96 = 3.81.
    # Read as stored (0.575) K1 would score 1 and the composite (60 + 96)/100 = 1.56.
    assert query(wh, "SELECT kpi_code, score, status FROM marts.kpi_scores WHERE period = '2548-Q1' "
                     "ORDER BY kpi_code") == [("K1", D("4.7500"), "on_target"), ("K2", D("2.4000"), "at_risk")]
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.8100"),)]
    assert query(wh, "SELECT s.file_name, i.code, i.row_number, i.column_name FROM ingest.issues i "
                     "JOIN ingest.submissions s USING (submission_id)") == [
        ("b_sec_q1.xlsx", "PERCENT_CELL_NOT_ALLOWED", 2, "allocated_thb")]
    assert query(wh, "SELECT count(*) FROM core.budget_lines WHERE agency_code = '15001'") == [(0,)]

    # Night 2: the lead sends the same figures again, K1 now typed 57.5 in a plain cell, signed later.
    (inbox / "c_lead_q1_again.xlsx").write_bytes(report(lead_q1(57.5, submitted="2005-01-25")))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    assert query(wh, "SELECT file_name, status FROM ingest.submissions WHERE agency_code = '03009' "
                     "ORDER BY submission_id") == [("a_lead_q1.xlsx", "superseded"), ("c_lead_q1_again.xlsx", "accepted")]
    assert query(wh, "SELECT i.code FROM ingest.issues i JOIN ingest.submissions s USING (submission_id) "
                     "WHERE s.file_name = 'c_lead_q1_again.xlsx'") == [("RESUBMISSION_UNCHANGED",)]
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.8100"),)]


def test_a_plain_file_then_a_percentage_retyping_is_unchanged_too(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a.xlsx").write_bytes(report(lead_q1(82.5)))
    (inbox / "b.xlsx").write_bytes(report(lead_q1(0.825, submitted="2005-01-25"), {(0, "actual"): "0.0%"}))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    wh = tmp_path / "wh.duckdb"
    assert query(wh, "SELECT s.file_name, s.status, list(i.code) FROM ingest.submissions s "
                     "LEFT JOIN ingest.issues i USING (submission_id) GROUP BY ALL ORDER BY s.file_name") == [
        ("a.xlsx", "superseded", [None]), ("b.xlsx", "accepted", ["RESUBMISSION_UNCHANGED"])]
    # K1 82.5 >= t5 = 60 -> 5; composite (5*60 + 2.4*40)/100 = 3.96.
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.9600"),)]
