"""The register of reminder letters sent out (ทะเบียนหนังสือส่ง), OUT/reminders/register.csv.

A Thai external letter cites under อ้างถึง the earlier letter its reader already has, by number and
date, and only the latest of them (ระเบียบสำนักนายกรัฐมนตรีว่าด้วยงานสารบรรณ พ.ศ. 2526). Letters are
drafted after every run, so the register keeps one row per (letter, report) of each as-of date.

A letter once written stays in the register as written (RV7 F2): it may have been printed and
sent. A batch written again for the same date rewrites that date's rows (`status` drafted); a row
of an earlier run of the date that the re-run no longer writes (a letter dropped, because the
report came in or an extension was agreed, or a report a kept letter no longer lists) is kept,
with `status` withdrawn. A withdrawn row keeps its number taken (numbering, below) and its letter
citable (citations, below): if it was sent, the agency has it. A register written before the
`status` column (no such column, or an empty cell) reads as drafted; a status other than withdrawn
reads as drafted too.

Document numbers (pilot-registry.md: <letter_prefix>/<running number>). The register of letters
sent numbers them in one sequence through the calendar year (the 2526 regulation, ข้อ 43.1.2 in the
copies we read: the เลขทะเบียนส่ง runs in order through the ปีปฏิทิน; the regulation is not in
shared/seed, so this is our reading of it). The year is the as-of date's, the letter's date. So a
batch's letters are numbered, in the batch's order (agency code), from 1 + the highest number the
register holds for the year with the same prefix, drafted or withdrawn (the year's high-water
mark: every number ever written). A re-run of a date keeps each letter's number of that date (the
same agency's letter, drafted or withdrawn); a letter new to the re-run takes the next number. A
number is never given to another letter in a year: a kept number that another letter of the year
holds (another agency or date: a register edited by hand) is given up for a new one. The first
letter of a year is /1, as is the first letter with a new prefix. Without a register (the file
missing), numbering starts from 1 again; a register with rows none of which reads is refused
(RegisterError: the letters step fails) rather than numbered from 1.

A back-dated batch (its as-of date before the register's latest date: a run or rebuild back in
time, or `pilotkpi letters` on a published copy older than the night's letters) is numbered the
same way: its letters already in the register keep their numbers, and a letter new to it takes
the next numbers of the year, above the later dates' letters. So in a year, numbers follow the
order in which letters were written, which is the order of their dates unless a date was run
again after a later one. The letters of a back-dated batch are written into
OUT/reminders/<as-of date>/ (render.py), leaving the later date's letters in OUT/reminders/.

Which earlier letter is "the earlier reminder" (a reading, README "Reminder letters"): the drafts
of one reminder stage (level 1, 2 or 3 of follow-up.md) are the same reminder, re-drafted each
morning; the one sent is the first of its stage. A letter cites the first letter (drafted or
withdrawn) of the latest lower stage that listed one of its reports. A first reminder cites
nothing. A cited letter is of an earlier date; in the same year it has a lower number than the
letter citing it, unless one of the two was written by a back-dated batch (above).

Only one writer at a time (RV7 F3): write_letters (render.py) holds an exclusive flock on the
folder OUT/reminders from numbering to recording (register_lock), so the night's letters step and
`pilotkpi letters` never interleave their reads and rewrites of the register; a second writer
waits for the first (RegisterBusy after LOCK_TIMEOUT, naming the register and the folder).

The file holds registry codes, canonical periods and our own document numbers: no agency text.
A row that does not read as one (edited by hand) is skipped, never fatal, and kept in the file;
its number still counts for the year when its date starts with the year (it was written on a
letter). A date after today is no one's latest date (latest_date): a mistyped year would make
every later night back-dated.
"""
from __future__ import annotations

import csv
import fcntl
import io
import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

from kpis.files import write_if_changed
from kpis.letters.model import Batch, Reference
from warehouse.lock import flock_within

REGISTER_NAME = "register.csv"
COLUMNS = ("issued_on", "agency_code", "document_no", "level", "pilot_id", "period", "status")
DRAFTED, WITHDRAWN = "drafted", "withdrawn"
BANGKOK = ZoneInfo("Asia/Bangkok")  # the letters' dates are Bangkok dates
LOCK_TIMEOUT = 300.0  # seconds a second writer waits: a night's letters step takes seconds


class RegisterError(ValueError):
    """register.csv exists but cannot be read as the register: numbering it from 1 would repeat numbers."""


class RegisterBusy(RuntimeError):
    """Another writer held the register's lock for longer than the timeout."""


@contextmanager
def register_lock(folder: Path, timeout: float | None = None, poll: float = 0.2) -> Iterator[Path]:
    """An exclusive flock on the folder OUT/reminders itself while the register is numbered and
    recorded: a second writer (the night's letters step, `pilotkpi letters`) waits until the first
    is done, and gives up after `timeout` seconds (LOCK_TIMEOUT) with RegisterBusy naming the
    folder. No lock file: the folder lists the letters only, and `flock OUT/reminders <command>`
    (util-linux) takes the same lock from a shell (a copy of the folder that must not see half a
    night's letters). The kernel releases a flock when its process dies, so a killed writer never
    leaves the register locked."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    path = Path(folder)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if not flock_within(fd, timeout, poll):
            raise RegisterBusy(f"the register of letters {path / REGISTER_NAME} is being written by another writer: "
                               f"gave up after {timeout:g} s waiting for the lock on the folder {path} (flock); try "
                               "again when it has finished (a night's letters step, or `pilotkpi letters`)")
        try:
            yield path
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _raw(path: Path) -> list[dict] | None:
    """The register's rows as written, or None when there is no register."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        raise RegisterError(f"{path} is not UTF-8 text ({e.reason}): restore it from a backup, or move it "
                            "away to number the letters from 1 again") from None
    return list(csv.DictReader(io.StringIO(text)))


def _parsed(row: dict) -> dict | None:
    try:
        parsed = {**row, "issued_on": date.fromisoformat(row["issued_on"]), "level": int(row["level"])}
    except (TypeError, ValueError, KeyError):
        return None
    return parsed if isinstance(row.get("document_no"), str) and row["document_no"] else None


@dataclass(frozen=True)
class Register:
    """register.csv as read once per batch, under register_lock: its rows as written (`raw`, kept
    as they are when it is rewritten) and those that read as the register's (`rows`)."""
    path: Path
    raw: list[dict]
    rows: list[dict]


def read_register(folder: Path) -> Register:
    path = folder / REGISTER_NAME
    raw = _raw(path) or []
    rows = [p for p in map(_parsed, raw) if p is not None]
    if raw and not rows:
        raise RegisterError(f"{path} has {len(raw)} row(s) and none reads as the register's "
                            f"({', '.join(COLUMNS[:-1])}[, status]; issued_on YYYY-MM-DD): restore it from a backup, or move it "
                            "away to number the letters from 1 again")
    return Register(path, raw, rows)


def number_letters(register: Register, batch: Batch) -> None:
    """Set each letter's running number of the year from the register (the module's docstring):
    every row of the year counts, withdrawn ones too, so a number once written is never given to
    another letter of that year."""
    year = [(r["issued_on"], r["agency_code"], n, r.get("status") or DRAFTED) for r in register.rows
            if r["issued_on"].year == batch.as_of.year and (n := batch.number_of(r["document_no"])) is not None]
    holders: dict[int, set] = {}
    for day, code, n, _ in year:
        holders.setdefault(n, set()).add((day, code))
    # The year's highest number counts the rows that no longer read too (a level or a date edited
    # by hand), their year taken from the date's first four characters: such a row's number was
    # written on a letter, and is never given again (reviewer RV8 F3).
    unread = [n for r in register.raw if _parsed(r) is None
              and str(r.get("issued_on") or "")[:4] == str(batch.as_of.year)
              and (n := batch.number_of(r.get("document_no") or "")) is not None]
    top = max([*holders, *unread], default=0)
    given: set[int] = set()
    for letter in batch.letters:
        # Its number of this date: the drafted one, else the one it had before (a withdrawn row):
        # a re-run keeps a number once settled, never burning a new one each time (RV8 F4).
        ours = [(n, status) for day, code, n, status in year if day == batch.as_of and code == letter.agency_code]
        mine = sorted({n for n, status in ours if status == DRAFTED}) or sorted({n for n, _ in ours})
        if len(mine) == 1 and holders[mine[0]] == {(batch.as_of, letter.agency_code)} and mine[0] not in given:
            letter.number = mine[0]
        else:
            top += 1
            letter.number = top
        given.add(letter.number)


def latest_date(register: Register, today: date | None = None) -> date | None:
    """The latest as-of date the register holds (any year, drafted or withdrawn), None without one;
    a date after today (a year typed 2062 for 2026) is not one: it would make every later night's
    letters back-dated until then (reviewer RV8 F2)."""
    today = today or datetime.now(BANGKOK).date()
    return max((r["issued_on"] for r in register.rows if r["issued_on"] <= today), default=None)


def earlier_reminders(register: Register, batch: Batch) -> dict[str, Reference]:
    """agency_code -> the earlier reminder that each letter of the batch cites, where there is one."""
    rows = [r for r in register.rows if r["issued_on"] < batch.as_of]
    cited: dict[str, Reference] = {}
    for letter in batch.letters:
        reports = {(i.pilot_id, i.period) for i in letter.items}
        before = [r for r in rows if r["agency_code"] == letter.agency_code and r["level"] < letter.level
                  and (r["pilot_id"], r["period"]) in reports]
        if before:
            stage = max(r["level"] for r in before)
            first = min((r for r in before if r["level"] == stage),
                        key=lambda r: (r["issued_on"], batch.number_of(r["document_no"]) or 0, r["document_no"]))
            cited[letter.agency_code] = Reference(first["document_no"], first["issued_on"], stage)
    return cited


def record(register: Register, batch: Batch) -> Path:
    """Add the batch's letters to the register (status drafted), rewriting the rows of the same
    as-of date: a row of that date the batch does not write again (the same agency, number, pilot
    and period) is kept, as withdrawn (the module's docstring). A row of another date, or one that
    does not read (edited by hand), is kept as it is."""
    day = batch.as_of.isoformat()
    new = [{"issued_on": day, "agency_code": x.agency_code, "document_no": batch.document_no(x),
            "level": x.level, "pilot_id": i.pilot_id, "period": i.period, "status": DRAFTED}
           for x in batch.letters for i in x.items]
    written = {_key(r) for r in new}
    kept, seen = [], set()
    for r in register.raw:
        row = {k: r.get(k) or "" for k in COLUMNS}
        if not row["status"] and _parsed(r) is not None:
            row["status"] = DRAFTED  # a register written before the status column
        if row["issued_on"] == day:
            if _key(row) in written or _key(row) in seen:
                continue  # written again by this batch (or the same withdrawn row twice)
            seen.add(_key(row))
            row["status"] = WITHDRAWN
        kept.append(row)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for r in sorted(kept + new, key=lambda r: tuple(str(r[k]) for k in ("issued_on", "agency_code", "document_no",
                                                                       "pilot_id", "period"))):
        writer.writerow(r)
    write_if_changed(register.path, out.getvalue(), encoding="utf-8-sig")  # a quiet night leaves it as it is
    return register.path


def _key(row: dict) -> tuple:
    return row["agency_code"], row["document_no"], row["pilot_id"], row["period"]
