"""Filing the inbox away safely: an agency file named like one of the inbox's own folders
(`processed`, `quarantine`) cannot shadow it, a kill between setting such a file aside and filing it
loses nothing, and numbered names for a clash stay within the file system's 255-byte limit."""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from pilots.inbox import InboxFile, candidates, file_away, inbox_name, numbered_name, receive
from tests.test_flow import make_scenario, run_cli
from warehouse.evidence import sha256_of

SCENARIO_PROCESSED = ["a_lead_q1.csv", "b_sec_q1.csv", "c_lead_q2.json", "d_lead_q2_fix.csv", "e_dup.csv"]
STRAY = b"an agency file whose name is one of the inbox's folders\n"


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file())


def submissions(wh: Path) -> list[tuple]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return con.execute("SELECT file_name, status FROM ingest.submissions ORDER BY submission_id").fetchall()
    finally:
        con.close()


def inbox_file(path: Path, name: str | None = None) -> InboxFile:
    data = path.read_bytes()
    return InboxFile(name or path.name, path, sha256_of(data), len(data), path)


@pytest.mark.parametrize("strays", [["processed"], ["quarantine"], ["processed", "quarantine"]])
def test_a_stray_file_named_like_an_inbox_folder_is_quarantined_under_its_name(tmp_path, prefect_harness, strays):
    registry, inbox = make_scenario(tmp_path)
    for name in strays:
        (inbox / name).write_bytes(STRAY + name.encode())

    code, out = run_cli(registry, inbox, tmp_path)

    assert code == 0, out
    assert f"files seen {6 + len(strays)}: accepted 3, superseded 1, duplicates 1, quarantined {1 + len(strays)}" in out
    assert (inbox / "processed").is_dir() and (inbox / "quarantine").is_dir()
    assert names(inbox) == []  # nothing left, not even a set-aside file
    assert names(inbox / "processed") == SCENARIO_PROCESSED
    assert names(inbox / "quarantine") == sorted(["f_bad.csv", *strays])
    for name in strays:  # moved whole, under its own name
        assert (inbox / "quarantine" / name).read_bytes() == STRAY + name.encode()
    rows = submissions(tmp_path / "wh.duckdb")

    code, out = run_cli(registry, inbox, tmp_path)  # a later night
    assert code == 0, out
    assert submissions(tmp_path / "wh.duckdb") == rows


class Killed(BaseException):
    """Stands for SIGKILL: no handler of the job runs."""


def test_a_kill_between_setting_aside_and_filing_loses_nothing(tmp_path, prefect_harness, monkeypatch):
    """The run commits, sets the stray `processed` file aside to create the folder, and is killed
    just before mkdir. The file waits under its aside name; the next run files it away under its
    own name, recognising it as the committed run's file (no new row)."""
    registry, inbox = make_scenario(tmp_path)
    (inbox / "processed").write_bytes(STRAY)
    real_mkdir = Path.mkdir

    def killed_before_mkdir(self, *args, **kwargs):
        if self == inbox / "processed":
            raise Killed()
        return real_mkdir(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "mkdir", killed_before_mkdir)
        with pytest.raises(Killed):
            run_cli(registry, inbox, tmp_path)
    assert names(inbox) == sorted([".pilotkpi-aside.0.processed", "f_bad.csv", *SCENARIO_PROCESSED])
    rows = submissions(tmp_path / "wh.duckdb")
    assert ("processed", "quarantined") in rows and len(rows) == 7  # committed

    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert names(inbox) == []
    assert names(inbox / "processed") == SCENARIO_PROCESSED
    assert names(inbox / "quarantine") == ["f_bad.csv", "processed"]
    assert (inbox / "quarantine" / "processed").read_bytes() == STRAY
    assert submissions(tmp_path / "wh.duckdb") == rows


def test_a_set_aside_file_is_still_an_inbox_file_under_its_own_name(tmp_path):
    (tmp_path / ".pilotkpi-aside.0.quarantine").write_bytes(STRAY)
    (tmp_path / ".pilotkpi-aside.x.processed").write_bytes(STRAY)  # not our pattern: a hidden file
    (tmp_path / "b.csv").write_bytes(b"b")
    assert [inbox_name(p) for p in candidates(tmp_path)] == ["b.csv", "quarantine"]
    [_, received] = receive(candidates(tmp_path), tmp_path / "evidence")
    assert received.name == "quarantine" and received.inbox_path.name == ".pilotkpi-aside.0.quarantine"
    file_away([(received, "quarantined")], tmp_path)
    assert (tmp_path / "quarantine" / "quarantine").read_bytes() == STRAY


def test_a_second_stray_file_does_not_overwrite_a_set_aside_one(tmp_path):
    (tmp_path / ".pilotkpi-aside.0.processed").write_bytes(b"first")
    (tmp_path / "processed").write_bytes(b"second")
    (tmp_path / "a.csv").write_bytes(b"a")
    file_away([(inbox_file(tmp_path / "a.csv"), "accepted")], tmp_path)
    assert (tmp_path / ".pilotkpi-aside.0.processed").read_bytes() == b"first"
    assert (tmp_path / ".pilotkpi-aside.1.processed").read_bytes() == b"second"
    assert names(tmp_path / "processed") == ["a.csv"]


# 255 bytes: "a" (1) + 83 Thai characters (3 bytes each in UTF-8: 249) + "b" or "c" (1) + ".csv" (4).
LONG_A = "a" + "ร" * 83 + "b.csv"
LONG_B = "a" + "ร" * 83 + "c.csv"
# ".1.csv" needs 6 bytes, so the stem may keep 249: "a" + 82 Thai characters (247 bytes), as the
# 249th byte would cut the 83rd character in two.
SHORT_1 = "a" + "ร" * 82 + ".1.csv"
SHORT_2 = "a" + "ร" * 82 + ".2.csv"


def test_numbered_names_stay_within_255_bytes_on_a_character_boundary():
    assert len(LONG_A.encode()) == 255 and len(LONG_B.encode()) == 255
    assert numbered_name(LONG_A, 1) == SHORT_1 and len(SHORT_1.encode()) == 253
    assert numbered_name("report.csv", 2) == "report.2.csv"
    assert numbered_name("ก" * 85, 12) == "ก" * 84 + ".12"  # no extension: 255 - 3 = 252 bytes = 84 characters
    # An "extension" as long as the name is part of the name: the number goes at the end.
    assert numbered_name("a." + "ข" * 84, 1) == "a." + "ข" * 83 + ".1"  # 254 bytes; cut to 251, + 2


def test_re_sent_files_with_255_byte_thai_names_are_filed_under_short_enough_names(tmp_path):
    inbox = tmp_path
    (inbox / "processed").mkdir()
    for name in (LONG_A, LONG_B):
        (inbox / "processed" / name).write_bytes(b"the first copy")
        (inbox / name).write_bytes(b"sent again: " + name.encode())

    moved = file_away([(inbox_file(inbox / LONG_A), "accepted"), (inbox_file(inbox / LONG_B), "accepted")], inbox)

    # Both shortened stems are the same, so the second clash takes the next number.
    assert [p.name for p in moved] == [SHORT_1, SHORT_2]
    assert (inbox / "processed" / SHORT_2).read_bytes() == b"sent again: " + LONG_B.encode()
    assert sorted(os.listdir(inbox / "processed")) == sorted([LONG_A, LONG_B, SHORT_1, SHORT_2])
    assert (inbox / "processed" / LONG_A).read_bytes() == b"the first copy"  # never overwritten
