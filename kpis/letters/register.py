"""The register of reminder letters sent out (ทะเบียนหนังสือส่ง), OUT/reminders/register.csv.

A Thai external letter cites under อ้างถึง the earlier letter its reader already has, by number and
date, and only the latest of them (ระเบียบสำนักนายกรัฐมนตรีว่าด้วยงานสารบรรณ พ.ศ. 2526). Letters are
drafted after every run, so the register keeps one row per (letter, report) of each as-of date; a
batch written again for the same date replaces that date's rows.

Document numbers (pilot-registry.md: <letter_prefix>/<running number>). The register of letters
sent numbers them in one sequence through the calendar year (the 2526 regulation, ข้อ 43.1.2 in the
copies we read: the เลขทะเบียนส่ง runs in order through the ปีปฏิทิน; the regulation is not in
shared/seed, so this is our reading of it). The year is the as-of date's, the letter's date. So a
batch's letters are numbered, in the batch's order (agency code), from 1 + the highest number the
register holds for the year with the same prefix (normally that of the latest earlier as-of date).
A re-run of a date keeps each letter's number of that date (the same agency's letter); a letter new
to the re-run takes the next number. A number is never given twice in a year: a kept number that
another letter of the year holds (a register edited by hand) is given up for a new one. The first
letter of a year is /1, as is the first letter with a new prefix. Without a register (the file
missing), numbering starts from 1 again; a register with rows none of which reads is refused
(RegisterError: the letters step fails) rather than numbered from 1.

Which earlier letter is "the earlier reminder" (a reading, README "Reminder letters"): the drafts
of one reminder stage (level 1, 2 or 3 of follow-up.md) are the same reminder, re-drafted each
morning; the one sent is the first of its stage. A letter cites the first letter of the latest
lower stage that listed one of its reports. A first reminder cites nothing. A cited letter is of
an earlier date, so in the same year it has a lower number than the letter citing it.

The file holds registry codes, canonical periods and our own document numbers: no agency text.
A row that does not read as one (edited by hand) is skipped, never fatal, and kept in the file.
"""
from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

from kpis.files import write_if_changed
from kpis.letters.model import Batch, Reference

REGISTER_NAME = "register.csv"
COLUMNS = ("issued_on", "agency_code", "document_no", "level", "pilot_id", "period")


class RegisterError(ValueError):
    """register.csv exists but cannot be read as the register: numbering it from 1 would repeat numbers."""


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


def _read(path: Path) -> list[dict]:
    rows = _raw(path) or []
    read = [p for p in map(_parsed, rows) if p is not None]
    if rows and not read:
        raise RegisterError(f"{path} has {len(rows)} row(s) and none reads as the register's "
                            f"({', '.join(COLUMNS)}; issued_on YYYY-MM-DD): restore it from a backup, or move it "
                            "away to number the letters from 1 again")
    return read


def number_letters(folder: Path, batch: Batch) -> None:
    """Set each letter's running number of the year from the register (the module's docstring)."""
    year = [(r["issued_on"], r["agency_code"], n) for r in _read(folder / REGISTER_NAME)
            if r["issued_on"].year == batch.as_of.year and (n := batch.number_of(r["document_no"])) is not None]
    elsewhere = {n for day, _, n in year if day != batch.as_of}
    top = max((n for _, _, n in year), default=0)
    given: set[int] = set()
    for letter in batch.letters:
        mine = sorted({n for day, code, n in year if day == batch.as_of and code == letter.agency_code})
        if len(mine) == 1 and mine[0] not in elsewhere and mine[0] not in given:
            letter.number = mine[0]
        else:
            top += 1
            letter.number = top
        given.add(letter.number)


def earlier_reminders(folder: Path, batch: Batch) -> dict[str, Reference]:
    """agency_code -> the earlier reminder that each letter of the batch cites, where there is one."""
    rows = [r for r in _read(folder / REGISTER_NAME) if r["issued_on"] < batch.as_of]
    cited: dict[str, Reference] = {}
    for letter in batch.letters:
        reports = {(i.pilot_id, i.period) for i in letter.items}
        before = [r for r in rows if r["agency_code"] == letter.agency_code and r["level"] < letter.level
                  and (r["pilot_id"], r["period"]) in reports]
        if before:
            stage = max(r["level"] for r in before)
            first = min((r for r in before if r["level"] == stage), key=lambda r: (r["issued_on"], r["document_no"]))
            cited[letter.agency_code] = Reference(first["document_no"], first["issued_on"], stage)
    return cited


def record(folder: Path, batch: Batch) -> Path:
    """Add the batch's letters to the register, replacing rows of the same as-of date; a row that
    does not read (edited by hand) is kept as it is."""
    path = folder / REGISTER_NAME
    day = batch.as_of.isoformat()
    kept = [{k: r.get(k) or "" for k in COLUMNS} for r in _raw(path) or [] if r.get("issued_on") != day]
    new = [{"issued_on": day, "agency_code": x.agency_code, "document_no": batch.document_no(x),
            "level": x.level, "pilot_id": i.pilot_id, "period": i.period}
           for x in batch.letters for i in x.items]
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for r in sorted(kept + new, key=lambda r: tuple(str(r[k]) for k in ("issued_on", "agency_code", "pilot_id", "period"))):
        writer.writerow(r)
    write_if_changed(path, out.getvalue(), encoding="utf-8-sig")  # a quiet night leaves it as it is
    return path
