"""A restricted pilot's file that the readers refuse whole stays on the restricted side (verifier VO).

warehouse.md: a restricted pilot's original files never appear on the open side; "a file whose
pilot cannot be read is treated as open". A file refused whole (UTF-16 without its mark, a
Windows-874 file with a byte that code page leaves undefined, a workbook whose rows are out of
order) yields no identity, so the night put it on the open side: its row in the open
ingest.submissions and its bytes in the open evidence store, where the web's drill-down serves an
analyst "the original file", every line of which names the restricted pilot and its figures in
plain text. The reading kept (pilots/unread_pilot.py): such a file whose bytes hold a restricted
pilot's id as text goes to the restricted store; its pilot stays unread (quarantined as before,
counted for no pilot). A file naming no restricted pilot stays open.

tests/test_restricted_store.py's registry: the open PLT-2548-003 of tests/test_flow.py and the
restricted PLT-2548-099 (lead 20004), as of 2005-05-15.
"""
from __future__ import annotations

import io
import zipfile

import openpyxl

from tests.support import rows
from tests.test_flow import _csv, make_empty_scenario
from tests.test_restricted_store import RESTRICTED_PILOT, SECRET, run
from warehouse import evidence
from warehouse.paths import files_of
from warehouse.restricted import files_for

ACTUAL = "31415.9265"  # the restricted lead's figure, in every restricted file below
LEAD = _csv(f"{SECRET},20004,2548-Q1,2005-01-22,kpi,S9,,{ACTUAL},,,,")


def _rows_out_of_order() -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for line in LEAD.decode().strip().split("\n") + [LEAD.decode().strip().split("\n")[1]]:
        sheet.append(line.split(","))
    plain = io.BytesIO()
    book.save(plain)
    out = io.BytesIO()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for item in src.infolist():
            body = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = body.replace(b'<row r="2"', b'<row r="9"', 1)  # rows 1, 9, 3: out of order
            z.writestr(item, body)
    return out.getvalue()


RESTRICTED = {
    "r1-utf16.csv": LEAD.decode().encode("utf-16-le"),  # no byte order mark
    "r2-cp874-stray.csv": LEAD.replace(b",,,,\n", b",,,,\xa1\xfc\n", 1),  # 0xFC: undefined in Windows-874
    "r3-lower-nul.csv": LEAD.replace(SECRET.encode(), SECRET.lower().encode()).replace(b",,,,\n", b",,,,x\x00\n", 1),
}
OPEN = {
    "o1-utf16.csv": _csv("PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,").decode().encode("utf-16-le"),
    "o2-junk.csv": b"\x00\x01\x02 no pilot here \xff",
}


def test_an_unreadable_file_that_names_a_restricted_pilot_is_quarantined_in_the_restricted_store(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (registry / "pilots" / f"{SECRET}.yaml").write_text(RESTRICTED_PILOT, encoding="utf-8")
    files = {**RESTRICTED, "r4-rows.xlsx": _rows_out_of_order(), **OPEN}
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    code, out = run(tmp_path, registry, inbox)
    assert code == 0, out
    assert "files seen 6: accepted 0, superseded 0, duplicates 0, quarantined 6" in out, out
    wh = tmp_path / "wh.duckdb"
    rs = files_of(wh).restricted
    query = "SELECT file_name, pilot_id, status, (SELECT list(code) FROM ingest.issues i WHERE i.submission_id = s.submission_id) FROM ingest.submissions s ORDER BY 1"
    # Before: all six on the open side.
    assert rows(rs, query) == [
        ("r1-utf16.csv", None, "quarantined", ["FILE_ENCODING_UNKNOWN"]),
        ("r2-cp874-stray.csv", None, "quarantined", ["FILE_ENCODING_UNKNOWN"]),
        ("r3-lower-nul.csv", None, "quarantined", ["FILE_UNREADABLE"]),
        ("r4-rows.xlsx", None, "quarantined", ["FILE_UNREADABLE"])]
    assert rows(wh, query) == [("o1-utf16.csv", None, "quarantined", ["FILE_ENCODING_UNKNOWN"]),
                               ("o2-junk.csv", None, "quarantined", ["FILE_UNREADABLE"])]
    open_store, restricted_store = files_of(wh).evidence, files_for(wh).evidence
    for name in (*RESTRICTED, "r4-rows.xlsx"):
        digest = evidence.sha256_of((inbox / "quarantine" / name).read_bytes())
        assert evidence.evidence_path(restricted_store, digest).exists(), name
        assert not evidence.evidence_path(open_store, digest).exists(), name
    for name in OPEN:
        assert evidence.evidence_path(open_store, evidence.sha256_of((inbox / "quarantine" / name).read_bytes())).exists(), name
    # Counted for no pilot (its pilot is unread): no compliance row says quarantined.
    assert rows(wh, "SELECT count(*) FROM marts.reporting_compliance WHERE quarantined > 0") == [(0,)]
    summary = (tmp_path / "out" / "summary.en.md").read_text(encoding="utf-8")
    assert not any(name.split(".")[0] in summary for name in (*RESTRICTED, "r4-rows.xlsx"))

    # The next job leaves them where they are.
    code, out = run(tmp_path, registry, inbox)
    assert code == 0 and "moved pilot" not in out, out
    assert [r[0] for r in rows(rs, query)] == ["r1-utf16.csv", "r2-cp874-stray.csv", "r3-lower-nul.csv", "r4-rows.xlsx"]
    assert [r[0] for r in rows(wh, query)] == ["o1-utf16.csv", "o2-junk.csv"]
