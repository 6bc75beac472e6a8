"""A CSV quote opened and never closed, through two nights (verifier VO).

agency-report-v1.md: a submission is accepted whole or not at all, "so that a pilot's figures never
mix a half-read report with an old one"; anything that is not the format is a defect of the file.
A note written `"checked by phone` (the quote never closed) runs every later line of the file into
that one cell: the csv module ends such a cell at the end of the file without a word. The night
accepted the report with its budget line read as part of K2's note: core.budget_lines had no line,
and the pilot's 2548-Q1 budget total was 0.00 instead of 1,000,000.00, with no defect or warning.
(A cell over the csv module's field limit was CELL_TOO_LONG already; a short one was not.) Now the
file is FILE_UNREADABLE on the row where the quote opens, counted as quarantined for the
(pilot, agency, period) of its first data row (scoring.md §6), and the corrected file is read whole.

The scenario and its registry are tests/test_flow.py's; tests/hostile.py's clean night scores it
(Q1 K1 47, K2 60 -> 3.18; Q2 K1 55, K2 60 + 90 -> 3.90).
"""
from __future__ import annotations

from decimal import Decimal

from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

P = "PLT-2548-003"


def _q1(note: str) -> bytes:
    return ("\n".join([HEADER, f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
                       f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,{note}",
                       f"{P},03009,2548-Q1,2005-01-20,budget,ACT-1,5,,1000000,200000,own,"]) + "\n").encode("utf-8")


def test_a_quote_never_closed_quarantines_the_file_instead_of_swallowing_its_lines(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    (inbox / "a_q1.csv").write_bytes(_q1('"checked by phone'))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: "accepted 1, … quarantined 0", K2's note holding the budget line, no budget line.
    assert "files seen 1: accepted 0, superseded 0, duplicates 0, quarantined 1" in out, out
    assert issues_of(wh, "a_q1.csv") == [(3, None, "FILE_UNREADABLE",
                                          'The file cannot be read: the quote (") opened in row 3 is never closed. '
                                          "Export it again from the source system and resend it.",
                                          'ไม่สามารถอ่านไฟล์ได้: เครื่องหมายอัญประกาศ (") ที่เปิดในแถวที่ 3 ไม่ได้ปิด '
                                          "กรุณาส่งออกไฟล์จากระบบต้นทางใหม่แล้วส่งอีกครั้ง")]
    assert query(wh, "SELECT count(*) FROM core.kpi_actuals") == [(0,)]
    assert query(wh, "SELECT count(*) FROM core.budget_lines") == [(0,)]
    # Counted where its first data row says (scoring.md §6): the lead's 2548-Q1, not submitted.
    assert query(wh, "SELECT submitted, versions, quarantined FROM marts.reporting_compliance "
                     "WHERE agency_code = '03009' AND period = '2548-Q1'") == [(False, 0, 1)]
    assert query(wh, "SELECT period, composite_score, status FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", None, "no_data"), ("2548-Q2", None, "no_data")]

    # Night 2: the quote closed; the report is read whole, its budget line a line, the note a note.
    clean_night(registry, inbox, tmp_path, {"b_q1.csv": _q1('"checked by phone"'), "c_q2.csv": (
        "\n".join([HEADER, f"{P},03009,2548-Q2,2005-04-20,kpi,K1,,55,,,,",
                   f"{P},03009,2548-Q2,2005-04-20,kpi,K2,,90,,,,"]) + "\n").encode("utf-8")})
    assert query(wh, "SELECT activity_code, allocated_thb, disbursed_thb FROM core.budget_lines") == [
        ("ACT-1", Decimal("1000000.00"), Decimal("200000.00"))]
    assert query(wh, "SELECT kpi_code, note FROM core.kpi_actuals WHERE period = '2548-Q1' ORDER BY 1") == [
        ("K1", None), ("K2", "checked by phone")]
    # scoring.md §3 by hand: the lead's one line, 1,000,000.00 allocated, all integrated (the lead's).
    assert query(wh, "SELECT total_allocated_thb, integrated_thb, integration_ratio FROM marts.budget_integration "
                     "WHERE period = '2548-Q1'") == [(Decimal("1000000.00"), Decimal("1000000.00"), Decimal("1.0000"))]


def test_a_quote_never_closed_after_text_that_follows_a_closing_quote(tmp_path, prefect_harness):
    # Reviewer RV13: `"own" ,` (a space after the closing quote: the lenient reader keeps it in the
    # cell) before the open quote. A strict re-read of the row stopped at that space first, so the
    # open quote after it was missed and the budget line was swallowed into K2's note again.
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    lines = _q1('"checked by phone').decode("utf-8").replace(',,,,"checked', ',,,"own" ,"checked')
    (inbox / "a_q1.csv").write_bytes(lines.replace("\n", "\r\n").encode("utf-8"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 0, superseded 0, duplicates 0, quarantined 1" in out, out
    assert [issue[:3] for issue in issues_of(wh, "a_q1.csv")] == [(3, None, "FILE_UNREADABLE")]
    assert query(wh, "SELECT count(*) FROM core.kpi_actuals") == [(0,)]
