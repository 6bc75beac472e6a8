"""`pilotkpi check` as text: each file's verdict and issues, in the file's own language.

A file whose headers are the Thai labels (ผลการดำเนินงาน) is shown in Thai: its verdict, the
severity and where each issue is (แถว 2 คอลัมน์ ผลการดำเนินงาน); otherwise in English, and in both
when no header was read. The messages themselves are always given in both languages, as the
catalogue writes them. An issue repeated with the same message on several rows (a file-level
fact such as KPI_NOT_LEAD, found on every KPI row) is printed once, with its rows.
"""
from __future__ import annotations

from flows.cli_common import printable
from pilots.contract import BY_NAME, column_as_written

WORDS = {
    "th": {"quarantined": "ไฟล์จะถูกกักไว้ (QUARANTINED)", "accepted": "ผ่าน (OK)", "error": "ผิดพลาด",
           "warning": "คำเตือน", "row": "แถว", "rows": "แถว", "column": "คอลัมน์", "file": "ทั้งไฟล์"},
    "en": {"quarantined": "would be QUARANTINED", "accepted": "OK", "error": "ERROR", "warning": "WARNING",
           "row": "row", "rows": "rows", "column": "column", "file": "file"},
}
BOTH = {"quarantined": "would be QUARANTINED / ไฟล์จะถูกกักไว้", "accepted": "OK / ผ่าน"}


def language_of(headers: dict[str, str]) -> str | None:
    """'th' when most recognised headers are written as the Thai labels, 'en' otherwise; None
    when the file gave no header (unreadable, no table)."""
    if not headers:
        return None
    thai = sum(written.casefold() != name.casefold() and written.strip() == BY_NAME[name].thai
               for name, written in headers.items() if name in BY_NAME)
    return "th" if thai * 2 > len(headers) else "en"


def _rows(numbers: list[int]) -> str:
    """2, 3, 4, 7 -> '2-4, 7'."""
    spans: list[list[int]] = []
    for n in sorted(set(numbers)):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def grouped(issues) -> list[tuple[object, list[int]]]:
    """Issues in order, those with one message on several rows merged: (first issue, its rows)."""
    groups: dict[tuple, tuple[object, list[int]]] = {}
    for i in issues:
        key = (i.code, i.severity, i.column_name, i.message_en, i.message_th)
        issue, rows = groups.setdefault(key, (i, []))
        if i.row_number:
            rows.append(i.row_number)
    return list(groups.values())


def outcome_text(outcome) -> str:
    lang = language_of(outcome.headers)
    words = WORDS[lang or "en"]
    verdict = BOTH[outcome.status if outcome.status == "quarantined" else "accepted"] if lang is None else \
        words[outcome.status if outcome.status == "quarantined" else "accepted"]
    # Messages quote the agency's header cells and values: control characters shown escaped (printable).
    lines = [f"{printable(outcome.file_name)}: {verdict}"]
    for issue, rows in grouped(outcome.issues):
        column = column_as_written(issue.column_name, outcome.headers, lang)
        where = ", " if lang != "th" else " "
        place = where.join(x for x in (
            f"{words['rows' if len(rows) > 1 else 'row']} {_rows(rows)}" if rows else "",
            f"{words['column']} {column}" if column else "") if x) or words["file"]
        lines.append(f"  {words[issue.severity]:7} {issue.code} ({printable(place)})\n"
                     f"    th: {printable(issue.message_th)}\n    en: {printable(issue.message_en)}")
    return "\n".join(lines)
