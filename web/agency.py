"""The agency's side: what a checked file would do, sending it into the inbox, its submissions and
the reports due (spec web.md, "What each page does").

Whose is a file: a stored submission belongs to the agency its canonical agency_code names; a
file the site sent (the audit trail's `send` entries) belongs to the agency it was sent for, also
while it waits for the night and when the night could not read its code (a quarantined file or a
duplicate has no canonical code). Every lookup takes the account's agency codes: an id of another
agency is simply not found (404, like an id that does not exist).
"""
from __future__ import annotations

import os
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path, PurePosixPath

from flows.clock import utc_now
from pilots.contract import column_as_written
from pilots.defects import Issue, catalogue
from pilots.fiscal import fiscal_year_of, period_bounds
from pilots.ingest import ToRead, read_batch
from pilots.normalise import canonical_identity
from warehouse.personal import masked
from pilots.readers import file_too_large
from pilots.readers.limits import LIMITS
from pilots.registry import Registry
from warehouse import evidence
from warehouse.restricted import names_restricted, restricted_pilots
from web.accounts import Account
from web.audit import AuditTrail
from web.published import ReadOnlyStore

EXPECTED_ROLES = ("lead", "secondary", "supporting")  # advisory agencies are not expected to report
_CHECK_LOCK = threading.Lock()  # one check at a time: the validation path keeps process-wide state
_SEND_LOCK = threading.Lock()   # the duplicate test and the write are one step


def display_name(uploaded: str | None) -> str:
    """The uploader's file name as it may be shown: its last component only (`../../x.csv` is
    `x.csv`), national IDs masked. It is never used as a path."""
    name = PurePosixPath((uploaded or "").replace("\\", "/")).name
    return masked(name) or "report"


@dataclass
class Checked:
    """An uploaded file after the check, kept (in the site's private folder) until it is sent."""
    token: str
    name: str  # display_name of the upload
    size: int
    sha256: str
    issues: list[Issue]
    kept_at: Path | None
    pilot_id: str | None = None
    agency_code: str | None = None
    period: str | None = None
    submitted_on: date | None = None
    agencies_in_file: list[str] = field(default_factory=list)
    # It names a restricted pilot (any of its rows, valid or not: the night's routing rule,
    # pilots/ingest.py FileRead.pilots). Its name as uploaded then stays out of the audit trail,
    # which is on the open side (warehouse.md: no restricted file name in logs); see `send`.
    restricted: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # canonical column -> header as the file wrote it

    def column(self, issue: Issue, lang: str) -> str | None:
        """The issue's column as `pilotkpi check` names it (pilots/contract.py column_as_written):
        as the file wrote it; a column it lacks by its Thai label in Thai, else its canonical name."""
        return column_as_written(issue.column_name, self.headers, lang)

    @property
    def name_in_trail(self) -> str | None:
        """The uploaded name as the audit trail may record it: none for a restricted pilot's file."""
        return None if self.restricted else self.name

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]


# Checked files kept until sent (each at most the engine's size limit, 20 MiB): at most this many
# per account (one per session, the oldest of the account's dropped first) and this many bytes in
# all (the oldest dropped first; the newest is always kept). docs/web.md "Uploads".
MAX_KEPT_PER_ACCOUNT = 5
MAX_KEPT_BYTES = 200 * 1024 * 1024


class KeptFiles:
    """The checked files waiting in the site's private folder to be sent, oldest first.

    A session's checked file is deleted when the session ends (sign-out, 8 hours idle, its
    account disabled or given a new password: web/auth.py `Sessions(on_end=...)`), when the
    session checks another file, when it is sent, and when the bounds above need room: a file
    dropped for room is gone from its session too, whose "send" then says the check expired.
    Signed-in sessions are never dropped for room, so without this each sign-in and check left
    up to 20 MiB in the temporary folder until the site stopped."""

    def __init__(self, max_per_account: int | None = None, max_bytes: int | None = None):
        self._lock = threading.Lock()
        self._files: OrderedDict[str, tuple[Checked, str, dict]] = OrderedDict()  # token -> (file, account, its session's `checked`)
        self._max_per_account = MAX_KEPT_PER_ACCOUNT if max_per_account is None else max_per_account
        self._max_bytes = MAX_KEPT_BYTES if max_bytes is None else max_bytes

    def keep(self, session, account: str, checked: Checked) -> None:
        """`checked` is now the one file of this session (web/auth.py Session) that may be sent; its
        earlier one is deleted, and the oldest files beyond the bounds. A session that ended while
        its file was being checked keeps nothing."""
        waiting = session.checked
        with self._lock:
            gone = [self._files.pop(t, (c,))[0] for t, c in waiting.items()]
            waiting.clear()
            if session.ended:
                gone.append(checked)
            else:
                waiting[checked.token] = checked
            if checked.kept_at is not None and not session.ended:
                self._files[checked.token] = (checked, account, waiting)
                mine = [t for t, (_, a, _) in self._files.items() if a == account]
                for token in mine[:max(0, len(mine) - self._max_per_account)]:
                    gone.append(self._drop(token))
                total = sum(c.size for c, _, _ in self._files.values())
                while total > self._max_bytes and len(self._files) > 1:
                    dropped = self._drop(next(iter(self._files)))
                    total -= dropped.size
                    gone.append(dropped)
        _delete(gone)

    def claim(self, waiting: dict, token: str) -> Checked | None:
        """The session's checked file for `token`, taken out of the session and of the bounds
        (no longer dropped for room) to be sent; None when there is none (sent, or expired)."""
        with self._lock:
            checked = waiting.pop(token, None)
            self._files.pop(token, None)
        return checked

    def release(self, waiting: dict) -> None:
        """The session ended: its checked file is deleted."""
        with self._lock:
            gone = [self._files.pop(t, (c,))[0] for t, c in waiting.items()]
            waiting.clear()
        _delete(gone)

    def forget_all(self) -> None:
        """The folder is removed (the site stops): nothing is waiting any more."""
        with self._lock:
            for _, _, waiting in self._files.values():
                waiting.clear()
            self._files.clear()

    def count_and_bytes(self) -> tuple[int, int]:
        with self._lock:
            return len(self._files), sum(c.size for c, _, _ in self._files.values())

    def _drop(self, token: str) -> Checked:
        checked, _, waiting = self._files.pop(token)
        waiting.pop(token, None)
        return checked


def _delete(files: list[Checked]) -> None:
    for checked in files:
        if checked.kept_at is not None:
            checked.kept_at.unlink(missing_ok=True)


def check_upload(name: str, data: bytes | None, size: int, registry: Registry, as_of: date,
                 keep_dir: Path | None) -> Checked:
    """`pilotkpi check` on one uploaded file: the same reading and validation code
    (pilots.ingest.read_batch: read_files, then validate_read), the same messages. A file that may be sent is
    kept in `keep_dir` until it is (None: not kept)."""
    token = secrets.token_urlsafe(16)
    if data is None or size > LIMITS.max_file_bytes:
        return Checked(token, name, size, "", [file_too_large(size)], None)
    sha = evidence.sha256_of(data)
    with _CHECK_LOCK:
        (read,) = read_batch([ToRead(name, sha, data=data)], registry, as_of)
    checked = Checked(token, name, size, sha, read.issues, None)
    checked.headers = dict(read.headers)
    # The night's routing rule, the same helper: a file naming plt-2548-006 goes to the restricted
    # store at night, so its name stays out of the open side's trail here too.
    checked.restricted = names_restricted({canonical_identity(read.raw_identity or {}).get("pilot_id")} | read.pilots,
                                          restricted_pilots(registry))
    if read.rows:  # a file without errors: its validated identity
        first = read.rows[0]
        checked.pilot_id, checked.agency_code = first["pilot_id"], first["agency_code"]
        checked.period, checked.submitted_on = first["period"], _as_date(first["submitted_on"])
        checked.agencies_in_file = sorted({r["agency_code"] for r in read.rows if r.get("agency_code")})
    else:  # a file with errors: the agency it names, read as the night reads it (verdict: "foreign" first)
        agency = canonical_identity(read.raw_identity or {}).get("agency_code")
        checked.agencies_in_file = [agency] if agency else []
    if not checked.errors and keep_dir is not None:
        path = keep_dir / token
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        checked.kept_at = path
    return checked


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def fix_hint(issue: Issue, lang: str) -> str:
    """How to fix a defect: the format guide's text for its code."""
    kind = catalogue().get(issue.code)
    return "" if kind is None else (kind.fix_th if lang == "th" else kind.fix_en)


class AgencyData:
    """The agency's view of the published copy, the restricted store and the site's own sends."""

    def __init__(self, published: ReadOnlyStore, restricted: ReadOnlyStore, audit: AuditTrail, inbox: Path):
        self.published, self.restricted, self.audit, self.inbox = published, restricted, audit, inbox

    # --- stored submissions --------------------------------------------------------------------
    def _stored(self, where: str, params: list, missing_ok: bool = False) -> list[dict]:
        """Stored submissions of both stores. `missing_ok`: an agency's own view, where no published
        copy yet (before the first night) means nothing stored yet, not an outage."""
        sql = ("SELECT submission_id, sha256, file_name, size_bytes, received_at, pilot_id, agency_code, period, "
               "submitted_on, status, error_count, warning_count, raw_agency_code "
               f"FROM ingest.submissions WHERE {where} ORDER BY submission_id")
        rows = [dict(r, store="open") for r in self.published.rows(sql, params, missing_ok=missing_ok)]
        rows += [dict(r, store="restricted") for r in self.restricted.rows(sql, params)]
        return rows

    def sends(self, codes: list[str]) -> list[dict]:
        return [e for e in self.audit.events("send") if e.get("agency_code") in codes]

    def sends_by_sha(self) -> dict[str, dict]:
        """The site's sends by SHA-256 (the first of each). A file sent through the site is stored
        under the inbox name the site chose; every page names it as the agency sent it (the send's
        `file_name`; a restricted pilot's file: its inbox name, as the trail keeps it), and says
        when it was sent (`at`) apart from when the night took it in (`received_at`)."""
        found: dict[str, dict] = {}
        for event in self.audit.events("send"):
            found.setdefault(event.get("sha256"), event)
        return found

    def as_sent(self, rows: list[dict], sends: dict[str, dict] | None = None) -> list[dict]:
        """Each stored row with `sent_name` (its name as sent, else as stored), `sent_at` (when the
        site sent it; None for a file that came another way) and `receipt`."""
        sends = self.sends_by_sha() if sends is None else sends
        for row in rows:
            send = sends.get(row.get("sha256"))
            row["receipt"] = send["receipt"] if send else None
            row["sent_name"] = send["file_name"] if send else row.get("file_name")
            row["sent_at"] = send["at"] if send else None
        return rows

    def submissions(self, codes: list[str]) -> list[dict]:
        """Every file the agencies sent, newest first: the stored ones with their status, then the
        site's sends the night has not taken yet ("received, waiting for the night")."""
        if not codes:
            return []
        sends = self.sends(codes)
        shas = sorted({s["sha256"] for s in sends})
        marks = ", ".join("?" * len(codes))
        where = f"agency_code IN ({marks})" + (f" OR sha256 IN ({', '.join('?' * len(shas))})" if shas else "")
        stored = self._stored(where, [*codes, *shas], missing_ok=True)
        by_sha: dict[str, list[dict]] = {}
        for row in stored:
            by_sha.setdefault(row["sha256"], []).append(row)
        sent_by_sha: dict[str, dict] = {}
        for send in sends:
            sent_by_sha.setdefault(send["sha256"], send)
        self.as_sent(stored, sent_by_sha)
        for row in stored:
            send = sent_by_sha.get(row["sha256"])
            if row["agency_code"] is None and send:
                row["agency_code"] = send["agency_code"]
        # Waiting for the night: sent (sent_at), not yet taken in (received_at: the night's time).
        waiting = [dict(status="waiting", sha256=s["sha256"], sent_name=s["file_name"], size_bytes=s["size"],
                        sent_at=s["at"], received_at=None, pilot_id=s["pilot_id"], agency_code=s["agency_code"],
                        period=s["period"], submitted_on=s["submitted_on"], receipt=s["receipt"],
                        error_count=0, warning_count=s.get("warnings", 0), submission_id=None, store=None)
                   for s in sends if s["sha256"] not in by_sha]
        stored.sort(key=lambda r: (str(r["received_at"]), r["submission_id"]), reverse=True)
        return sorted(waiting, key=lambda r: r["sent_at"], reverse=True) + stored

    def all_submissions(self, cleared: bool) -> list[dict]:
        """Every stored file, for analyst and committee accounts: a restricted pilot's files only
        for an account cleared for them (web.md); the others see what the open copy shows."""
        rows = self.as_sent([r for r in self._stored("TRUE", []) if cleared or r["store"] == "open"])
        return sorted(rows, key=lambda r: (str(r["received_at"]), r["submission_id"]), reverse=True)

    def submission(self, codes: list[str], sha256: str) -> list[dict]:
        """The stored rows of one file (by SHA-256) of these agencies; [] for another's or none."""
        return [r for r in self.submissions(codes) if r["sha256"] == sha256 and r["submission_id"] is not None]

    def issues(self, row: dict) -> list[dict]:
        store = self.published if row["store"] == "open" else self.restricted
        return store.rows("SELECT row_number, column_name, code, severity, message_en, message_th "
                          "FROM ingest.issues WHERE submission_id = ? ORDER BY row_number NULLS FIRST, code",
                          [row["submission_id"]])

    def receipt(self, codes: list[str], receipt_id: str) -> dict | None:
        for send in self.sends(codes):
            if send["receipt"] == receipt_id:
                return send
        return None

    # --- what a file would do ------------------------------------------------------------------
    def closed(self, pilot_id: str, period: str) -> bool:
        return bool(self.published.rows(
            "SELECT 1 FROM approval.quarter_closures WHERE pilot_id = ? AND period = ? AND reopened_at IS NULL",
            [pilot_id, period], missing_ok=True))

    def verdict(self, account: Account, checked: Checked) -> tuple[str, dict]:
        """(kind, details) of a checked file: foreign (an agency the account does not speak for),
        quarantined, duplicate, held, replaces, earlier (kept as history only) or new.

        Foreign first, and its defects are not shown (templates/upload.html): a file whose rows
        claim another agency is judged as that agency's, so a restricted pilot's lead claimed by
        any account was told which KPI codes and units the pilot has (reviewer RV5)."""
        foreign = [a for a in checked.agencies_in_file if a not in account.agencies]
        if foreign:
            return "foreign", {"agencies": foreign}
        if checked.errors:
            return "quarantined", {}
        codes = account.agencies
        for s in self.sends(codes):
            if s["sha256"] == checked.sha256:
                return "duplicate", {"on": s["at"]}
        stored = self._stored("sha256 = ? AND agency_code IN (" + ", ".join("?" * len(codes)) + ")",
                              [checked.sha256, *codes], missing_ok=True)
        if stored:
            return "duplicate", {"on": stored[0]["received_at"]}
        if self.closed(checked.pilot_id, checked.period):
            return "held", {}
        key = [checked.pilot_id, checked.agency_code, checked.period]
        current = [r for r in self._stored("pilot_id = ? AND agency_code = ? AND period = ?", key, missing_ok=True)
                   if r["status"] == "accepted"]
        current += [dict(submitted_on=date.fromisoformat(s["submitted_on"]))
                    for s in self.sends(codes) if [s["pilot_id"], s["agency_code"], s["period"]] == key]
        if current:
            latest = max(r["submitted_on"] for r in current)
            return ("replaces" if checked.submitted_on >= latest else "earlier"), {"of": latest}
        return "new", {}

    # --- sending -------------------------------------------------------------------------------
    def send(self, account: Account, checked: Checked, address: str | None) -> dict | None:
        """Put a checked file into the inbox and return its receipt (None: it may not be sent,
        or it was sent meanwhile). The name is the site's, never the uploader's; the bytes are
        written under a hidden .tmp name (never read by the night), flushed, then linked to the
        final name, so the night sees the whole file or nothing. A restricted pilot's file is
        known in the trail, its receipt and the lists by that inbox name (the one the restricted
        store records), never by the name it was uploaded under: the trail is on the open side."""
        with _SEND_LOCK:
            kind, _ = self.verdict(account, checked)
            if kind not in ("new", "replaces", "earlier", "held") or checked.kept_at is None:
                return None
            received = utc_now()
            ext = PurePosixPath(checked.name).suffix.lower()
            name = f"web-{received:%Y%m%dT%H%M%S%fZ}-{checked.agency_code}-{checked.sha256[:16]}{ext}"
            tmp = self.inbox / f".{name}.tmp"
            data = checked.kept_at.read_bytes()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.link(tmp, self.inbox / name)  # never replaces an existing file
            finally:
                tmp.unlink(missing_ok=True)
            dir_fd = os.open(self.inbox, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
            checked.kept_at.unlink(missing_ok=True)
            return self.audit.record(
                "send", account.name, address, receipt=secrets.token_urlsafe(12),
                file_name=name if checked.restricted else checked.name,
                inbox_name=name, size=checked.size, sha256=checked.sha256, pilot_id=checked.pilot_id,
                agency_code=checked.agency_code, period=checked.period,
                submitted_on=checked.submitted_on.isoformat(), verdict=kind,
                warnings=len(checked.issues))

    # --- the reports due -----------------------------------------------------------------------
    def due_reports(self, registry: Registry, codes: list[str], as_of: date) -> list[dict]:
        """This quarter's and last quarter's report of each pilot each agency is expected to
        report for, with the status of the latest file."""
        periods = [_period_of(as_of), _period_of(period_bounds(_period_of(as_of))[0] - timedelta(days=1))]
        files = self.submissions(codes)
        out = []
        for code in codes:
            for pilot in sorted(registry.pilots.values(), key=lambda p: p.pilot_id):
                role = pilot.role_of(code)
                if role not in EXPECTED_ROLES:
                    continue
                for period in periods:
                    first, last = period_bounds(period)
                    if last < pilot.start or first > pilot.end:
                        continue
                    mine = [f for f in files if (f["pilot_id"], f["agency_code"], f["period"]) == (pilot.pilot_id, code, period)]
                    out.append(dict(pilot=pilot, agency_code=code, role=role, period=period,
                                    due_date=last + timedelta(days=pilot.report_due_days),
                                    status=_report_status(mine), files=mine))
        return out

    def reminders(self, codes: list[str]) -> list[dict]:
        if not codes:
            return []
        return self.published.rows(
            "SELECT agency_code, pilot_id, period, due_date, days_overdue, level, reason FROM marts.reminders "
            f"WHERE agency_code IN ({', '.join('?' * len(codes))}) ORDER BY due_date, pilot_id", codes, missing_ok=True)


def _period_of(day: date) -> str:
    quarter = {10: 1, 11: 1, 12: 1, 1: 2, 2: 2, 3: 2, 4: 3, 5: 3, 6: 3, 7: 4, 8: 4, 9: 4}[day.month]
    return f"{fiscal_year_of(day)}-Q{quarter}"


def _report_status(files: list[dict]) -> str:
    """A report's status from its files: waiting beats everything (a newer file is on its way),
    then the accepted version, held, rejected, quarantined; none: not sent."""
    statuses = {f["status"] for f in files}
    for status in ("waiting", "accepted", "held", "rejected", "quarantined", "superseded"):
        if status in statuses:
            return status
    return "not_sent"
