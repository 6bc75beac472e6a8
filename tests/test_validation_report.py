"""The run's own validation report (instead of Great Expectations' Data Docs, which need a CDN):
every file of the run and every defect or warning, self-contained, linked from the summaries."""
from __future__ import annotations

import html
import re

import duckdb


def _text(page: str) -> str:
    """The page as read: tags (a file name's <wbr> break points) removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def test_every_file_and_every_issue_of_the_run_is_listed(demo_run):
    folder, _ = demo_run
    page = (folder / "out" / "validation.html").read_text(encoding="utf-8")
    con = duckdb.connect(str(folder / "warehouse.published.duckdb"), read_only=True)
    try:
        files = con.execute("SELECT s.submission_id, s.file_name, p.classification FROM ingest.submissions s "
                            "LEFT JOIN registry.pilots p USING (pilot_id)").fetchall()
        issues = con.execute("SELECT i.code, i.message_en, p.classification FROM ingest.issues i JOIN "
                             "ingest.submissions s USING (submission_id) LEFT JOIN registry.pilots p USING (pilot_id)"
                             ).fetchall()
    finally:
        con.close()
    # The open warehouse lists the 130 files less the restricted pilot's 29 (28 accepted, 1
    # quarantined), which are in the restricted store only: 101 = 93 accepted (121 - 28),
    # 1 superseded, 1 duplicate, 6 quarantined (7 - 1).
    assert len(files) == 101
    assert ("101 ไฟล์ / file(s): รับแล้ว / accepted 93, มีฉบับใหม่แทน / superseded 1, ไฟล์ซ้ำ / duplicate 1, "
            "กักไว้ / quarantined 6") in " ".join(page.split())
    # Files to look at are listed at length (8); the 93 accepted ones collapsed under their count.
    assert len(re.findall(r'<h2 id="s\d+">', page)) == 8
    details = page.split('<details id="accepted" data-count="93">', 1)[1].split("</details>", 1)[0]
    assert "<summary>รับแล้ว 93 ไฟล์ / 93 accepted file(s)</summary>" in details
    assert len(re.findall(r'<h3 id="s\d+">', details)) == 93 and '<h2 id="s' not in details
    # They are a count (ops.runs.files_seen 130 less the 101 here), with no id or name of theirs.
    assert ("ไม่รวมไฟล์ของโครงการชั้นความลับอีก 29 ไฟล์ รายละเอียดอยู่ในระบบที่แยกไว้ / Not counted above: 29 "
            "file(s) of restricted pilots, details in the restricted store.") in " ".join(page.split())
    assert "PLT-2548-006" not in page
    shown = _text(page)
    for sid, name, classification in files:
        assert (name in shown) == (classification != "restricted"), name  # restricted: no file names
    open_issues = [(code, msg) for code, msg, classification in issues if classification != "restricted"]
    assert open_issues and page.count("<tr class=") == len(open_issues)
    for code, message in open_issues:
        assert code in page
    for forbidden in ("<script", "<link", "http://", "https://", "url("):
        assert forbidden not in page
    for lang in ("th", "en"):
        assert 'href="validation.html"' in (folder / "out" / f"summary.{lang}.html").read_text(encoding="utf-8")
        assert "(validation.html)" in (folder / "out" / f"summary.{lang}.md").read_text(encoding="utf-8")


def test_quarantined_files_come_first_with_their_resolution(demo_run):
    """The demo quarantines 7 files (docs/demo.md), one of them the restricted pilot's (a count
    only); of the 6 open ones 5 were re-sent corrected, the unknown-pilot typo (PLT-2548-030) was
    not: one line each, before the list of every file."""
    page = (demo_run[0] / "out" / "validation.html").read_text(encoding="utf-8")
    summary, everything = page.split('<h2 id="all">', 1)
    assert "ไฟล์ที่ถูกกักไว้ / Quarantined files (6)" in summary and '<h2 id="s' not in summary
    rows = summary.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    assert len(rows) == 6
    assert sum("แก้ไขแล้ว / resolved" in r for r in rows) == 5
    unresolved = [r for r in rows if "ยังไม่ได้แก้ไข / not resolved" in r]
    assert len(unresolved) == 1 and "PLT-2548-030" in unresolved[0] and "(PILOT_UNKNOWN)" in unresolved[0]
    # Agencies by name in both languages; statuses in both languages.
    assert "กระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร / Ministry of Information and Communication Technology (11002)" in summary
    assert '<span class="s s-accepted">รับแล้ว / accepted</span>' in everything
    assert "ข้อมูล ณ วันที่ / as of 15 ส.ค. 2549 / 15 Aug 2006" in page


def test_file_names_break_at_separators_and_periods_read_as_in_the_summaries(demo_run):
    """A file name breaks where line breaking allows (after a hyphen), not anywhere: no break-all,
    which broke inside the extension; periods show as the summaries write them (ไตรมาส 3/2548 /
    FY2005 Q3: FY 2548 is CE 2005), not as codes. (How Chromium lays it out: tests/test_pdf_layout.py.)"""
    page = (demo_run[0] / "out" / "validation.html").read_text(encoding="utf-8")
    assert '<a href="#s3"><code class="file">PLT-2548-001_11002_2548-Q3.csv</code></a>' in page
    assert "code.file { word-break: normal; overflow-wrap: break-word; }" in page
    quarantined = page.split('<h2 id="all">', 1)[0]
    assert "ไตรมาส 3/2548 / FY2005 Q3" in quarantined and "ไตรมาส 1/2549 / FY2006 Q1" in quarantined
    assert not re.search(r">\s*25[0-9]{2}-Q[1-4]\s*<", page)  # no bare code in a cell
    flags = page.split('id="outliers"', 1)[1]
    assert "<td>ไตรมาส 1/2549 / FY2006 Q1</td>" in flags and "|z| &gt; 3.5" in flags


def test_the_flag_table_heads_its_columns_in_thai_and_english(demo_run):
    """Each header is Thai / English, the submission named as the rest of the report names it
    (ลำดับรับที่ / submission): the last column read "submission, แถว / row" (verifier VM F5)."""
    page = (demo_run[0] / "out" / "validation.html").read_text(encoding="utf-8")
    flags = page.split('id="outliers"', 1)[1]
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", flags).group(1)
    assert re.findall(r"<th>(.*?)</th>", head) == [
        "โครงการ / pilot", "ตัวชี้วัด / KPI", "งวด / period", "ค่า / actual", "มัธยฐานย้อนหลัง / history median (n)",
        "ค่า z ปรับแก้ / modified z", "เกณฑ์ / rule", "ลำดับรับที่, แถว / submission, row"]
