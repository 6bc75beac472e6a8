"""Inbox safety: files still being written wait for the next run, .part/.tmp files are never read,
every file is processed once by content hash, and processed files move to processed/ or
quarantine/ (never deleted or overwritten) while the evidence store keeps their bytes."""
from __future__ import annotations

import threading
import time

import duckdb
from click.testing import CliRunner

from flows.cli import main
from pilots.inbox import candidates, settled
from tests.support import SERIAL
from tests.test_flow import AS_OF, _csv, make_scenario
from warehouse.evidence import evidence_path, sha256_of

LINE = "PLT-2548-003,15001,2548-Q2,2005-04-20,budget,ACT-1,5,,500000,200000,own,"


def run(root, registry, inbox, *extra) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF, *extra])
    return result.exit_code, result.output


def submissions(root) -> list[tuple]:
    con = duckdb.connect(str(root / "wh.published.duckdb"), read_only=True)
    try:
        return con.execute("SELECT file_name, status FROM ingest.submissions ORDER BY submission_id").fetchall()
    finally:
        con.close()


def test_settled_leaves_a_growing_file_and_skips_in_progress_names(tmp_path):
    (tmp_path / "done.csv").write_text("a")
    (tmp_path / "growing.csv").write_text("a")
    (tmp_path / "upload.csv.part").write_text("a")
    (tmp_path / "copy.tmp").write_text("a")
    (tmp_path / ".hidden.csv").write_text("a")
    (tmp_path / "processed").mkdir()
    (tmp_path / "processed" / "old.csv").write_text("a")
    assert [p.name for p in candidates(tmp_path)] == ["done.csv", "growing.csv"]

    def sleep_while_growing(seconds):
        with open(tmp_path / "growing.csv", "a") as fh:  # the transfer goes on during the settle time
            fh.write("more")

    ready, changing = settled(tmp_path, 2.0, sleep=sleep_while_growing)
    assert [p.name for p in ready] == ["done.csv"] and [p.name for p in changing] == ["growing.csv"]


@SERIAL  # the writer must keep writing within the 1 s settle time
def test_a_half_written_file_waits_for_the_next_run(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    (inbox / "h_upload.csv.part").write_bytes(_csv(LINE))  # an upload tool's temporary name
    growing = inbox / "g_growing.csv"
    growing.write_bytes(_csv(LINE)[:40])
    stop = threading.Event()

    def keep_writing():  # a slow copy: a few bytes every 0.2 s until stopped
        while not stop.is_set():
            with open(growing, "ab") as fh:
                fh.write(b" ")
            time.sleep(0.2)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        code, out = run(tmp_path, registry, inbox, "--settle-seconds", "1")
    finally:
        stop.set()
        writer.join()
    assert code == 0, out
    assert "left for the next run, still being written: g_growing.csv" in out
    assert "files seen 6:" in out  # the scenario's six files; not the growing one, not the .part
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["g_growing.csv", "h_upload.csv.part"]

    # The copy finished (complete content) and the upload tool renamed its file: the next run takes both.
    growing.write_bytes(_csv(LINE))
    (inbox / "h_upload.csv.part").rename(inbox / "h_upload.csv")
    code, out = run(tmp_path, registry, inbox, "--settle-seconds", "0.5")
    assert code == 0, out
    # Same bytes twice: g is accepted, h is its duplicate (processed once by content hash).
    assert "files seen 2: accepted 1, superseded 0, duplicates 1, quarantined 0" in out
    assert submissions(tmp_path)[-2:] == [("g_growing.csv", "accepted"), ("h_upload.csv", "duplicate")]


def test_files_move_after_the_run_and_evidence_keeps_the_bytes(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    originals = {p.name: p.read_bytes() for p in inbox.iterdir()}
    code, out = run(tmp_path, registry, inbox)
    assert code == 0, out
    assert [p.name for p in inbox.iterdir() if p.is_file()] == []
    assert sorted(p.name for p in (inbox / "quarantine").iterdir()) == ["f_bad.csv"]
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == sorted(set(originals) - {"f_bad.csv"})
    for name, data in originals.items():
        assert evidence_path(tmp_path / "wh.evidence", sha256_of(data)).read_bytes() == data

    # The agency sends a file of the same name again: the earlier one is not overwritten.
    (inbox / "f_bad.csv").write_bytes(originals["f_bad.csv"])
    (inbox / "a_lead_q1.csv").write_bytes(originals["a_lead_q1.csv"])
    code, out = run(tmp_path, registry, inbox)
    assert code == 0 and "duplicates 2" in out
    # Duplicates count as processed; a name already there gets a numbered twin.
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == sorted(set(originals) | {"a_lead_q1.1.csv"})
    assert (inbox / "processed" / "a_lead_q1.1.csv").read_bytes() == originals["a_lead_q1.csv"]
    assert (inbox / "quarantine" / "f_bad.csv").read_bytes() == originals["f_bad.csv"]


def test_a_transient_read_error_is_retried(tmp_path, prefect_harness, monkeypatch):
    import errno

    import pilots.inbox

    registry, inbox = make_scenario(tmp_path)
    real_open = pilots.inbox.open_regular
    calls = {"n": 0}

    def flaky_open(path, dir_fd=None):
        calls["n"] += 1
        if calls["n"] == 3:  # the third file read fails once, as a locked or busy file would
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real_open(path, dir_fd)

    monkeypatch.setattr(pilots.inbox, "open_regular", flaky_open)
    code, out = run(tmp_path, registry, inbox)
    assert code == 0, out
    assert "files seen 6: accepted 3, superseded 1, duplicates 1, quarantined 1" in out
    # 3 reads in the failed attempt, 6 in the retry, then 6 to check each file before moving it.
    assert calls["n"] == 3 + 6 + 6
