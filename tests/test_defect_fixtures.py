"""One small fixture file per defect code (tests/data/defects/<CODE>.*), run through the same
path as the nightly run (`check_files`): each yields its code, and CLEAN.csv yields nothing."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pilots.defects import catalogue
from pilots.ingest import check_files
from pilots.registry import load_registry

DATA = Path(__file__).parent / "data"
AS_OF = date(2006, 8, 15)
FIXTURES = sorted(p for p in (DATA / "defects").iterdir() if p.stem != "CLEAN")
# Codes shown by tests that build their input in code: a 20 MB file or an xlsx bomb
# (test_xlsx), a formula workbook (test_xlsx), a resubmission (test_ingest), and a file for a closed
# quarter (test_closed_quarters).
BUILT_IN_CODE = {"FILE_TOO_LARGE", "FORMULA_WITHOUT_VALUE", "RESUBMISSION_UNCHANGED", "QUARTER_CLOSED",
                 "FILE_NOT_REGULAR",  # an inbox link, FIFO or device: tests/test_inbox_links.py
                 "FILE_ACCESS_DENIED",  # an inbox file the night may not open: tests/test_inbox_faults.py
                 "FILE_NAME_ENCODING_INVALID",  # a name in Windows-874 bytes, made at run time: tests/test_file_names.py
                 "CELL_TOO_LONG"}  # a CSV cell of 131,073 characters: tests/test_trust_csv_long_cell.py


@pytest.fixture(scope="module")
def registry():
    return load_registry(DATA / "registry" / "valid")


def test_clean_file_has_no_issue(registry):
    [outcome] = check_files([DATA / "defects" / "CLEAN.csv"], registry, AS_OF)
    assert (outcome.status, outcome.issues) == ("accepted", [])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_yields_its_code(registry, path):
    [outcome] = check_files([path], registry, AS_OF)
    code = path.stem
    assert code in {i.code for i in outcome.issues}, [i.code for i in outcome.issues]
    expected_status = "quarantined" if catalogue()[code].severity == "error" else "accepted"
    assert outcome.status == expected_status
    for issue in outcome.issues:
        assert issue.message_en and issue.message_th


def test_every_code_has_a_fixture():
    assert set(catalogue()) - {p.stem for p in FIXTURES} == BUILT_IN_CODE


def test_id_numbers_echoed_in_messages_are_masked(registry, tmp_path):
    path = tmp_path / "id_as_actual.csv"
    path.write_text("pilot_id,agency_code,period,submitted_on,line_type,item_code,actual\n"
                    "PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,K1,x1101700203930\n", encoding="utf-8")
    [outcome] = check_files([path], registry, AS_OF)
    [issue] = outcome.issues
    assert issue.code == "NOT_A_NUMBER"
    assert "1101700203930" not in issue.message_en + issue.message_th
    assert "[masked-id]" in issue.message_en


def test_check_command_text_and_json(tmp_path):
    import json

    from click.testing import CliRunner

    from flows.cli import main

    args = ["check", str(DATA / "defects" / "CLEAN.csv"), str(DATA / "defects" / "PERCENT_OUT_OF_RANGE.csv"),
            "--registry", str(DATA / "registry" / "valid"), "--as-of", "2006-08-15"]
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 6  # EXIT_QUARANTINED
    assert "CLEAN.csv: OK\n" in text.output  # an English-header file: its verdict in English (flows/cli_check.py)
    assert "PERCENT_OUT_OF_RANGE (row 2, column actual)" in text.output and "ค่าร้อยละ 120" in text.output
    js = CliRunner().invoke(main, [*args, "--format", "json"])
    assert js.exit_code == 6
    report = json.loads(js.output)
    assert [(r["file"], r["status"]) for r in report] == [("CLEAN.csv", "accepted"),
                                                          ("PERCENT_OUT_OF_RANGE.csv", "quarantined")]
    assert report[1]["issues"][0]["row"] == 2 and report[1]["issues"][0]["code"] == "PERCENT_OUT_OF_RANGE"
    ok = CliRunner().invoke(main, [*args[:2], *args[3:], "--format", "json"])
    assert ok.exit_code == 0
