"""The run's own validation report: every file the run received, its status, and every defect and
warning with row, column, code and the message in Thai and English.

Written instead of Great Expectations' Data Docs, which load their CSS from a CDN and show
unstyled offline; this page is one self-contained file, linked from the summaries.

Each job writes its own report, so no job overwrites another's: the nightly run `validation.html`
(the name operators and the summaries have always used), a reprocess or rebuild
`validation-<kind>-<run_id>.html`, which also links to the last nightly run's report. A summary
links to the report of the job whose marts it shows (`report_for`), and only when that very
report is in its folder: never to another job's report of the same name.
"""
from __future__ import annotations

from collections import Counter
from functools import cache
from pathlib import Path

import duckdb
from jinja2 import Environment, PackageLoader, select_autoescape

from warehouse.display import html_text, identities, shown
from kpis.files import write_atomically
from kpis.summary.controls import run_flags
from kpis.summary.labels import Z_LIMIT, fmt_date, fmt_period
from warehouse.open_side import restricted_submissions

VALIDATION_REPORT = "validation.html"  # the nightly run's report
_RUN_MARK = '<meta name="pilotkpi-run" content="{}">'  # which job's report a file is


def report_name(kind: str, run_id: str) -> str:
    """The file name of a job's validation report: one per job, so none overwrites another."""
    return VALIDATION_REPORT if kind == "run" else f"validation-{kind}-{run_id}.html"


def report_for(out_dir: Path, kind: str, run_id: str) -> str | None:
    """The name of job run_id's report in out_dir, or None when it is not there (its step failed,
    or the folder is another one); a validation.html of an earlier run does not count."""
    path = out_dir / report_name(kind, run_id)
    try:
        with open(path, encoding="utf-8") as fh:
            head = fh.read(2048)
    except OSError:
        return None
    return path.name if _RUN_MARK.format(run_id) in head else None

def period_both(period: str | None) -> str:
    """A period as the summaries show it, in both languages: ไตรมาส 3/2548 / FY2005 Q3."""
    return f"{fmt_period(period, 'th')} / {fmt_period(period, 'en')}"


# The page is read by Thai and English readers alike: every word is given in both.
STATUS = {"accepted": "รับแล้ว / accepted", "superseded": "มีฉบับใหม่แทน / superseded",
          "duplicate": "ไฟล์ซ้ำ / duplicate", "quarantined": "กักไว้ / quarantined",
          "held": "รอการพิจารณา / held", "rejected": "ไม่อนุมัติ / rejected"}
KINDS = {"run": "รอบประจำวัน / nightly run", "reprocess": "อ่านไฟล์ใหม่ / reprocess",
         "rebuild": "คำนวณใหม่ / rebuild"}
SEVERITY = {"error": "ข้อผิดพลาด / error", "warning": "คำเตือน / warning"}


@cache
def report_environment() -> Environment:
    """The report's environment, made once per process: its filters and globals are constants,
    and it keeps its compiled template (Jinja compiles it again if the file changes on disk). The
    forkserver of `pilotkpi serve` compiles it (flows/warm_preload.py): a served night does not."""
    # finalize: agency text (file names, raw identity, messages) with control characters visible.
    env = Environment(loader=PackageLoader("kpis.summary", "templates"), autoescape=select_autoescape(["html.j2"]),
                      trim_blocks=True, lstrip_blocks=True, finalize=html_text)
    env.filters.update(period=period_both)
    env.globals.update(shown=shown, STATUS=STATUS, KINDS=KINDS, SEVERITY=SEVERITY, period_both=period_both,
                       z_limit=Z_LIMIT,
                       day=lambda d: f"{fmt_date(d, 'th')} / {fmt_date(d, 'en')}")
    return env


def write_validation_report(con: duckdb.DuckDBPyConnection, run_id: str, out_dir: Path) -> Path:
    run = con.execute("SELECT run_id, as_of, kind, files_seen FROM ops.runs WHERE run_id = ?", [run_id]).fetchone()
    kind = run[2]
    # resolved_by: a later valid version of the same (pilot, agency, period), as in the summary.
    res = con.execute("""
        SELECT s.submission_id, s.file_name, s.status, s.pilot_id, s.agency_code, s.period, s.duplicate_of,
               s.superseded_by, s.reprocess_of, p.classification,
               s.raw_pilot_id, s.raw_agency_code, s.raw_period, a.name_th AS agency_th, a.name_en AS agency_en,
               (SELECT max(v.submission_id) FROM ingest.submissions v
                WHERE s.status = 'quarantined' AND v.pilot_id = s.pilot_id AND v.agency_code = s.agency_code
                  AND v.period = s.period AND v.status IN ('accepted', 'superseded')
                  AND v.submission_id > s.submission_id) AS resolved_by
        FROM ingest.submissions s LEFT JOIN registry.pilots p USING (pilot_id)
        LEFT JOIN registry.agencies a ON a.agency_code = s.agency_code
        WHERE s.run_id = ? ORDER BY s.submission_id""", [run_id])
    names = [d[0] for d in res.description]
    files = [identities(dict(zip(names, r))) for r in res.fetchall()]
    # Restricted pilots' files are a count only (warehouse.md): no name, identity or defect of
    # theirs reaches the template, and the run's totals are of the open files.
    # Their rows are in the restricted store (warehouse/restricted.py); ops.runs.files_seen counts
    # every file the run received, so the difference is theirs. Rows of a restricted pilot still
    # in this warehouse (one that was open before) are hidden and counted too.
    hidden = restricted_submissions(con)
    restricted = sum(f["submission_id"] in hidden for f in files) + max(0, (run[3] or 0) - len(files))
    files = [f for f in files if f["submission_id"] not in hidden]
    issues: dict[int, list[dict]] = {}
    res = con.execute("""
        SELECT i.submission_id, i.row_number, i.column_name, i.code, i.severity, i.message_en, i.message_th
        FROM ingest.issues i JOIN ingest.submissions s USING (submission_id)
        WHERE s.run_id = ? ORDER BY i.submission_id, i.row_number NULLS FIRST, i.column_name, i.code""", [run_id])
    names = [d[0] for d in res.description]
    for r in res.fetchall():
        row = dict(zip(names, r))
        if row["submission_id"] in hidden:
            continue
        issues.setdefault(row["submission_id"], []).append(row)
    env = report_environment()
    # A reprocess or rebuild reads one file or none: its page points to the night's report too.
    nightly = VALIDATION_REPORT if kind != "run" and (out_dir / VALIDATION_REPORT).exists() else None
    # The counts and the two lists the page shows, taken here in one pass each: as Jinja filters
    # (selectattr) they were seven passes over every file of the night, a fifth of the page's time.
    counts = Counter(f["status"] for f in files)
    quarantined = [f for f in files if f["status"] == "quarantined"]
    accepted = [f for f in files if f["status"] == "accepted"]
    warned = sum(f["submission_id"] in issues for f in accepted)
    html = env.get_template("validation.html.j2").render(run=run, files=files, issues=issues, nightly=nightly,
                                                          flags=run_flags(con, run_id), restricted=restricted,
                                                          counts=counts, quarantined=quarantined,
                                                          accepted=accepted, warned=warned)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / report_name(kind, run_id)
    write_atomically(path, html.encode("utf-8"))  # no temporary file left if it fails; its error names path
    return path
