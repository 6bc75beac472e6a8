"""A file name that is not UTF-8 (issue 24 item 3): a Thai name in Windows-874 bytes, as Thai
Windows tools write it. Before, the run died on "surrogate '\\udcc3'" naming no file, and left the
file in the inbox so every later night died too; `check` said OK.

Now the file is quarantined with FILE_NAME_ENCODING_INVALID, named by its text name (undecodable bytes as
\\xNN), while the rest of the inbox goes on; it moves to quarantine/ under its own bytes and the
next night is normal. Its content is still read (every defect at once), so `reprocess` can accept
it. The scenario and its hand-computed figures are tests/test_flow.py's.
"""
from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from flows.cli import main
from pilots.inbox import name_as_text, name_issues
from tests.test_flow import AS_OF, HEADER, make_scenario, run_cli
from tests.test_hostile_sizes import query
from warehouse.evidence import evidence_path, sha256_of

D = Decimal
PILOT = "PLT-2548-003"
THAI_NAME = "รายงาน_ไตรมาส1.csv"
CP874_NAME = THAI_NAME.encode("cp874")
# Each cp874 byte that is not part of a valid UTF-8 sequence becomes \xNN; C2 A7 and D2 B9 happen
# to be UTF-8 for § and ҹ, so they stay as those characters.
AS_TEXT = "\\xc3\\xd2§ҹ_\\xe4\\xb5\\xc3\\xc1\\xd2\\xca1.csv"
# The lead's Q1 report again, K1 48 instead of 47, signed later: accepted, it would change Q1.
CONTENT = "\n".join([HEADER,
                     f"{PILOT},03009,2548-Q1,2005-01-25,kpi,K1,,48,,,,",
                     f"{PILOT},03009,2548-Q1,2005-01-25,kpi,K2,,60,,,,",
                     f"{PILOT},03009,2548-Q1,2005-01-25,budget,ACT-1,5,,1000000,200000,own,"]).encode() + b"\n"


def put(folder: Path, name: bytes, data: bytes) -> None:
    """Write a file under a name given as bytes, as a Thai Windows tool leaves it."""
    with open(os.path.join(os.fsencode(folder), name), "wb") as f:
        f.write(data)


def test_the_name_as_text_and_its_defect():
    name = os.fsdecode(CP874_NAME)
    assert name_as_text(name) == AS_TEXT
    assert name_as_text(THAI_NAME) == THAI_NAME and name_issues(THAI_NAME) == []
    [issue] = name_issues(name)
    assert (issue.code, issue.severity) == ("FILE_NAME_ENCODING_INVALID", "error")
    assert issue.message_en == (f"The file name '{AS_TEXT}' is not UTF-8 text (bytes shown as \\xNN; in "
                                f"Windows-874 it reads '{THAI_NAME}'). Rename the file with a UTF-8 name and send it again.")
    assert f"หากอ่านแบบ Windows-874 จะได้ชื่อ '{THAI_NAME}'" in issue.message_th
    # Bytes that are not Thai in Windows-874 either: no reading is offered.
    [issue] = name_issues(os.fsdecode(b"report\xff\xfe.csv"))
    assert issue.message_en == ("The file name 'report\\xff\\xfe.csv' is not UTF-8 text (bytes shown as \\xNN; it "
                                "does not read as Thai in Windows-874 either). Rename the file with a UTF-8 name and "
                                "send it again.")
    # A national ID in such a name is masked like in any name shown.
    [issue] = name_issues(os.fsdecode(b"\xc3 1101700203930.csv"))
    assert "1101700203930" not in issue.message_en and "[masked-id]" in issue.message_en


def test_a_cp874_name_is_quarantined_the_rest_goes_on_and_the_next_night_is_clean(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    put(inbox, CP874_NAME, CONTENT)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # test_flow.py's six files as always (3 accepted, 1 superseded, 1 duplicate, f_bad quarantined), and this one.
    assert "files seen 7: accepted 3, superseded 1, duplicates 1, quarantined 2" in out
    wh = tmp_path / "wh.duckdb"
    digest = sha256_of(CONTENT)
    [(sid, file_name, status, pilot, agency, period)] = query(
        wh, "SELECT submission_id, file_name, status, pilot_id, agency_code, period FROM ingest.submissions "
            "WHERE sha256 = ?", [digest])
    assert (file_name, status) == (AS_TEXT, "quarantined")
    # Nothing else in the run failed: no step after the commit either.
    assert query(wh, "SELECT r.status, r.failed_steps FROM ops.runs r JOIN ingest.submissions s USING (run_id) "
                     "WHERE s.submission_id = ?", [sid]) == [("succeeded", None)]
    file_name.encode("utf-8")  # valid UTF-8 text (a lone surrogate would raise here)
    assert (pilot, agency, period) == (PILOT, "03009", "2548-Q1")  # the content was read
    assert query(wh, "SELECT code, row_number, column_name, message_en FROM ingest.issues WHERE submission_id = ?",
                 [sid]) == [("FILE_NAME_ENCODING_INVALID", None, None,
                             f"The file name '{AS_TEXT}' is not UTF-8 text (bytes shown as \\xNN; in Windows-874 it "
                             f"reads '{THAI_NAME}'). Rename the file with a UTF-8 name and send it again.")]
    # Its bytes are evidence; the file itself is in quarantine/ under its original name's bytes.
    assert evidence_path(tmp_path / "wh.evidence", digest).read_bytes() == CONTENT
    assert sorted(os.listdir(os.fsencode(inbox / "quarantine"))) == [b"f_bad.csv", CP874_NAME]
    with open(os.path.join(os.fsencode(inbox / "quarantine"), CP874_NAME), "rb") as f:
        assert f.read() == CONTENT
    assert sorted(os.listdir(os.fsencode(inbox))) == [b"processed", b"quarantine"]
    # The figures are test_flow.py's: Q1 K1 47 -> 3.7, K2 60 -> 2.4, composite 3.18 (with K1 48
    # from the quarantined file it would be (3.8*60 + 2.4*40)/100 = 3.24); Q2 3.9.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", D("3.9000"))]

    # The next night is normal: nothing left to fail on.
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 0" in out

    # Its content was right: the secretariat accepts it as it is, and Q1 becomes 3.24.
    result = CliRunner().invoke(main, ["reprocess", str(sid), "--registry", str(registry), "--warehouse", str(wh),
                                       "--out", str(tmp_path / "out"), "--as-of", AS_OF])
    assert result.exit_code == 0, result.output
    assert query(wh, "SELECT file_name, status FROM ingest.submissions WHERE reprocess_of = ?", [sid]) == [
        (AS_TEXT, "accepted")]
    assert query(wh, "SELECT composite_score FROM marts.pilot_scores WHERE period = '2548-Q1'") == [(D("3.2400"),)]


def test_check_gives_the_same_verdict(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    put(inbox, CP874_NAME, CONTENT)
    path = Path(os.fsdecode(os.path.join(os.fsencode(inbox), CP874_NAME)))
    result = CliRunner().invoke(main, ["check", str(path), str(inbox / "a_lead_q1.csv"), "--registry", str(registry),
                                       "--as-of", AS_OF, "--format", "json"])
    assert result.exit_code == 6, result.output
    outcomes = {o["file"]: o for o in json.loads(result.output)}
    assert outcomes[AS_TEXT]["status"] == "quarantined"
    assert [i["code"] for i in outcomes[AS_TEXT]["issues"]] == ["FILE_NAME_ENCODING_INVALID"]
    assert outcomes["a_lead_q1.csv"]["status"] == "accepted"
    result = CliRunner().invoke(main, ["check", str(path), "--registry", str(registry), "--as-of", AS_OF])
    assert result.exit_code == 6
    assert f"{AS_TEXT}: would be QUARANTINED" in result.output and f"'{THAI_NAME}'" in result.output


def test_such_a_file_of_a_restricted_pilot_goes_to_the_restricted_store(tmp_path, prefect_harness):
    """Its content is read, so its pilot is known: the file, its name and its defect stay on the
    restricted side (warehouse.md), like any restricted pilot's quarantined file."""
    from tests.test_restricted_store import R1, RESTRICTED_PILOT, SECRET
    from warehouse.paths import files_of

    registry, inbox = make_scenario(tmp_path)
    (registry / "pilots" / f"{SECRET}.yaml").write_text(RESTRICTED_PILOT, encoding="utf-8")
    name = "ลับ_ไตรมาส1.csv".encode("cp874")
    put(inbox, name, R1)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 7: accepted 3, superseded 1, duplicates 1, quarantined 2" in out
    wh, rs = tmp_path / "wh.duckdb", files_of(tmp_path / "wh.duckdb").restricted
    text = name_as_text(os.fsdecode(name))
    assert query(wh, "SELECT count(*) FROM ingest.submissions WHERE sha256 = ?", [sha256_of(R1)]) == [(0,)]
    assert query(rs, "SELECT s.file_name, s.status, s.pilot_id, i.code FROM ingest.submissions s "
                     "JOIN ingest.issues i USING (submission_id)") == [
        (text, "quarantined", SECRET, "FILE_NAME_ENCODING_INVALID")]
    assert os.fsencode(text) not in b"".join(p.read_bytes() for p in tmp_path.joinpath("out").rglob("*") if p.is_file())


def test_publish_inbox_files_away_what_a_run_left_whatever_the_name(tmp_path, prefect_harness, monkeypatch):
    """`pilotkpi publish --inbox` knows an inbox file as the run stored it: a cp874 name by its text
    name, a national ID in a name masked. Before, it compared the raw name with the stored one, so
    it left both files in the inbox and still marked the run completed."""
    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    put(inbox, CP874_NAME, CONTENT)
    id_name = "q1 1101700203930.csv"  # a valid national ID in the name: stored masked
    (inbox / id_name).write_bytes(CONTENT.replace(b"K1,,48", b"K1,,49"))

    def boom(*args, **kwargs):
        raise OSError("injected filing failure")

    with monkeypatch.context() as patch:
        patch.setattr("pilots.inbox.file_away", boom)
        code, out = run_cli(registry, inbox, tmp_path)
    assert code == 5, out
    assert "files seen 8:" in out
    stored = {n for (n,) in query(wh, "SELECT file_name FROM ingest.submissions")}
    assert AS_TEXT in stored and "1101700203930" not in "".join(stored)
    assert len(os.listdir(os.fsencode(inbox))) == 8  # nothing filed away

    result = CliRunner().invoke(main, ["publish", "--warehouse", str(wh), "--inbox", str(inbox)])

    assert result.exit_code == 0, result.output
    assert "filed away 8 file(s)" in result.output, result.output
    assert sorted(os.listdir(os.fsencode(inbox))) == [b"processed", b"quarantine"]
    assert CP874_NAME in os.listdir(os.fsencode(inbox / "quarantine"))
    # The ID file: K1 49 for Q1, submitted the same day as the cp874 file and the lead's: whatever
    # its status, it left the inbox under its own name.
    assert id_name in os.listdir(inbox / "processed") + os.listdir(inbox / "quarantine")
    assert query(wh, "SELECT completed_by FROM ops.runs") == [("pilotkpi publish",)]
