"""File modes of what pilotkpi writes, whatever the umask (docs/operations.md, "File modes").

- The working warehouse and its WAL: 0600. Only the jobs open them; analysts read the published
  copy (a reader on the working file would also hold DuckDB's lock and stop the nightly run).
- The published copy: 0444 (warehouse/publish.py): every analyst may read it, nobody writes it.
- The evidence folders and the restricted store: owner-only (warehouse/evidence.py, restricted.py).
- Everything else a job writes (OUT/ and its summaries, letters and reports, the lock file):
  the operator's umask with group and others' write taken away, so at most 0755 for folders and
  0644 for files. A stricter umask (077, as docs/security.md recommends) is kept as it is.
"""
from __future__ import annotations

import os
from pathlib import Path

WAREHOUSE_MODE = 0o600
NEVER_WRITABLE_BY_OTHERS = 0o022  # bits every job's umask keeps set


def tighten_umask() -> int:
    """Make the process's umask at least 022 (no file or folder writable by group or others);
    returns the umask now in force. Child processes (Prefect's runs, Dask workers) inherit it."""
    old = os.umask(0)
    new = old | NEVER_WRITABLE_BY_OTHERS
    os.umask(new)
    return new


def wal_of(warehouse_path: str | Path) -> Path:
    path = Path(warehouse_path)
    return path.with_name(path.name + ".wal")


def own_warehouse(warehouse_path: str | Path) -> None:
    """The working warehouse file and its WAL (if there is one now) set to 0600."""
    for path in (Path(warehouse_path), wal_of(warehouse_path)):
        try:
            if path.stat().st_mode & 0o7777 != WAREHOUSE_MODE:
                os.chmod(path, WAREHOUSE_MODE)
        except FileNotFoundError:
            pass
