"""The evidence store: the original bytes of every received file, addressed by SHA-256.

Files are written once (temp file + rename, so a crash never leaves a half file under a real
name), made read-only, and never changed or deleted by the engine.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evidence_path(evidence_dir: Path, sha256: str) -> Path:
    return evidence_dir / sha256[:2] / sha256


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
