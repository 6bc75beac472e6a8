"""Only regular files are read from the inbox (issue 14 item 5): symbolic links (to a file, to a
report outside the inbox, to nothing, to a folder, or in place of processed/), FIFOs and sockets
are refused with FILE_NOT_REGULAR, left where they are, and nothing of them or their targets is
read. tests/test_flow.py's scenario (6 files: accepted 3, superseded 1, duplicates 1,
quarantined 1) is sent alongside, and its counts must not move.
"""
from __future__ import annotations

import os
import signal
import socket
import stat
from pathlib import Path

import duckdb
import pytest

from pilots import inbox as inbox_folder
from pilots.inbox import NotRegularFile, candidates, open_file, receive, refused
from tests.test_flow import HEADER, make_scenario, run_cli

P = "PLT-2548-003"
# A valid report that is not in the scenario: the secondary's Q2 budget line.
OUTSIDE_REPORT = f"{HEADER}\n{P},15001,2548-Q2,2005-04-20,budget,ACT-7,4,,70000,7000,own,outside\n".encode()


def evidence_files(evidence: Path) -> list[Path]:
    return sorted(p for p in evidence.rglob("*") if p.is_file())


# ---- units: no Prefect -----------------------------------------------------------------------

def test_open_file_refuses_a_link_and_a_fifo_without_waiting(tmp_path):
    target = tmp_path / "target.csv"
    target.write_bytes(b"secret")
    (tmp_path / "link.csv").symlink_to(target)
    os.mkfifo(tmp_path / "pipe.csv")  # no writer: a blocking open would wait for ever
    with pytest.raises(NotRegularFile) as link:
        open_file(tmp_path / "link.csv")
    with pytest.raises(NotRegularFile) as pipe:
        open_file(tmp_path / "pipe.csv")
    assert (link.value.kind, pipe.value.kind) == ("symlink", "fifo")
    assert not inbox_folder.is_transient(link.value)  # refused, not retried
    with open_file(target) as fh:
        assert fh.read() == b"secret"


def test_listing_lists_regular_files_and_refuses_the_rest(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_bytes(b"x")
    (inbox / "b_link.csv").symlink_to(inbox / "a.csv")
    (inbox / "c_dangling.csv").symlink_to(tmp_path / "missing")
    (inbox / "d_dir").symlink_to(tmp_path)
    os.mkfifo(inbox / "e_pipe.csv")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(inbox / "f.sock"))
        (inbox / "g_real_folder").mkdir()  # a folder is refused too (verifier VJ F4)
        for own in ("processed", "quarantine", ".hidden_folder"):  # the night's own, and a hidden one: not
            (inbox / own).mkdir()
        (inbox / ".hidden_link").symlink_to(inbox / "a.csv")  # hidden: waits, like a hidden file
        assert [p.name for p in candidates(inbox)] == ["a.csv"]
        assert [(p.name, kind) for p, kind in refused(inbox)] == [
            ("b_link.csv", "symlink"), ("c_dangling.csv", "symlink"), ("d_dir", "symlink"),
            ("e_pipe.csv", "fifo"), ("f.sock", "socket"), ("g_real_folder", "folder")]
    finally:
        sock.close()


def test_a_file_swapped_for_a_link_after_the_listing_is_refused(tmp_path):
    """The listing saw a regular file; by the time it is opened it is a link: O_NOFOLLOW refuses it."""
    inbox, evidence = tmp_path / "inbox", tmp_path / "evidence"
    inbox.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_bytes(b"not for the evidence store")
    (inbox / "r.csv").write_bytes(b"report")
    [listed] = candidates(inbox)
    (inbox / "r.csv").unlink()
    (inbox / "r.csv").symlink_to(secret)
    refused_now: list = []
    assert receive([listed], evidence, refused_now) == []
    assert refused_now == [(listed, "symlink")]
    assert evidence_files(evidence) == []


# ---- through the whole run ------------------------------------------------------------------

def _alarm(signum, frame):
    raise TimeoutError("the run hung (a FIFO opened for reading waits for a writer)")


@pytest.fixture(scope="module")
def linked_run(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("links")
    registry, inbox = make_scenario(root)
    outside = root / "outside"
    outside.mkdir()
    (outside / "valid.csv").write_bytes(OUTSIDE_REPORT)
    (outside / "folder").mkdir()
    (outside / "folder" / "inside.csv").write_bytes(OUTSIDE_REPORT.replace(b"ACT-7", b"ACT-8"))
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (inbox / "host.csv").symlink_to("/etc/hostname")  # read or not, it must not be followed
    (inbox / "outside.csv").symlink_to(outside / "valid.csv")
    (inbox / "dangling.csv").symlink_to(root / "missing.csv")
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "linked_dir").symlink_to(outside / "folder")
    (inbox / "processed").symlink_to(elsewhere)  # filing away must not move files through it
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(600)
    try:
        code, output = run_cli(registry, inbox, root)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return root, inbox, outside, elsewhere, code, output


def test_the_run_takes_the_regular_files_only(linked_run):
    root, _, _, _, code, output = linked_run
    assert code == 0, output
    assert "files seen 6: accepted 3, superseded 1, duplicates 1, quarantined 1" in output  # test_flow's
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    try:
        names = [n for (n,) in con.execute("SELECT file_name FROM ingest.submissions ORDER BY 1").fetchall()]
    finally:
        con.close()
    assert names == ["a_lead_q1.csv", "b_sec_q1.csv", "c_lead_q2.json", "d_lead_q2_fix.csv", "e_dup.csv", "f_bad.csv"]


def test_each_refused_entry_is_named_in_both_languages(linked_run):
    *_, output = linked_run
    for name, detail_en, detail_th in [
            ("dangling.csv", "a symbolic link", "เป็นลิงก์สัญลักษณ์"), ("host.csv", "a symbolic link", "เป็นลิงก์สัญลักษณ์"),
            ("linked_dir", "a symbolic link", "เป็นลิงก์สัญลักษณ์"), ("outside.csv", "a symbolic link", "เป็นลิงก์สัญลักษณ์"),
            ("pipe.csv", "a named pipe", "เป็นไปป์ที่มีชื่อ"), ("processed", "a symbolic link", "เป็นลิงก์สัญลักษณ์")]:
        assert (f"FILE_NOT_REGULAR: Refused '{name}': it is not a regular file ({detail_en}); nothing of it "
                f"was read.") in output, name
        assert f"ไม่รับ '{name}' เพราะไม่ใช่ไฟล์ปกติ ({detail_th})" in output, name


def test_nothing_of_a_target_reaches_the_evidence_store(linked_run):
    root, *_ = linked_run
    kept = {p.read_bytes() for p in evidence_files(root / "wh.evidence")}
    assert len(kept) == 5  # the scenario's 6 files, one a byte-identical duplicate
    assert OUTSIDE_REPORT not in kept and OUTSIDE_REPORT.replace(b"ACT-7", b"ACT-8") not in kept
    if os.path.isfile("/etc/hostname"):
        assert Path("/etc/hostname").read_bytes() not in kept


def test_refused_entries_stay_and_their_targets_are_untouched(linked_run):
    root, inbox, outside, elsewhere, *_ = linked_run
    for name in ("host.csv", "outside.csv", "dangling.csv", "linked_dir"):
        assert (inbox / name).is_symlink(), name
    assert stat.S_ISFIFO((inbox / "pipe.csv").lstat().st_mode)
    assert (outside / "valid.csv").read_bytes() == OUTSIDE_REPORT
    assert [p.name for p in (outside / "folder").iterdir()] == ["inside.csv"]
    # The processed link was set aside (under its hidden aside name, still a link to elsewhere/),
    # and the files went to a real processed/ folder inside the inbox.
    assert list(elsewhere.iterdir()) == []
    aside = inbox / ".pilotkpi-aside.0.processed"
    assert aside.is_symlink() and aside.resolve() == elsewhere.resolve()
    assert not (inbox / "processed").is_symlink()
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == [
        "a_lead_q1.csv", "b_sec_q1.csv", "c_lead_q2.json", "d_lead_q2_fix.csv", "e_dup.csv"]
    assert [p.name for p in (inbox / "quarantine").iterdir()] == ["f_bad.csv"]


def test_a_folder_in_the_inbox_is_named_every_night_in_both_languages(tmp_path, prefect_harness):
    """A folder holding a report (an agency that uploaded a folder): its report is not read, and
    every night names the folder, in Thai and English, until it is removed; the night's own
    processed/ and quarantine/ are never named (verifier VJ F4: a folder was ignored silently)."""
    registry, inbox = make_scenario(tmp_path)
    (inbox / "folder").mkdir()
    (inbox / "folder" / f"{P}_11002_2548-Q2.csv").write_bytes(OUTSIDE_REPORT)
    for night in (1, 2):
        code, output = run_cli(registry, inbox, tmp_path)
        assert code == 0, output
        seen = "files seen 6: accepted 3, superseded 1, duplicates 1, quarantined 1" if night == 1 else "files seen 0:"
        assert seen in output, output  # the scenario's files, then nothing: never the folder's report
        assert ("FILE_NOT_REGULAR: Refused 'folder': it is not a regular file (a folder: files inside it are not "
                "read); nothing of it was read. Put the file itself in the inbox.") in output, (night, output)
        assert "ไม่รับ 'folder' เพราะไม่ใช่ไฟล์ปกติ (เป็นโฟลเดอร์ ระบบไม่อ่านไฟล์ที่อยู่ภายในโฟลเดอร์)" in output, output
        assert "Refused 'processed'" not in output and "Refused 'quarantine'" not in output, output
        assert (inbox / "folder" / f"{P}_11002_2548-Q2.csv").read_bytes() == OUTSIDE_REPORT  # left as it is
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM ingest.submissions WHERE file_name LIKE '%11002_2548-Q2%'"
                           ).fetchone() == (0,)
    finally:
        con.close()
    # What to do about it (the format guides, the agency page's hint) names folders too (RV9 item 11).
    from pilots.defects import catalogue

    fix = catalogue()["FILE_NOT_REGULAR"]
    assert "put each report file directly in the inbox, not in a folder" in fix.fix_en
    assert "ให้วางไฟล์รายงานแต่ละไฟล์ลงในกล่องรับไฟล์โดยตรง ไม่ใช่ในโฟลเดอร์" in fix.fix_th
