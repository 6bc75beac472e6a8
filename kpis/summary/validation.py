"""The run's own validation report: every file the run received, its status, and every defect and
warning with row, column, code and the message in Thai and English.

Written instead of Great Expectations' Data Docs, which load their CSS from a CDN and show
unstyled offline; this page is one self-contained file, linked from the summaries.
"""
from __future__ import annotations

from pathlib import Path

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from kpis.display import html_text, shown
from kpis.summary.controls import run_flags
from kpis.summary.render import VALIDATION_REPORT


def write_validation_report(con: duckdb.DuckDBPyConnection, run_id: str, out_dir: Path) -> Path:
    run = con.execute("SELECT run_id, as_of, kind FROM ops.runs WHERE run_id = ?", [run_id]).fetchone()
    res = con.execute("""
        SELECT s.submission_id, s.file_name, s.status, s.pilot_id, s.agency_code, s.period, s.duplicate_of,
               s.superseded_by, s.reprocess_of, p.classification,
               s.raw_pilot_id, s.raw_agency_code, s.raw_period
        FROM ingest.submissions s LEFT JOIN registry.pilots p USING (pilot_id)
        WHERE s.run_id = ? ORDER BY s.submission_id""", [run_id])
    names = [d[0] for d in res.description]
    files = [dict(zip(names, r)) for r in res.fetchall()]
    issues: dict[int, list[dict]] = {}
    res = con.execute("""
        SELECT i.submission_id, i.row_number, i.column_name, i.code, i.severity, i.message_en, i.message_th
        FROM ingest.issues i JOIN ingest.submissions s USING (submission_id)
        WHERE s.run_id = ? ORDER BY i.submission_id, i.row_number NULLS FIRST, i.column_name, i.code""", [run_id])
    names = [d[0] for d in res.description]
    for r in res.fetchall():
        row = dict(zip(names, r))
        issues.setdefault(row["submission_id"], []).append(row)
    # finalize: agency text (file names, raw identity, messages) with control characters visible.
    env = Environment(loader=PackageLoader("kpis.summary", "templates"), autoescape=select_autoescape(["html.j2"]),
                      trim_blocks=True, lstrip_blocks=True, finalize=html_text)
    env.globals["shown"] = shown
    html = env.get_template("validation.html.j2").render(run=run, files=files, issues=issues,
                                                          flags=run_flags(con, run_id))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / VALIDATION_REPORT
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(path)
    return path
