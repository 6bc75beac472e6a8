"""File names and values that Markdown would parse, through one night: no Markdown structure of their own.

warehouse/display.py md_text escaped only \\ ` | [ ] & < >, so in summary.{th,en}.md and the Prefect
artifact a file name "# PWNED heading.csv" (first on its line of the unplaced list, `- {{ q.file_name }}`)
became a heading, "1. ordered.csv" an ordered list, "*x*" and "__x__" emphasis, "~~x~~" a strike,
and a bare http:// URL a link in GFM viewers (verifier V6). Now every ASCII punctuation character of
agency text is escaped (CommonMark allows a backslash before any of them), but "-" and "_" between two
letters or digits (PLT-9999-999: no syntax there); figures, dates and periods that the templates
format themselves stay as they were (ไตรมาส 1/2548, FY2005 Q1).

The registry is tests/test_flow.py's (PLT-2548-003, as of 2005-05-15) with an empty inbox and four
files: one quarantined in the pilot's section (the secondary agency 15001 sends KPI lines:
KPI_NOT_LEAD), three no pilot could take (the summary's "unplaced" list).
"""
from __future__ import annotations

import json
import re


from tests.prefect_reads import summary_artifacts_of
from tests.test_flow import HEADER, make_empty_scenario, run_cli

P = "PLT-2548-003"
EMPHASIS = "ผลการดำเนินงาน *ฉบับแก้ไข* (__final__).csv"


def csv_bytes(row: str) -> bytes:
    return f"{HEADER}\n{row}\n".encode("utf-8")


def test_agency_text_takes_no_markdown_structure(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / EMPHASIS).write_bytes(csv_bytes(f"{P},15001,2548-Q1,2005-02-15,kpi,K1,,47,,,,"))
    (inbox / "# PWNED heading.csv").write_bytes(csv_bytes("PLT-9999-999,15001,2548-Q1,2005-02-15,kpi,K1,,47,,,,"))
    (inbox / "1. ordered.csv").write_bytes(csv_bytes("PLT-9999-998,15001,2548-Q1,2005-02-15,kpi,K1,,47,,,,"))
    (inbox / "z.json").write_text(json.dumps({"pilot_id": "PLT-~~gone~~", "agency_code": "15001",
                                              "period": "**Q9** http://evil.example/x",
                                              "submitted_on": "2005-02-15", "lines": []}), encoding="utf-8")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 4: accepted 0, superseded 0, duplicates 0, quarantined 4" in out

    en = (tmp_path / "out" / "summary.en.md").read_text(encoding="utf-8")
    th = (tmp_path / "out" / "summary.th.md").read_text(encoding="utf-8")
    dopa = "Department of Provincial Administration \\(15001\\)"
    # Before: "- # PWNED heading.csv (…", "- 1. ordered.csv (…", "… *ฉบับแก้ไข* (__final__).csv (…".
    assert ("\n- \\# PWNED heading\\.csv (pilot as written PLT-9999-999, " + dopa + ", FY2005 Q1); "
            "row 2, column pilot_id: Pilot \\'PLT-9999-999\\' is not in the registry\\. (PILOT_UNKNOWN)\n") in en
    assert ("\n- 1\\. ordered\\.csv (pilot as written PLT-9999-998, " + dopa + ", FY2005 Q1); "
            "row 2, column pilot_id: Pilot \\'PLT-9999-998\\' is not in the registry\\. (PILOT_UNKNOWN)\n") in en
    assert ("\n- z\\.json (pilot as written PLT\\-\\~\\~gone\\~\\~, " + dopa + ", \\*\\*Q9\\*\\* "
            "http\\:\\/\\/evil\\.example\\/x); The file holds no report table\\: the JSON object has no "
            "non-empty \\'lines\\' list\\. (FILE_NO_TABLE)\n") in en
    assert ("\n- **not resolved** · ผลการดำเนินงาน \\*ฉบับแก้ไข\\* \\(\\_\\_final\\_\\_\\)\\.csv (" + dopa
            + ", FY2005 Q1):\n") in en
    # The Thai edition: the period the template formats stays readable (ไตรมาส 1/2548, not 1\/2548).
    assert ("\n- \\# PWNED heading\\.csv (รหัสโครงการในไฟล์ PLT-9999-999, กรมการปกครอง \\(15001\\), "
            "ไตรมาส 1/2548); แถว 2, ") in th
    assert "\n- **ยังไม่ได้แก้ไข** · ผลการดำเนินงาน \\*ฉบับแก้ไข\\* \\(\\_\\_final\\_\\_\\)\\.csv (กรมการปกครอง \\(15001\\), ไตรมาส 1/2548):\n" in th

    [artifact] = [a.data for a in summary_artifacts_of(tmp_path / "out")]
    assert (f"| {P} | ผลการดำเนินงาน \\*ฉบับแก้ไข\\* \\(\\_\\_final\\_\\_\\)\\.csv | {dopa} | 2548-Q1 | "
            "not resolved |\n") in artifact

    # As a Markdown viewer reads them (CommonMark, GFM tables and strikethrough): the agency's
    # text is text, its characters shown as written; no heading, list, emphasis, strike or link.
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    for text in (en, th, artifact):
        html = md.render(text)
        for tag in ("h1", "h2", "h3", "ol", "em", "strong", "s", "del", "a"):
            found = re.findall(rf"<{tag}[ >][^<]*(?:PWNED|ordered|ฉบับแก้ไข|final|gone|Q9|evil)", html)
            assert found == [], (tag, found)
    html = md.render(en)
    assert "<li># PWNED heading.csv (pilot as written PLT-9999-999, " in html
    assert "<li>1. ordered.csv (pilot as written PLT-9999-998, " in html
    assert "PLT-~~gone~~, Department of Provincial Administration (15001), **Q9** http://evil.example/x);" in html
    assert "ผลการดำเนินงาน *ฉบับแก้ไข* (__final__).csv (Department of Provincial Administration (15001), FY2005 Q1)" in html
