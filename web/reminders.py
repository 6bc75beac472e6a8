"""The reminders page and the letters the night writes, and the staff's home page (web.md, "its
reminders and letters": an agency its own agencies only, analysts –, the committee all).

The rows are marts.reminders of the published copy (follow-up.md: agency, pilot, period, due date,
days overdue, level, reason), with the agency's and pilot's names of the same copy. The latest
quarantined file of a `rejected_file` row is shown where the account may see it: an open pilot's
to everyone who may see the row; a restricted pilot's (its id is the restricted store's) only to
the agency itself (web.md: an agency sees its own restricted submissions) and to an analyst or
committee account marked `restricted: true`, read from the restricted store; to anyone else the
row says nothing of a file (web.md, "Restricted pilots": no file name).

The letters are the files of the last night, OUT/reminders/<agency_code>.{th,en}.html (follow-up.md;
OUT is `pilotkpi web --out`, by default `out` beside the warehouse, as for the summaries the
decisions rewrite: web/decisions.py `out_dir_of`). A letter's address names an agency code, which
is looked up among the agencies of the published copy: the path is made from the code found there,
never from the request's text. An agency account asking for another agency's letter is answered
404, exactly like a letter that does not exist. A letter is served as the night wrote it (it is
self-contained: its own CSS, no script, no image) under a CSP of its own that loads nothing and
runs nothing (`LETTER_CSP`: inline style only, sandboxed).
"""
from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from warehouse.paths import component
from web.app import Page, route
from web.labels import WORDS, add_words
from web.tables import Table, download_response, wanted

# OUT/<FOLDER>: kpis/letters/render.py FOLDER (the night's letters), not imported to keep the
# letter renderer out of the site's imports.
FOLDER = "reminders"
LETTER_LANGS = ("th", "en")
# A letter's own policy (web/app.py SecurityHeaders keeps a response's policy that starts with
# default-src 'none'): nothing loaded from anywhere, its inline <style> and style attributes
# applied, no script (sandbox: not even one a letter could carry), no form, no framing.
LETTER_CSP = ("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; "
              "base-uri 'none'; sandbox")

add_words(
    th={
        "reminders_title": "รายงานค้างส่งและหนังสือแจ้งเตือน", "reminders_nav": "หนังสือแจ้งเตือน",
        "reminders_intro": "รายงานที่เกินกำหนดส่ง ณ วันที่ประมวลผลล่าสุด และหนังสือแจ้งเตือนที่ระบบร่างไว้คืนนั้น (ฉบับภาษาไทยและภาษาอังกฤษ)",
        "reminders_none": "ไม่มีรายงานค้างส่ง", "reminders_reason": "เหตุผล",
        "reminders_missing": "ยังไม่ได้รับรายงาน", "reminders_rejected_file": "ไฟล์ไม่ผ่านการตรวจสอบ",
        "reminders_latest_file": "ไฟล์ล่าสุดที่ถูกกักไว้", "reminders_letters": "หนังสือแจ้งเตือน",
        "reminders_letter_th": "ฉบับภาษาไทย", "reminders_letter_en": "ฉบับภาษาอังกฤษ",
        "reminders_no_letter": "ยังไม่มีหนังสือ (การประมวลผลคืนล่าสุดยังไม่ได้เขียน)",
        "reminders_level_1": "1 แจ้งเตือนครั้งแรก", "reminders_level_2": "2 แจ้งเตือนครั้งที่สอง",
        "reminders_level_3": "3 เสนอคณะกรรมการ", "reminders_by_level": "รายงานค้างส่งตามระดับ",
        "reminders_restricted_file": "โครงการชั้นความลับ: ไม่แสดงชื่อไฟล์",
        "reminders_reports": "{n} รายงาน", "reminders_count": "รายงานค้างส่ง",
        "reminders_home_letters": "ดูหนังสือแจ้งเตือนที่ส่งถึงหน่วยงาน และไฟล์ที่ถูกกักไว้",
        "staff_home_intro": "เลือกงานที่ต้องการ",
        "staff_pilots": "สถานะ แนวโน้ม และคะแนนของโครงการนำร่องทุกโครงการ",
        "staff_held_decide": "ไฟล์ที่รอการพิจารณา: ตัวเลขที่จะเปลี่ยน อนุมัติหรือไม่อนุมัติ",
        "staff_held_read": "ไฟล์ที่รอคณะกรรมการพิจารณา และตัวเลขที่จะเปลี่ยนหากอนุมัติ",
        "staff_quarters": "ปิดและเปิดไตรมาส",
        "staff_reminders": "รายงานค้างส่งของทุกหน่วยงาน และหนังสือแจ้งเตือนที่ร่างไว้",
        "staff_submissions": "ไฟล์ทุกไฟล์ที่หน่วยงานส่ง สถานะ และข้อผิดพลาด",
        "staff_sql": "สอบถามสำเนาเผยแพร่ด้วย SQL (อ่านอย่างเดียว)",
        "staff_guide": "รูปแบบรายงานที่หน่วยงานส่ง",
    },
    en={
        "reminders_title": "Overdue reports and reminder letters", "reminders_nav": "Reminders",
        "reminders_intro": "The reports overdue as of the last night's run, and the reminder letters drafted that night (Thai and English).",
        "reminders_none": "No report is overdue.", "reminders_reason": "Reason",
        "reminders_missing": "not received", "reminders_rejected_file": "file failed validation",
        "reminders_latest_file": "Latest quarantined file", "reminders_letters": "Letters",
        "reminders_letter_th": "Thai", "reminders_letter_en": "English",
        "reminders_no_letter": "no letter yet (the last night has not written it)",
        "reminders_level_1": "1 first reminder", "reminders_level_2": "2 second reminder",
        "reminders_level_3": "3 escalated to the committee", "reminders_by_level": "Overdue reports by level",
        "reminders_restricted_file": "restricted pilot: no file name shown",
        "reminders_reports": "{n} reports", "reminders_count": "Overdue reports",
        "reminders_home_letters": "The reminder letters to your agency, and the files quarantined",
        "staff_home_intro": "Choose what to do.",
        "staff_pilots": "every pilot's status, trend and scores",
        "staff_held_decide": "files held for a decision: the figures each would change; approve or reject",
        "staff_held_read": "files held for the committee, and the figures each would change",
        "staff_quarters": "close and reopen quarters",
        "staff_reminders": "every agency's overdue reports and the letters drafted",
        "staff_submissions": "every file the agencies sent, its status and defects",
        "staff_sql": "read-only SQL on the published copy",
        "staff_guide": "the format agencies send their reports in",
    },
)


def letters_dir(config) -> Path:
    from web.decisions import out_dir_of

    return Path(out_dir_of(config)) / FOLDER


def letters_folder(page: Page) -> Path:
    """The folder of the letters of the published copy's date: OUT/reminders, or the dated folder
    OUT/reminders/<as-of>/ a back-dated job wrote its letters to (kpis/letters/render.py
    write_letters) when the copy's last job is of that date, so the page never shows one date's
    reminders beside another date's letters (reviewer RV8 F1)."""
    base = letters_dir(page.site.config)
    last = page.site.data.published.rows("SELECT as_of FROM ops.runs ORDER BY started_at DESC LIMIT 1",
                                         missing_ok=True)
    if last and last[0]["as_of"] is not None:
        dated = base / last[0]["as_of"].isoformat()
        if dated.is_dir():
            return dated
    return base


def _marks(values) -> str:
    return ", ".join("?" * len(values))


def reminder_rows(page: Page) -> list[dict]:
    """The rows of marts.reminders the account may see (an agency: its own agencies'), most
    overdue first, each with its names and, where it may be shown, its latest quarantined file."""
    account, data = page.account, page.site.data
    sql = ("SELECT r.agency_code, r.pilot_id, r.role, r.period, r.due_date, r.days_overdue, r.level, r.reason, "
           "r.latest_quarantined_submission_id AS file_id, a.name_th AS agency_th, a.name_en AS agency_en, "
           "p.name_th AS pilot_th, p.name_en AS pilot_en, coalesce(p.classification = 'restricted', FALSE) AS restricted "
           "FROM marts.reminders r LEFT JOIN registry.agencies a USING (agency_code) "
           "LEFT JOIN registry.pilots p USING (pilot_id) {where} "
           "ORDER BY r.level DESC, r.days_overdue DESC, r.agency_code, r.pilot_id, r.period")
    if account.role == "agency":
        codes = list(account.agencies)
        if not codes:
            return []
        rows = data.published.rows(sql.format(where=f"WHERE r.agency_code IN ({_marks(codes)})"), codes,
                                   missing_ok=True)  # before the first night: nothing overdue yet
    else:
        rows = data.published.rows(sql.format(where=""))
    _add_files(page, rows)
    return rows


def _add_files(page: Page, rows: list[dict]) -> None:
    """`file`: the latest quarantined file of a rejected_file row, where the account may see it
    (module doc), with its name as sent and SHA-256; None otherwise."""
    account, data = page.account, page.site.data
    cleared = account.role == "agency" or account.restricted  # an agency's rows are its own (reminder_rows)
    wanted_ids = {"open": [], "restricted": []}
    for row in rows:
        row["file"] = None
        if row["file_id"] is not None and (cleared or not row["restricted"]):
            wanted_ids["restricted" if row["restricted"] else "open"].append(row["file_id"])
    found: dict[tuple[str, int], dict] = {}
    for store_name, ids in wanted_ids.items():
        if not ids:
            continue
        store = data.published if store_name == "open" else data.restricted
        for f in store.rows("SELECT submission_id, sha256, file_name, pilot_id, agency_code, period "
                            f"FROM ingest.submissions WHERE submission_id IN ({_marks(ids)})", ids,
                            missing_ok=True):
            found[(store_name, f["submission_id"])] = f
    if not found:
        return
    sends = data.sends_by_sha()  # named as sent, as every page names a file (web/agency.py)
    for row in rows:
        f = found.get(("restricted" if row["restricted"] else "open", row["file_id"]))
        # The same report's file (a store's ids are its own): never another report's by a stray id.
        if f and (f["pilot_id"], f["agency_code"], f["period"]) == (row["pilot_id"], row["agency_code"], row["period"]):
            send = sends.get(f["sha256"])
            row["file"] = {"sha256": f["sha256"], "name": send["file_name"] if send else f["file_name"]}


def letters_of(page: Page, rows: list[dict]) -> list[dict]:
    """One entry per agency in the rows, in their order: its name, its reports, and which of its
    letters (th, en) the night wrote."""
    folder = letters_folder(page)
    out: dict[str, dict] = {}
    for row in rows:
        entry = out.get(row["agency_code"])
        if entry is None:
            entry = out[row["agency_code"]] = {"agency_code": row["agency_code"], "agency_th": row["agency_th"],
                                               "agency_en": row["agency_en"], "reports": 0, "level": 0}
            entry["letters"] = [lang for lang in LETTER_LANGS if _letter_path(folder, row["agency_code"], lang)]
        entry["reports"] += 1
        entry["level"] = max(entry["level"], row["level"])
    return sorted(out.values(), key=lambda e: (-e["level"], e["agency_code"]))


def _letter_path(folder: Path, code: str, lang: str) -> Path | None:
    """The letter's file if the night wrote it; `code` is a code found in the published copy."""
    try:
        path = folder / f"{component(code)}.{lang}.html"
    except ValueError:
        return None
    return path if path.is_file() else None


def reminders_table(rows: list[dict], words: dict, lang: str) -> Table:
    shown = [dict(r, agency_name=r["agency_th" if lang == "th" else "agency_en"],
                  pilot_name=r["pilot_th" if lang == "th" else "pilot_en"],
                  reason_text=words[f"reminders_{r['reason']}"],
                  latest_file=r["file"]["name"] if r["file"] else None) for r in rows]
    return Table("reminders", ["agency_code", "agency_name", "pilot_id", "pilot_name", "period", "due_date",
                               "days_overdue", "level", "reason_text", "latest_file"], shown,
                 headers=["agency_code", words["agency"], "pilot_id", words["pilot"], words["period"],
                          words["due_date"], words["days_overdue"], words["level"], words["reminders_reason"],
                          words["reminders_latest_file"]])


@route("agency", "committee")
async def reminders(request: Request, page: Page) -> Response:
    rows = await run_in_threadpool(reminder_rows, page)
    table = reminders_table(rows, WORDS[page.lang], page.lang)
    if asked := wanted(request.query_params, [table]):
        return page.finish(download_response(*asked))
    agencies = await run_in_threadpool(letters_of, page, rows)
    return page.render("reminders.html", rows=rows, agencies=agencies, table=table)


def _known_agency(page: Page, asked: str) -> str | None:
    """The agency code as the published copy records it, if the account may see its letters."""
    account = page.account
    if account.role == "agency" and asked not in account.agencies:
        return None
    found = page.site.data.published.rows("SELECT agency_code FROM registry.agencies WHERE agency_code = ?",
                                          [asked], missing_ok=account.role == "agency")
    return found[0]["agency_code"] if found else None


@route("agency", "committee")
async def letter(request: Request, page: Page) -> Response:
    lang = request.path_params["lang"]
    code = await run_in_threadpool(_known_agency, page, request.path_params["agency_code"])
    if lang not in LETTER_LANGS or code is None:
        return page.error(404, "not_found")
    folder = await run_in_threadpool(letters_folder, page)
    path = _letter_path(folder, code, lang)
    try:
        body = await run_in_threadpool(path.read_bytes) if path else None
    except FileNotFoundError:  # removed by a night since the check
        body = None
    if body is None:
        return page.error(404, "not_found")
    return page.finish(Response(body, media_type="text/html; charset=utf-8",
                                headers={"content-security-policy": LETTER_CSP}))


def _level_counts(page: Page) -> dict[int, int]:
    rows = page.site.data.published.rows("SELECT level, count(*) AS n FROM marts.reminders GROUP BY level",
                                         missing_ok=True)  # the home page answers before the first night too
    return {r["level"]: r["n"] for r in rows}


async def staff_home(page: Page) -> Response:
    """The analyst's and the committee's home: the pages their role may use (web.md's table)."""
    levels = await run_in_threadpool(_level_counts, page) if page.account.role == "committee" else {}
    return page.render("staff_home.html", levels=levels)


ROUTES: list = [
    Route("/reminders", reminders, methods=["GET"]),
    Route("/reminders/letters/{agency_code}/{lang}", letter, methods=["GET"]),
]
