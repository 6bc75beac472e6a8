"""The held files (each beside the file it would replace, with the figures as they are and as they
would be if approved) and the page to close or reopen a quarter (shared/spec/web.md, data-quality.md
§2). Decisions are posted to `/decisions` (web/decisions.py), which records and applies them.

Who sees what (web.md): analysts read the held files, the committee reads and decides; agencies
reach neither page. A restricted pilot's held file is listed to everyone who reaches the page with
what the open side shows (approval.restricted_held: id, pilot, agency, dates); its figures, file
name and lines only to accounts marked `restricted: true`, whose what-if reads the restricted
store. An id that is not a held file the account may see answers 404, like one that does not exist.

Readings (the spec is silent):
- A held file that has been decided is no longer held: its page answers 404 (the decision's own
  page is /decisions/{id}); /submissions/{sha256} keeps its history.
- The confirmation text of closing and reopening (data-quality.md gives none) is the pilot's id
  and the quarter as the warehouse writes them (`PLT-2548-003 2549-Q2`), or the quarter alone when
  closing it for every pilot (`2549-Q2`): typed, not picked, so a slip of the mouse closes
  nothing; it is what /decisions checks (web/decisions.py).
- /quarters is the committee's only (web.md: analysts have no part in closing); it lists the
  closures of one period at a time (default: the latest closed), so the page stays small at 400
  pilots.
"""
from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import duckdb
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kpis.summary.controls import CHANGED_SINCE_CLOSING
from kpis.summary.labels import fmt_quantity, fmt_score, status_text
from kpis.whatif import NotHeld, WhatIf, what_if_approved
from web.app import Page, route
from web.labels import WORDS, add_words
from web.published import damaged
from web.tables import Table, download_response, wanted

add_words(
    th={
        "held_nav": "ไฟล์รอพิจารณา", "held_quarters_nav": "ปิด/เปิดไตรมาส",
        "held_title": "ไฟล์ที่รอคณะกรรมการพิจารณา", "held_none": "ไม่มีไฟล์ที่รอการพิจารณา",
        "held_intro": "ไฟล์ที่ส่งมาหลังไตรมาสปิดแล้ว ยังไม่มีผลต่อคะแนนจนกว่าคณะกรรมการจะอนุมัติ",
        "held_file": "ไฟล์รอพิจารณา เลขที่ {id}", "held_submission": "เลขที่รายงาน",
        "held_replaces": "ไฟล์ที่รับไว้ซึ่งจะถูกแทนที่", "held_the_held": "ไฟล์ที่รอพิจารณา",
        "held_none_accepted": "ไม่มีไฟล์ที่รับไว้ (รายงานครั้งแรกที่ส่งช้า)",
        "held_received_on": "วันที่รอบประมวลผลกลางคืนรับเข้า", "held_restricted": "โครงการชั้นความลับ",
        "held_restricted_note": "ตัวเลข ชื่อไฟล์ และหมายเหตุของไฟล์จากโครงการชั้นความลับแสดงเฉพาะบัญชีที่ได้รับอนุญาตให้เข้าถึงโครงการชั้นความลับ",
        "held_closed": "{period} ปิดเมื่อ {at} โดย {by} คะแนนรวมเมื่อปิดงวด {composite}",
        "held_reopened": "{period} เปิดอีกครั้งแล้ว ไฟล์นี้ยังรอการพิจารณา",
        "held_if_accepted": "หากอนุมัติ ไฟล์นี้จะมีสถานะ “รับแล้ว” และแทนที่รายงานเลขที่ {id}",
        "held_if_first": "หากอนุมัติ ไฟล์นี้จะมีสถานะ “รับแล้ว” (ไม่มีรายงานเดิมที่ต้องแทนที่)",
        "held_if_superseded": "หากอนุมัติ ไฟล์นี้จะมีสถานะ “ถูกแทนที่” เพราะรายงานเลขที่ {id} มีวันที่ส่งเท่ากันหรือหลังกว่า จึงไม่มีตัวเลขใดเปลี่ยน",
        "held_figures": "คะแนน{period}: ปัจจุบัน และหากอนุมัติ",
        "held_how": "คำนวณด้วย SQL ชุดเดียวกับที่ระบบใช้คำนวณคะแนน บนสำเนาข้อมูลของโครงการนี้ที่อนุมัติไฟล์นี้แล้ว (ข้อมูลจริงไม่เปลี่ยน) ณ วันที่ {as_of}",
        "held_kpi": "ตัวชี้วัด", "held_weight": "น้ำหนัก", "held_value_now": "ค่าปัจจุบัน",
        "held_value_if": "ค่าหากอนุมัติ", "held_score_now": "คะแนนปัจจุบัน", "held_score_if": "คะแนนหากอนุมัติ",
        "held_status_now": "สถานะปัจจุบัน", "held_status_if": "สถานะหากอนุมัติ", "held_composite": "คะแนนรวม",
        "held_no_change": "การอนุมัติไฟล์นี้ไม่เปลี่ยนคะแนนตัวชี้วัดหรือคะแนนรวมใด ๆ",
        "held_other_periods": "ไตรมาสอื่นที่คะแนนจะเปลี่ยน",
        "held_other_periods_note": "ตัวชี้วัดแบบสะสม (sum) รวมค่าตั้งแต่ไตรมาสแรกของปีงบประมาณ ไตรมาสถัดไปจึงเปลี่ยนด้วย",
        "held_lines": "รายการในไฟล์ทั้งสอง", "held_which": "ไฟล์", "held_type": "ประเภท", "held_item": "รหัส",
        "held_layer": "ชั้น", "held_actual": "ค่าที่รายงาน", "held_allocated": "งบประมาณที่ได้รับ (บาท)",
        "held_disbursed": "เบิกจ่าย (บาท)", "held_source": "แหล่งเงิน", "held_note": "หมายเหตุ",
        "held_decide": "การพิจารณา", "held_approve": "อนุมัติ", "held_approve_note": "บันทึก (ไม่บังคับ)",
        "held_reject": "ไม่อนุมัติ", "held_reject_reason": "เหตุผล (ต้องระบุ)",
        "held_read_only": "บัญชีนักวิเคราะห์ดูได้อย่างเดียว การพิจารณาเป็นของคณะกรรมการ",
        "held_quarters": "ปิดและเปิดไตรมาส", "held_close": "ปิดไตรมาส", "held_reopen": "เปิดไตรมาสอีกครั้ง",
        "held_every_pilot": "ทุกโครงการ", "held_close_note": "บันทึก (ไม่บังคับ)", "held_reopen_reason": "เหตุผล (ต้องระบุ)",
        "held_confirm_close": "เพื่อยืนยัน พิมพ์รหัสโครงการและไตรมาสที่เลือก เช่น {one} หรือพิมพ์เฉพาะไตรมาส เช่น {every} เมื่อปิดทุกโครงการ",
        "held_confirm_reopen": "เพื่อยืนยัน พิมพ์รหัสโครงการและไตรมาสที่เลือก เช่น {one}",
        "held_close_help": "ปิดได้เฉพาะไตรมาสที่ถึงกำหนดแล้ว หลังปิด ไฟล์ที่ส่งมาภายหลังจะรอคณะกรรมการพิจารณา",
        "held_reopen_help": "การเปิดอีกครั้งทำทีละโครงการ ไฟล์ที่รอพิจารณายังคงรอจนกว่าจะอนุมัติหรือไม่อนุมัติ",
        "held_closures": "ไตรมาสที่ปิด", "held_pilots_closed": "จำนวนโครงการที่ปิด",
        "held_pilots_reopened": "จำนวนที่เปิดอีกครั้ง", "held_last_closed": "ปิดล่าสุด",
        "held_closures_of": "การปิด{period}", "held_no_closures": "ยังไม่มีไตรมาสที่ปิด",
        "held_nothing_to_reopen": "ขณะนี้ไม่มีไตรมาสที่ปิดอยู่ จึงยังไม่มีไตรมาสให้เปิดอีกครั้ง",
        "held_reopened_at": "เปิดอีกครั้งเมื่อ", "held_reopen_reason_col": "เหตุผลที่เปิด",
        "held_files_waiting": "ไฟล์รอพิจารณา {n} ไฟล์", "held_closed_at": "ปิดเมื่อ", "held_closed_by": "ปิดโดย",
        "held_at_closing": "คะแนนรวมเมื่อปิด", "held_now": "คะแนนรวมปัจจุบัน", "held_changed": "เปลี่ยนหลังปิด",
        "held_reopened_by": "เปิดโดย", "held_show": "แสดง",
    },
    en={
        "held_nav": "Held files", "held_quarters_nav": "Close/reopen quarters",
        "held_title": "Files waiting for the committee's decision", "held_none": "No file is waiting for a decision.",
        "held_intro": "Files that arrived after their quarter was closed. They change no score until the committee approves them.",
        "held_file": "Held file {id}", "held_submission": "Submission",
        "held_replaces": "Accepted file it would replace", "held_the_held": "Held file",
        "held_none_accepted": "No accepted file (a late first report)",
        "held_received_on": "Taken in by the night's run", "held_restricted": "restricted pilot",
        "held_restricted_note": "A restricted pilot's figures, file names and notes are shown only to accounts cleared for restricted pilots.",
        "held_closed": "{period} was closed on {at} by {by}; composite at closing {composite}.",
        "held_reopened": "{period} has been reopened; this file still waits for a decision.",
        "held_if_accepted": "If approved, this file becomes accepted and replaces submission {id}.",
        "held_if_first": "If approved, this file becomes accepted (there is no accepted file to replace).",
        "held_if_superseded": "If approved, this file becomes superseded: submission {id} has a later or equal submission date, so no figure changes.",
        "held_figures": "Scores for {period}: as they are, and if approved",
        "held_how": "Worked out by the marts' own SQL on a scratch copy of this pilot's data with this file approved (nothing stored changes), as of {as_of}.",
        "held_kpi": "KPI", "held_weight": "Weight", "held_value_now": "Value now",
        "held_value_if": "Value if approved", "held_score_now": "Score now", "held_score_if": "Score if approved",
        "held_status_now": "Status now", "held_status_if": "Status if approved", "held_composite": "Composite",
        "held_no_change": "Approving this file changes no KPI score and no composite.",
        "held_other_periods": "Other quarters whose scores would change",
        "held_other_periods_note": "A sum KPI adds up the quarters of its fiscal year, so the later quarters move too.",
        "held_lines": "The lines of both files", "held_which": "File", "held_type": "Type", "held_item": "Code",
        "held_layer": "Layer", "held_actual": "Actual", "held_allocated": "Allocated (THB)",
        "held_disbursed": "Disbursed (THB)", "held_source": "Funding source", "held_note": "Note",
        "held_decide": "Decision", "held_approve": "Approve", "held_approve_note": "Note (optional)",
        "held_reject": "Reject", "held_reject_reason": "Reason (required)",
        "held_read_only": "Analyst accounts read only; the committee decides.",
        "held_quarters": "Close and reopen quarters", "held_close": "Close a quarter", "held_reopen": "Reopen a quarter",
        "held_every_pilot": "every pilot", "held_close_note": "Note (optional)", "held_reopen_reason": "Reason (required)",
        "held_confirm_close": "To confirm, type the pilot and the quarter you chose, such as {one}, or the quarter alone, such as {every}, when closing it for every pilot",
        "held_confirm_reopen": "To confirm, type the pilot and the quarter you chose, such as {one}",
        "held_close_help": "Only a due quarter can be closed. Once it is closed, files sent later for it are held for the committee.",
        "held_reopen_help": "A quarter is reopened for one pilot at a time. Its held files stay held until approved or rejected.",
        "held_closures": "Closed quarters", "held_pilots_closed": "Pilots closed",
        "held_pilots_reopened": "Reopened", "held_last_closed": "Last closed",
        "held_closures_of": "Closures of {period}", "held_no_closures": "No quarter has been closed yet.",
        "held_nothing_to_reopen": "No quarter is closed now, so there is none to reopen.",
        "held_reopened_at": "Reopened", "held_reopen_reason_col": "Reason for reopening",
        "held_files_waiting": "{n} file(s) waiting for a decision", "held_closed_at": "Closed",
        "held_closed_by": "Closed by", "held_at_closing": "Composite at closing", "held_now": "Composite now",
        "held_changed": "Changed since closing", "held_reopened_by": "Reopened by", "held_show": "Show",
    },
)


def confirmation_text(kind: str, period: str, pilot_id: str | None) -> str:
    """What the committee types to confirm closing or reopening: the pilot and the period, or the
    period alone when closing it for every pilot. The rule web/decisions.py checks, said the same
    way there (its confirmation_text); kept equal by tests/web/test_web_held.py."""
    return f"{pilot_id} {period}" if pilot_id else period


# --- the held files -------------------------------------------------------------------------------

_HELD = ("SELECT h.submission_id, h.pilot_id, h.agency_code, h.period, h.submitted_on, h.received_at, h.file_name, "
         "h.sha256, a.submission_id AS accepted_id, a.submitted_on AS accepted_submitted_on "
         "FROM ingest.submissions h LEFT JOIN ingest.submissions a ON a.status = 'accepted' "
         "AND a.pilot_id = h.pilot_id AND a.agency_code = h.agency_code AND a.period = h.period "
         "WHERE h.status = 'held' {where} ORDER BY h.submission_id")
_RESTRICTED_HELD = ("SELECT submission_id, pilot_id, agency_code, period, submitted_on, received_on "
                    "FROM approval.restricted_held {where} ORDER BY submission_id")


def held_files(page: Page, submission_id: int | None = None) -> list[dict]:
    """The held files the account may see: the open ones, and the restricted ones with their file
    facts for a cleared account, else with what the open side shows."""
    data, cleared = page.site.data, page.account.restricted
    where, params = ("AND h.submission_id = ?", [submission_id]) if submission_id is not None else ("", [])
    rows = [dict(r, store="open") for r in data.published.rows(_HELD.format(where=where), params)]
    if cleared:
        rows += [dict(r, store="restricted") for r in data.restricted.rows(_HELD.format(where=where), params)]
    else:
        where = "WHERE submission_id = ?" if submission_id is not None else ""
        rows += [dict(r, store="restricted", received_at=None, file_name=None, sha256=None, accepted_id=None,
                      accepted_submitted_on=None, limited=True)
                 for r in data.published.rows(_RESTRICTED_HELD.format(where=where), params)]
    sends = data.sends_by_sha()  # a file sent through the site: named as sent, as on every page
    for row in rows:
        row.setdefault("limited", False)
        if row.get("sha256") in sends:
            row["file_name"] = sends[row["sha256"]]["file_name"]
    return sorted(rows, key=lambda r: r["submission_id"])


def _names(page: Page, row: dict) -> dict:
    registry, lang = page.site.registry(), page.lang
    pilot, agency = registry.pilots.get(row["pilot_id"]), registry.agencies.get(row["agency_code"])
    pick = (lambda o: o.name_th if lang == "th" else o.name_en)  # noqa: E731
    return {"pilot_name": pick(pilot) if pilot else row["pilot_id"],
            "agency_name": pick(agency) if agency else row["agency_code"]}


def _list_table(page: Page, rows: list[dict]) -> Table:
    W = WORDS[page.lang]
    columns = ["submission_id", "pilot_id", "pilot_name", "agency_code", "agency_name", "period", "submitted_on",
               "received", "file_name", "accepted_id", "accepted_submitted_on"]
    headers = [W["held_submission"], f'{W["pilot"]} ({W["code"]})', W["pilot"], f'{W["agency"]} ({W["code"]})',
               W["agency"], W["period"], W["submitted_on"], W["held_received_on"], W["file_name"],
               W["held_replaces"], f'{W["held_replaces"]}: {W["submitted_on"]}']
    return Table("held-files", columns, [
        dict(r, **_names(page, r), received=r["received_at"] or r.get("received_on")) for r in rows], headers,
        bangkok_times=True)


@route("analyst", "committee")
async def held_list(request: Request, page: Page) -> Response:
    rows = await run_in_threadpool(held_files, page)
    table = _list_table(page, rows)
    asked = wanted(request.query_params, [table])
    if asked:
        return page.finish(download_response(*asked))
    return page.render("held.html", table=table)


def _closure(page: Page, pilot_id: str, period: str) -> dict | None:
    rows = page.site.data.published.rows(
        "SELECT closed_at, closed_by, composite_at_closing, reopened_at FROM approval.quarter_closures "
        "WHERE pilot_id = ? AND period = ? ORDER BY closed_at DESC LIMIT 1", [pilot_id, period])
    return rows[0] if rows else None


_LINES = ("SELECT 'kpi' AS line_type, kpi_code AS item, NULL::INTEGER AS layer, actual, NULL AS allocated_thb, "
          "NULL AS disbursed_thb, NULL AS funding_source, note, row_number FROM {kpi} WHERE submission_id = ? "
          "UNION ALL SELECT 'budget', activity_code, layer, NULL, allocated_thb, disbursed_thb, funding_source, note, "
          "row_number FROM {budget} WHERE submission_id = ? ORDER BY row_number")


def _file(store, submission_id: int | None, held: bool) -> dict | None:
    """A file's facts and lines: the held one's from ingest.held_*, the accepted one's from core.*."""
    if submission_id is None:
        return None
    facts = store.rows("SELECT submission_id, file_name, sha256, submitted_on, received_at, status "
                       "FROM ingest.submissions WHERE submission_id = ?", [submission_id])
    if not facts:
        return None
    kpi, budget = (("ingest.held_kpi_actuals", "ingest.held_budget_lines") if held
                   else ("core.kpi_actuals", "core.budget_lines"))
    return dict(facts[0], lines=store.rows(_LINES.format(kpi=kpi, budget=budget), [submission_id, submission_id]))


def _figures_table(page: Page, w: WhatIf, period: str) -> Table:
    """Each KPI of the period as it is and as it would be, then the composite."""
    W, lang = WORDS[page.lang], page.lang
    pilot = page.site.registry().pilots.get(w.pilot_id)
    kpis = {k.code: k for k in pilot.kpis} if pilot else {}
    before, after = w.before.get(period), w.after.get(period)
    rows = []
    for code in sorted(set(before.kpis if before else {}) | set(after.kpis if after else {})):
        a, b = (before.kpis.get(code) if before else None), (after.kpis.get(code) if after else None)
        kpi = kpis.get(code)
        unit = kpi.unit if kpi else ""
        rows.append({
            "kpi_code": code, "kpi_name": (kpi.name_th if lang == "th" else kpi.name_en) if kpi else code,
            "unit": unit, "weight": (a or b).weight,
            "actual_now": a.actual if a else None, "actual_if": b.actual if b else None,
            "score_now": a.score if a else None, "score_if": b.score if b else None,
            "status_now": a.status if a else None, "status_if": b.status if b else None,
            "shown_actual_now": fmt_quantity(a.actual if a else None, unit, lang),
            "shown_actual_if": fmt_quantity(b.actual if b else None, unit, lang),
            "changed": a != b})
    rows.append({"kpi_code": "composite", "kpi_name": W["held_composite"], "unit": "", "weight": Decimal(100),
                 "actual_now": None, "actual_if": None,
                 "score_now": before.composite if before else None, "score_if": after.composite if after else None,
                 "status_now": before.status if before else None, "status_if": after.status if after else None,
                 "shown_actual_now": "", "shown_actual_if": "",
                 "changed": (before and (before.composite, before.status)) != (after and (after.composite, after.status))})
    columns = ["kpi_code", "kpi_name", "unit", "weight", "actual_now", "actual_if", "score_now", "score_if",
               "status_now", "status_if"]
    headers = [W["code"], W["held_kpi"], "unit", W["held_weight"], W["held_value_now"], W["held_value_if"],
               W["held_score_now"], W["held_score_if"], W["held_status_now"], W["held_status_if"]]
    return Table(f"held-{w.submission_id}-scores", columns, rows, headers)


def _periods_table(page: Page, w: WhatIf) -> Table:
    W = WORDS[page.lang]
    rows = [{"period": p, "composite_now": w.before[p].composite if p in w.before else None,
             "composite_if": w.after[p].composite if p in w.after else None,
             "status_now": w.before[p].status if p in w.before else None,
             "status_if": w.after[p].status if p in w.after else None}
            for p in w.changed_periods() if p != w.period]
    return Table(f"held-{w.submission_id}-periods", ["period", "composite_now", "composite_if", "status_now",
                                                     "status_if"], rows,
                 [W["period"], W["held_score_now"], W["held_score_if"], W["held_status_now"], W["held_status_if"]])


def _lines_table(page: Page, submission_id: int, held: dict | None, accepted: dict | None) -> Table:
    W = WORDS[page.lang]
    rows = [dict(line, file=f["submission_id"], which=which)
            for which, f in (("held", held), ("accepted", accepted)) if f for line in f["lines"]]
    columns = ["file", "line_type", "item", "layer", "actual", "allocated_thb", "disbursed_thb", "funding_source",
               "note"]
    headers = [W["held_which"], W["held_type"], W["held_item"], W["held_layer"], W["held_actual"],
               W["held_allocated"], W["held_disbursed"], W["held_source"], W["held_note"]]
    return Table(f"held-{submission_id}-lines", columns, rows, headers)


def _stamp(path: Path) -> tuple[int, int] | None:
    """Which copy a path is now: a published copy or restricted store is replaced by rename, never
    written in place (web/published.py), so its inode and mtime name its content."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


@lru_cache(maxsize=64)
def _what_if(published: Path, published_stamp, submission_id: int, restricted: Path | None = None,
             restricted_stamp=None) -> WhatIf:
    """kpis/whatif.py's figures, computed once per copy of the stores (the stamps are the key)."""
    return what_if_approved(published, submission_id, restricted)


def _detail(page: Page, submission_id: int) -> dict | None:
    """Everything the held file's page shows (None: not a held file this account may see)."""
    found = held_files(page, submission_id)
    if not found:
        return None
    row = found[0]
    out = {"row": dict(row, **_names(page, row)), "closure": _closure(page, row["pilot_id"], row["period"])}
    if row["limited"]:
        return out
    data = page.site.data
    store = data.published if row["store"] == "open" else data.restricted
    try:
        w = _what_if(data.published.path, _stamp(data.published.path), submission_id,
                     *((data.restricted.path, _stamp(data.restricted.path)) if row["store"] == "restricted" else ()))
    except NotHeld:  # decided meanwhile (the copy was replaced between the two reads)
        return None
    except duckdb.Error as exc:  # kpis/whatif.py opens the files itself, and says which one failed
        if damaged(exc):  # the page answers 503 (web/app.py) naming that file: a restricted file's
            # what-if reads the published copy's closures too
            failed = {"published": data.published, "restricted": data.restricted}.get(getattr(exc, "store", None), store)
            raise failed.unreadable(exc) from exc
        raise
    held, accepted = _file(store, submission_id, True), _file(store, w.replaced or w.kept or row["accepted_id"], False)
    # A file sent through the site is stored under a name the site chose; show the name as sent.
    sends = data.sends_by_sha()
    for f in (held, accepted):
        if f is not None and f["sha256"] in sends:
            f["file_name"] = sends[f["sha256"]]["file_name"]
    out.update(whatif=w, held=held, accepted=accepted, figures=_figures_table(page, w, w.period),
               periods=_periods_table(page, w), lines=_lines_table(page, submission_id, held, accepted))
    return out


@route("analyst", "committee")
async def held_file(request: Request, page: Page) -> Response:
    raw = request.path_params["submission_id"]
    if not raw.isdecimal() or len(raw) > 18:  # "²" is a digit to isdigit(), not to int()
        return page.error(404, "not_found")
    detail = await run_in_threadpool(_detail, page, int(raw))
    if detail is None:
        return page.error(404, "not_found")
    tables = [detail[k] for k in ("figures", "periods", "lines") if k in detail]
    asked = wanted(request.query_params, tables)
    if asked:
        return page.finish(download_response(*asked))
    return page.render("held_file.html", d=detail, score=fmt_score, status_text=lambda s: status_text(s, page.lang),
                       quantity=lambda v, unit: fmt_quantity(v, unit, page.lang))


# --- closing and reopening quarters ---------------------------------------------------------------

# One period's closures, open and reopened, with the composite now and, for an open one, whether it
# changed since closing (the summaries' definition, kpis/summary/controls.py).
QUARTER_CLOSURES_SQL = (
    "SELECT c.pilot_id, c.period, c.closed_at, c.closed_by, c.note, c.composite_at_closing, c.status_at_closing, "
    "c.reopened_at, c.reopened_by, c.reopen_reason, s.composite_score, s.status, "
    f"CASE WHEN c.reopened_at IS NULL THEN {CHANGED_SINCE_CLOSING} END AS changed_since_closing "
    "FROM approval.quarter_closures c LEFT JOIN marts.pilot_scores s ON s.pilot_id = c.pilot_id "
    "AND s.period = c.period AND c.reopened_at IS NULL WHERE c.period = ? ORDER BY c.pilot_id, c.closed_at")


def _quarters(page: Page, period: str | None) -> dict:
    data = page.site.data
    summary = data.published.rows(
        "SELECT period, count(*) FILTER (WHERE reopened_at IS NULL) AS closed, "
        "count(*) FILTER (WHERE reopened_at IS NOT NULL) AS reopened, max(closed_at) AS last_closed "
        "FROM approval.quarter_closures GROUP BY period ORDER BY period DESC")
    shown = period if period in {r["period"] for r in summary} else (summary[0]["period"] if summary else None)
    closures = data.published.rows(QUARTER_CLOSURES_SQL, [shown]) if shown else []
    if closures and page.account.restricted:
        _restricted_texts(page, closures, shown)
    due = [r["period"] for r in data.published.rows("SELECT DISTINCT period FROM marts.due_periods ORDER BY period DESC")]
    held = data.published.rows("SELECT (SELECT count(*) FROM ingest.submissions WHERE status = 'held') + "
                               "(SELECT count(*) FROM approval.restricted_held) AS n")
    return {"summary": summary, "shown": shown, "closures": closures, "due": due,
            "closed_periods": [r["period"] for r in summary if r["closed"]], "held": held[0]["n"] if held else 0}


def _restricted_texts(page: Page, closures: list[dict], period: str) -> None:
    """A restricted pilot's close note and reopen reason, for a cleared account: the open side
    (so the published copy) holds its closure without them, and the restricted store's copy of the
    closure row holds them (pilots/approval.py; docs/web.md, "Decisions"). Uncleared accounts see
    the row without its text."""
    restricted = {p.pilot_id for p in page.site.registry().pilots.values() if p.classification == "restricted"}
    if not restricted & {c["pilot_id"] for c in closures}:
        return
    texts = {(r["pilot_id"], r["closed_at"]): r for r in page.site.data.restricted.rows(
        "SELECT pilot_id, closed_at, note, reopen_reason FROM approval.quarter_closures WHERE period = ?", [period])}
    for c in closures:
        kept = texts.get((c["pilot_id"], c["closed_at"])) if c["pilot_id"] in restricted else None
        if kept:
            c["note"], c["reopen_reason"] = kept["note"], kept["reopen_reason"]


def _confirm_examples(q: dict, pilots: list) -> dict:
    """The confirmation texts the forms show as examples: the latest due and latest closed quarter."""
    pilot = pilots[0].pilot_id if pilots else None
    due = q["due"][0] if q["due"] else None
    closed = q["closed_periods"][0] if q["closed_periods"] else due
    return {"close_one": confirmation_text("close", due, pilot), "close_every": confirmation_text("close", due, None),
            "reopen_one": confirmation_text("reopen", closed, pilot)} if due else {}


@route("committee")
async def quarters(request: Request, page: Page) -> Response:
    q = await run_in_threadpool(_quarters, page, request.query_params.get("period"))
    W = WORDS[page.lang]
    table = Table("closures", ["pilot_id", "period", "closed_at", "closed_by", "note", "composite_at_closing",
                               "composite_score", "changed_since_closing", "reopened_at", "reopened_by",
                               "reopen_reason"], q["closures"],
                  [W["pilot"], W["period"], W["held_closed_at"], W["held_closed_by"], W["held_note"],
                   W["held_at_closing"], W["held_now"], W["held_changed"], W["held_reopened_at"],
                   W["held_reopened_by"], W["held_reopen_reason_col"]], bangkok_times=True)
    asked = wanted(request.query_params, [table])
    if asked:
        return page.finish(download_response(*asked))
    pilots = sorted(page.site.registry().pilots.values(), key=lambda p: p.pilot_id)
    return page.render("quarters.html", q=q, table=table, pilots=pilots, score=fmt_score,
                       status_text=lambda s: status_text(s, page.lang), confirm=_confirm_examples(q, pilots))


ROUTES: list = [
    Route("/held", held_list, methods=["GET"]),
    Route("/held/{submission_id}", held_file, methods=["GET"]),
    Route("/quarters", quarters, methods=["GET"]),
]
