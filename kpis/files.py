"""Writing output files (pages, letters) only when their bytes change (issue 22 item 3).

A quiet night renders what depends on its date again, but a page or letter whose text comes out
the same is left as it is: its mtime and its readers' caches stay valid, and a folder synced to
the committee's share moves only the pages that changed.
"""
from __future__ import annotations

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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # a reader never sees half a file
    return True
