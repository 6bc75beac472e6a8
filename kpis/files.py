"""Writing output files (pages, letters) only when their bytes change (issue 22 item 3).

A quiet night renders what depends on its date again, but a page or letter whose text comes out
the same is left as it is: its mtime and its readers' caches stay valid, and a folder synced to
the committee's share moves only the pages that changed.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_if_changed(path: Path, text: str, encoding: str = "utf-8") -> bool:
    """Write text to path atomically (a temporary file, then rename) unless the file already holds
    exactly these bytes (lines end in "\n", as the pages and letters are rendered). Returns True
    when it wrote."""
    data = text.encode(encoding)
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except OSError:
        pass  # absent or unreadable: written
    write_atomically(path, data)  # a reader never sees half a file
    return True


def write_atomically(path: Path, data: bytes, tmp: Path | None = None) -> None:
    """data into path through a temporary file beside it (`tmp`, else path + ".tmp"), then a
    rename: a reader never sees half a file. A write that fails (a full disk: ENOSPC) removes its
    temporary file, so no later night finds it left in out/, and its error names the file it was
    writing: the write's own OSError names none ("[Errno 28] No space left on device"), while one
    that names a path (a read-only folder) is passed on as it is. Every atomic write of flows/
    and kpis/ (the pages, letters, reports, the outputs book, the summary's sections) goes here."""
    tmp = tmp or path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from None
        raise
