"""The evidence store: the original bytes of every received file, addressed by SHA-256.

Files are written once and never changed or deleted by the engine: the bytes go to a new temp
file (created with O_CREAT|O_EXCL, by tempfile.mkstemp or by KeepBatch's own open), which is
made read-only and then hard-linked under its real name. A link, unlike a rename, fails if that
name exists, so a file already in the store is never replaced, even by a concurrent writer; and a
crash never leaves a half file under a real name. `_create_new` and KeepBatch's link after its
one flush are the only ways into the store (tests/test_evidence_write_once.py checks it). Received files are copied and
hashed in chunks (`keep_file`), so a file's size never decides how much memory a run needs.

The store holds the original bytes, personal data included (masking applies to what is stored
and shown, not to the evidence), so it is the operator account's alone: folders 0700, files
0400, set explicitly whatever the umask. A store made by an earlier version (0755 / 0444) is
tightened at the start of the next job (`secure_store`), which says so in the log.
"""
from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

CHUNK = 1024 * 1024
DIR_MODE, FILE_MODE = 0o700, 0o400


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


def _new_temp(evidence_dir: Path) -> tuple[BinaryIO, Path]:
    """A new, empty temp file in the store (O_CREAT|O_EXCL: never an existing file)."""
    fd, name = tempfile.mkstemp(dir=evidence_dir, prefix=".incoming.", suffix=".tmp")
    return os.fdopen(fd, "wb"), Path(name)


def _create_new(tmp: Path, target: Path, folder_made: bool = False) -> None:
    """Give the finished temp file its real name, read-only, unless that name exists already
    (then the stored file, with the same SHA-256, stays as it is). The caller removes tmp.
    `folder_made`: the caller has made target's folder already (KeepBatch, once per folder)."""
    os.chmod(tmp, FILE_MODE)
    if not folder_made:
        make_dir(target.parent)
    try:
        os.link(tmp, target)
    except FileExistsError:
        pass


def keep_file(evidence_dir: Path, source: Path, max_bytes: int,
              opener: Callable[[Path], BinaryIO] = _open_binary) -> tuple[str, int] | None:
    """Copy a file into the store while hashing it, in chunks; return (SHA-256, size).

    The hash is of exactly the bytes written, so it names the stored copy even if the source
    changes meanwhile. Returns None, keeping nothing, if the file holds more than max_bytes
    (it grew after it was measured).
    """
    make_dir(evidence_dir)
    dst, tmp = _new_temp(evidence_dir)
    digest, size = hashlib.sha256(), 0
    try:
        with dst, opener(source) as src:
            while chunk := src.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    return None
                digest.update(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        sha = digest.hexdigest()
        _create_new(tmp, evidence_path(evidence_dir, sha))
        return sha, size
    finally:
        tmp.unlink(missing_ok=True)


def sha256_of_fd(fd: int, first: int = CHUNK) -> tuple[str, int]:
    """(SHA-256, size) of what an open file holds from its current offset on, read in chunks."""
    digest, size = hashlib.sha256(), 0
    while chunk := os.read(fd, first):
        digest.update(chunk)
        size += len(chunk)
        first = CHUNK
    return digest.hexdigest(), size


def _copy(src: int, dst: int, max_bytes: int, first: int) -> tuple[str, int] | None:
    """Copy from one open file to another while hashing, in chunks (the first of `first` bytes: a
    file's size, when known, is read in one call); None once more than max_bytes were read."""
    digest, size = hashlib.sha256(), 0
    while chunk := os.read(src, first):
        size += len(chunk)
        if size > max_bytes:
            return None
        digest.update(chunk)
        written = os.write(dst, chunk)
        if written < len(chunk):  # a short write (a full disk answers with an error on the next one)
            view = memoryview(chunk)[written:]
            while view:
                view = view[os.write(dst, view):]
        first = CHUNK
    return digest.hexdigest(), size


class KeepBatch:
    """Many files into the store with one flush to disk for all of them (`pilots.inbox.receive`).

    keep_file makes each file durable with its own fsync, which costs a disk flush per file (about
    5 ms on the benchmark's VM: 9.5 s of the 10.2 s that receiving 2,023 files took). Here each
    file's bytes go to its own temp file while hashed (`add`), then, when the batch ends without
    an error, one `os.sync()` flushes them all and only then is each temp file linked under its
    SHA-256. So, as with keep_file, a name in the store always holds the complete bytes on disk:
    a crash before the flush leaves only temp files (`.incoming.*.tmp`, never read), removed here
    on the way out whatever happened. The returned (SHA-256, size) names a stored file only once
    the `with` block has ended.

    A night receives 20,000 files here (issue 22), so each costs as few system calls as the rules
    allow: the source is read from the descriptor its opener checked (`add_from`), the temp file is
    written through its own descriptor and made read-only on it (fchmod), temp names are a random
    token per batch and a counter (still O_CREAT|O_EXCL: never an existing file), and paths are
    strings, not pathlib objects.
    """

    def __init__(self, evidence_dir: Path):
        self.evidence_dir = evidence_dir
        self._root = os.fspath(evidence_dir)
        self.pending: list[tuple[str, str]] = []  # (temp file, SHA-256) waiting for the flush
        self._made: set[str] = set()  # folders made by this batch: each made (mkdir) once, not per file
        self._token, self._count = "", 0  # temp names: .incoming.<token>.<count>.tmp

    def __enter__(self) -> "KeepBatch":
        return self

    def add(self, source: Path, max_bytes: int,
            opener: Callable[[Path], BinaryIO] = _open_binary) -> tuple[str, int] | None:
        """Copy a file into a temp file of the store while hashing it; (SHA-256, size), or None,
        keeping nothing, if it holds more than max_bytes (as keep_file)."""
        with opener(source) as src:
            return self.add_from(src.fileno(), max_bytes)

    def add_from(self, source: int, max_bytes: int, size_hint: int = CHUNK - 1) -> tuple[str, int] | None:
        """As `add`, from a file opened (and checked) by the caller, read from its start; size_hint:
        its size when opened (fstat), so that a file of up to CHUNK bytes is read in one call."""
        fd, tmp = self._new_temp()
        self.pending.append((tmp, ""))
        try:
            kept = _copy(source, fd, max_bytes, min(size_hint + 1, CHUNK))
            if kept is not None:
                os.fchmod(fd, FILE_MODE)
        finally:
            os.close(fd)
        if kept is not None:  # else its temp file is removed on the way out, never named
            self.pending[-1] = (tmp, kept[0])
        return kept

    def drop_last(self) -> None:
        """The last file added is not named in the store: its source changed while it was copied
        (pilots.inbox.receive_one). Its temp file is removed on the way out."""
        self.pending[-1] = (self.pending[-1][0], "")

    def path_of(self, sha256: str) -> Path:
        """evidence_path(evidence_dir, sha256), made from one string."""
        return Path(f"{self._root}/{sha256[:2]}/{sha256}")

    def _new_temp(self) -> tuple[int, str]:
        """A new, empty temp file in the store (O_CREAT|O_EXCL: never an existing file)."""
        if not self._token:
            self._make(self._root)
        while True:
            if not self._token:
                self._token = os.urandom(8).hex()
            self._count += 1
            tmp = f"{self._root}/.incoming.{self._token}.{self._count}.tmp"
            try:
                return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp
            except FileExistsError:  # another batch's token (a 64-bit chance): a new one
                self._token = ""

    def _make(self, folder: str) -> None:
        if folder not in self._made:
            make_dir(Path(folder))
            self._made.add(folder)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and any(sha for _, sha in self.pending):
                os.sync()  # the one flush: every temp file's bytes are on disk before any is named
                for tmp, sha in self.pending:
                    if sha:
                        shard = f"{self._root}/{sha[:2]}"
                        self._make(shard)
                        try:
                            os.link(tmp, f"{shard}/{sha}")  # fails if the name exists: never replaced
                        except FileExistsError:
                            pass
        finally:
            for tmp, _ in self.pending:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass


def adopt(staged: Path, evidence_dir: Path, sha256: str) -> None:
    """Move a file kept in a staging folder (keep_file into that folder) into evidence_dir under
    its SHA-256: a link, which never replaces a stored file, then the staged name goes. The
    restricted store stages received bytes until their pilot is known (warehouse/restricted.py).
    Across file systems the bytes are copied into a new file instead."""
    if not staged.exists():
        return
    make_dir(evidence_dir)
    try:
        _create_new(staged, evidence_path(evidence_dir, sha256))
    except OSError:  # another file system (--restricted-store elsewhere): a new copy
        keep(evidence_dir, staged.read_bytes(), sha256)
    staged.unlink()


def copy_into(source_dir: Path, evidence_dir: Path, sha256: str) -> bool:
    """Copy a stored file into another store (a pilot moving between the open warehouse and the
    restricted store: warehouse/moves.py), checked by its hash; the source stays. False when the
    source store does not hold it (a file whose bytes were never kept)."""
    source = evidence_path(source_dir, sha256)
    if evidence_path(evidence_dir, sha256).exists():
        return True
    if not source.exists():
        return False
    kept = keep_file(evidence_dir, source, max_bytes=source.stat().st_size)
    if kept is None or kept[0] != sha256:
        raise OSError(f"the stored file {sha256} changed while it was copied to the other store")
    return True


def forget_moved(source_dir: Path, evidence_dir: Path, sha256: str) -> bool:
    """The one removal from a store: a moved pilot's file, once the other store holds the same
    bytes (checked by hash) and the move is committed. Returns whether a file was removed."""
    source, kept = evidence_path(source_dir, sha256), evidence_path(evidence_dir, sha256)
    if not source.exists() or not kept.exists() or sha256_of_file(kept)[0] != sha256:
        return False
    source.unlink()
    return True


def make_dir(path: Path) -> None:
    """A store folder, owner-only from the moment it exists (mkdir's mode is cut by the umask)."""
    try:
        path.mkdir(mode=DIR_MODE, parents=False)
    except FileExistsError:
        return
    except FileNotFoundError:  # the warehouse's own folder is missing: the operator's, default mode
        path.parent.mkdir(parents=True, exist_ok=True)
        return make_dir(path)
    os.chmod(path, DIR_MODE)


def secure_store(evidence_dir: Path) -> tuple[int, int]:
    """Tighten a store to owner-only; returns (folders, files) changed.

    Cheap on a store this version made: a root folder already 0700 means its shard folders are
    checked (at most 256) and only a loose one is walked; files under a 0700 folder are out of
    other users' reach whatever their own mode. A loose root (an earlier version's store, or a
    copy restored without its modes) is walked whole. Symbolic links are never followed.
    """
    if not evidence_dir.is_dir() or evidence_dir.is_symlink():
        return 0, 0
    folders = files = 0
    walk_all = _loose(evidence_dir, DIR_MODE)
    if walk_all:
        os.chmod(evidence_dir, DIR_MODE)
        folders += 1
    for shard in evidence_dir.iterdir():
        st = shard.lstat()
        if not stat.S_ISDIR(st.st_mode):
            if stat.S_ISREG(st.st_mode) and walk_all and stat.S_IMODE(st.st_mode) & 0o077:
                os.chmod(shard, stat.S_IMODE(st.st_mode) & 0o700)  # a temp file of a live copy
                files += 1
            continue
        if not (walk_all or _loose(shard, DIR_MODE)):
            continue
        if _loose(shard, DIR_MODE):
            os.chmod(shard, DIR_MODE)
            folders += 1
        for f in shard.iterdir():
            if stat.S_ISREG(f.lstat().st_mode) and _loose(f, FILE_MODE):
                os.chmod(f, FILE_MODE)
                files += 1
    return folders, files


def _loose(path: Path, wanted: int) -> bool:
    return stat.S_IMODE(path.lstat().st_mode) != wanted


def keep(evidence_dir: Path, data: bytes, sha256: str | None = None) -> str:
    """Store the bytes if they are not there yet; return their SHA-256."""
    digest = sha256 or sha256_of(data)
    target = evidence_path(evidence_dir, digest)
    if target.exists():
        return digest
    make_dir(evidence_dir)
    fh, tmp = _new_temp(evidence_dir)
    try:
        with fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _create_new(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return digest
