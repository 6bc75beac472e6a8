"""Agency text on its way out: shown exactly as received, made harmless, never parsed.

File names and the raw_* identity of a submission are whatever an agency wrote. Every output
(HTML through Jinja's autoescape, Markdown through md_text, the terminal) first makes control
characters visible: a newline or an ESC must not start a new table row, a new log line or a
terminal escape sequence, and a bidi override must not reorder what the reader sees.
"""
from __future__ import annotations

import unicodedata

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


def _is_noncharacter(code: int) -> bool:
    """U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+1FFFF, …)."""
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def visible(text: str, keep: str = "") -> str:
    """Control and bidi characters replaced by visible stand-ins; everything else unchanged, and
    the characters in `keep` too (a download keeps tabs and line breaks: web/tables.py)."""
    if text.isprintable():  # the common case, and cheap
        return text
    if keep:
        return "".join(ch if ch in keep else _visible_char(ch) for ch in text)
    return "".join(map(_visible_char, text))


class MdSafe(str):
    """Text already escaped for Markdown, so that escaping is never applied twice."""


_MD_ESCAPES = {"\\": "\\\\", "`": "\\`", "|": "\\|", "[": "\\[", "]": "\\]",
               "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_MD_TABLE = str.maketrans(_MD_ESCAPES)


def md_text(value: object) -> MdSafe:
    """Any value as inline Markdown text: no raw HTML, no code span, link or table cell boundary
    of its own, control characters visible (a newline would end the table row)."""
    if isinstance(value, MdSafe):
        return value
    return MdSafe(visible(str(value)).translate(_MD_TABLE))


def html_text(value: object) -> object:
    """Jinja finalize for HTML: control characters made visible before autoescape; markup built
    by the templates themselves (charts, macros) and non-text values pass unchanged."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def shown(canonical: object, raw: str | None, fmt=str) -> str:
    """A canonical value formatted, else the agency's own text as received, else a dash."""
    if canonical is not None:
        return fmt(canonical)
    if raw is not None and raw != "":
        return raw
    return "–"
