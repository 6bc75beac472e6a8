"""A speculative read of inbox files, before the night has received them (flows/parallel.py,
"Read-ahead"): the task a local Dask worker runs while Prefect's server starts.

What it reads is only a guess: nothing is recorded, nothing moved, and the file may still change
before the night receives it. So each file is read exactly as the night's own read would read it
(pilots.reading.read_files_packed over a ToRead), and the result is keyed by everything that read
depends on besides the KPI units: the name as the night knows it (`name_as_text`, which decides
the format), the SHA-256 of the bytes read, and the issues found before reading (a name that is
not UTF-8). The flow process uses a record only when its own received file has the same key (and
the night's units are the ones read with); any other file is read again as before.

Files are opened as the night opens them (pilots.inbox.open_file: no symbolic link followed, only
regular files); a file over the size limit, or that cannot be opened, is left out (the night
quarantines or refuses it itself). Lean like pilots.reading: a worker imports nothing heavier.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from pilots.inbox import inbox_name, name_as_text, name_issues, open_file
from pilots.reading import ToRead, read_files_packed
from pilots.readers.limits import LIMITS

Key = tuple[str, str, tuple]  # (name as text, sha256, issues found before reading)


def key_of(item: ToRead) -> Key:
    """What a read of `item` depends on, besides the units: its name, its bytes' hash, its issues."""
    return item.name, item.sha256, tuple(item.issues)


def _guess(path: Path) -> ToRead | None:
    """The inbox file as the night would read it, or None (gone, not a regular file, too large)."""
    limit = LIMITS.max_file_bytes
    try:
        with open_file(path) as fh:
            data = fh.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit:
        return None
    name = inbox_name(path)
    return ToRead(name_as_text(name), hashlib.sha256(data).hexdigest(), data=data, issues=tuple(name_issues(name)))


def read_inbox_files(paths: list[Path], units: dict) -> tuple[list[Key], bytes]:
    """Read `paths` from the inbox: each file's key, and the packed read of those files in the
    same order (unpack_read gives the records back)."""
    items = [item for item in map(_guess, paths) if item is not None]
    return [key_of(item) for item in items], read_files_packed(items, units)
