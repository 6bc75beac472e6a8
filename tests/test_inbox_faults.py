"""One inbox file's fault does not stop the night, nor the nights after (verifier V4).

- A file the night's account may not open (PermissionError: mode 000, or owner-only for another
  account, when the night runs as a service account without CAP_DAC_OVERRIDE). It was retried as
  an I/O error that may pass (~45 s), then failed the night, and every later night met it again:
  no other file was ever ingested. It is now refused like FILE_NOT_REGULAR: named in both
  languages (FILE_ACCESS_DENIED), left in place, no submission; the other files go on, and once
  it can be read it is received like any new file.
- A file removed between the listing and the read (FileNotFoundError in `receive`) failed the
  night ("the warehouse is unchanged"). There is nothing of it to record: the night goes on and
  names it in a warning (national IDs masked, as logged names are).
- `inbox.refused()`: an entry removed between scandir and its lstat raised FileNotFoundError.

Tests run as root here, where chmod 000 does not stop a read; the PermissionError is injected
deterministically instead, by the kernel's own call: os.open of that inbox file raises EACCES, as
it does for a service account (the verifier's setpriv reproduction, /work/wt/V4/repro/
r10_unreadable_file.py, shows the same with real permissions). The whole night runs through the
CLI, twice, on tests/test_flow.py's scenario.
"""
from __future__ import annotations

import errno
import os

from pilots import inbox as inbox_module
from tests.test_flow import _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query
from tests.test_trust_log_names import records  # noqa: F401 - a fixture: the night's log lines

P = "PLT-2548-003"
A = _csv(f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,", f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,")
B = _csv(f"{P},03009,2548-Q2,2005-04-20,kpi,K1,,55,,,,", f"{P},03009,2548-Q2,2005-04-20,kpi,K2,,90,,,,")
C = _csv(f"{P},15001,2548-Q1,2005-02-15,budget,ACT-1,5,,500000,100000,own,")


def submissions(root) -> list[tuple]:
    return query(root / "wh.duckdb", "SELECT file_name, status FROM ingest.submissions ORDER BY submission_id")


def test_an_unreadable_file_is_named_left_in_place_and_the_night_goes_on(tmp_path, prefect_harness, monkeypatch,
                                                                         records):  # noqa: F811
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_good.csv").write_bytes(A)
    locked = inbox / "b_locked.csv"
    locked.write_bytes(B)
    real_open = os.open

    def denying_open(path, flags, *args, **kwargs):
        # Only the inbox file itself, as its name or as the path the night lists (the evidence
        # store and every other file open as they do).
        if os.fspath(path) in (os.fspath(locked), locked.name) and kwargs.get("dir_fd") is None:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "open", denying_open)
        code, out = run_cli(registry, inbox, tmp_path)
    # Before: the receive task retried (2 + 10 + 30 s), then the night failed, nothing ingested.
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    assert ("FILE_ACCESS_DENIED: Could not read 'b_locked.csv': the reporting system is not permitted to open it"
            in out), out
    assert "อ่านไฟล์ 'b_locked.csv' ไม่ได้" in out, out  # in Thai too
    assert [line for line in records if "(FILE_ACCESS_DENIED)" in line and "b_locked.csv" in line], records
    assert locked.is_file() and locked.read_bytes() == B  # left where it is, untouched
    assert (inbox / "processed" / "a_good.csv").is_file()
    assert submissions(tmp_path) == [("a_good.csv", "accepted")]  # no submission for it

    # Night 2: its permissions fixed, and another agency's report beside it: both received.
    (inbox / "c_good.csv").write_bytes(C)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 2, superseded 0, duplicates 0, quarantined 0" in out, out
    assert "FILE_ACCESS_DENIED" not in out
    assert submissions(tmp_path) == [("a_good.csv", "accepted"), ("b_locked.csv", "accepted"),
                                     ("c_good.csv", "accepted")]
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []


def test_a_file_removed_after_the_listing_is_skipped_with_a_warning(tmp_path, prefect_harness, monkeypatch,
                                                                     records):  # noqa: F811
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_good.csv").write_bytes(A)
    withdrawn = "b_1101700203930_withdrawn.csv"  # a national ID in the name: masked where shown
    (inbox / withdrawn).write_bytes(B)
    real_settled = inbox_module.settled

    def settled_then_withdrawn(folder, settle_seconds, *args, **kwargs):
        # The sender's transfer tool withdraws the file after the night has listed it.
        ready, changing = real_settled(folder, settle_seconds, *args, **kwargs)
        (folder / withdrawn).unlink()
        return ready, changing

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module, "settled", settled_then_withdrawn)
        code, out = run_cli(registry, inbox, tmp_path)
    # Before: FileNotFoundError from the receive task, the night failed, "the warehouse is unchanged".
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    warned = [line for line in records if "removed from the inbox before it was read" in line]
    assert warned == ["b_[masked-id]_withdrawn.csv was removed from the inbox before it was read: "
                      "nothing of it recorded"], records
    assert not [line for line in records if "1101700203930" in line]
    assert submissions(tmp_path) == [("a_good.csv", "accepted")]

    (inbox / "c_good.csv").write_bytes(C)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    assert submissions(tmp_path) == [("a_good.csv", "accepted"), ("c_good.csv", "accepted")]


def test_refused_skips_an_entry_removed_between_the_listing_and_its_lstat(tmp_path, monkeypatch):
    (tmp_path / "a.csv").write_text("a")
    (tmp_path / "b.csv").write_text("b")
    (tmp_path / "c_link.csv").symlink_to(tmp_path / "nowhere")
    real_scandir = os.scandir

    class Removing:
        """os.scandir whose entry b.csv is removed just after scandir yields it (before its stat)."""

        def __init__(self, path):
            self.it = real_scandir(path)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.it.close()

        def __iter__(self):
            for entry in self.it:
                if entry.name == "b.csv":
                    os.unlink(entry.path)
                yield entry

    monkeypatch.setattr(inbox_module.os, "scandir", Removing)
    # Before: FileNotFoundError from DirEntry.stat, which failed the night's receive task.
    assert inbox_module.refused(tmp_path) == [(tmp_path / "c_link.csv", "symlink")]
