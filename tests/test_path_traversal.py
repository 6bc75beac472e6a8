"""Codes and names that reach file paths never climb out of their folder (issue 14 item 5):
inbox file names moved into processed/ and quarantine/, agency codes in OUT/reminders/ file
names, pilot ids (<pilot_id>.yaml). tests/test_flow.py's scenario, plus hostile names and codes.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.test_flow import HEADER, make_scenario, run_cli
from warehouse.paths import component

P = "PLT-2548-003"
# Valid reports (the secondary's Q2 budget line) under names that look like paths. (A name
# starting with "." is a hidden file, which waits in the inbox unread: these start otherwise.)
SLASHED = "%2E%2E%2F..%2F..%2Fevil.csv"
BACKSLASHED = "z\\..\\..\\evil2.csv"


def report(agency: str, activity: str) -> bytes:
    return f"{HEADER}\n{P},{agency},2548-Q2,2005-04-20,budget,{activity},4,,70000,7000,own,\n".encode()


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "..\\x", "a\\b", "a\0b", "..", ".", ""])
def test_component_refuses_a_path(name):
    with pytest.raises(ValueError):
        component(name)


def test_component_passes_a_plain_name():
    assert component("03009") == "03009" and component("..%2F..%2Fx") == "..%2F..%2Fx"


def every_file(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="module")
def traversal_run(tmp_path_factory, prefect_harness):
    top = tmp_path_factory.mktemp("traversal")
    root = top / "a" / "b"  # ../../ from inbox/processed/ would be top/a
    root.mkdir(parents=True)
    registry, inbox = make_scenario(root)
    (inbox / SLASHED).write_bytes(report("15001", "ACT-7"))
    (inbox / BACKSLASHED).write_bytes(report("15001", "ACT-8"))  # received later: it replaces ACT-7
    (inbox / "g_agency.csv").write_bytes(report("../../etc", "ACT-9"))
    code, output = run_cli(registry, inbox, root)
    return top, root, inbox, code, output


def test_the_run_files_hostile_names_inside_the_inbox(traversal_run):
    top, root, inbox, code, output = traversal_run
    assert code == 0, output
    # test_flow's 6 files, plus: %2E%2E%2F.. accepted then replaced by z\\.. (same pilot, agency
    # and period, same date, received later: code-point order puts '%' (0x25) before 'z'), and
    # g_agency.csv quarantined.
    assert "files seen 9: accepted 4, superseded 2, duplicates 1, quarantined 2" in output
    assert (inbox / "processed" / SLASHED).read_bytes() == report("15001", "ACT-7")
    assert (inbox / "processed" / BACKSLASHED).read_bytes() == report("15001", "ACT-8")
    assert (inbox / "quarantine" / "g_agency.csv").exists()
    # Nothing was written beside root, nor anywhere an evil name would lead.
    assert sorted(p.name for p in (top / "a").iterdir()) == ["b"]
    assert [p for p in top.rglob("evil*") if p.parent.name != "processed"] == []


def test_an_agency_code_with_dots_is_quarantined_and_names_no_file(traversal_run):
    top, root, _, _, _ = traversal_run
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    try:
        row = con.execute("SELECT status, agency_code, raw_agency_code FROM ingest.submissions "
                          "WHERE file_name = 'g_agency.csv'").fetchone()
        codes = {c for (c,) in con.execute("SELECT code FROM ingest.issues i JOIN ingest.submissions s "
                                           "USING (submission_id) WHERE s.file_name = 'g_agency.csv'").fetchall()}
    finally:
        con.close()
    assert row == ("quarantined", None, "../../etc") and "AGENCY_CODE_INVALID" in codes
    # The letters are named by registry agency codes only (5 digits).
    letters = sorted(p.name for p in (root / "out" / "reminders").iterdir())
    assert all(name in ("reminders.csv", "register.csv") or name[:5].isdigit() and name[5] == "." for name in letters), letters
    assert not (top / "etc").exists() and not (root / "etc").exists()


def test_a_registry_agency_code_with_dots_stops_the_run(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    agencies = registry / "agencies.yaml"
    agencies.write_text(agencies.read_text(encoding="utf-8").replace('"20004"', '"../../etc"'), encoding="utf-8")
    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 4, output  # the registry is broken: nothing written
    assert "agency code must be a quoted 5-digit string" in output and "'../../etc'" in output
    assert not (tmp_path / "wh.duckdb").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("pilot_id", ["..", "..\\..\\x"])
def test_a_pilot_id_that_is_a_path_stops_the_run(tmp_path, prefect_harness, pilot_id):
    registry, inbox = make_scenario(tmp_path)
    pilot = registry / "pilots" / "PLT-2548-003.yaml"
    text = pilot.read_text(encoding="utf-8").replace("pilot_id: PLT-2548-003", f"pilot_id: '{pilot_id}'")
    pilot.unlink()
    (registry / "pilots" / f"{pilot_id}.yaml").write_text(text, encoding="utf-8")  # "...yaml", "..\..\x.yaml"
    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 4, output
    assert "pilot_id must not be . or .. nor hold /, \\ or control characters" in output
    assert not (tmp_path / "wh.duckdb").exists()
