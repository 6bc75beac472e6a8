"""The drill-down (pilot -> KPI score with its formula -> submission -> lines -> original file),
and the analysts' read-only SQL page (spec web.md, "Drill-down").

Who sees what (web.md's table and its restricted-pilot rule):
- analyst and committee: every open pilot's scores and files; a restricted pilot's lineage,
  lines and original files only when the account is `restricted: true`, read from the
  restricted store and its evidence folder.
- agency: its own agencies' files (open or restricted: it sent them), and the score pages of
  open pilots whose lead agency it speaks for. Reading: a score is computed from the lead agency's
  files alone (scoring.md §1), and the page names those files and their rows, so an agency that
  is not the lead would see another agency's files: for it the score page answers 404. A
  restricted pilot's score page answers 404 to every agency, its lead included: spec web.md
  gives an agency "its own restricted submissions and their status" and everyone not cleared
  "what the open side already shows", and the page shows the KPI's name, weight, thresholds
  and score, which only the restricted store holds (its pilot page withholds them likewise).
- anything the account may not see answers 404, exactly like an id that does not exist.

Every table here is a `web.tables.Table`, downloadable as CSV and XLSX with the rows the page
shows. The SQL page runs on the published copy, which the site opens through the lockdown of
`pilotkpi sql` (warehouse.shell.open_sandboxed); the restricted store is never reachable from it.
"""
from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from pathlib import PurePosixPath
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kpis.explain import Lineage, NotFound, lineage, number, render
from kpis.summary.labels import status_text
from pilots.normalise import clean_text, parse_period
from warehouse import evidence
from warehouse.db import evidence_dir_for
from warehouse.restricted import files_for
from warehouse.shell import run_limited
from web.app import LOGGER, Page, route
from web.labels import LANGS, WORDS, add_words
from web.tables import Table, download_response, wanted

LINES_PER_PAGE = 200  # a big file's lines are paged; its download holds them all
SQL_MAX_ROWS = 1000  # rows shown (and downloaded) per statement
SQL_SECONDS = 10.0  # a request's statements together (warehouse/shell.run_limited), then interrupted
SQL_MAX_CHARS = 20_000
_SHA = re.compile(r"^[0-9a-f]{64}$")

add_words(
    th={
        "drilldown_score": "ที่มาของคะแนนตัวชี้วัด", "drilldown_unit": "หน่วย", "drilldown_direction": "ทิศทาง",
        "drilldown_higher": "ค่ายิ่งสูงยิ่งดี", "drilldown_lower": "ค่ายิ่งต่ำยิ่งดี",
        "drilldown_aggregation": "วิธีรวมค่า", "drilldown_agg_last": "ค่าของไตรมาสนั้น",
        "drilldown_agg_sum": "ผลรวมตั้งแต่ไตรมาสแรกของปีงบประมาณ", "drilldown_weight": "น้ำหนัก",
        "drilldown_actual": "ผลการดำเนินงาน (a)", "drilldown_missing": "ไม่มีข้อมูล",
        "drilldown_registered": "เกณฑ์ที่ลงทะเบียน", "drilldown_applied": "เกณฑ์ที่ใช้",
        "drilldown_formula": "สูตร", "drilldown_score_value": "คะแนน", "drilldown_weighted": "คะแนนถ่วงน้ำหนัก",
        "drilldown_kpi_status": "สถานะ", "drilldown_sources": "ข้อมูลที่ใช้คำนวณ (รายงานที่รับแล้วของหน่วยงานหลัก)",
        "drilldown_file": "ไฟล์", "drilldown_row": "แถว", "drilldown_submission": "เลขที่รายงาน",
        "drilldown_received": "รอบประมวลผลกลางคืนรับเข้าเมื่อ", "drilldown_as_cli": "ผลเดียวกับคำสั่ง pilotkpi explain",
        "drilldown_pilot_page": "หน้าโครงการ", "drilldown_no_sources": "ไม่มีรายการที่ใช้คำนวณ",
        "drilldown_lines": "รายการในไฟล์", "drilldown_line_type": "ประเภท", "drilldown_item": "รหัสรายการ",
        "drilldown_layer": "ชั้น", "drilldown_allocated": "งบประมาณที่ได้รับ (บาท)",
        "drilldown_disbursed": "เบิกจ่าย (บาท)", "drilldown_funding": "แหล่งเงิน", "drilldown_note": "หมายเหตุ",
        "drilldown_no_lines": "ไม่มีรายการที่จัดเก็บไว้สำหรับไฟล์นี้ (เก็บเฉพาะรายการของไฟล์ที่รับแล้วหรือรอพิจารณา) ดูได้จากไฟล์ต้นฉบับ",
        "drilldown_page": "หน้า {n} จาก {of} ({count} รายการ)", "drilldown_previous": "ก่อนหน้า",
        "drilldown_next": "ถัดไป", "drilldown_original": "ดาวน์โหลดไฟล์ต้นฉบับ (ตามที่ส่งมา)",
        "drilldown_sha": "SHA-256 ของไฟล์ต้นฉบับ", "drilldown_issues": "ข้อผิดพลาดและคำเตือน",
        "drilldown_changed_title": "ดาวน์โหลดไฟล์ต้นฉบับนี้ไม่ได้",
        "drilldown_changed": "ไฟล์ต้นฉบับที่จัดเก็บไว้ (SHA-256 {sha}) ไม่ตรงกับ SHA-256 ที่บันทึกไว้เมื่อได้รับไฟล์ ไฟล์ถูกแก้ไขหรือเสียหายหลังจากจัดเก็บ จึงไม่ส่งให้ดาวน์โหลด",
        "drilldown_changed_todo": "ข้อมูลและคะแนนในคลังข้อมูลไม่เปลี่ยนแปลง กรุณาแจ้งผู้ดูแลระบบ ซึ่งนำไฟล์กลับคืนจากสำรองข้อมูลได้ (ตรวจสอบด้วย SHA-256 ข้างต้น) แล้วลิงก์นี้จะใช้ได้ทันทีโดยไม่ต้องเริ่มระบบใหม่",
        "drilldown_sql": "SQL", "drilldown_sql_title": "สืบค้นสำเนาเผยแพร่ด้วย SQL (อ่านอย่างเดียว)",
        "drilldown_sql_help": "อ่านได้อย่างเดียวจากสำเนาที่เผยแพร่ (ไม่มีข้อมูลโครงการชั้นความลับ) ไม่อ่านหรือเขียนไฟล์ แสดงไม่เกิน {rows} แถวต่อคำสั่ง และทุกคำสั่งในครั้งเดียวกันรวมกันใช้เวลาได้ไม่เกิน {seconds} วินาที",
        "drilldown_run": "เรียกใช้", "drilldown_truncated": "แสดง {rows} แถวแรกเท่านั้น",
        "drilldown_rows": "{n} แถว", "drilldown_statement": "คำสั่ง", "drilldown_relations": "ตารางที่มี",
    },
    en={
        "drilldown_score": "How the KPI score was reached", "drilldown_unit": "Unit", "drilldown_direction": "Direction",
        "drilldown_higher": "higher is better", "drilldown_lower": "lower is better",
        "drilldown_aggregation": "Aggregation", "drilldown_agg_last": "the quarter's value",
        "drilldown_agg_sum": "sum of the fiscal year's quarters so far", "drilldown_weight": "Weight",
        "drilldown_actual": "Actual (a)", "drilldown_missing": "missing",
        "drilldown_registered": "Thresholds registered", "drilldown_applied": "Thresholds applied",
        "drilldown_formula": "Formula", "drilldown_score_value": "Score", "drilldown_weighted": "Weighted score",
        "drilldown_kpi_status": "Status", "drilldown_sources": "The lines behind the actual (the lead agency's accepted reports)",
        "drilldown_file": "File", "drilldown_row": "Row", "drilldown_submission": "Submission",
        "drilldown_received": "Taken in by the night's run", "drilldown_as_cli": "As pilotkpi explain prints it",
        "drilldown_pilot_page": "Pilot page", "drilldown_no_sources": "No line behind the actual",
        "drilldown_lines": "The file's lines", "drilldown_line_type": "Line type", "drilldown_item": "Item code",
        "drilldown_layer": "Layer", "drilldown_allocated": "Allocated (THB)",
        "drilldown_disbursed": "Disbursed (THB)", "drilldown_funding": "Funding source", "drilldown_note": "Note",
        "drilldown_no_lines": "No lines are stored for this file (only accepted and held files' lines are); see the original file.",
        "drilldown_page": "Page {n} of {of} ({count} lines)", "drilldown_previous": "Previous",
        "drilldown_next": "Next", "drilldown_original": "Download the original file (as sent)",
        "drilldown_sha": "SHA-256 of the original file", "drilldown_issues": "Defects and warnings",
        "drilldown_changed_title": "This original file cannot be downloaded",
        "drilldown_changed": "The stored original file (SHA-256 {sha}) no longer matches the SHA-256 recorded when it was received: it was changed or damaged after it was stored, so it is not offered.",
        "drilldown_changed_todo": "The warehouse's rows and scores are unchanged. Tell the operator, who can restore the file from its backup (checked by the SHA-256 above); this link then works again at once, without a restart.",
        "drilldown_sql": "SQL", "drilldown_sql_title": "Read-only SQL on the published copy",
        "drilldown_sql_help": "Read-only, on the published copy (which holds no restricted pilot's line-level data); no file is read or written; at most {rows} rows per statement, and the statements sent together are stopped after {seconds} s in all.",
        "drilldown_run": "Run", "drilldown_truncated": "Only the first {rows} rows are shown.",
        "drilldown_rows": "{n} rows", "drilldown_statement": "Statement", "drilldown_relations": "Relations",
    },
)


# --- whose is what ---------------------------------------------------------------------------

SUBMISSION_COLUMNS = ("submission_id, sha256, file_name, size_bytes, received_at, pilot_id, agency_code, period, "
                      "submitted_on, status, error_count, warning_count")


def visible_files(page: Page, sha256: str) -> list[dict]:
    """The stored rows of one file (by SHA-256) the account may see; [] for another agency's, a
    restricted one it is not cleared for, or none. Each row says its store (open / restricted)
    and its name as sent (the audit trail's, for a file sent through the site)."""
    account, data = page.account, page.site.data
    if not _SHA.match(sha256):
        return []
    if account.role == "agency":
        return data.submission(account.agencies, sha256)
    sql = f"SELECT {SUBMISSION_COLUMNS} FROM ingest.submissions WHERE sha256 = ? ORDER BY submission_id"
    rows = [dict(r, store="open") for r in data.published.rows(sql, [sha256])]
    if account.restricted:
        rows += [dict(r, store="restricted") for r in data.restricted.rows(sql, [sha256])]
    return data.as_sent(rows)


def _store(page: Page, row: dict):
    return page.site.data.published if row["store"] == "open" else page.site.data.restricted


def _evidence_dir(page: Page, row: dict):
    config = page.site.config
    if row["store"] == "open":
        return evidence_dir_for(config.warehouse)
    return files_for(config.warehouse, config.restricted_store).evidence


def may_see_score(page: Page, pilot: dict) -> bool:
    """Whether the account may open this pilot's score pages (also: whether its pilot page links them)."""
    account = page.account
    if pilot["classification"] == "restricted":
        return account.cleared
    if account.role == "agency":
        return pilot["lead_agency_code"] in account.agencies
    return True


# --- pilot -> KPI score ----------------------------------------------------------------------

def score_lineage(page: Page, pilot_id: str, kpi_code: str, period: str) -> tuple[Lineage, dict] | None:
    """The lineage of a score the account may see, and the SHA-256 of each submission it names
    (None: no such score, or not this account's to see)."""
    data = page.site.data
    pilots = data.published.rows("SELECT classification, lead_agency_code FROM registry.pilots WHERE pilot_id = ?",
                                 [pilot_id])
    if not pilots or not may_see_score(page, pilots[0]):
        return None
    restricted = pilots[0]["classification"] == "restricted"
    with (data.restricted if restricted else data.published).cursor() as cur:
        if cur is None:
            return None
        try:
            found = lineage(cur, pilot_id, kpi_code, period, restricted_store=restricted)
        except NotFound:
            return None
        ids = {s.submission_id for s in found.sources}
        shas = {}
        if ids:
            shas = dict(cur.execute("SELECT submission_id, sha256 FROM ingest.submissions WHERE submission_id IN "
                                    f"({', '.join('?' * len(ids))})", sorted(ids)).fetchall())
    return found, shas


def score_tables(found: Lineage, shas: dict, lang: str, sends: dict | None = None) -> tuple[Table, Table]:
    """The score's facts and its sources; the status in the committee summary's words (one
    vocabulary for a status across the summary, the pilot pages and the drill-down). A source
    sent through the site is named as sent (`sends`: AgencyData.sends_by_sha), as every page names it."""
    sends = sends or {}
    def as_sent(src) -> str:
        send = sends.get(shas.get(src.submission_id))
        return send["file_name"] if send else src.file_name

    words, s = WORDS[lang], found.score
    thresholds = lambda values: " / ".join(number(v) for v in values)  # noqa: E731
    facts = [
        ("unit", words["drilldown_unit"], s["unit"]),
        ("direction", words["drilldown_direction"], words[f"drilldown_{s['direction']}"]),
        ("aggregation", words["drilldown_aggregation"], words[f"drilldown_agg_{s['aggregation']}"]),
        ("weight", words["drilldown_weight"], number(s["weight"])),
        ("actual", words["drilldown_actual"],
         words["drilldown_missing"] if s["is_missing"] else number(s["actual"])),
        ("thresholds_registered", words["drilldown_registered"],
         thresholds(found.registered[f"t{i}"] for i in range(1, 6)) if found.registered else "–"),
        ("thresholds_applied", words["drilldown_applied"], thresholds(found.applied)),
        ("formula", words["drilldown_formula"], found.formula),
        ("score", words["drilldown_score_value"], str(s["score"])),
        ("weighted_score", words["drilldown_weighted"],
         f"{s['score']} × {number(s['weight'])} / 100 = {s['weighted_score']}"),
        ("status", words["drilldown_kpi_status"], status_text(s["status"], lang)),
    ]
    name = f"score-{found.pilot_id}-{found.kpi_code}-{found.period}".lower()
    score = Table(_safe(name), ["item", "label", "value"],
                  [{"item": k, "label": label, "value": v} for k, label, v in facts])
    sources = Table(_safe(name + "-sources"),
                    ["period", "actual", "file_name", "row_number", "submission_id", "sha256", "received_at"],
                    [{"period": src.period, "actual": src.actual, "file_name": as_sent(src),
                      "row_number": src.row_number, "submission_id": src.submission_id,
                      "sha256": shas.get(src.submission_id), "received_at": src.received_at}
                     for src in found.sources],
                    headers=[words["period"], words["drilldown_actual"], words["drilldown_file"],
                             words["drilldown_row"], words["drilldown_submission"], "SHA-256",
                             words["processed_at"]], bangkok_times=True)  # Bangkok time, as the page
    return score, sources


def _safe(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name)[:60].strip("-") or "table"


@route("agency", "analyst", "committee")
async def score(request: Request, page: Page) -> Response:
    pilot_id = clean_text(request.path_params["pilot_id"]) or ""
    kpi_code = clean_text(request.path_params["kpi_code"]) or ""
    period = parse_period(clean_text(request.path_params["period"]) or "")
    if not period:
        return page.error(404, "not_found")
    result = await run_in_threadpool(score_lineage, page, pilot_id, kpi_code, period)
    if result is None:
        return page.error(404, "not_found")
    found, shas = result
    facts, sources = score_tables(found, shas, page.lang, page.site.data.sends_by_sha())
    asked = wanted(request.query_params, [facts, sources])
    if asked:
        return page.finish(download_response(*asked))
    return page.render("drill_score.html", found=found, facts=facts, sources=sources, shas=shas,
                       explain_text=render(found), number=number)


# --- the submission's lines and its original file --------------------------------------------

LINES_SQL = """
    SELECT row_number, pilot_id, agency_code, period, 'kpi' AS line_type, kpi_code AS item_code,
           NULL::INTEGER AS layer, actual, NULL::DECIMAL(18,2) AS allocated_thb, NULL::DECIMAL(18,2) AS disbursed_thb,
           NULL::VARCHAR AS funding_source, note
    FROM {kpi} WHERE submission_id = ?
    UNION ALL
    SELECT row_number, pilot_id, agency_code, period, 'budget', activity_code, layer, NULL, allocated_thb,
           disbursed_thb, funding_source, note
    FROM {budget} WHERE submission_id = ?"""
LINE_COLUMNS = ["row_number", "pilot_id", "agency_code", "period", "line_type", "item_code", "layer", "actual",
                "allocated_thb", "disbursed_thb", "funding_source", "note"]


def _lines_sql(row: dict) -> str:
    """An accepted file's lines are in core.*; a held (or rejected) file's stayed in ingest.held_*.
    A superseded or quarantined file has none stored."""
    if row["status"] == "accepted":
        return LINES_SQL.format(kpi="core.kpi_actuals", budget="core.budget_lines")
    return LINES_SQL.format(kpi="ingest.held_kpi_actuals", budget="ingest.held_budget_lines")


def line_count(page: Page, row: dict) -> int:
    got = _store(page, row).rows(f"SELECT count(*) AS n FROM ({_lines_sql(row)})", [row["submission_id"]] * 2)
    return got[0]["n"] if got else 0


def lines(page: Page, row: dict, offset: int = 0, limit: int | None = None) -> list[dict]:
    sql = f"{_lines_sql(row)} ORDER BY row_number, line_type"
    params = [row["submission_id"]] * 2
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        params += [limit, offset]
    out = _store(page, row).rows(sql, params)
    for line in out:
        if line["actual"] is not None:
            line["actual"] = Decimal(number(line["actual"]))  # DECIMAL(38,10): only the decimals it has
    return out


def lines_table(row: dict, rows: list[dict], words: dict) -> Table:
    return Table(f"lines-{row['submission_id']}", LINE_COLUMNS, rows, headers=[
        words["drilldown_row"], words["pilot"], words["agency"], words["period"], words["drilldown_line_type"],
        words["drilldown_item"], words["drilldown_layer"], words["drilldown_actual"], words["drilldown_allocated"],
        words["drilldown_disbursed"], words["drilldown_funding"], words["drilldown_note"]])


def issues_table(row: dict, rows: list[dict], lang: str, words: dict) -> Table:
    return Table(f"issues-{row['submission_id']}", ["row_number", "column_name", "code", "severity", "message"],
                 [{**i, "message": i["message_th"] if lang == "th" else i["message_en"]} for i in rows],
                 headers=[words["row"], words["column"], words["code"], words["status"], words["message"]])


def submission_details(page: Page, rows: list[dict], page_number: int) -> list[dict]:
    """Each stored row of a file with its issues and one page of its lines (part 1's page, web/app.py)."""
    words, out = WORDS[page.lang], []
    for row in rows:
        count = line_count(page, row)
        pages = max(1, math.ceil(count / LINES_PER_PAGE))
        number_ = min(max(1, page_number), pages)
        shown = lines(page, row, (number_ - 1) * LINES_PER_PAGE, LINES_PER_PAGE)
        out.append({"row": row, "issues": issues_table(row, page.site.data.issues(row), page.lang, words),
                    "lines": lines_table(row, shown, words), "count": count, "page": number_, "pages": pages})
    return out


def submission_download(page: Page, rows: list[dict], query_params) -> Response | None:
    """`?download=lines-<id>.csv` and the like: the whole table (all the file's lines)."""
    words = WORDS[page.lang]
    tables = []
    for row in rows:
        tables.append(lines_table(row, lines(page, row), words))
        tables.append(issues_table(row, page.site.data.issues(row), page.lang, words))
    asked = wanted(query_params, tables)
    return download_response(*asked) if asked else None


def submissions_table(rows: list[dict], words: dict) -> Table:
    """Part 1's list of submissions (web/app.py), as a download. sent_at is the audit trail's ISO
    text (UTC): read as a time, so that the download gives it in Bangkok as the page does."""
    rows = [dict(r, sent_at=datetime.fromisoformat(r["sent_at"]) if isinstance(r.get("sent_at"), str) else
                 r.get("sent_at")) for r in rows]
    return Table("submissions", ["sent_name", "pilot_id", "agency_code", "period", "sent_at", "received_at", "status",
                                 "error_count", "warning_count", "sha256"], rows,
                 headers=[words["file_name"], words["pilot"], words["agency"], words["period"],
                          words["sent_at"], words["processed_at"], words["status"], words["defects"], words["warnings"],
                          "SHA-256"], bangkok_times=True)


def _download_name(sent_name: str, sha256: str) -> str:
    """Content-Disposition for the original: an ASCII fallback (the hash and the file's extension)
    and the name as sent, percent-encoded (RFC 6266/5987): agency text never reaches a header raw."""
    ext = re.sub(r"[^a-z0-9]", "", PurePosixPath(sent_name).suffix.lower())[:8]
    fallback = sha256 + (f".{ext}" if ext else "")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(sent_name, safe='')}"


def _changed_original(page: Page, row: dict, path, found: str) -> Response:
    """A stored original whose bytes no longer hash to the SHA-256 it was received with: a 503 in
    Thai and English whatever the session's language (whoever reads it passes it on to the
    operator), like a store that cannot be read (web/app.py `unavailable`); the path and the hash
    found go to the log, and the refusal to the audit trail. Reading: 503 and not 500, since the
    site works and the file is what is wrong; a file restored from backup is served at the next
    request. A restricted file's name is kept out of the log and the trail (warehouse.md)."""
    sha = row["sha256"]
    LOGGER.error("%s %s: the stored original %s of submission %s (%s store) hashes to %s, not %s",
                 page.request.method, page.request.url.path, path, row["submission_id"], row["store"], found, sha)
    details = {"sha256": sha, "submission_id": row["submission_id"], "store": row["store"],
               "reason": "stored file does not match its SHA-256", "found_sha256": found}
    page.site.audit.record("download_refused", page.account.name, page.address, **details)
    said = [(lang, WORDS[lang]["drilldown_changed_title"], WORDS[lang]["drilldown_changed"].format(sha=sha),
             WORDS[lang]["drilldown_changed_todo"]) for lang in LANGS]
    return page.render("unavailable.html", status=503, said=said, store=f"{row['store']}-evidence", problem="changed")


@route("agency", "analyst", "committee")
async def original(request: Request, page: Page) -> Response:
    sha = request.path_params["sha256"]
    rows = await run_in_threadpool(visible_files, page, sha)
    rows = [r for r in rows if r.get("submission_id") is not None]
    if not rows:
        return page.error(404, "not_found")
    row = rows[0]
    path = evidence.evidence_path(_evidence_dir(page, row), sha)
    try:
        data = await run_in_threadpool(path.read_bytes)
    except FileNotFoundError:
        return page.error(404, "not_found")
    found = evidence.sha256_of(data)
    if found != sha:  # the store is write-once; a changed file is never passed on
        return _changed_original(page, row, path, found)
    details = {"sha256": sha, "submission_id": row["submission_id"], "size": len(data), "store": row["store"]}
    if row["store"] == "open":  # a restricted file's name stays out of the open side's logs (warehouse.md)
        details["file_name"] = row["sent_name"]
    page.site.audit.record("download", page.account.name, page.address, **details)
    return page.finish(Response(data, media_type="application/octet-stream",
                                headers={"content-disposition": _download_name(row["sent_name"], sha)}))


# --- the SQL page ----------------------------------------------------------------------------

def run_sql(page: Page, sql: str) -> list:
    with page.site.data.published.cursor() as cur:
        if cur is None:
            return []
        return run_limited(cur, sql, SQL_MAX_ROWS, SQL_SECONDS)


def result_tables(results: list) -> list[Table]:
    tables = []
    for i, result in enumerate(results, start=1):
        keys = [f"c{j}" for j in range(len(result.columns))]
        tables.append(Table(f"sql-result-{i}", keys, [dict(zip(keys, r)) for r in result.rows],
                            headers=list(result.columns)))
    return tables


def relations(page: Page) -> list[str]:
    return [r["name"] for r in page.site.data.published.rows(
        "SELECT schema_name || '.' || table_name AS name FROM duckdb_tables() WHERE NOT internal "
        "UNION ALL SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1")]


@route("analyst")
async def sql_page(request: Request, page: Page) -> Response:
    sql = request.query_params.get("q", "")[:SQL_MAX_CHARS].replace("\r\n", "\n")  # a form's line breaks are CRLF
    results = await run_in_threadpool(run_sql, page, sql) if sql.strip() else []
    tables = result_tables(results)
    asked = wanted(request.query_params, tables)
    if asked:
        return page.finish(download_response(*asked))
    return page.render("sql.html", sql=sql, results=list(zip(results, tables)), max_rows=SQL_MAX_ROWS,
                       seconds=SQL_SECONDS, relations=await run_in_threadpool(relations, page))


ROUTES: list = [
    Route("/pilots/{pilot_id}/scores/{period}/{kpi_code}", score, methods=["GET"]),
    Route("/submissions/{sha256}/original", original, methods=["GET"]),
    Route("/sql", sql_page, methods=["GET"]),
]
