"""The run's own validation report (instead of Great Expectations' Data Docs, which need a CDN):
every file of the run and every defect or warning, self-contained, linked from the summaries."""
from __future__ import annotations

import re

import duckdb


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
    assert len(files) == 130
    assert ("130 ไฟล์ / file(s): รับแล้ว / accepted 121, มีฉบับใหม่แทน / superseded 1, ไฟล์ซ้ำ / duplicate 1, "
            "กักไว้ / quarantined 7") in " ".join(page.split())
    assert len(re.findall(r'<h2 id="s\d+">', page)) == 130
    for sid, name, classification in files:
        assert (name in page) == (classification != "restricted"), name  # restricted: no file names
    open_issues = [(code, msg) for code, msg, classification in issues if classification != "restricted"]
    assert open_issues and page.count("<tr class=") == len(open_issues)
    for code, message in open_issues:
        assert code in page
    for forbidden in ("<script", "<link", "http://", "https://", "url("):
        assert forbidden not in page
    for lang in ("th", "en"):
        assert 'href="validation.html"' in (folder / "out" / f"summary.{lang}.html").read_text(encoding="utf-8")
        assert "(validation.html)" in (folder / "out" / f"summary.{lang}.md").read_text(encoding="utf-8")
