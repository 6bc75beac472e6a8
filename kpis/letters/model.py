"""The reminder letters' data (follow-up.md), read from marts.reminders and the registry.

One Letter per agency lists every overdue (pilot, period) of that agency. Restricted pilots
appear by pilot id and period only: no name, no file name, no defect (warehouse.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from warehouse.display import ident

# Without secretariat.yaml, letters are signed by the committee's secretariat (pilot-registry.md).
DEFAULT_SENDER = {"name_th": "ฝ่ายเลขานุการคณะกรรมการโครงการนำร่อง",
                  "name_en": "the pilot-project committee secretariat",
                  **dict.fromkeys(("letter_prefix", "address_th", "address_en", "phone", "signer_name_th",
                                   "signer_name_en", "signer_position_th", "signer_position_en", "division_th",
                                   "division_en", "fax", "email"))}


@dataclass
class Defect:
    row: int | None
    column: str | None   # agency text: a column name as the file wrote it
    code: str
    message_en: str
    message_th: str


@dataclass
class Item:
    """One overdue report in a letter."""
    pilot_id: str
    restricted: bool
    pilot_name_th: str | None   # None for a restricted pilot
    pilot_name_en: str | None
    period: str
    role: str
    due_date: date
    days_overdue: int
    level: int
    reason: str                 # missing | rejected_file
    report_due_days: int        # the pilot's days after the quarter's end (follow-up.md)
    latest_file: str | None = None  # agency text; None for a restricted pilot or `missing`
    defects: list[Defect] = field(default_factory=list)


@dataclass(frozen=True)
class Reference:
    """An earlier reminder to the same agency, cited under อ้างถึง (kpis/letters/register.py)."""
    document_no: str
    issued_on: date
    level: int


@dataclass
class Letter:
    # The running number of the letter in its numbering year (kpis/letters/register.py numbers a
    # batch when it is written, from the register); build_letters gives the batch's places, the
    # numbers a batch takes when there is no register.
    number: int
    agency_code: str
    name_th: str
    name_en: str
    head_th: str | None
    head_en: str | None
    email: str | None
    items: list[Item]
    earlier: Reference | None = None  # set from the register when the letters are written

    @property
    def due_days(self) -> list[int]:
        """The reporting periods (days after the quarter's end) of this letter's reports."""
        return sorted({i.report_due_days for i in self.items})

    @property
    def level(self) -> int:
        """The letter's tone follows its most overdue report."""
        return max(i.level for i in self.items)

    @property
    def pilots(self) -> list[Item]:
        """One item per pilot, in order: the reference (อ้างถึง) names each pilot once."""
        seen: dict[str, Item] = {}
        for i in self.items:
            seen.setdefault(i.pilot_id, i)
        return list(seen.values())

    @property
    def rejected(self) -> list[Item]:
        return [i for i in self.items if i.latest_file is not None]


@dataclass
class Batch:
    as_of: date
    sender: dict                # registry.secretariat's columns (DEFAULT_SENDER's keys)
    letters: list[Letter]

    def document_no(self, letter: Letter) -> str:
        """<letter_prefix>/<running number> (pilot-registry.md); without a prefix the number alone."""
        prefix = self.sender.get("letter_prefix")
        return f"{prefix}/{letter.number}" if prefix else str(letter.number)

    def number_of(self, document_no: str) -> int | None:
        """The running number of a document number written with this batch's prefix (the inverse of
        document_no); None for another prefix, or a text that is not one (a register edited by hand)."""
        prefix = self.sender.get("letter_prefix")
        text = document_no or ""
        if prefix:
            head, sep, text = text.rpartition("/")
            if not sep or head != prefix:
                return None
        if not (text.isascii() and text.isdigit()) or text.startswith("0"):
            return None
        return int(text)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    res = con.execute(sql, params or [])
    names = [d[0] for d in res.description]
    return [dict(zip(names, r)) for r in res.fetchall()]


def _defects(con: duckdb.DuckDBPyConnection, submission_id: int) -> list[Defect]:
    """The file's errors in the letter's order (row, the file's own first, then column), read in
    chunks and put in order here, not sorted by DuckDB with their two messages: for a fill-down of
    24,000 defects that query alone failed at a 6 MB limit and passes at 4 MB now. (It is not why
    tests/test_trust_many_defects_memory.py's letters step still runs out of its 20 MB limit in a
    whole CI run: not found yet.) Same order as ORDER BY row_number NULLS FIRST,
    column_name (NULLs last, text by code point: DuckDB's binary collation)."""
    result = con.execute("""
        SELECT row_number, column_name, code, message_en, message_th
        FROM ingest.issues WHERE submission_id = ? AND severity = 'error'""", [submission_id])
    found = []
    while chunk := result.fetchmany(2048):
        found.extend(chunk)
    found.sort(key=lambda d: (d[0] is not None, d[0] or 0, d[1] is None, d[1] or ""))
    return [Defect(row, column, code, message_en, message_th) for row, column, code, message_en, message_th in found]


def build_letters(con: duckdb.DuckDBPyConnection, as_of: date) -> Batch:
    sender = _rows(con, "SELECT * FROM registry.secretariat LIMIT 1")
    rows = _rows(con, """
        SELECT r.*, a.name_th AS agency_th, a.name_en AS agency_en, a.head_th, a.head_en, a.email,
               p.name_th AS pilot_th, p.name_en AS pilot_en, p.classification = 'restricted' AS restricted,
               p.report_due_days,
               s.file_name
        FROM marts.reminders r
        JOIN registry.agencies a USING (agency_code)
        JOIN registry.pilots p USING (pilot_id)
        LEFT JOIN ingest.submissions s ON s.submission_id = r.latest_quarantined_submission_id
        ORDER BY r.agency_code, r.pilot_id, r.period""")
    letters: dict[str, Letter] = {}
    for r in rows:
        letter = letters.get(r["agency_code"])
        if letter is None:
            letter = letters[r["agency_code"]] = Letter(
                len(letters) + 1, r["agency_code"], r["agency_th"], r["agency_en"], r["head_th"], r["head_en"],
                r["email"], [])
        restricted = bool(r["restricted"])
        item = Item(r["pilot_id"], restricted, None if restricted else r["pilot_th"],
                    None if restricted else r["pilot_en"], r["period"], r["role"], r["due_date"],
                    r["days_overdue"], r["level"], r["reason"], r["report_due_days"])
        if not restricted and r["latest_quarantined_submission_id"] is not None:
            item.latest_file = ident(r["file_name"])  # shown with its format characters visible
            item.defects = _defects(con, r["latest_quarantined_submission_id"])
        letter.items.append(item)
    return Batch(as_of, {**DEFAULT_SENDER, **sender[0]} if sender else dict(DEFAULT_SENDER), list(letters.values()))
