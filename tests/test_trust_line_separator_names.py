"""An inbox file name holding U+2028 LINE SEPARATOR, through two nights: shown, never a line break.

warehouse/display.py makes control characters visible so that an agency's newline never starts a new
line, table row or letter line (kpis/letters/render.py: "its own newline must not end the line").
U+2028 and U+2029 (LINE and PARAGRAPH SEPARATOR) are line breaks too: Python's splitlines() and
Unicode's line breaking (class BK, which browsers follow) end a line there. They are neither
controls nor bidi marks, so they went out raw into validation.html, both summaries (HTML and
Markdown), the reminder letters and reminders.csv. Now they are shown as [U+2028] / [U+2029].
The warehouse keeps the name exactly as received.

The scenario is tests/test_flow.py's (7 files: accepted 3, superseded 1, duplicates 1,
quarantined 2 with the one added here), as of 2005-05-15.
"""
from __future__ import annotations

import csv
import io

from tests.hostile import clean_night
from tests.test_flow import HEADER, make_scenario, run_cli
from tests.test_hostile_sizes import query

P = "PLT-2548-003"
NAME = "g_\u2028ls\u2029.csv"
SHOWN = "g_[U+2028]ls[U+2029].csv"


def outputs(root) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8-sig") for p in sorted((root / "out").rglob("*"))
            if p.is_file() and p.suffix in (".html", ".md", ".csv", ".txt")}


def test_a_line_separator_in_a_file_name_is_shown_not_obeyed(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # The supporting agency 11002's Q2 budget line again, still disbursing more than allocated,
    # under the hostile name (after f_bad.csv: its latest file for Q2).
    (inbox / NAME).write_bytes(
        f"{HEADER}\n{P},11002,2548-Q2,2005-04-12,budget,ACT-9,3,,100000,150000,support_contribution,\n".encode())
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 7: accepted 3, superseded 1, duplicates 1, quarantined 2" in out
    assert query(wh, "SELECT status FROM ingest.submissions WHERE file_name = ?", [NAME]) == [("quarantined",)]

    pages = outputs(tmp_path)
    # Before: 8 pages held the raw separators (validation.html, summary.{th,en}.{html,md}, the
    # letters to 11002 and reminders.csv).
    assert [name for name, text in pages.items() if "\u2028" in text or "\u2029" in text] == []
    assert SHOWN in pages["out/validation.html"]
    for page in ("out/summary.en.html", "out/summary.th.html"):
        assert SHOWN in pages[page], page
    for page in ("out/summary.en.md", "out/summary.th.md"):  # Markdown escapes its punctuation (md_text)
        assert "g\\_\\[U\\+2028\\]ls\\[U\\+2029\\]\\.csv" in pages[page], page
    # reminders.csv names the file on 11002's Q2 item, which stays one line of its cell (follow-up.md:
    # Q2 ends 2005-03-31, due 30 days later; 15 days overdue on 2005-05-15: level 1).
    [row] = [r for r in csv.reader(io.StringIO(pages["out/reminders/reminders.csv"])) if r[0] == "11002"]
    assert [line for cell in row for line in cell.split("\n") if "g_" in line] == [
        f"{P} (ระบบบริการประชาชนแบบเบ็ดเสร็จ / One-stop e-citizen service) 2548-Q2 due 2005-04-30 15 days overdue "
        f"level 1 rejected_file file {SHOWN}"]

    # Night 2: 11002 sends the line right; the night runs, and nothing shows the separators raw.
    # The scores are test_flow.py's (a budget line moves no KPI): Q1 3.18 kept, Q2 3.9 (tests/hostile.py).
    clean_night(registry, inbox, tmp_path, {"h_fixed.csv": (
        f"{HEADER}\n{P},11002,2548-Q2,2005-05-10,budget,ACT-9,3,,100000,50000,support_contribution,\n").encode()})
    assert [name for name, text in outputs(tmp_path).items() if "\u2028" in text or "\u2029" in text] == []
    assert query(wh, "SELECT file_name, status FROM ingest.submissions WHERE agency_code = '11002' "
                     "ORDER BY submission_id") == [("f_bad.csv", "quarantined"), (NAME, "quarantined"),
                                                   ("h_fixed.csv", "accepted")]
