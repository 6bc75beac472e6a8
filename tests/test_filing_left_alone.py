"""A file replaced or removed in the inbox after the night received it is left alone by filing
away (pilots/inbox.py file_away), and the night says so: one warning per file, naming it as the
night names the inbox's files (printable, national IDs masked), saying what happened and where
its bytes are. Whole-flow, on tests/test_flow.py's scenario with one more file (a duplicate of
a_lead_q1.csv whose name holds an escape sequence and a right-to-left override; a name holding
a national ID is hidden altogether, as hidden_names does not find it among the masked names
stored), changed at the night's
pause point after its first batch (`pause_point("ingest")`, the files received): b_sec_q1.csv
overwritten with other bytes, c_lead_q2.json and the hostile file deleted. The night's counts are
those of the files it received; it moves the three others; b's new bytes wait in the inbox. In
the thread and in the child process (pilots/filing.py) alike, and when the child dies after
filing one file (the night files the rest away itself: the child's move is not taken for a removal).
"""
from __future__ import annotations

import pytest

import flows.nightly
from pilots import filing
from tests.test_flow import make_scenario, run_cli
from tests.log_capture import every_log_record
from tests.test_post_commit import inbox_state

HOSTILE = "g\x1b[31m_\u202e.csv"
COUNTS = "files seen 7: accepted 3, superseded 1, duplicates 2, quarantined 1"
CHANGED = "b_sec_q1.csv changed since it was read: its new bytes stay in the inbox for the next night"
GONE = " was removed from the inbox after it was read: what was read is recorded"


@pytest.mark.parametrize("where", ["thread", "child", "child-dies"])
def test_a_file_changed_or_removed_after_it_was_read_is_named_in_a_warning(tmp_path, prefect_harness, monkeypatch,
                                                                            where):
    registry, inbox = make_scenario(tmp_path)
    (inbox / HOSTILE).write_bytes((inbox / "a_lead_q1.csv").read_bytes())
    if where != "thread":
        monkeypatch.setattr(filing, "FILING_PROCESS_FILES", 1)
    if where == "child-dies":  # the child files a_lead_q1.csv, then dies: the night files the rest away itself,
        monkeypatch.setenv("PILOTKPI_FAIL_AT", "filing")  # and a_lead_q1.csv, moved by the child, is not "removed"
    real_pause_point, changed = flows.nightly.pause_point, []

    def pause_point(name: str) -> None:
        if name == "ingest" and not changed:  # after the first batch: every file received
            (inbox / "b_sec_q1.csv").write_bytes(b"other bytes of the same name\n")
            (inbox / "c_lead_q2.json").unlink()
            (inbox / HOSTILE).unlink()
            changed.append(name)
        real_pause_point(name)

    monkeypatch.setattr(flows.nightly, "pause_point", pause_point)
    with every_log_record() as lines:
        code, out = run_cli(registry, inbox, tmp_path)
    assert changed and code == 0, out
    assert COUNTS in out and "moved 4 file(s)" in out  # the counts of the files received, unchanged
    assert inbox_state(inbox) == (["b_sec_q1.csv"], ["a_lead_q1.csv", "d_lead_q2_fix.csv", "e_dup.csv"],
                                  ["f_bad.csv"])
    assert (inbox / "b_sec_q1.csv").read_bytes() == b"other bytes of the same name\n"
    stopped = [line for line in lines if "filing away in its own process stopped" in line]
    assert len(stopped) == (where == "child-dies"), stopped
    left = sorted(line for line in lines if "after it was read" in line or "since it was read" in line)
    assert left == sorted([
        f"WARNING prefect.flow_runs {CHANGED}",
        f"WARNING prefect.flow_runs c_lead_q2.json{GONE}",
        f"WARNING prefect.flow_runs g\\x1b[31m_\\u202e.csv{GONE}",
    ]), lines
