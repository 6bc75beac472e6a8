"""Whether the bytes of a file that could not be read name one of some pilots (verifier VO).

warehouse.md: a file whose pilot cannot be read is treated as open. A file the readers refuse whole
(an encoding they do not read: UTF-16 without its mark, a Windows-874 file with one byte that code
page leaves undefined; a NUL byte; a workbook whose rows are out of order) yields no identity, so
it went to the open side, its original bytes into the open evidence store, where the web's
drill-down serves an analyst "the original file", though every line of it names a restricted
pilot in plain text. The reading kept (pilots/ingest.py `_restricted_file`): such a file whose
bytes hold a restricted pilot's id, in any case, as ASCII (the same bytes in UTF-8 and Windows-874)
or UTF-16 of either byte order, or inside a workbook's parts, goes to the restricted store, the
careful side (as warehouse/restricted.py folded_pilot reads ids). Its pilot stays unread: it is
quarantined as before and counts for no pilot.
"""
from __future__ import annotations

import io
import zipfile
from typing import Iterable

from pilots.readers.limits import LIMITS


def names_any(data: bytes, pilot_ids: Iterable[str]) -> bool:
    """Whether `data` holds one of `pilot_ids` as text (see the module doc)."""
    needles = {form for pilot in pilot_ids if pilot.strip() for form in _forms(pilot.strip().lower())}
    if not needles:
        return False
    return _holds(data, needles) or _in_zip(data, needles)


def _forms(pilot_id: str) -> tuple[bytes, ...]:
    return pilot_id.encode("utf-8"), pilot_id.encode("utf-16-le"), pilot_id.encode("utf-16-be")


def _holds(data: bytes, needles: set[bytes]) -> bool:
    lowered = data.lower()  # ASCII letters only: the ids are ASCII
    return any(needle in lowered for needle in needles)


def _in_zip(data: bytes, needles: set[bytes]) -> bool:
    """A workbook's parts, inflated within the readers' own bounds (a zip bomb is not opened: its
    declared sizes are over them, and zipfile stops a part at its declared size)."""
    if not data.startswith(b"PK"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
            if sum(p.file_size for p in parts) > LIMITS.max_inflated_bytes:
                return False
            for part in parts:
                if part.file_size > LIMITS.max_member_bytes:
                    continue
                try:
                    if _holds(archive.read(part), needles):
                        return True
                except Exception:  # noqa: BLE001 - a damaged part: the next one may still tell
                    continue
    except Exception:  # noqa: BLE001 - no zip to read: nothing more to search
        return False
    return False
