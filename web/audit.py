"""The web's audit trail: one JSON object per line in `<warehouse stem>.audit.jsonl` (0600).

Each line: when (UTC), who (account, or the name tried at a failed sign-in), from which address,
what (sign_in, sign_in_failed, sign_in_throttled, sign_out, upload, send, download) and its
details. Lines are only appended, under an exclusive lock, so two requests never interleave.
A line cut short (the disk filled, the host lost power mid-write) is skipped when the trail is
read, and the next line starts on a line of its own: one cut line must not stop every page that
reads the trail, nor take the next entry with it.
Agency text (a file name) may carry characters a terminal acts on instead of showing: bidi
overrides (U+202E reverses what follows), line and paragraph separators (U+2028/U+2029), other
format characters (Cf), C1 controls. json.dumps(ensure_ascii=False) escapes only C0 controls, so
every character str.isprintable() does not call printable (those, and spaces other than U+0020)
is written as its JSON escape (`\\u202e`): the line stays one line of plain text, and parsing it
gives back the exact text. The decisions journal is written here too (web/decisions.py).
The trail also says which files the site put into the inbox (`send`), which is how the site
knows a file is "received, waiting for the night" and recognises the same bytes sent twice.
"""
from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

FILE_MODE = 0o600


def audit_path(accounts_file: Path) -> Path:
    return accounts_file.with_name(accounts_file.name.removesuffix(".accounts.json") + ".audit.jsonl")


class AuditTrail:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._cache: tuple[tuple[int, int], list[dict]] | None = None

    def record(self, event: str, who: str | None, address: str | None, **details: object) -> dict:
        entry = {"at": datetime.now(timezone.utc).isoformat(timespec="microseconds"), "event": event,
                 "who": who, "address": address, **details}
        line = (escaped(json.dumps(entry, ensure_ascii=False, default=str)) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":  # the last line was cut short
                    line = b"\n" + line
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
        return entry

    def events(self, kind: str) -> list[dict]:
        """Every entry of one kind, oldest first (the parsed file is cached until it grows)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        key = (st.st_ino, st.st_size)
        with self._lock:
            if self._cache is None or self._cache[0] != key:
                with open(self.path, "rb") as fh:
                    entries = [e for e in map(_entry, fh) if e is not None]
                self._cache = (key, entries)
            entries = self._cache[1]
        return [e for e in entries if e.get("event") == kind]


def escaped(text: str) -> str:
    """JSON text with every character that is not printable as its \\u escape (two, a surrogate
    pair, beyond U+FFFF). Such characters are never JSON's own syntax, only inside its strings,
    where an escape means the same character: json.loads gives back the same value."""
    if text.isprintable():  # the common case, and cheap
        return text
    return "".join(ch if ch.isprintable() else _json_escape(ord(ch)) for ch in text)


def _json_escape(code: int) -> str:
    if code > 0xFFFF:
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def _entry(line: bytes) -> dict | None:
    """One line's entry; None for a blank line or one cut short."""
    try:
        entry = json.loads(line) if line.strip() else None
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None
