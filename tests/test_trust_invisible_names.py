"""File names and identity fields that differ only by invisible format characters: told apart everywhere.

Unicode's format characters (category Cf: U+200B ZERO WIDTH SPACE, U+2060 WORD JOINER, U+FEFF, the
soft hyphen U+00AD, tag characters) show as nothing, so two files whose names differed only by them
looked the same in validation.html, the summaries, the Prefect artifact, `explain` and the letters
(verifier V6); the terminal's printable() already escaped them. Thai text writes U+200B between
words, so free text keeps them; a file name and the identity an agency wrote (pilot id, agency code,
period as written) are marked where they are read (warehouse.display.identities, Ident), and visible()
shows their format characters as [U+200B] and so on. The registry refuses them in a KPI code, as
it already did in a pilot id.

tests/test_flow.py's registry (PLT-2548-003, as of 2005-05-15), an empty inbox and four files: the
lead's Q1 (accepted, U+00AD in its name), two Q1 files of the secondary 15001 whose names differ by
U+200B and U+FEFF (quarantined: KPI_NOT_LEAD), and a JSON file for an unknown pilot id holding U+2060.
"""
from __future__ import annotations

import csv
import io
import json

from click.testing import CliRunner

from flows.cli import main
from tests.prefect_reads import summary_artifacts_of
from tests.test_flow import HEADER, make_empty_scenario, run_cli

P = "PLT-2548-003"
LEAD = "a_lead\u00adq1.csv"
ZWSP, BOM = "b_sec\u200b.csv", "b_sec\ufeff.csv"


def test_invisible_characters_in_names_are_shown(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / LEAD).write_bytes(f"{HEADER}\n{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,\n".encode())
    (inbox / ZWSP).write_bytes(f"{HEADER}\n{P},15001,2548-Q1,2005-02-15,kpi,K1,,48,,,,\n".encode())
    (inbox / BOM).write_bytes(f"{HEADER}\n{P},15001,2548-Q1,2005-02-16,kpi,K1,,49,,,,\n".encode())
    (inbox / "c.json").write_text(json.dumps({"pilot_id": "PLT-9999\u2060", "agency_code": "15001",
                                              "period": "2548-Q1\u200b", "submitted_on": "2005-02-15",
                                              "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 1}]}),
                                  encoding="utf-8")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 4: accepted 1, superseded 0, duplicates 0, quarantined 3" in out, out
    o = tmp_path / "out"

    validation = (o / "validation.html").read_text(encoding="utf-8")
    for shown in ("a_lead[U+00AD]q1.csv", "b_sec[U+200B].csv", "b_sec[U+FEFF].csv", "PLT-9999[U+2060]"):
        assert f">{shown}<" in validation, shown
    # (The messages, free text, quote the value as it was: "Pilot 'PLT-9999\u2060' is not in the registry".)
    assert "\u00ad" not in validation and "\ufeff" not in validation
    en = (o / "summary.en.md").read_text(encoding="utf-8")
    # Before: "b_sec\u200b\\.csv" and "b_sec\ufeff\\.csv", which read alike.
    assert "\n- **not resolved** · b_sec\\[U\\+200B\\]\\.csv (Department of Provincial Administration \\(15001\\), FY2005 Q1):\n" in en
    assert "\n- **not resolved** · b_sec\\[U\\+FEFF\\]\\.csv (Department of Provincial Administration \\(15001\\), FY2005 Q1):\n" in en
    assert ("\n- c\\.json (pilot as written PLT-9999\\[U\\+2060\\], Department of Provincial Administration "
            "\\(15001\\), FY2005 Q1); ") in en  # the period read (U+200B is a quirk the reader drops)
    html = (o / "summary.en.html").read_text(encoding="utf-8")
    assert '<code class="file">b_sec[U+200B].csv</code>' in html and '<code class="file">b_sec[U+FEFF].csv</code>' in html
    for page in (en, html):
        assert not any(c in page for c in "\u200b\ufeff\u00ad")  # U+2060: in the message quoting the pilot id

    [artifact] = [a.data for a in summary_artifacts_of(o)]
    assert f"| {P} | b_sec\\[U\\+200B\\]\\.csv | Department of Provincial Administration \\(15001\\) | 2548-Q1 |" in artifact
    assert f"| {P} | b_sec\\[U\\+FEFF\\]\\.csv | Department of Provincial Administration \\(15001\\) | 2548-Q1 |" in artifact

    # The letter to 15001 names its latest quarantined file (follow-up.md): the second, U+FEFF.
    reminders = (o / "reminders" / "reminders.csv").read_text(encoding="utf-8-sig")
    [row] = [r for r in csv.reader(io.StringIO(reminders)) if r[0] == "15001"]
    assert row[9].split("\n")[0] == (f"{P} (ระบบบริการประชาชนแบบเบ็ดเสร็จ / One-stop e-citizen service) 2548-Q1 "
                                     "due 2005-01-30 105 days overdue level 3 rejected_file file b_sec[U+FEFF].csv")
    letter = (o / "reminders" / "15001.en.html").read_text(encoding="utf-8")
    assert "b_sec[U+FEFF].csv" in letter and "\ufeff" not in letter

    explained = CliRunner().invoke(main, ["explain", P, "K1", "2548-Q1", "--warehouse", str(tmp_path / "wh.duckdb")])
    assert explained.exit_code == 0, explained.output
    assert "  2548-Q1: 47 from a_lead[U+00AD]q1.csv row 2 " in explained.output, explained.output
    assert "\u00ad" not in explained.output
