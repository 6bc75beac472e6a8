"""A cell of thousands of digits is a defect of its file, never the end of the night.

`parse_layer` called int() on a layer cell's digits, and Python refuses more than 4,300 digits: a
layer of 5,000 digits (CSV, a JSON number or string, an XLSX text cell) raised ValueError, the
night failed, and every later night too, with an error naming no file, row or column (found by a
verifier, 2026-12-07). A layer is 1-5 (agency-report-v1.md): such a cell is LAYER_INVALID on its
row. Digits other than ASCII and Thai (Arabic-Indic `٣`, fullwidth `３`) were read as 3; every other
number takes ASCII and Thai digits only, so these are LAYER_INVALID too, and a date or period
written in them is DATE_INVALID / PERIOD_INVALID.

The registry is tests/test_flow.py's: lead 03009, secondary 15001 (layer 5 pilot).
"""
from __future__ import annotations

import io
import json

import openpyxl

from tests.test_flow import HEADER, _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

P = "PLT-2548-003"
LONG = "7" * 5000


def budget_csv(layer: str, submitted_on: str = "2005-04-20", period: str = "2548-Q2") -> bytes:
    return _csv(f"{P},15001,{period},{submitted_on},budget,ACT-1,{layer},,100,90,own,")


def test_a_layer_of_thousands_of_digits_is_layer_invalid_and_the_night_goes_on(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_long.csv").write_bytes(budget_csv(LONG))
    (inbox / "b_long.json").write_bytes(
        ('{"pilot_id": "%s", "agency_code": "15001", "period": "2548-Q2", "submitted_on": "2005-04-20", '
         '"lines": [{"line_type": "budget", "item_code": "ACT-1", "layer": %s, "allocated_thb": 100, '
         '"disbursed_thb": 90, "funding_source": "own"}]}' % (P, LONG)).encode())
    book = openpyxl.Workbook()
    book.active.append(HEADER.split(","))
    book.active.append([P, "15001", "2548-Q2", "2005-04-20", "budget", "ACT-1", "0" * 4999 + "5" + "0", None, 100, 90, "own"])
    xlsx = io.BytesIO()
    book.save(xlsx)
    (inbox / "c_long.xlsx").write_bytes(xlsx.getvalue())
    (inbox / "d_arabic.csv").write_bytes(budget_csv("٣"))
    (inbox / "e_fullwidth.csv").write_bytes(budget_csv("３"))
    (inbox / "f_arabic_date.csv").write_bytes(budget_csv("5", submitted_on="٢٠٠٥-٠٤-٢٠"))
    (inbox / "g_good.csv").write_bytes(budget_csv("๐๕"))  # Thai digits, a leading zero: layer 5
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 7: accepted 1, superseded 0, duplicates 0, quarantined 6" in out, out
    wh = tmp_path / "wh.duckdb"
    # Each on its row (a JSON line is numbered by its place in "lines", from 1) and column.
    assert query(wh, "SELECT s.file_name, i.row_number, i.column_name, i.code FROM ingest.submissions s "
                     "JOIN ingest.issues i USING (submission_id) WHERE i.severity = 'error' ORDER BY 1") == [
        ("a_long.csv", 2, "layer", "LAYER_INVALID"), ("b_long.json", 1, "layer", "LAYER_INVALID"),
        ("c_long.xlsx", 2, "layer", "LAYER_INVALID"), ("d_arabic.csv", 2, "layer", "LAYER_INVALID"),
        ("e_fullwidth.csv", 2, "layer", "LAYER_INVALID"), ("f_arabic_date.csv", 2, "submitted_on", "DATE_INVALID")]
    assert query(wh, "SELECT s.file_name, b.layer, b.allocated_thb FROM core.budget_lines b "
                     "JOIN ingest.submissions s USING (submission_id)") == [("g_good.csv", 5, 100)]
    # The next night is a night like any other.
    (inbox / "h_next.csv").write_bytes(budget_csv("5", submitted_on="2005-04-25"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
