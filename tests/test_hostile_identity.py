"""Hostile header values through the whole nightly flow (issue 13 item 1): agency text is shown
escaped, exactly as received, and never parsed after the ingest.

The run that found the bug: a quarantined file whose period could not be read was stored with that
text in ingest.submissions.period; the summary's period formatter raised ValueError after the
commit, and the same inbox failed every following night. Here five hostile files join the
tests/test_flow.py scenario (PLT-2548-003, as of 2005-05-15, whose f_bad.csv is a supporting
agency's quarantined 2548-Q2 report).
"""
from __future__ import annotations

import json

import duckdb
import html5lib
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.prefect_reads import summary_artifacts_of
from tests.test_flow import HEADER, make_scenario, run_cli

P = "PLT-2548-003"
SCRIPT = "<script>alert(1)</script>"
Q99 = "ไตรมาส 9/99"
CTRL_AGENCY = "030\x1b[31m\n09"       # ESC (a terminal colour sequence) and a newline
LONG_PILOT = "PLT-" + "X" * 4996       # 5,000 characters
ROW = ",kpi,K1,,47,,,,"                # line_type .. note after the identity columns


def csv_file(pilot: str, agency: str, period: str, on: str = "2005-04-20") -> bytes:
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n') else v
    return f"{HEADER}\n{cell(pilot)},{cell(agency)},{cell(period)},{on}{ROW}\n".encode("utf-8")


HOSTILE = {
    "h_script.csv": csv_file(P, "03009", SCRIPT),
    "i_q99.csv": csv_file(P, "15001", Q99),
    "j_ctrl.csv": csv_file(P, CTRL_AGENCY, "2548-Q2"),
    "k_long.csv": csv_file(LONG_PILOT, "03009", "2548-Q2"),
    # No `lines`: no table, but its top-level identity reads (Q2/2548 -> 2548-Q2).
    "l_nolines.json": json.dumps({"pilot_id": P, "agency_code": "11002", "period": "Q2/2548",
                                  "submitted_on": "2005-04-21"}).encode("utf-8"),
}
# A valid resubmission of d_lead_q2_fix.csv (same figures, same date, received later: it wins) under
# a file name holding ESC[2J, "clear the screen" on a terminal.
ESC_NAME = "m_\x1b[2Jlead_q2.csv"
ESC_NAME_SHOWN = "m_\u241b[2Jlead_q2.csv"
# How the control-character agency code is shown: ␛ and ␊ are the Unicode control pictures.
CTRL_SHOWN = "030\u241b[31m\u240a09"
CTRL_SHOWN_MD = "030\u241b\\[31m\u240a09"   # Markdown also escapes the bracket (no link syntax)
SCRIPT_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# Markdown escapes every ASCII punctuation character of agency text (warehouse/display.py md_text).
SCRIPT_MD = "&lt;script&gt;alert\\(1\\)&lt;\\/script&gt;"
Q99_MD = "ไตรมาส 9\\/99"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("hostile")
    registry, inbox = make_scenario(root)
    for name, data in HOSTILE.items():
        (inbox / name).write_bytes(data)
    (inbox / ESC_NAME).write_bytes((inbox / "d_lead_q2_fix.csv").read_bytes().replace(b"\n", b"\r\n"))
    first = run_cli(registry, inbox, root)
    out_dir = root / "out"
    outputs = {str(p.relative_to(out_dir)): p.read_text(encoding="utf-8-sig")  # reminders.csv has a BOM
               for p in sorted(out_dir.rglob("*")) if p.is_file()} if out_dir.exists() else {}
    # The same inbox again, as on the next night: every file comes back (a failed run filed none away).
    for folder in (inbox / "processed", inbox / "quarantine"):
        for path in sorted(folder.iterdir()) if folder.exists() else []:
            path.rename(inbox / path.name)
    second = run_cli(registry, inbox, root)
    return root, first, second, outputs


def test_both_runs_exit_0(hostile_run):
    _, (code, out), (code2, out2), _ = hostile_run
    assert code == 0, out
    # 6 scenario files + 6 hostile ones; quarantined: f_bad.csv and five hostile ones; superseded:
    # c_lead_q2.json (as in test_flow) and d_lead_q2_fix.csv, replaced by the ESC-named copy.
    assert "files seen 12: accepted 3, superseded 2, duplicates 1, quarantined 6" in out
    assert code2 == 0, out2
    assert "files seen 12: accepted 0, superseded 0, duplicates 12, quarantined 0" in out2


def test_stored_identity_canonical_or_null_raw_text_kept(hostile_run):
    root, *_ = hostile_run
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    rows = con.execute("""
        SELECT file_name, status, pilot_id, agency_code, period, raw_pilot_id, raw_agency_code, raw_period
        FROM ingest.submissions WHERE file_name IN ('h_script.csv', 'i_q99.csv', 'j_ctrl.csv', 'k_long.csv',
                                                    'l_nolines.json') AND duplicate_of IS NULL
        ORDER BY file_name""").fetchall()
    # Counted as quarantined only where pilot, agency and period all read: l_nolines.json, beside f_bad.csv.
    compliance = con.execute("SELECT agency_code, period, quarantined FROM marts.reporting_compliance "
                             "WHERE quarantined > 0").fetchall()
    con.close()
    assert rows == [
        ("h_script.csv", "quarantined", P, "03009", None, P, "03009", SCRIPT),
        ("i_q99.csv", "quarantined", P, "15001", None, P, "15001", Q99),
        ("j_ctrl.csv", "quarantined", P, None, "2548-Q2", P, CTRL_AGENCY, "2548-Q2"),
        ("k_long.csv", "quarantined", LONG_PILOT, "03009", "2548-Q2", LONG_PILOT, "03009", "2548-Q2"),
        ("l_nolines.json", "quarantined", P, "11002", "2548-Q2", P, "11002", "Q2/2548"),
    ]
    assert compliance == [("11002", "2548-Q2", 2)]


@pytest.mark.parametrize("lang", ["th", "en"])
def test_summaries_show_the_raw_text_escaped(hostile_run, lang):
    *_, outputs = hostile_run
    html, md = outputs[f"summary.{lang}.html"], outputs[f"summary.{lang}.md"]
    for page, script, q99 in ((html, SCRIPT_ESCAPED, Q99), (md, SCRIPT_MD, Q99_MD)):
        assert "<script" not in page and "\x1b" not in page
        assert script in page and q99 in page
        # The readable JSON period is shown in the edition's own words.
        assert ("ไตรมาส 2/2548" if lang == "th" else "FY2005 Q2") in page  # English in CE: BE 2548 = FY2005
    assert CTRL_SHOWN in html and CTRL_SHOWN_MD in md
    # Each quarantined file of the pilot on one Markdown list line: the newline did not split it.
    # One list item, after its resolved / not-resolved mark.
    assert sum(line.startswith("- **") and " · j_ctrl\\.csv (" in line for line in md.splitlines()) == 1
    html5lib.HTMLParser(strict=True).parse(html)  # raises on any parse error


def test_reminder_letters_name_the_latest_quarantined_file_escaped(hostile_run):
    """11002's Q2 report: f_bad.csv and then l_nolines.json were quarantined for it (the last one
    received is named); the hostile texts of other files reach no letter unescaped."""
    *_, outputs = hostile_run
    letters = {name: text for name, text in outputs.items() if name.startswith("reminders/")}
    assert sorted(letters) == ["reminders/11002.en.html", "reminders/11002.th.html", "reminders/15001.en.html",
                               "reminders/15001.th.html", "reminders/register.csv", "reminders/reminders.csv"]
    for name, text in letters.items():
        assert "<script" not in text and "\x1b" not in text, name
    assert "l_nolines.json" in letters["reminders/11002.th.html"] and "f_bad.csv" not in letters["reminders/11002.th.html"]
    html5lib.HTMLParser(strict=True).parse(letters["reminders/11002.th.html"])


def test_validation_report_shows_every_raw_value_escaped(hostile_run):
    *_, outputs = hostile_run
    page = outputs["validation.html"]
    assert "<script" not in page and "\x1b" not in page
    for shown in (SCRIPT_ESCAPED, Q99, CTRL_SHOWN, LONG_PILOT, ESC_NAME_SHOWN):
        assert shown in page, shown[:40]
    # Where a value was read, its canonical form is shown (the JSON file wrote Q2/2548).
    # A registered agency is named in both languages, its code in brackets.
    assert f"· {P} · กระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร / Ministry of Information and Communication Technology (11002) · ไตรมาส 2/2548 / FY2005 Q2" in page
    html5lib.HTMLParser(strict=True).parse(page)


def test_artifact_lists_the_quarantined_files_escaped(hostile_run):
    root, *_ = hostile_run
    texts = [a.data for a in summary_artifacts_of(root / "out")]
    assert len(texts) == 2  # one per run
    for text in texts:
        assert "<script" not in text and "\x1b" not in text
        # Registered agencies by name (tests/test_flow.py AGENCIES); none of these files was replaced.
        opdc = "Office of the Public Sector Development Commission \\(03009\\)"
        dopa = "Department of Provincial Administration \\(15001\\)"
        assert f"| {P} | h_script\\.csv | {opdc} | {SCRIPT_MD} | not resolved |" in text
        assert f"| {P} | i_q99\\.csv | {dopa} | {Q99_MD} | not resolved |" in text
        assert f"| {P} | j_ctrl\\.csv | {CTRL_SHOWN_MD} | 2548-Q2 | not resolved |" in text
        assert f"| {P} | l_nolines\\.json | Ministry of Information and Communication Technology \\(11002\\) | 2548-Q2 |" in text


def test_explain_and_export_read_the_warehouse(hostile_run, tmp_path):
    root, *_ = hostile_run
    runner = CliRunner()
    explained = runner.invoke(main, ["explain", P, "K1", "2548-Q2", "--warehouse", str(root / "wh.duckdb")])
    assert explained.exit_code == 0, explained.output
    # The accepted file's name is shown with its ESC made visible, never sent to the terminal.
    assert f"2548-Q2: 55 from {ESC_NAME_SHOWN} row 2" in explained.output and "\x1b" not in explained.output
    assert "d_lead_q2_fix.csv (received" in explained.output  # the superseded version
    for fmt in ("csv", "parquet"):
        exported = runner.invoke(main, ["export", str(tmp_path / fmt), "--format", fmt,
                                        "--warehouse", str(root / "wh.duckdb")])
        assert exported.exit_code == 0, exported.output
