"""Personal data: 13-digit Thai national ID numbers with a valid check digit are masked in
every text that reaches the warehouse, a summary, a report, a letter, an export or a log:
report fields, defect messages and file names alike.

- Separators: a single `-` or space between any two digits (agency-report-v1.md, "National
  IDs"), in any grouping (1-2345-67890-12-1, 1 2345 67890 121, 12-34…).
- Digits: ASCII or Thai (๐-๙), mixed too (any Unicode decimal digit, e.g. full-width, counts
  the same); only the ID itself is replaced, so Thai digits elsewhere stay as written.
- An ID with an invalid check digit is left alone; so is a run of 13 digits that is part of a
  longer number.
"""
from __future__ import annotations

import re
import unicodedata

THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
# Every place where an ID could start, as a zero-width match: a candidate that fails the check
# digit must not swallow the digits of a valid ID that starts inside it ("7-1-1017-00203-93-0").
NATIONAL_ID = re.compile(r"(?<!\d)(?=(\d(?:[- ]?\d){12})(?!\d))")  # \d: any Unicode decimal digit
MASK = "[masked-id]"


def valid_national_id(digits: str) -> bool:
    if len(digits) != 13 or not all(unicodedata.decimal(d, None) is not None for d in digits):
        return False
    values = [unicodedata.decimal(d) for d in digits]
    total = sum(v * (13 - i) for i, v in enumerate(values[:12]))
    return (11 - total % 11) % 10 == values[12]


def mask_national_ids(text: str) -> tuple[str, bool]:
    """Mask every 13-digit national ID with a valid check digit; invalid ones are left alone."""
    parts, pos = [], 0
    for m in NATIONAL_ID.finditer(text):
        start, candidate = m.start(), m.group(1)
        if start < pos or not valid_national_id(re.sub(r"[- ]", "", candidate)):
            continue  # inside an ID masked already, or not an ID
        parts += [text[pos:start], MASK]
        pos = start + len(candidate)
    if not parts:
        return text, False
    return "".join(parts) + text[pos:], True


def masked(text: str | None) -> str | None:
    """The text as it may be stored or shown (None stays None)."""
    return None if text is None else mask_national_ids(text)[0]


def printable(text: str) -> str:
    """Error text for the terminal, or a column read there (ops.runs.error): it may quote an
    agency's file name or values, so every character str.isprintable() refuses (control and
    format characters: escape sequences, newlines, a right-to-left override) is shown escaped as
    Python writes it (\\x1b, \\n, \\u202e), never passed on, and national ID numbers masked.
    Escaping twice changes nothing: the stand-ins are printable."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in masked(text))
