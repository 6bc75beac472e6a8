"""The committee's decisions on closed quarters (shared/spec/data-quality.md §2): close a due
period, reopen it, and approve or reject a file held for it.

Each function checks the decision against the warehouse, refuses it with a clear message
(LookupError: nothing by that name; ValueError: not allowed now), and otherwise writes it through
warehouse.store inside the caller's transaction, with its row in approval.decisions. The caller
rebuilds the marts in the same transaction.

Restricted pilots (data-quality.md §2) close, hold, approve, reject and reopen like open ones. A
held file and its approve/reject decision live in the store that holds the file: the caller passes
the restricted store's connection as `con` for a restricted pilot's file (flows/approval.py).
Closures and their close/reopen decisions stay in the open warehouse, beside
approval.quarter_closures: they carry the pilot, the period, who, when, the composite and status
at closing (what marts.pilot_scores shows of it), never a file or a figure of its lines. The
closed-quarter logic needs that row on the open side (a later file is held, `close-quarter`
refuses a period already closed, the pages list it). The committee's free text of a restricted
pilot (the close note, the reopen reason) is not among what warehouse.md lets the open side hold
of it: there its closure row and decision row have note, reopen_reason and note NULL, and the
text is written into the restricted store's approval.quarter_closures row of that closure
(`texts`: the restricted store's connection), as an approve/reject reason of a restricted held
file lives there with its decision row. warehouse/restricted.mirror_closures keeps those texts
when it copies the open closures into the restricted store. Decision numbers are one sequence over both stores (`others`), like submission ids, so
a pilot's decisions keep their numbers when its rows move (warehouse/moves.py).
"""
from __future__ import annotations

import unicodedata

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from pilots.fiscal import is_period, period_bounds
from warehouse import store
from warehouse.errors import NotFound, Refused
from warehouse.times import shown_time


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple | None:
    """The first row or None, with the result read to its end: DuckDB refuses the next statement
    (register, for one) on a connection whose last result is unfinished."""
    rows = con.execute(sql, params).fetchall()
    return rows[0] if rows else None


@dataclass
class Closed:
    pilot_id: str
    composite: object
    status: str


@dataclass
class Decided:
    submission_id: int
    pilot_id: str
    agency_code: str
    period: str
    status: str                 # after the decision: accepted, superseded or rejected
    replaced: int | None = None  # the accepted file it replaced (approve)
    kept: int | None = None      # the accepted file that stays, when the held one is superseded


_PAST = {"approve": "approved", "reject": "rejected"}


# --- who decides, and why: never blank ---------------------------------------------------------
# data-quality.md §2: closing "records who closed it"; reject and reopen take a reason. A name or a
# reason that is blank after the usual cleaning of text (pilots/normalise.clean_text: zero-width
# characters removed, trimmed, and the placeholders `-`, `n/a`, `รอข้อมูล` read as nothing, as in
# a report's cells) records nobody and no reason, so the decision is refused before anything is
# written. One rule for the CLI and the web: the jobs (flows/approval.py) call it first, the
# functions below call it again, and the CLI's precheck calls it to refuse before Prefect starts.
BLANK_BY = ("--by is blank: a decision records who takes it; nothing was changed / "
            "--by ว่างอยู่ ต้องระบุชื่อผู้ตัดสินใจ จึงไม่ได้เปลี่ยนแปลงสิ่งใด")
BLANK_REASON = ("--reason is blank: this decision records why it was taken; nothing was changed / "
                "--reason ว่างอยู่ ต้องระบุเหตุผลของการตัดสินใจนี้ จึงไม่ได้เปลี่ยนแปลงสิ่งใด")


# What shows nothing once printed: controls, format characters (bidi marks, the word joiner, the
# soft hyphen), spaces and line or paragraph separators, and the fillers that render as a blank.
# A name made of them records nobody. A joiner inside a Thai name is kept (the name shows).
_SHOWS_NOTHING = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_BLANK_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def is_blank(text: str | None) -> bool:
    from pilots.normalise import clean_text  # the report cells' cleaning, imported only when asked

    cleaned = None if text is None else clean_text(text)
    return cleaned is None or all(unicodedata.category(c) in _SHOWS_NOTHING or c in _BLANK_FILLERS for c in cleaned)


def refuse_blank(by: str | None, reason: str | None = None, reason_required: bool = False) -> None:
    """Refuse (Refused, a ValueError) a blank --by, and a blank reason where one is required,
    in English and Thai, before anything is read or written."""
    if is_blank(by):
        raise Refused(BLANK_BY)
    if reason_required and is_blank(reason):
        raise Refused(BLANK_REASON)


def _period(period: str) -> str:
    if not is_period(period):
        raise Refused(f"{period!r} is not a period: write it like 2549-Q3 (BE fiscal year, quarter 1-4)")
    return period


def _known_pilot(con: duckdb.DuckDBPyConnection, pilot_id: str) -> None:
    if not _one(con, "SELECT count(*) FROM registry.pilots WHERE pilot_id = ?", [pilot_id])[0]:
        raise NotFound(f"there is no pilot {pilot_id} in the registry")


def _next_decision_id(con: duckdb.DuckDBPyConnection, others: tuple = ()) -> int:
    return max(c.execute("SELECT coalesce(max(decision_id), 0) + 1 FROM approval.decisions").fetchall()[0][0]
               for c in (con, *others))


def applied_decisions(cons: tuple, key: str) -> list[tuple]:
    """The decisions recorded under an idempotency key (the web's), over the stores given:
    (decision_id, action, pilot_id, period, submission_id, status_after, run_id), in order."""
    rows = []
    for con in cons:
        rows += con.execute("SELECT decision_id, action, pilot_id, period, submission_id, status_after, run_id "
                            "FROM approval.decisions WHERE idempotency_key = ?", [key]).fetchall()
    return sorted(rows)


def refuse_applied(cons: tuple, key: str | None) -> None:
    """Refuse a key already applied: a decision retried after a crash is never applied twice."""
    if key is None:
        return
    rows = applied_decisions(cons, key)
    if rows:
        numbers = ", ".join(str(r[0]) for r in rows)
        raise Refused(f"this decision was applied already (decision {numbers}, run {rows[0][6]}): "
                      f"it is not applied twice")


def _keyed(con: duckdb.DuckDBPyConnection, decision_id: int, key: str | None) -> None:
    """Store the web's idempotency key with the decision row just recorded (migration 0014)."""
    if key is not None:
        con.execute("UPDATE approval.decisions SET idempotency_key = ? WHERE decision_id = ?", [key, decision_id])


def _restricted(con: duckdb.DuckDBPyConnection, pilot_id: str) -> bool:
    row = _one(con, "SELECT classification FROM registry.pilots WHERE pilot_id = ?", [pilot_id])
    return row is not None and row[0] == "restricted"


def _open_text(con: duckdb.DuckDBPyConnection, pilot_id: str, text: str | None) -> str | None:
    """The note or reason as the open warehouse keeps it: a restricted pilot's is not kept there."""
    return None if _restricted(con, pilot_id) else text


def _open_closure(con: duckdb.DuckDBPyConnection, pilot_id: str, period: str) -> tuple | None:
    return _one(con, "SELECT closed_at, closed_by FROM approval.quarter_closures WHERE pilot_id = ? AND period = ? "
                       "AND reopened_at IS NULL", [pilot_id, period])


def close_quarter(con: duckdb.DuckDBPyConnection, period: str, pilot_id: str | None, by: str, note: str | None,
                  as_of: date, at: datetime, run_id: str, others: tuple = (),
                  key: str | None = None, texts: duckdb.DuckDBPyConnection | None = None
                  ) -> tuple[list[Closed], list[str]]:
    """Close a due period for one pilot, or for every pilot it is due for (all pilots).

    texts: the restricted store's connection, where a restricted pilot's note goes (its open rows
    have none); None (a dry run without the store): the note is not kept for it.

    Reads marts.due_periods and marts.pilot_scores, which the caller has just built as of
    `as_of`: the composite and status recorded are the ones of that moment. Returns the closures
    made and the pilots skipped because the period was already closed for them.
    """
    refuse_blank(by)
    _period(period)
    if pilot_id is not None:
        _known_pilot(con, pilot_id)
    due = [r[0] for r in con.execute(
        "SELECT pilot_id FROM marts.due_periods WHERE period = ? AND (? IS NULL OR pilot_id = ?) ORDER BY pilot_id",
        [period, pilot_id, pilot_id]).fetchall()]
    if not due:
        raise Refused(_not_due(con, period, pilot_id, as_of))
    skipped = [p for p in due if _open_closure(con, p, period)]
    if len(skipped) == len(due):
        closed_at, closed_by = _open_closure(con, due[0], period)
        whom = pilot_id or "every pilot it is due for"
        raise Refused(f"{period} is already closed for {whom} (closed {shown_time(closed_at)} by "
                      f"{closed_by})")
    closed = []
    for pid in (p for p in due if p not in skipped):
        composite, status = _one(con, "SELECT composite_score, status FROM marts.pilot_scores "
                                        "WHERE pilot_id = ? AND period = ?", [pid, period])
        shown = _open_text(con, pid, note)
        store.close_quarter(con, pid, period, at, by, shown, composite, status, run_id)
        if shown != note and texts is not None:
            store.close_quarter(texts, pid, period, at, by, note, composite, status, run_id)
        number = store.record_decision(con, at, by, "close", pid, period, run_id, note=shown,
                                       decision_id=_next_decision_id(con, others))
        _keyed(con, number, key)
        closed.append(Closed(pid, composite, status))
    return closed, skipped


def _not_due(con: duckdb.DuckDBPyConnection, period: str, pilot_id: str | None, as_of: date) -> str:
    """Why a period cannot be closed: its quarter has not ended, or it is outside the pilot's dates."""
    start, end = period_bounds(period)
    whom = f"for {pilot_id}" if pilot_id else "for any pilot"
    if end > as_of:
        return (f"{period} is not due {whom} as of {as_of.isoformat()}: the quarter ends on {end.isoformat()}. "
                f"Only a due period can be closed")
    return (f"{period} is not due {whom}: the quarter ({start.isoformat()} to {end.isoformat()}) is outside the "
            f"pilot's dates. Only a due period can be closed")


def reopen_quarter(con: duckdb.DuckDBPyConnection, period: str, pilot_id: str, by: str, reason: str,
                   at: datetime, run_id: str, others: tuple = (), key: str | None = None,
                   texts: duckdb.DuckDBPyConnection | None = None) -> None:
    """End the closure of (pilot, period). Files held for it stay held until decided.
    texts: as for close_quarter, where a restricted pilot's reason goes."""
    refuse_blank(by, reason, reason_required=True)
    _period(period)
    _known_pilot(con, pilot_id)
    if _open_closure(con, pilot_id, period) is None:
        raise Refused(f"{period} is not closed for {pilot_id}: there is nothing to reopen")
    shown = _open_text(con, pilot_id, reason)
    if shown != reason and texts is not None:
        _reopen_in_store(con, texts, pilot_id, period, at, by, reason)
    store.reopen_quarter(con, pilot_id, period, at, by, shown)
    number = store.record_decision(con, at, by, "reopen", pilot_id, period, run_id, note=shown,
                                   decision_id=_next_decision_id(con, others))
    _keyed(con, number, key)


def _reopen_in_store(con: duckdb.DuckDBPyConnection, texts: duckdb.DuckDBPyConnection, pilot_id: str, period: str,
                     at: datetime, by: str, reason: str) -> None:
    """The reason of a restricted pilot's reopening, on its closure row in the restricted store
    (copied there first from the open row if the store lacks it: mirror_closures copies every
    closure, so only a store older than its closure would)."""
    where = "WHERE pilot_id = ? AND period = ? AND reopened_at IS NULL"
    if not _one(texts, f"SELECT count(*) FROM approval.quarter_closures {where}", [pilot_id, period])[0]:
        cur = con.execute(f"SELECT * FROM approval.quarter_closures {where}", [pilot_id, period])
        columns = [d[0] for d in cur.description]
        for row in cur.fetchall():
            texts.execute(f"INSERT INTO approval.quarter_closures ({', '.join(columns)}) "
                          f"VALUES ({', '.join('?' * len(columns))})", list(row))
    store.reopen_quarter(texts, pilot_id, period, at, by, reason)


def decide(con: duckdb.DuckDBPyConnection, submission_id: int, action: str, by: str, note: str | None,
           at: datetime, run_id: str, others: tuple = (), key: str | None = None) -> Decided:
    """Approve or reject a held file. A file takes one decision: a second one is refused.

    Approving applies the resubmission rule (agency-report-v1.md) as data-quality.md §2 words it:
    the held file is accepted and replaces the accepted version of its (pilot, agency, period),
    unless that version has a later or equal submitted_on, in which case the held file is
    superseded by it.
    """
    refuse_blank(by, note, reason_required=(action == "reject"))
    row = _one(con, "SELECT status, pilot_id, agency_code, period, submitted_on, file_name "
                      "FROM ingest.submissions WHERE submission_id = ?", [submission_id])
    if row is None:
        raise NotFound(f"there is no submission {submission_id}")
    status, pilot_id, agency, period, submitted_on, _ = row
    if status != "held":
        earlier = _one(con, "SELECT action, decided_by, decided_at, decision_id FROM approval.decisions "
                              "WHERE submission_id = ? ORDER BY decision_id DESC LIMIT 1", [submission_id])
        if earlier:
            act, who, when, number = earlier
            raise Refused(f"submission {submission_id} was {_PAST[act]} already (decision {number}, by {who} on "
                          f"{shown_time(when)}) and is now {status}: a held file takes one decision")
        raise Refused(f"submission {submission_id} is {status}, not held: only held files are approved or "
                      f"rejected")
    decided = Decided(submission_id, pilot_id, agency, period, "rejected")
    if action == "approve":
        current = _one(con, "SELECT submission_id, submitted_on FROM ingest.submissions WHERE status = 'accepted' "
                            "AND pilot_id = ? AND agency_code = ? AND period = ?", [pilot_id, agency, period])
        if current is not None and current[1] >= submitted_on:
            decided.status, decided.kept = "superseded", current[0]
        else:
            decided.status, decided.replaced = "accepted", current[0] if current is not None else None
    # The decision is recorded first: the status changes it makes name it (ingest.status_changes).
    number = store.record_decision(con, at, by, action, pilot_id, period, run_id, submission_id=submission_id,
                                   note=note, status_after=decided.status,
                                   decision_id=_next_decision_id(con, others))
    _keyed(con, number, key)
    audit = {"run_id": run_id, "changed_at": at, "decision_id": number}
    if action == "reject":
        store.set_status(con, submission_id, "rejected", reason="rejected", **audit)
    elif decided.status == "superseded":
        store.set_status(con, submission_id, "superseded", superseded_by=decided.kept, reason="approved", **audit)
    else:
        if decided.replaced is not None:
            store.supersede(con, {decided.replaced: submission_id}, **audit)
        store.accept_held(con, submission_id, **audit)
    return decided
