"""The committee's decisions from the browser: recorded before they are applied, run as the same
jobs as the CLI under the run lock, queued behind a nightly run.

How a decision goes (docs/web.md, "Decisions"):
1. `POST /decisions` checks the form (kind, ids, the confirmation text of close/reopen), then
   records the request, with a fresh idempotency key, in the web's own journal beside the
   accounts file (`<warehouse stem>.decisions.jsonl`, 0600, each line fsync'd) and in the audit
   trail, and only then hands it to the engine. The page it redirects to, `/decisions/{id}`,
   shows where it is.
2. The engine, one worker thread of the warm web process, applies the requests one at a time:
   it takes the run lock (while a nightly run holds it the request is queued and the page says
   so), then calls the Prefect flow of flows/approval.py, the CLI's own job, with the signed-in
   account's name as `by` and the key. The job stores the key in approval.decisions and refuses
   a key it finds there, so nothing is applied twice.
3. A web process stopped between 1 and the end of 2 leaves a request without an outcome. At the
   next start the engine looks for its key in approval.decisions (open warehouse and restricted
   store, read-only, under the run lock): found, it is shown applied; not found, "not applied",
   and the committee can decide again. A request is never re-applied by itself.

Prefect: the flows run against PREFECT_API_URL (`pilotkpi web --prefect-api`, or the server
`pilotkpi server` runs); without one, the engine starts Prefect's temporary server once, when
the web starts, and keeps it for the life of the process (flows/ephemeral.py ties it to the
process, so a killed web leaves no server behind).
"""
from __future__ import annotations

import contextvars
import json
import os
import queue
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pilots.approval import is_blank
from pilots.fiscal import is_period
from web.app import Page, route
from web.audit import AuditTrail
from web.labels import WORDS, add_words

KINDS = ("approve", "reject", "close", "reopen")


def _status_text(page: Page):
    """A composite's status in the page's language, as the summary and the pilot pages word it."""
    from kpis.summary.labels import status_text

    return lambda status: status_text(status, page.lang) if status else "–"
MAX_TEXT = 2000  # a note or reason: a paragraph, not a file
ID = re.compile(r"^[0-9a-f]{12}\Z")
PILOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
REFRESH_SECONDS = 1
RECENT = 50
FINAL = ("applied", "refused", "not_applied")

add_words(
    th={
        "decisions_title": "การตัดสินใจของคณะกรรมการ", "decisions_recent": "การตัดสินใจล่าสุด",
        "decisions_none": "ยังไม่มีการตัดสินใจจากหน้าเว็บ",
        "decisions_kind_approve": "อนุมัติไฟล์ที่รอพิจารณา", "decisions_kind_reject": "ไม่อนุมัติไฟล์ที่รอพิจารณา",
        "decisions_kind_close": "ปิดไตรมาส", "decisions_kind_reopen": "เปิดไตรมาสอีกครั้ง",
        "decisions_state_waiting": "รับคำขอแล้ว กำลังเตรียมดำเนินการ",
        "decisions_state_queued": "รอคิว: การประมวลผลประจำคืนกำลังทำงานอยู่ จะดำเนินการต่อทันทีที่เสร็จ",
        "decisions_state_running": "กำลังดำเนินการ",
        "decisions_state_applied": "ดำเนินการแล้ว", "decisions_state_refused": "ระบบปฏิเสธการตัดสินใจนี้",
        "decisions_state_not_applied": "ยังไม่ได้ดำเนินการ กรุณาตัดสินใจใหม่อีกครั้ง",
        "decisions_state_pending": "กำลังตรวจสอบว่าดำเนินการแล้วหรือไม่",
        "decisions_what": "เรื่อง", "decisions_by": "ผู้ตัดสินใจ", "decisions_at": "เวลาที่บันทึก (เวลาประเทศไทย)",
        "decisions_state": "สถานะ", "decisions_note": "หมายเหตุ", "decisions_reason": "เหตุผล",
        "decisions_submission": "ไฟล์ที่ส่ง (submission)", "decisions_all_pilots": "ทุกโครงการที่ถึงกำหนด",
        "decisions_result": "ผลการดำเนินการ", "decisions_seconds": "ใช้เวลา {s} วินาที",
        "decisions_queued_seconds": "รอคิว {s} วินาที",
        "decisions_run": "รอบการทำงาน", "decisions_refresh": "หน้านี้จะแสดงผลเองเมื่อดำเนินการเสร็จ",
        "decisions_closed": "ปิด {period} ของ {pilot}: คะแนนรวม {composite} สถานะ {status}",
        "decisions_skipped": "{period} ของ {pilot} ปิดไว้แล้ว",
        "decisions_decided": "ไฟล์ {sid} ({pilot} {agency} {period}) สถานะใหม่: {status}",
        "decisions_replaced": "แทนที่ไฟล์ {sid} (เปลี่ยนเป็นถูกแทนที่)",
        "decisions_kept": "ไฟล์ {sid} ที่รับไว้แล้วมีวันที่ส่งเท่ากันหรือหลังกว่า จึงยังใช้ต่อ",
        "decisions_reopened": "เปิด {period} ของ {pilot} อีกครั้ง",
        "decisions_unpublished": "บันทึกแล้ว แต่ยังไม่ได้ทำขั้นตอนต่อไปนี้: {steps} (รอบถัดไปจะทำให้)",
        "decisions_hidden": "(โครงการลับ: แสดงเฉพาะบัญชีที่ได้รับอนุญาต)",
        "decisions_bad_form": "แบบฟอร์มไม่ถูกต้อง: {why}", "decisions_list_link": "การตัดสินใจทั้งหมด",
        "decisions_again": "ตัดสินใจใหม่",
    },
    en={
        "decisions_title": "Committee decisions", "decisions_recent": "Recent decisions",
        "decisions_none": "No decision has been taken in the web yet",
        "decisions_kind_approve": "Approve a held file", "decisions_kind_reject": "Reject a held file",
        "decisions_kind_close": "Close a quarter", "decisions_kind_reopen": "Reopen a quarter",
        "decisions_state_waiting": "Received, about to be applied",
        "decisions_state_queued": "Queued: the nightly run is in progress; the decision is applied as soon as it ends",
        "decisions_state_running": "Being applied",
        "decisions_state_applied": "Applied", "decisions_state_refused": "Refused",
        "decisions_state_not_applied": "Not applied: please decide again",
        "decisions_state_pending": "Checking whether it was applied",
        "decisions_what": "What", "decisions_by": "Decided by", "decisions_at": "Recorded at (Bangkok time)",
        "decisions_state": "State", "decisions_note": "Note", "decisions_reason": "Reason",
        "decisions_submission": "Submission", "decisions_all_pilots": "every pilot it is due for",
        "decisions_result": "Result", "decisions_seconds": "took {s} s",
        "decisions_queued_seconds": "after {s} s in the queue",
        "decisions_run": "Run", "decisions_refresh": "This page shows the result by itself when it is done",
        "decisions_closed": "closed {period} for {pilot}: composite {composite}, {status}",
        "decisions_skipped": "{period} was already closed for {pilot}",
        "decisions_decided": "submission {sid} ({pilot} {agency} {period}) is now {status}",
        "decisions_replaced": "replacing submission {sid} (now superseded)",
        "decisions_kept": "accepted submission {sid} has a later or equal submitted_on and stays",
        "decisions_reopened": "reopened {period} for {pilot}",
        "decisions_unpublished": "committed, but these steps are still to do: {steps} (the next run does them)",
        "decisions_hidden": "(restricted pilot: shown to cleared accounts only)",
        "decisions_bad_form": "The form is not right: {why}", "decisions_list_link": "All decisions",
        "decisions_again": "Decide again",
    })


def confirmation_text(kind: str, period: str, pilot_id: str | None) -> str:
    """What the committee types to confirm closing or reopening (the form says it): the pilot and
    the period, or the period alone when closing it for every pilot. Typed, not clicked: a quarter
    is not closed for every pilot by a slip of the mouse."""
    return f"{pilot_id} {period}" if pilot_id else period


def journal_path(accounts_file: Path) -> Path:
    """`<warehouse stem>.decisions.jsonl`, beside the accounts file and the audit trail."""
    return accounts_file.with_name(accounts_file.name.removesuffix(".accounts.json") + ".decisions.jsonl")


# --- the journal: the web's own record of each request and its outcome ----------------------------

class Journal:
    """One JSON object per line, appended under an exclusive lock and fsync'd before the call
    returns: `requested` (id, key, account, kind, parameters, time) and later one outcome
    (`applied`, `refused`, `not_applied`); `started` marks the job's start."""

    def __init__(self, path: Path):
        self.path = path
        self._writer = AuditTrail(path)
        self._cache: tuple[tuple[int, int], dict] | None = None

    def append(self, event: str, decision: str, who: str | None = None, **details: object) -> dict:
        """One line, written as the audit trail writes its own (web/audit.py: 0600, flock, fsync)."""
        return self._writer.record(event, who, None, decision=decision, **details)

    def decisions(self) -> dict[str, "Decision"]:
        """Every request with its latest outcome, in the order they were made (the parsed file is
        kept until it grows: the pages of queued decisions ask every second)."""
        try:
            with open(self.path, "rb") as fh:
                st = os.fstat(fh.fileno())
                key = (st.st_ino, st.st_size)
                cached = self._cache
                if cached is not None and cached[0] == key:
                    return dict(cached[1])
                lines = fh.read(st.st_size).splitlines()
        except FileNotFoundError:
            return {}
        found = self._parse(lines)
        self._cache = (key, found)
        return dict(found)

    @staticmethod
    def _parse(lines: list[bytes]) -> dict[str, "Decision"]:
        found: dict[str, Decision] = {}
        for raw in lines:
            try:
                e = json.loads(raw)
            except ValueError:
                continue  # a line cut short by a crash: its request was never handed on
            if e["event"] == "requested":
                found[e["decision"]] = Decision(e["decision"], e["key"], e["kind"], e["params"], e["who"], e["at"])
            elif e["decision"] in found:
                found[e["decision"]].record(e)
        return found


@dataclass
class Decision:
    id: str
    key: str
    kind: str
    params: dict
    who: str
    at: str
    state: str = "pending"  # pending (no outcome in the journal), applied, refused, not_applied
    result: dict = field(default_factory=dict)
    reason: str | None = None
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    queued_seconds: float | None = None

    def record(self, e: dict) -> None:
        if e["event"] == "started":
            self.started = e["at"]
        elif e["event"] in FINAL:
            self.state, self.finished = e["event"], e["at"]
            self.result, self.reason, self.seconds = e.get("result") or {}, e.get("reason"), e.get("seconds")
            self.queued_seconds = e.get("queued_seconds")


# --- the engine ------------------------------------------------------------------------------------

class DecisionEngine:
    """One worker thread: connects to Prefect once, settles the requests a stopped web left
    without an outcome, then applies new requests one at a time."""

    def __init__(self, site):
        self.site = site
        self.journal = Journal(journal_path(site.accounts_path))
        self.orphans = [d for d in self.journal.decisions().values() if d.state == "pending"]
        self.live: dict[str, str] = {d.id: "pending" for d in self.orphans}  # waiting, queued, running
        self.queue: queue.Queue = queue.Queue()
        self.prefect: str | None = None  # where the flows run: an API URL or "temporary server"
        self.ready = threading.Event()
        self._stop = threading.Event()
        # The caller's context (a test's Prefect harness settings live in a context variable).
        self._context = contextvars.copy_context()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._context.run, args=(self._work,), name="decisions", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue.put(None)

    # -- requests --

    def submit(self, account: str, address: str | None, kind: str, params: dict) -> str:
        """Record the request (journal, then audit trail, both fsync'd), then queue it."""
        decision, key = secrets.token_hex(6), str(uuid.uuid4())
        self.journal.append("requested", decision, key=key, who=account, kind=kind, params=params)
        self.site.audit.record("decision", account, address, decision=decision, key=key, kind=kind, **params)
        self.live[decision] = "waiting"
        self.queue.put(decision)
        return decision

    def state(self, decision: Decision) -> str:
        return decision.state if decision.state in FINAL else self.live.get(decision.id, "pending")

    # -- the worker --

    def _work(self) -> None:
        if self.orphans:  # read-only: no Prefect needed
            self._locked(lambda: self._settle(self.orphans), [d.id for d in self.orphans])
        if getattr(self.site.config, "warm_decisions", False):
            self._prefect()  # `pilotkpi web`: at start, so the first decision does not wait for it
        while not self._stop.is_set():
            decision = self.queue.get()
            if decision is None:
                break
            self._prefect()
            try:
                self._apply(self.journal.decisions()[decision])
            except Exception as exc:  # noqa: BLE001 - the engine outlives one bad request
                self.journal.append("not_applied", decision, reason=f"failed: {_one_line(exc, self.site)}")
                self.live.pop(decision, None)

    prefect_error: str | None = None

    def _prefect(self) -> None:
        """Connect to Prefect once (the first call); a failure is kept and said on every request."""
        if self.ready.is_set():
            return
        try:
            self._connect_prefect()
        except Exception as exc:  # noqa: BLE001 - every request then says why it was not applied
            self.prefect_error = _one_line(exc)
        self.ready.set()

    def _connect_prefect(self) -> None:
        from flows.settings import apply_defaults

        apply_defaults()
        from flows.ephemeral import start_server_tied_to_this_process
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
        if url:
            from flows.serve import wait_for_health

            wait_for_health(url, 30)  # a server named but not answering: said once, on every request
        elif start_server_tied_to_this_process() is not None:
            url = "temporary server"
        self.prefect = url
        import flows.approval  # noqa: F401 - warm: the first decision does not pay the imports

    def _locked(self, work, ids: list[str]) -> None:
        """work() under the run lock; while a run holds it, the requests are shown queued."""
        from warehouse.lock import RunLocked, run_lock

        while not self._stop.is_set():
            try:
                with run_lock(self.site.config.warehouse):
                    for i in ids:
                        self.live[i] = "running"
                    work()
                return
            except RunLocked:
                for i in ids:
                    self.live[i] = "queued"
                time.sleep(0.5)

    def _apply(self, d: Decision) -> None:
        asked = time.monotonic()
        started: list[float] = []
        outcome: dict = {}

        def run() -> None:
            started.append(time.monotonic())
            self.journal.append("started", d.id)
            outcome.update(self._run_job(d))

        if self.prefect_error:
            outcome.update(event="not_applied", reason=f"the Prefect server is not available: {self.prefect_error}")
        else:
            self._locked(run, [d.id])
        if not outcome:  # stopped while queued: settled at the next start
            return
        # The job's own time, from the run lock taken to its outcome; the wait behind a run apart.
        seconds = round(time.monotonic() - (started[0] if started else asked), 2)
        waited = round((started[0] if started else asked) - asked, 2)
        event = outcome.pop("event")
        self.journal.append(event, d.id, seconds=seconds, queued_seconds=waited, **outcome)
        self.site.audit.record(f"decision_{event}", d.who, None, decision=d.id, key=d.key, seconds=seconds,
                               **({"reason": outcome["reason"]} if "reason" in outcome else {}))
        self.live.pop(d.id, None)

    def _run_job(self, d: Decision) -> dict:
        from flows import approval as jobs
        from flows.outcome import release
        from flows.refusals import is_expected
        from pilots.registry import load_registry
        from warehouse.db import check_warehouse
        from warehouse.restricted import check_restricted

        cfg, p = self.site.config, d.params
        common = {"registry_dir": cfg.registry_dir, "warehouse_path": cfg.warehouse, "out_dir": out_dir_of(cfg),
                  "as_of": self.site.as_of(), "wait": False, "key": d.key, "restricted_store": cfg.restricted_store}
        try:
            check_warehouse(cfg.warehouse)
            check_restricted(cfg.warehouse, cfg.restricted_store)
            # A broken registry is refused here, as `pilotkpi` commands refuse it before their flow
            # (flows/cli_common.py check_registry): inside the job, Prefect's task log would write
            # every problem's text, a restricted pilot's too, at ERROR to the web's log.
            load_registry(cfg.registry_dir)
            if d.kind == "close":
                r = jobs.close_quarter(p["period"], p.get("pilot_id"), d.who, p.get("note"), **common)
                result = {"closed": [{"pilot_id": c.pilot_id, "composite": _number(c.composite), "status": c.status}
                                     for c in r.closed], "skipped": r.skipped}
            elif d.kind == "reopen":
                r = jobs.reopen(p["period"], p["pilot_id"], d.who, p["reason"], **common)
                result = {}
            else:
                r = jobs.decide_held(d.kind, int(p["submission_id"]), d.who, p.get("note") or p.get("reason"),
                                     **common)
                x = r.decided
                result = {"decided": {"submission_id": x.submission_id, "pilot_id": x.pilot_id,
                                      "agency_code": x.agency_code, "period": x.period, "status": x.status,
                                      "replaced": x.replaced, "kept": x.kept}}
        except Exception as exc:  # noqa: BLE001 - one line on the page, never a traceback
            release(exc)
            if type(exc).__name__ == "CommitUnknown":  # never "unchanged": the warehouse decides
                return self._outcome_read_back(d, _one_line(exc, self.site))
            expected = is_expected(exc) or type(exc).__name__ == "WarehouseRefused"
            if expected:
                return {"event": "refused", "reason": _one_line(exc, self.site)}
            return {"event": "not_applied", "reason": f"failed, the warehouse is unchanged: {_one_line(exc, self.site)}"}
        result.update(run_id=r.job.run_id, published=r.job.published is not None, failed_steps=sorted(r.job.failed_steps),
                      lead_changes=[list(lines) for lines in r.job.lead_changes])
        return {"event": "applied", "result": result}

    def _outcome_read_back(self, d: Decision, error: str) -> dict:
        """The job's COMMIT raised and the job could not see whether it was kept (CommitUnknown):
        read the warehouse as _settle does (a read-only open replays DuckDB's log). Unreadable too:
        no outcome, the request stays pending and the next start settles it."""
        try:
            rows = applied_rows(self.site.config.warehouse, self.site.config.restricted_store, d.key)
        except Exception:  # noqa: BLE001 - settled at the next start
            self.live[d.id] = "pending"
            return {}
        if rows:
            return {"event": "applied", "result": _recovered(rows)}
        return {"event": "not_applied", "reason": f"failed, and the warehouse does not hold it: {error}"}

    def _settle(self, orphans: list[Decision]) -> None:
        """Requests a stopped web left without an outcome: applied if their key is in
        approval.decisions, else not applied. Read-only: nothing is applied here."""
        for d in orphans:
            rows = applied_rows(self.site.config.warehouse, self.site.config.restricted_store, d.key)
            if rows:
                result = _recovered(rows)
                self.journal.append("applied", d.id, result=result)
                self.site.audit.record("decision_applied", d.who, None, decision=d.id, key=d.key, recovered=True)
            else:
                reason = "the web stopped before this decision was applied; nothing was changed"
                self.journal.append("not_applied", d.id, reason=reason)
                self.site.audit.record("decision_not_applied", d.who, None, decision=d.id, key=d.key, reason=reason)
            self.live.pop(d.id, None)


def _recovered(rows: list[tuple]) -> dict:
    """The outcome of a decision read back from the warehouse (applied_rows), not from its job."""
    return {"decisions": [r[0] for r in rows], "run_id": rows[0][6], "recovered": True}


def applied_rows(warehouse: Path, restricted_store: Path | None, key: str) -> list[tuple]:
    """The approval.decisions rows of a key, in the open warehouse and the restricted store (or its
    working copy, counted only when the open warehouse committed that run: warehouse/restricted.py)."""
    import duckdb

    from pilots.approval import applied_decisions
    from warehouse.on_disk import read_as_on_disk
    from warehouse.restricted import files_for

    def rows_in(path: Path) -> list[tuple]:
        if not path.exists():
            return []
        con = read_as_on_disk(path)
        try:
            return applied_decisions((con,), key)
        except duckdb.CatalogException:  # before migration 0014: no key was ever stored
            return []
        finally:
            con.close()

    found = rows_in(Path(warehouse))
    if found:
        return found
    files = files_for(warehouse, restricted_store)
    found = rows_in(files.store)
    if found:
        return found
    found = rows_in(files.next)
    if found:
        con = read_as_on_disk(Path(warehouse))
        try:
            committed = con.execute("SELECT count(*) FROM ops.runs WHERE run_id = ? AND status <> 'failed'",
                                    [found[0][6]]).fetchone()[0]
        finally:
            con.close()
        return found if committed else []
    return []


def out_dir_of(config) -> Path:
    """Where the decision jobs write the summaries: --out of `pilotkpi web`, else `out` beside the
    warehouse (the demo's layout)."""
    return getattr(config, "out_dir", None) or Path(config.warehouse).parent / "out"


def _number(value) -> float | None:
    return None if value is None else float(value)


def _one_line(exc: BaseException, site=None) -> str:
    """The exception as one line for the journal (which the decision's page shows, and whoever reads
    the file). A broken registry (RegistryError, or one it was raised from) is its problems, but a
    restricted pilot's are only its file and a neutral sentence, for every reader
    (web/registry_problems.py): which files are restricted pilots' is read from the published copy
    and the files themselves; without the site, every pilot file's problems are."""
    from pilots.registry import RegistryError
    from warehouse.personal import printable
    from web import registry_problems as shown

    broken, seen = exc, set()
    while broken is not None and not isinstance(broken, RegistryError) and id(broken) not in seen:
        seen.add(id(broken))
        broken = broken.__cause__ or broken.__context__
    if isinstance(broken, RegistryError):
        if site is None:
            hidden = {p.file for p in broken.problems if p.file.startswith("pilots/")}
        else:
            hidden = shown.restricted_files(broken.problems, site.config.registry_dir,
                                            shown.published_classes(site.data))
        return "broken registry: " + "; ".join(shown.said(broken.problems, hidden, "en"))
    text = str(exc) or type(exc).__name__
    return printable(" ".join(text.split()))


def engine_of(page: Page) -> DecisionEngine:
    return page.site.decisions


# --- the form --------------------------------------------------------------------------------------

class BadForm(ValueError):
    pass


def _text(form, name: str, required: bool = False) -> str | None:
    value = str(form.get(name) or "").strip()
    if len(value) > MAX_TEXT:
        raise BadForm(f"{name} is longer than {MAX_TEXT} characters")
    if required and is_blank(value):  # the jobs' rule (a placeholder such as `-` is blank too)
        raise BadForm(f"{name} is required")
    return value or None


def read_form(form) -> tuple[str, dict]:
    """(kind, parameters) from the posted form, or BadForm with a one-line reason. Only the form's
    shape is judged here; whether the decision is allowed is the job's to say."""
    kind = str(form.get("kind") or "")
    if kind not in KINDS:
        raise BadForm(f"kind must be one of {', '.join(KINDS)}")
    if kind in ("approve", "reject"):
        sid = str(form.get("submission_id") or "").strip()
        if not sid.isascii() or not sid.isdigit() or len(sid) > 18:
            raise BadForm("submission_id must be a submission number")
        params = {"submission_id": int(sid)}
        if kind == "approve":
            params["note"] = _text(form, "note")
        else:
            params["reason"] = _text(form, "reason", required=True)
        return kind, params
    period = str(form.get("period") or "").strip()
    if not is_period(period):
        raise BadForm(f"{period!r} is not a period: write it like 2549-Q3")
    pilot = _text(form, "pilot_id", required=(kind == "reopen"))
    if pilot is not None and not PILOT.match(pilot):
        raise BadForm("pilot_id is not a pilot id")
    typed = " ".join(str(form.get("confirm") or "").split())
    expected = confirmation_text(kind, period, pilot)
    if typed != expected:
        raise BadForm(f"type {expected} to confirm")
    params = {"period": period, "pilot_id": pilot}
    if kind == "close":
        params["note"] = _text(form, "note")
    else:
        params["reason"] = _text(form, "reason", required=True)
    return kind, params


# --- routes ----------------------------------------------------------------------------------------

@route("committee")
async def post_decision(request: Request, page: Page) -> Response:
    form = await request.form()
    try:
        kind, params = read_form(form)
    except BadForm as exc:
        message = WORDS[page.lang]["decisions_bad_form"].format(why=str(exc))
        return page.render("error.html", status=400, message=message)
    engine = engine_of(page)
    decision = await run_in_threadpool(engine.submit, page.account.name, page.address, kind, params)
    return page.redirect(f"/decisions/{decision}")


def _shown(page: Page, d: Decision) -> dict:
    """A decision as this account may see it: a restricted pilot's note, reason and figures only
    for cleared accounts (web.md)."""
    pilot = d.params.get("pilot_id") or (d.result.get("decided") or {}).get("pilot_id")
    registry = page.site.registry()
    restricted = (pilot in registry.pilots and registry.pilots[pilot].classification == "restricted") or any(
        c["pilot_id"] in registry.pilots and registry.pilots[c["pilot_id"]].classification == "restricted"
        for c in d.result.get("closed", []))
    if d.kind in ("approve", "reject") and pilot is None and d.state != "applied":
        restricted = _restricted_submission(page, d.params["submission_id"])
    hidden = restricted and not page.account.restricted
    return {"d": d, "state": engine_of(page).state(d), "hidden": hidden,
            "text": None if hidden else (d.params.get("note") or d.params.get("reason"))}


def _restricted_submission(page: Page, submission_id: int) -> bool:
    rows = page.site.data.restricted.rows("SELECT count(*) AS n FROM ingest.submissions WHERE submission_id = ?",
                                          [submission_id])
    return bool(rows and rows[0]["n"])


@route("analyst", "committee")
async def get_decision(request: Request, page: Page) -> Response:
    decision_id = request.path_params["decision"]
    found = engine_of(page).journal.decisions().get(decision_id) if ID.match(decision_id) else None
    if found is None:
        return page.error(404, "not_found")
    shown = await run_in_threadpool(_shown, page, found)  # it may read a store: never on the event loop
    response = page.render("decision.html", status_text=_status_text(page), **shown)
    if shown["state"] not in FINAL:  # no script: the browser reloads the page until it is done
        response.headers["refresh"] = str(REFRESH_SECONDS)
    return response


@route("analyst", "committee")
async def list_decisions(request: Request, page: Page) -> Response:
    engine = engine_of(page)
    recent = list(engine.journal.decisions().values())[-RECENT:][::-1]
    # _shown may read the restricted store, which can wait for a new copy (web/published.py): in a
    # worker thread, never on the event loop, which every other request needs meanwhile (reviewer RV6).
    rows = await run_in_threadpool(lambda: [_shown(page, d) for d in recent])
    return page.render("decisions.html", status_text=_status_text(page), rows=rows)


ROUTES: list = [
    Route("/decisions", post_decision, methods=["POST"]),
    Route("/decisions", list_decisions, methods=["GET"]),
    Route("/decisions/{decision}", get_decision, methods=["GET"]),
]
