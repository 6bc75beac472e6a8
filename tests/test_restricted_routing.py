"""Which store a file goes to when its pilot id is a restricted pilot's in another case (verifier VI
F6; warehouse.md, "Restricted pilots"; the reading in pilots/ingest.py `_restricted_file`).

tests/test_restricted_store.py's scenario (files a..g of the open PLT-2548-003 and of no pilot, r1..r5
of the restricted PLT-2548-099), plus one file of the restricted pilot's lead whose pilot id is
written ` plt-2548-099` (lower case, a leading space) with a recognisable actual. Registry ids are
compared exactly, so the file is quarantined PILOT_UNKNOWN (agency-report-v1.md: unknown pilot), as
before; but read trimmed and in upper case it names the restricted pilot, so it is quarantined in
the restricted store: its row, its defect and its bytes are there, and nothing of it (name, value,
bytes) is on the open side. File g, whose pilot cannot be read, stays open (warehouse.md).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_flow import _csv
from tests.test_restricted_store import SECRET, make_restricted_scenario, rows, run
from warehouse import evidence
from warehouse.paths import files_of

LOWER = "lc-secret-file-Q8V2.csv"
LOWER_ACTUAL = "31415.9265"
LOWER_BYTES = _csv(f" {SECRET.lower()},20004,2548-Q1,2005-01-22,kpi,S9,,{LOWER_ACTUAL},,,,")


@pytest.fixture(scope="module")
def night(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("routing")
    registry, inbox = make_restricted_scenario(root)
    (inbox / LOWER).write_bytes(LOWER_BYTES)
    code, output = run(root, registry, inbox)
    assert code == 0, output
    return root, output


def test_a_lower_case_restricted_pilot_id_is_quarantined_in_the_restricted_store(night):
    root, output = night
    wh = files_of(root / "wh.duckdb")
    # test_restricted_store's count (accepted 5, superseded 2, duplicates 2, quarantined f, g, r3)
    # plus this file, quarantined: 13 seen, 4 quarantined.
    assert "files seen 13: accepted 5, superseded 2, duplicates 2, quarantined 4" in output
    assert rows(wh.restricted, "SELECT s.status, s.raw_pilot_id, i.code FROM ingest.submissions s "
                               "JOIN ingest.issues i USING (submission_id) WHERE s.file_name = ? AND i.severity = 'error'",
                [LOWER]) == [("quarantined", f" {SECRET.lower()}", "PILOT_UNKNOWN")]
    sha = evidence.sha256_of(LOWER_BYTES)
    assert evidence.evidence_path(wh.restricted.with_name("wh.restricted.evidence"), sha).read_bytes() == LOWER_BYTES
    assert not evidence.evidence_path(wh.evidence, sha).exists()
    for path in (wh.warehouse, wh.published):
        assert rows(path, "SELECT count(*) FROM ingest.submissions WHERE file_name = ? OR sha256 = ?",
                    [LOWER, sha])[0][0] == 0
        assert rows(path, "SELECT count(*) FROM ingest.submissions WHERE raw_pilot_id ILIKE ?",
                    [f"%{SECRET}%"])[0][0] == 0
    # File g, whose pilot cannot be read, is open as before.
    assert rows(wh.warehouse, "SELECT status FROM ingest.submissions WHERE file_name = 'g_no_pilot.csv'") == [
        ("quarantined",)]


def test_nothing_of_it_is_in_the_open_outputs(night):
    root, _ = night
    wh = files_of(root / "wh.duckdb")
    open_files = [wh.warehouse, wh.published, *(p for p in (root / "out").rglob("*") if p.is_file()),
                  *(p for p in wh.evidence.rglob("*") if p.is_file())]
    assert any(p.name.startswith("validation") for p in open_files)  # the open validation report is there
    for path in open_files:
        data = path.read_bytes()
        for needle in (LOWER.encode(), Path(LOWER).stem.encode(), LOWER_ACTUAL.encode()):
            assert needle not in data, f"{needle!r} in {path}"
