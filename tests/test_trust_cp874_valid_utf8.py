"""A Windows-874 CSV whose Thai bytes happen to be valid UTF-8 (verifier VH, F1).

agency-report-v1.md, Formats: a CSV may be UTF-8 or Windows-874; Dates: Thai month abbreviations
with or without dots. `15 สค 2548` in cp874 is 31 35 20 CA A4 20 32 35 34 38, and CA A4 is valid
UTF-8 (U+02A4 `ʤ`): the file was read as UTF-8, its date `15 ʤ 2548` was DATE_INVALID on every
row, and the report was quarantined. Now a CSV whose UTF-8 reading holds no Thai but some
non-ASCII of U+0100-U+07FF (not the Latin-1 supplement alone: ° µ é stay UTF-8), and whose cp874
reading is ASCII and Thai only, is cp874 (pilots/readers/base.py, _cp874_thai_read_as_utf8). A UTF-8 CSV with Thai is still UTF-8; JSON is UTF-8 whatever it holds.

The scenario and its registry are tests/test_flow.py's (pilot PLT-2548-003, FY 2548, lead 03009,
K1 percent, K2 count), run as of 2005-09-01 so that 15 August 2005 is not in the future.
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import HEADER, make_empty_scenario
from tests.test_hostile_sizes import query

P = "PLT-2548-003"


def _csv(period: str, day: str, note: str = "") -> str:
    return "\n".join([HEADER, f"{P},03009,{period},{day},kpi,K1,,47,,,,{note}",
                      f"{P},03009,{period},{day},kpi,K2,,60,,,,"]) + "\n"


def test_a_cp874_thai_month_that_is_valid_utf8_is_read_as_cp874(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # Q3 (April-June 2005): cp874, its only Thai the month without dots (ส.ค. = August, BE 2548 = 2005).
    (inbox / "a_q3_cp874.csv").write_bytes(_csv("2548-Q3", "15 สค 2548").encode("cp874"))
    assert (inbox / "a_q3_cp874.csv").read_bytes().decode("utf-8").count("\u02a4") == 2  # the trap
    # Q2: UTF-8 with Thai (a note and the dotted month): UTF-8 as before.
    (inbox / "b_q2_utf8.csv").write_bytes(_csv("2548-Q2", "15 ส.ค. 2548", "ส่งตรงเวลา").encode("utf-8"))
    # Q1: a JSON whose note is U+02A4 in UTF-8 (CA A4, สค in cp874): JSON is UTF-8, the note is kept.
    (inbox / "c_q1.json").write_text(json.dumps({
        "pilot_id": P, "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",
        "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 47, "note": "\u02a4"},
                  {"line_type": "kpi", "item_code": "K2", "actual": 60}]}, ensure_ascii=False), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(wh), "--out", str(tmp_path / "out"), "--as-of", "2005-09-01"])
    assert result.exit_code == 0, result.output
    assert "files seen 3: accepted 3, superseded 0, duplicates 0, quarantined 0" in result.output
    assert query(wh, "SELECT file_name, status, encoding, submitted_on FROM ingest.submissions ORDER BY 1") == [
        ("a_q3_cp874.csv", "accepted", "cp874", date(2005, 8, 15)),
        ("b_q2_utf8.csv", "accepted", "utf-8", date(2005, 8, 15)),
        ("c_q1.json", "accepted", "utf-8", date(2005, 1, 20))]
    assert query(wh, "SELECT period, kpi_code, actual, note FROM core.kpi_actuals WHERE kpi_code = 'K1' ORDER BY 1") == [
        ("2548-Q1", "K1", Decimal("47"), "\u02a4"), ("2548-Q2", "K1", Decimal("47"), "ส่งตรงเวลา"),
        ("2548-Q3", "K1", Decimal("47"), None)]


def test_the_reading_and_its_known_cost():
    from pilots.readers.base import decode_text

    assert decode_text("15 สค 2548".encode("cp874"), "csv") == ("15 สค 2548", "cp874")
    assert decode_text("15 สค 2548".encode("cp874"), "json") == ("15 \u02a4 2548", "utf-8")
    # A Thai character anywhere in the UTF-8 reading keeps the file UTF-8.
    assert decode_text("\u02a4 ก".encode("utf-8"), "csv") == ("\u02a4 ก", "utf-8")
    # A cp874 reading with a character that is not Thai (C3 A9 C2 A0: ร ฉ ย NBSP) keeps it UTF-8.
    assert decode_text("é\u00a0".encode("utf-8"), "csv")[1] == "utf-8"
    # Reviewer RV9 item 10: the Latin-1 supplement alone (C2 or C3 and a byte cp874 reads as Thai:
    # ° = ยฐ, ± = ยฑ, ² = ยฒ, µ = ยต, é = รฉ) keeps a CSV UTF-8; it was read as cp874.
    for text in ("café", "25 °C ± 0.5", "m²", "3 µm"):
        assert decode_text(text.encode("utf-8"), "csv") == (text, "utf-8"), text
    # One character of U+0100-U+07FF with them (ʤ = สค) makes it cp874, as before: ยฐ สค.
    assert decode_text("°ʤ".encode("utf-8"), "csv") == ("ยฐสค", "cp874")
    # The known cost (docs/report-format.md §2): a cp874 CSV whose only Thai is a pair led by ร
    # or ย (รถ = C3 B6, UTF-8 ö) is read as UTF-8.
    assert decode_text("รถ".encode("cp874"), "csv") == ("ö", "utf-8")


def test_a_utf8_csv_whose_only_non_ascii_are_degree_and_micro_signs_is_utf8(tmp_path, prefect_harness):
    """Reviewer RV9 item 10: a UTF-8 CSV without Thai whose note holds ° and µ (C2 B0, C2 B5,
    which cp874 reads as ยฐ and ยต) was read as cp874: its note stored as "ยฐ" and "ยต"."""
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    (inbox / "a_q1_units.csv").write_bytes(_csv("2548-Q1", "2005-01-20", "25 °C / 3 µm").encode("utf-8"))
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(wh), "--out", str(tmp_path / "out"), "--as-of", "2005-09-01"])
    assert result.exit_code == 0, result.output
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in result.output
    assert query(wh, "SELECT file_name, status, encoding FROM ingest.submissions") == [
        ("a_q1_units.csv", "accepted", "utf-8")]
    assert query(wh, "SELECT kpi_code, note FROM core.kpi_actuals ORDER BY 1") == [("K1", "25 °C / 3 µm"), ("K2", None)]
