"""Agency text on its way out: shown exactly as received, made harmless, never parsed.

File names and the raw_* identity of a submission are whatever an agency wrote. Every output
(HTML through Jinja's autoescape, Markdown through md_text, the terminal) first makes control
characters visible: a newline or an ESC must not start a new table row, a new log line or a
terminal escape sequence, and a bidi override must not reorder what the reader sees.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal

from markupsafe import Markup

# Bidirectional controls: they reorder the text around them (the "Trojan Source" trick).
_BIDI = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}


_SHOWN_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


def _visible_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode control pictures: ␊ for a newline, ␛ for ESC
    if code == 0x7F:
        return "\u2421"  # ␡
    if code in _BIDI or unicodedata.category(ch) in _SHOWN_CATEGORIES or _is_noncharacter(code):
        # C1 controls, bidi marks, lone surrogates, noncharacters (HTML forbids them), and the
        # line and paragraph separators U+2028/U+2029 (splitlines() and browsers break lines there)
        return f"[U+{code:04X}]"
    return ch


def _visible_name_char(ch: str) -> str:
    """As _visible_char, and an invisible format character (category Cf: U+200B, U+2060, U+FEFF,
    the soft hyphen U+00AD, tag characters) shown by its code point too."""
    shown = _visible_char(ch)
    if shown == ch and unicodedata.category(ch) == "Cf":
        return f"[U+{ord(ch):04X}]"
    return shown


def _is_noncharacter(code: int) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+1FFFF, …)."""
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


class Ident(str):
    """A file name or identity field as an agency wrote it (its pilot id, agency code, period), or
    a KPI code: text that tells one thing from another. visible() shows its invisible format
    characters as well (U+200B, U+2060, U+FEFF, U+00AD, tag characters), so two names differing only
    by them never look the same. Free text (a note, a Thai name, a message) keeps them: Thai
    writes U+200B between words. The queries that read such fields mark them (ident)."""


def ident(value: str | None) -> str | None:
    """A file name or identity field marked as such (Ident); None stays None."""
    return None if value is None else Ident(value)


# The columns that name a file or identify a submission as the agency wrote it (ingest.submissions;
# pilot_id, agency_code and period hold an unknown but well-formed id as written): marked Ident
# where the summaries and the validation report read them.
IDENT_COLUMNS = ("file_name", "v_file", "raw_pilot_id", "raw_agency_code", "raw_period", "pilot_id", "agency_code",
                 "period")


def identities(row: dict) -> dict:
    """A query's row with its IDENT_COLUMNS marked Ident (in place, and returned)."""
    for key in IDENT_COLUMNS:
        if isinstance(row.get(key), str):
            row[key] = Ident(row[key])
    return row


def visible(text: str, keep: str = "") -> str:
    """Control and bidi characters replaced by visible stand-ins; everything else unchanged, and
    the characters in `keep` too (a download keeps tabs and line breaks: web/tables.py). For an
    Ident, invisible format characters too."""
    if text.isprintable():  # the common case, and cheap (a format character is not printable)
        return text
    shown = _visible_name_char if isinstance(text, Ident) else _visible_char
    if keep:
        return "".join(ch if ch in keep else shown(ch) for ch in text)
    return "".join(map(shown, text))


def visible_name(text: str) -> str:
    """A file name or identity field for any output: visible() of it as an Ident."""
    return visible(Ident(text))


def cell_text(value: object) -> object:
    """A value for a spreadsheet cell (CSV, XLSX): text as the pages show it, tabs and line breaks
    kept (a quoted CSV field and an XLSX cell hold them as text, and the formula guard reads them);
    other values unchanged. The web's downloads (web/tables.py) and `pilotkpi export`
    (warehouse/export.py) both write their text through it."""
    return visible(value, keep="\t\n\r") if isinstance(value, str) else value


class MdSafe(str):
    """Text already escaped for Markdown, so that escaping is never applied twice."""


# Agency text in Markdown has no structure of its own: CommonMark lets a backslash stand before
# any ASCII punctuation character and then shows the character as it is, so every one is escaped
# (a "#" heading, "1." list, "*" or "_" emphasis, "~~" strike, "|" cell, "[" link, "`" code, and
# the ":", "@" and "." of the autolinks GFM viewers make of http://…, www.… and a@b.c), but for
# two cases that carry no syntax and keep names readable: "-" and "_" between two letters or
# digits (PLT-2548-003, 2548-Q1, report_q1: no list marker, rule, setext line or emphasis can be
# made of them there). &, < and > become entities (no HTML, no entity of the agency's own); a
# space at either end becomes &#32; (it would otherwise indent a code block inside a list item,
# or end a line with a hard break); control characters are made visible (a newline would end the
# table row or the list item).
_MD_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


# One pass of the regular expression engine, not a Python loop over every character (the national
# summaries escape tens of thousands of names): "-" or "_" between two letters or digits ([^\W_]
# is str.isalnum) is kept, any other ASCII punctuation character escaped.
_MD_PUNCTUATION = re.compile(r"(?<=[^\W_])[-_](?=[^\W_])|([!-/:-@\[-`{-~])")


def _md_escape_one(match: re.Match) -> str:
    ch = match.group(1)
    return match.group(0) if ch is None else _MD_ENTITIES.get(ch) or "\\" + ch


def _md_escaped(text: str) -> str:
    escaped = _MD_PUNCTUATION.sub(_md_escape_one, text)
    if escaped.startswith(" ") or escaped.endswith(" "):
        stripped = escaped.strip(" ")
        if not stripped:
            return "&#32;" * len(escaped)
        lead, trail = len(escaped) - len(escaped.lstrip(" ")), len(escaped) - len(escaped.rstrip(" "))
        escaped = "&#32;" * lead + stripped + "&#32;" * trail
    return escaped


def md_text(value: object) -> MdSafe:
    """Any value as inline Markdown text with no structure of its own: every ASCII punctuation
    character escaped (see above), control characters visible. A number or a date that a template
    prints as it is (a count, a submission id) is no agency text: shown as Python writes it."""
    if isinstance(value, MdSafe):
        return value
    if isinstance(value, (int, float, Decimal, date)) and not isinstance(value, bool):
        return MdSafe(str(value))
    return MdSafe(_md_escaped(visible(value if isinstance(value, str) else str(value))))


# The project's own words (labels) in Markdown: the characters that would break a table row or
# make markup escaped, the rest (their parentheses, full stops) left readable. Never for agency text.
_MD_LABEL = str.maketrans({"\\": "\\\\", "`": "\\`", "|": "\\|", "[": "\\[", "]": "\\]",
                           "&": "&amp;", "<": "&lt;", ">": "&gt;"})


def md_label(value: object) -> MdSafe:
    """One of the project's own texts (a label, a formatted figure) as Markdown: kept readable."""
    if isinstance(value, MdSafe):
        return value
    return MdSafe(visible(str(value)).translate(_MD_LABEL))


class MdLabel(MdSafe):
    """A label in a Markdown edition: its `format` escapes the values put into it (md_text)."""

    def format(self, *args, **kwargs) -> MdSafe:  # type: ignore[override]
        return MdSafe(str.format(self, *map(md_text, args), **{k: md_text(v) for k, v in kwargs.items()}))


def html_text(value: object) -> object:
    """Jinja finalize for HTML: control characters made visible before autoescape; markup built
    by the templates themselves (charts, macros) and non-text values pass unchanged."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def shown(canonical: object, raw: str | None, fmt=str) -> str:
    """A canonical value formatted, else the agency's own text as received, else a dash."""
    if canonical is not None:
        # str() of an Ident would be a plain str: kept as it is, so that visible() still knows it
        return canonical if fmt is str and isinstance(canonical, str) else fmt(canonical)
    if raw is not None and raw != "":
        return raw
    return "–"
