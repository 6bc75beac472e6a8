"""The evidence store: the original bytes of every received file, addressed by SHA-256.

Files are written once (temp file + rename, so a crash never leaves a half file under a real
name), made read-only, and never changed or deleted by the engine. Received files are copied and
hashed in chunks (`keep_file`), so a file's size never decides how much memory a run needs.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO, Callable

CHUNK = 1024 * 1024


def _open_binary(path: Path) -> BinaryIO:
    return open(path, "rb")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evidence_path(evidence_dir: Path, sha256: str) -> Path:
    return evidence_dir / sha256[:2] / sha256


def sha256_of_file(path: Path, opener: Callable[[Path], BinaryIO] = _open_binary) -> tuple[str, int]:
    """(SHA-256, size) of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with opener(path) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def keep_file(evidence_dir: Path, source: Path, max_bytes: int,
              opener: Callable[[Path], BinaryIO] = _open_binary) -> tuple[str, int] | None:
    """Copy a file into the store while hashing it, in chunks; return (SHA-256, size).

    The hash is of exactly the bytes written, so it names the stored copy even if the source
    changes meanwhile. Returns None, keeping nothing, if the file holds more than max_bytes
    (it grew after it was measured).
    """
    evidence_dir.mkdir(parents=True, exist_ok=True)
    tmp = evidence_dir / f".incoming.{os.getpid()}.tmp"
    digest, size = hashlib.sha256(), 0
    try:
        with opener(source) as src, open(tmp, "wb") as dst:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    return None
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        sha = digest.hexdigest()
        target = evidence_path(evidence_dir, sha)
        if not target.exists():
            target.parent.mkdir(exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, target)
        return sha, size
    finally:
        tmp.unlink(missing_ok=True)


def keep(evidence_dir: Path, data: bytes, sha256: str | None = None) -> str:
    """Store the bytes if they are not there yet; return their SHA-256."""
    digest = sha256 or sha256_of(data)
    target = evidence_path(evidence_dir, digest)
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{digest}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return digest
