"""The inbox folder where agencies' files land: what is ready to read, and where files go after.

- Not ready: hidden files, names ending in .part or .tmp (copies in progress, by convention of
  most transfer tools), and files whose size or mtime changes during the settle time.
- Files are received once by content hash: `receive` copies each settled file's bytes into the
  evidence store and names them by SHA-256. The run then reads those bytes, never the inbox again.
- After the run has committed, each file moves to processed/ or quarantine/ (never deleted,
  never overwritten); those subfolders are never scanned.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from warehouse import evidence

IN_PROGRESS_SUFFIXES = (".part", ".tmp")
PROCESSED, QUARANTINE = "processed", "quarantine"
DEFAULT_SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class InboxFile:
    """A settled file: its name in the inbox and where its bytes are kept."""
    name: str
    inbox_path: Path
    sha256: str
    size: int
    kept_at: Path


def candidates(inbox: Path) -> list[Path]:
    """Regular files directly in the inbox that are not marked in progress, in name order."""
    return sorted((p for p in inbox.iterdir()
                   if p.is_file() and not p.name.startswith(".") and not p.name.endswith(IN_PROGRESS_SUFFIXES)),
                  key=lambda p: p.name)


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def settled(inbox: Path, settle_seconds: float, sleep: Callable[[float], None] = time.sleep
            ) -> tuple[list[Path], list[Path]]:
    """(settled, still changing): files whose size and mtime held still for settle_seconds."""
    before = {p: _signature(p) for p in candidates(inbox)}
    if settle_seconds > 0 and before:
        sleep(settle_seconds)
    ready, changing = [], []
    for path, signature in before.items():
        (ready if signature is not None and _signature(path) == signature else changing).append(path)
    return ready, changing


def read_bytes(path: Path) -> bytes:
    """One place that reads the inbox, so transient errors are raised (and retried) here."""
    with open(path, "rb") as fh:
        return fh.read()


def receive(paths: Iterable[Path], evidence_dir: Path) -> list[InboxFile]:
    """Keep each file's bytes in the evidence store. Idempotent: safe to retry after an I/O error."""
    received = []
    for path in paths:
        data = read_bytes(path)
        digest = evidence.keep(evidence_dir, data)
        received.append(InboxFile(path.name, path, digest, len(data), evidence.evidence_path(evidence_dir, digest)))
    return received


def file_away(files: Iterable[tuple[InboxFile, str]], inbox: Path) -> list[Path]:
    """Move each (file, status) to processed/ or quarantine/; returns the new paths.

    A file that changed or vanished since it was received is left alone: the next run looks at it.
    """
    moved = []
    for item, status in files:
        if item.inbox_path.parent != inbox or _current_sha(item.inbox_path) != item.sha256:
            continue
        folder = inbox / (QUARANTINE if status == "quarantined" else PROCESSED)
        folder.mkdir(exist_ok=True)
        target = _free_name(folder / item.name)
        shutil.move(item.inbox_path, target)  # same filesystem: an atomic rename
        moved.append(target)
    return moved


def _current_sha(path: Path) -> str | None:
    try:
        return evidence.sha256_of(read_bytes(path))
    except FileNotFoundError:
        return None


def _free_name(target: Path) -> Path:
    """report.csv, then report.1.csv, report.2.csv, … : an earlier file of that name stays."""
    n = 0
    candidate = target
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{target.stem}.{n}{target.suffix}")
    return candidate


def is_transient(exc: BaseException) -> bool:
    """I/O errors worth retrying (a file locked or briefly unreadable), not a missing inbox."""
    return isinstance(exc, OSError) and not isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError))



