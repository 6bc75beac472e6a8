"""What every reader returns, and how it says that a file has no readable table."""
from __future__ import annotations

import gc
import re
import threading
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

from pilots.defects import Issue, detail, make_issue


@dataclass
class RawTable:
    format: str                       # csv | json | xlsx
    encoding: str | None              # utf-8 | utf-8-sig | cp874 (None for binary formats)
    header: list[str]                 # header cells as written
    rows: list[tuple[int, list[str | None]]] = field(default_factory=list)
    # (row_number, cells aligned with header). row_number is the row as the agency sees it in a
    # spreadsheet (the header is row 1); for JSON it is the 1-based index in `lines`.
    issues: list[Issue] = field(default_factory=list)  # defects found while reading (ragged rows, …)
    # JSON only: the identity fields (pilot_id, agency_code, period, submitted_on) present at the
    # document's top level, as text exactly as written. CSV and Excel take them from the first row.
    identity: dict[str, str | None] = field(default_factory=dict)
    # Excel only: row_number -> positions (in `header`) of the row's percentage cells, whose text is
    # the value as shown (82.5 for a stored 0.825). Only a percent KPI's actual may be one.
    percent_cells: dict[int, frozenset[int]] = field(default_factory=dict)
    # Excel only, when cells right of the header's last cell hold text: the sheet's column (0 for A)
    # of each position in `header`; None when position and column are the same.
    columns: list[int] | None = None


class ReadFailure(Exception):
    """The file cannot yield a table; `issue` says why, in both languages."""

    def __init__(self, issue: Issue, *, format: str | None, encoding: str | None = None,
                 identity: dict[str, str | None] | None = None):
        super().__init__(issue.message_en)
        self.issue = issue
        self.format = format
        self.encoding = encoding
        # What could still be read of the submission's identity (a JSON document without lines
        # still names its pilot, agency and period: scoring.md §6 counts it as quarantined there).
        self.identity = identity or {}


ENCODINGS = ("utf-8-sig", "utf-8", "cp874")


def decode_text(data: bytes, fmt: str) -> tuple[str, str]:
    """The text of a report and its encoding, without a DOS end-of-file marker (_decode)."""
    text, encoding = _decode(data, fmt)
    # Ctrl-Z (U+001A) ends the text that DOS-era tools and `copy /a` write: it marks the end of
    # the file, it is no line of the table (it made a row of one cell, seven defects of a row the
    # agency cannot see). Only the last character, once: anywhere else it stays, and is judged.
    return (text[:-1] if text.endswith("\x1a") else text), encoding


def _decode(data: bytes, fmt: str) -> tuple[str, str]:
    """Decode report text: UTF-8 (with or without BOM), else Windows-874 (TIS-620's superset); a
    CSV whose Thai in cp874 happens to be valid UTF-8 is cp874 (_cp874_thai_read_as_utf8).

    Binary content (NUL bytes) is refused before guessing, because cp874 decodes most bytes.
    A file that starts with the UTF-8 BOM but is not UTF-8 (a cp874 export with a BOM pasted on)
    says two things about itself: it is FILE_ENCODING_UNKNOWN, not guessed.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # A UTF-16 byte order mark (Excel's "Unicode Text"): text in an encoding the format does not
        # take, not binary data (its NUL bytes would say so). No UTF-8 or cp874 text starts so.
        raise ReadFailure(make_issue("FILE_ENCODING_UNKNOWN"), format=fmt)
    if b"\x00" in data:
        if _utf16_text(data):  # UTF-16 without its byte order mark: the same verdict as with one
            raise ReadFailure(make_issue("FILE_ENCODING_UNKNOWN"), format=fmt)
        raise ReadFailure(make_issue("FILE_UNREADABLE", detail=detail("FILE_UNREADABLE", "binary")), format=fmt)
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
        except UnicodeDecodeError:
            raise ReadFailure(make_issue("FILE_ENCODING_UNKNOWN"), format=fmt) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if fmt == "csv" and (thai := _cp874_thai_read_as_utf8(data, text)) is not None:
            return thai, "cp874"
        return text, "utf-8"
    try:
        return data.decode("cp874"), "cp874"
    except UnicodeDecodeError:
        raise ReadFailure(make_issue("FILE_ENCODING_UNKNOWN"), format=fmt) from None


_THAI_BLOCK = re.compile("[\u0e00-\u0e7f]")
# What UTF-8 reads a cp874 Thai pair as, but for those led by ย (C2) or ร (C3): U+0100-U+07FF.
_TWO_BYTE_PAST_LATIN1 = re.compile("[\u0100-\u07ff]")
_NOT_ASCII_OR_THAI = re.compile("[^\x00-\x7f\u0e01-\u0e5b]")
# Thai vowels and marks that follow a consonant (ะ ั า ำ ิ-ฺ ๅ ็-๎): Thai never writes one after a
# space, a digit, a comma or at a cell's start. A cp874 reading that does is no Thai.
_THAI_FOLLOWING = "\u0e30-\u0e3a\u0e45\u0e47-\u0e4e"
_FOLLOWING_NO_LETTER = re.compile(f"(?<![\u0e01-\u0e2e{_THAI_FOLLOWING}])[{_THAI_FOLLOWING}]")


def _cp874_thai_read_as_utf8(data: bytes, utf8_text: str) -> str | None:
    """The cp874 reading of a CSV whose bytes are also valid UTF-8, when that reading is the Thai
    the agency wrote; else None (the file is UTF-8).

    A short cp874 Thai word can form valid 2-byte UTF-8: `สค` (a month written without dots) is
    CA A4, which UTF-8 reads as U+02A4 `ʤ`, and the whole file's dates failed. Thai agencies write
    Thai, so a UTF-8 file with Thai holds Thai (U+0E00-U+0E7F) in its UTF-8 reading. The file is
    cp874 when its UTF-8 reading holds no Thai but some character in U+0100-U+07FF (a 2-byte
    UTF-8 sequence led by C4-DF, which cp874 reads as a Thai letter), and its cp874 reading holds
    only ASCII and Thai (U+0E01-U+0E5B). The Latin-1 supplement (U+0080-U+00FF: led by C2 or C3)
    alone does not count: units and names in UTF-8 write ° ± ² µ é × (`°` = C2 B0, which cp874
    reads as `ยฐ`), likelier than a cp874 file whose Thai is only such pairs. Known cost: a cp874
    file whose only Thai are pairs led by ย or ร (`รถ` = C3 B6, UTF-8 `ö`) with nothing else
    outside ASCII stays UTF-8.
    The cp874 reading must also be written as Thai is: no vowel or mark that follows a consonant
    (ะ า ิ ู ่ …) after anything but a Thai letter (_FOLLOWING_NO_LETTER). UTF-8 text of
    other scripts is led by bytes that cp874 reads as such vowels: Arabic-Indic digits `١٢٣` (D9 A1
    D9 A2 D9 A3) read `ูกูขูฃ`, Cyrillic `вода` reads `ะฒะพะดะฐ`; they were read as cp874 and
    the defects quoted that garble (verifier VO). So Arabic, Hebrew, Cyrillic and Armenian stay
    UTF-8. Known cost left: a UTF-8 CSV without Thai whose only non-ASCII are letters of U+0100-
    U+03FF that read as two Thai consonants (`š` = C5 A1 `ลก`, Greek `μ` = CE BC `ฮผ`) is read as
    cp874, as the pairs of a cp874 word like `สค` look the same.
    CSV only: JSON is UTF-8 (agency-report-v1.md, Formats); docs/report-format.md §2 says so."""
    if utf8_text.isascii() or _THAI_BLOCK.search(utf8_text) or not _TWO_BYTE_PAST_LATIN1.search(utf8_text):
        return None
    try:
        thai = data.decode("cp874")
    except UnicodeDecodeError:
        return None
    return None if _NOT_ASCII_OR_THAI.search(thai) or _FOLLOWING_NO_LETTER.search(thai) else thai


# How much of a file with NUL bytes is looked at to tell UTF-16 text from binary data.
UTF16_SAMPLE_BYTES = 4096
_TEXT_NOT_PRINTABLE = {"Zs", "Cf"}  # spaces (U+00A0) and format characters (U+200B)


def _utf16_text(data: bytes) -> bool:
    """Whether NUL-holding bytes start as UTF-16 text (little- or big-endian) without a byte order
    mark: ASCII in UTF-16 puts a NUL beside every letter, digit, separator and line break, which
    read as "binary data" sent the agency to export again, not to save the file as UTF-8 (the
    catalogue's own example of FILE_ENCODING_UNKNOWN is a CSV saved as UTF-16). Text means every
    character of the sample decodes and is printable or a line break or tab, and at least one in
    eight is ASCII (a report's separators, digits and line breaks; Thai is U+0E01-U+0E5B). Other
    text read as UTF-16 pairs its bytes into CJK-like characters, none ASCII but where a stray
    NUL sits: a UTF-8 file with a few NUL bytes is still binary data."""
    sample = data[:UTF16_SAMPLE_BYTES]
    sample = sample[: len(sample) - len(sample) % 2]
    for encoding in ("utf-16-le", "utf-16-be"):
        try:
            # "surrogatepass": a surrogate pair cut by the sample's end is not a reason to call it binary
            text = sample.decode(encoding, errors="surrogatepass")
        except UnicodeDecodeError:
            continue
        if text and "\ud800" <= text[-1] <= "\udbff":  # the first half of a pair the sample's end cut
            text = text[:-1]
        # Spaces and format characters (U+00A0, U+200B: quirks the spec names) are not printable
        # to Python but are text.
        if (text and all(c.isprintable() or c in "\r\n\t" or unicodedata.category(c) in _TEXT_NOT_PRINTABLE
                         for c in text)
                and 8 * sum(c < "\x80" for c in text) >= len(text)):
            return True
    return False


# Python's cyclic garbage collector runs after every 700 new container objects by default. A read
# makes millions (openpyxl's XML elements and cells, the rows), most of them freed at once by their
# reference counts, while the batch's rows stay: each collection walks what stayed. Collecting
# less often cut 12-15% of the read's CPU time at 40 pilots (1,000 files: 2.34-2.41 s against
# 2.74-2.84 s) for 9 MB more peak memory; openpyxl's workbooks (a cycle each) are still collected.
READ_GC_THRESHOLDS = (100_000, 50, 100)


_gc_lock = threading.Lock()
_gc_readers = 0  # reads inside fewer_collections now, on any thread
_gc_before: tuple[int, ...] = ()


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with READ_GC_THRESHOLDS, then restore the thresholds found by the first of
    the reads that overlap. Counted, not nested: the web checks uploads on several threads, and a
    read that ends after a later one began must not restore the raised thresholds for good."""
    global _gc_readers, _gc_before
    with _gc_lock:
        if _gc_readers == 0:
            _gc_before = gc.get_threshold()
            gc.set_threshold(*READ_GC_THRESHOLDS)
        _gc_readers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_readers -= 1
            if _gc_readers == 0:
                gc.set_threshold(*_gc_before)
