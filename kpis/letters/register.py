"""The register of reminder letters sent out (ทะเบียนหนังสือส่ง), OUT/reminders/register.csv.

A Thai external letter cites under อ้างถึง the earlier letter its reader already has, by number and
date, and only the latest of them (ระเบียบสำนักนายกรัฐมนตรีว่าด้วยงานสารบรรณ พ.ศ. 2526). Letters are
drafted after every run, so the register keeps one row per (letter, report) of each as-of date; a
batch written again for the same date replaces that date's rows.

Which earlier letter is "the earlier reminder" (a reading, README "Reminder letters"): the drafts
of one reminder stage (level 1, 2 or 3 of follow-up.md) are the same reminder, re-drafted each
morning; the one sent is the first of its stage. A letter cites the first letter of the latest
lower stage that listed one of its reports. A first reminder cites nothing.

The file holds registry codes, canonical periods and our own document numbers: no agency text.
A row that does not read as one (edited by hand) is skipped, never fatal.
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


def _read(path: Path) -> list[dict]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return []
    rows = []
    for row in csv.DictReader(io.StringIO(text)):
        try:
            rows.append({**row, "issued_on": date.fromisoformat(row["issued_on"]), "level": int(row["level"])})
        except (TypeError, ValueError, KeyError):
            continue
    return rows


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
    """Add the batch's letters to the register, replacing rows of the same as-of date."""
    path = folder / REGISTER_NAME
    kept = [r for r in _read(path) if r["issued_on"] != batch.as_of]
    new = [{"issued_on": batch.as_of, "agency_code": x.agency_code, "document_no": batch.document_no(x),
            "level": x.level, "pilot_id": i.pilot_id, "period": i.period}
           for x in batch.letters for i in x.items]
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for r in sorted(kept + new, key=lambda r: (r["issued_on"], r["agency_code"], r["pilot_id"], r["period"])):
        writer.writerow({**r, "issued_on": r["issued_on"].isoformat()})
    write_if_changed(path, out.getvalue(), encoding="utf-8-sig")  # a quiet night leaves it as it is
    return path
