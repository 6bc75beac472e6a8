"""The read-only copy analysts open while the nightly run writes.

DuckDB locks a file opened read-write against every other process, readers included, so
analysts query `<warehouse>.published.duckdb` instead. It is replaced atomically (copy to a
temporary name, fsync, rename) only after a successful run: an analyst who holds the old copy
open keeps reading it, and sees the new data on reconnect.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from warehouse.paths import files_of
from warehouse.testpoints import pause_point


def published_path(warehouse_path: str | Path) -> Path:
    """`<warehouse>.published.duckdb` (naming rule: warehouse/paths.py)."""
    return files_of(warehouse_path).published


def publish(warehouse_path: str | Path) -> Path:
    """Copy the closed, checkpointed warehouse file to its published name, atomically."""
    source = Path(warehouse_path)
    target = published_path(source)
    # A run killed while copying leaves its temporary file behind; only one run publishes at a
    # time (the run lock), so any such file is stale.
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    shutil.copyfile(source, tmp)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o444)
    pause_point("publish")
    os.replace(tmp, target)
    return target
