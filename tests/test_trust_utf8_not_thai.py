"""A UTF-8 CSV without Thai but with Arabic-Indic digits or Cyrillic is UTF-8, not cp874 (verifier VO).

agency-report-v1.md, Formats: a CSV may be UTF-8 or Windows-874. A CSV whose cp874 Thai happens to
be valid UTF-8 (`สค`, CA A4) is read as cp874 (tests/test_trust_cp874_valid_utf8.py); but the same
rule took a UTF-8 file whose only non-ASCII were Arabic-Indic digits `١٢٣` (D9 A1 D9 A2 D9 A3,
which cp874 reads `ูกูขูฃ`) for cp874, and the defect quoted that garble back to the agency:
`'ูกูขูฃ' in 'actual' is not a number`. Thai never writes a following vowel or mark (ู ะ …)
after a digit, a space or a comma, and such a cp874 reading is now no Thai: the file is UTF-8
(pilots/readers/base.py, _cp874_thai_read_as_utf8). The cp874 `สค` file is still cp874.

The scenario and its registry are tests/test_flow.py's (pilot PLT-2548-003, FY 2548, lead 03009,
K1 percent/higher/last weight 60, thresholds [20..60]; K2 count/higher/sum weight 40, thresholds
[100..500] x q/4), run as of 2005-09-01 so that 15 August 2005 is not in the future.
"""
from __future__ import annotations

from decimal import Decimal

from click.testing import CliRunner

from flows.cli import main
from pilots.readers.base import decode_text
from tests.test_flow import HEADER, make_empty_scenario
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"


def _csv(period: str, day: str, k1: str, k2: str, note: str = "") -> str:
    return "\n".join([HEADER, f"{P},03009,{period},{day},kpi,K1,,{k1},,,,{note}",
                      f"{P},03009,{period},{day},kpi,K2,,{k2},,,,"]) + "\n"


def test_utf8_without_thai_in_other_scripts_is_read_as_utf8(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # Q1: K1 written in Arabic-Indic digits (not a number: ASCII and Thai digits only).
    (inbox / "a_q1_arabic_digits.csv").write_bytes(_csv("2548-Q1", "2005-01-20", "١٢٣", "60").encode("utf-8"))
    # Q2: a note in Cyrillic and Arabic-Indic digits (вода reads ะฒะพะดะฐ in cp874).
    (inbox / "b_q2_note.csv").write_bytes(_csv("2548-Q2", "2005-04-20", "55", "90", "вода ١٢").encode("utf-8"))
    # Q3: cp874 whose only Thai is the month without dots, valid UTF-8 (ʤ): cp874, as before.
    (inbox / "c_q3_cp874.csv").write_bytes(_csv("2548-Q3", "15 สค 2548", "47", "60").encode("cp874"))
    # Q1 again, as it should be.
    (inbox / "d_q1.csv").write_bytes(_csv("2548-Q1", "2005-01-21", "47", "60").encode("utf-8"))
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(wh), "--out", str(tmp_path / "out"), "--as-of", "2005-09-01"])
    assert result.exit_code == 0, result.output
    assert "files seen 4: accepted 3, superseded 0, duplicates 0, quarantined 1" in result.output
    assert query(wh, "SELECT file_name, status, encoding FROM ingest.submissions ORDER BY 1") == [
        ("a_q1_arabic_digits.csv", "quarantined", "utf-8"), ("b_q2_note.csv", "accepted", "utf-8"),
        ("c_q3_cp874.csv", "accepted", "cp874"), ("d_q1.csv", "accepted", "utf-8")]
    # Before: 'ูกูขูฃ' in 'actual' is not a number (the file read as cp874).
    assert issues_of(wh, "a_q1_arabic_digits.csv") == [
        (2, "actual", "NOT_A_NUMBER", "'١٢٣' in 'actual' is not a number.", "'١٢٣' ในคอลัมน์ 'actual' ไม่ใช่ตัวเลข")]
    assert query(wh, "SELECT period, note FROM core.kpi_actuals WHERE kpi_code = 'K1' ORDER BY 1") == [
        ("2548-Q1", None), ("2548-Q2", "вода ١٢"), ("2548-Q3", None)]
    # scoring.md: Q1 K1 47 -> 3.7, K2 60 over [25..125] -> 2.4: 3.18. Q2 K1 55 -> 4.5, K2 60 + 90
    # = 150 over [50..250] -> 3: 3.9. Q3 K1 47 -> 3.7, K2 150 + 60 = 210 over [75, 150, 225, 300,
    # 375] -> 2 + 60/75 = 2.8: (3.7*60 + 2.8*40)/100 = 3.34.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores WHERE period <= '2548-Q3' "
                     "ORDER BY period") == [("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000")), ("2548-Q3", D("3.3400"))]


def test_the_reading_and_its_known_cost():
    # Arabic-Indic digits, Cyrillic, Hebrew, Arabic: their cp874 readings put a following vowel
    # (ู ะ ื ุ) after a space or at the start: UTF-8.
    for text in ("١٢٣", "x ١", "вода", "שלום", "مرحبا"):
        assert decode_text(text.encode("utf-8"), "csv") == (text, "utf-8"), text
    # Thai that the rule keeps: vowels and marks after consonants (สคิก: ส ค, then ิ after ค).
    for thai in ("15 สค 2548", "สคิก"):
        assert decode_text(thai.encode("cp874"), "csv") == (thai, "cp874"), thai
    # The known cost (docs/report-format.md §2): letters of U+0100-U+03FF that read as two Thai
    # consonants (š = C5 A1 = ลก; Greek μ = CE BC = ฮผ) in a UTF-8 file without Thai: cp874.
    assert decode_text("3 μm".encode("utf-8"), "csv") == ("3 ฮผm", "cp874")
