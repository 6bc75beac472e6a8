"""The inbox folder where agencies' files land: what is ready to read, and where files go after.

- Not ready: hidden files, names ending in .part or .tmp (copies in progress, by convention of
  most transfer tools), and files whose size or mtime changes during the settle time.
- Files are received once by content hash: `receive` copies each settled file's bytes into the
  evidence store and names them by SHA-256. The run then reads those bytes, never the inbox again.
- A file's size is taken (fstat of the file opened) before it is read, and every read is in
  chunks: one file, however large, never decides how much memory the run needs.
- A file over the size limit (`PILOTKPI_MAX_FILE_BYTES`) is hashed but not copied into the
  evidence store; it is quarantined (FILE_TOO_LARGE) and filed into quarantine/ as received. The
  spec (agency-report-v1.md, "Files are evidence") asks that the original bytes of every file are
  kept, addressed by SHA-256, never changed or deleted. We read that as "kept by the engine", not
  "kept twice": quarantine/ keeps the original untouched, never deleted, and ingest.submissions
  records its SHA-256 and size, which identify it. Copying a file we refuse to read would let one
  sender fill the evidence disk night after night and stop every other agency's reports.
- After the run has committed, each file moves to processed/ or quarantine/ (never deleted,
  never overwritten); those subfolders are never scanned.
- An agency file may itself be named `processed` or `quarantine`. Filing away first renames it to
  a hidden "aside" name (`.pilotkpi-aside.N.processed`), then creates the folder; aside files are
  still inbox files under their own name, so a run killed between the two steps loses nothing.
- Moved names stay within the file system's 255-byte limit (a clash suffix shortens the stem).
- Only regular files are read. A symbolic link (to a file, a folder, or nothing), a folder, a
  FIFO, a socket or a device is refused: nothing of it or its target is read, it is left in place, and
  every run names it (FILE_NOT_REGULAR) until the operator removes it. A folder is named so too
  (but processed/ and quarantine/, and hidden ones): an agency that uploads a folder, or zips
  that unpack into one, would otherwise wait in vain for its reports to be read (files are read
  directly in the inbox only, never in a subfolder). Files are opened with
  O_NOFOLLOW and checked with fstat after opening, so a file swapped for a link between the
  listing and the read is refused too. A link named processed/ or quarantine/ is set aside like
  an agency file of that name: files are only ever moved into real folders inside the inbox.
- A file the night's account may not open (PermissionError: mode 000, or owner-only for another
  account, when the night runs as a service account) is handled the same way: left in place,
  nothing of it read, named by every run (FILE_ACCESS_DENIED) until it can be read, and then
  received like any new file. It is not quarantined: with no bytes read there is nothing to keep
  as evidence or to hash, and the fault is the permissions, not the report. Retrying it (as an
  I/O error that may pass) only delayed the night, then failed it, and every later night too.
- A file another program still holds open for writing (a stalled upload that an SFTP server
  writes in place under its final name, with no change for longer than the settle time) is not
  received: it is left in the inbox, named as "still being written", for the next night. On
  Linux the night asks the kernel for a read lease on the descriptor it opened (`fcntl
  F_SETLEASE F_RDLCK`, released at once): the kernel refuses it (EAGAIN) while any process has
  the file open for writing. Two system calls a file, and the same question again just before
  the file is moved away (`file_away`). A refusal is trusted only on file systems whose leases
  the kernel keeps locally (LEASE_FILE_SYSTEMS, the inbox's type found once in /proc/self/mounts):
  on a CIFS/SMB mount a lease is refused (EAGAIN) whenever the server grants no read oplock, and
  NFS or FUSE know nothing of the other machine's writers, so there a refusal would hold every
  file forever, or a grant prove nothing. Where the kernel cannot tell (not Linux; such a file
  system; EINVAL on a file system without leases; EACCES when the night's account does not own
  the file and lacks CAP_LEASE) the night says so once and relies on the settle
  time alone (docs/operations.md, "Uploads still being written").
- A file whose size or mtime as opened (fstat) differs from what the settle check saw was
  changed after that check (a correction copied over it in place): it too is left for the next
  night rather than read half-written. So is one whose size or mtime after the read differs from
  those as opened: a writer opened it after the checks, while it was read (one more fstat a file).
- A file that is gone when the night opens it (removed or renamed by its sender after the
  listing) is skipped: there is nothing of it to record. The night names it in a warning.
- A file name that is not UTF-8 (a Thai name in Windows-874 bytes, as Thai Windows tools write
  it) is the agency's file all the same. Python lists it with its undecodable bytes as lone
  surrogates, which no UTF-8 text (DuckDB, a log, a page) can hold. So from the listing on, the
  file is known by `name_as_text`: the name with each undecodable byte written `\\xNN`. That is
  the name stored, shown and compared; the file itself is opened, and moved to quarantine/, under
  its own bytes, so the original name is kept there exactly. Such a file is quarantined with
  FILE_NAME_ENCODING_INVALID (`name_issues`), and its content is still read, so that every defect is
  reported at once and a restricted pilot's file goes to its store (a reading of the spec, which
  says nothing of file names' encoding). Its bytes are evidence like any file's: once renamed
  the same bytes are a duplicate, so the way to accept it is `pilotkpi reprocess`.
- Names moved into processed/ and quarantine/ come from the inbox listing, so they are one path
  component (no `/`, no NUL); `..%2F` or a backslash is part of the name, nothing more. The
  target is still checked to lie inside its folder before anything is moved.
"""
from __future__ import annotations

import errno
import fcntl
import os
import re
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

from pilots.defects import Issue, detail, make_issue
from warehouse.personal import masked
from pilots.readers.limits import LIMITS
from warehouse import evidence

IN_PROGRESS_SUFFIXES = (".part", ".tmp")
PROCESSED, QUARANTINE = "processed", "quarantine"
DEFAULT_SETTLE_SECONDS = 5.0
NAME_MAX = 255  # bytes in one file name (ext4, xfs, btrfs, tmpfs)
ASIDE = re.compile(r"^\.pilotkpi-aside\.\d+\.(processed|quarantine)$")


@dataclass(frozen=True)
class InboxFile:
    """A settled file: its name in the inbox as text (`name_as_text`: always valid UTF-8) and
    where its bytes are kept (None: over the size limit, its bytes were not copied and must never
    be read). `inbox_path` holds the name as the file system has it."""
    name: str
    inbox_path: Path
    sha256: str
    size: int
    kept_at: Path | None


class NotRegularFile(OSError):
    """An inbox entry that is not a regular file (a link, FIFO, socket or device): never read."""

    def __init__(self, path: Path, kind: str):
        super().__init__(errno.EINVAL, f"not a regular file ({kind})", str(path))
        self.path, self.kind = path, kind


class AccessDenied(PermissionError):
    """An inbox file the night's account may not open (open_regular). Its own class, so that
    `receive` tells it from a PermissionError of the evidence store's own writes."""


class StillWriting(OSError):
    """An inbox file that another program holds open for writing, or that changed since the settle
    check (receive_one): not received, left for the next night as a file still being written."""

    def __init__(self, path: Path, why: str):
        super().__init__(errno.EBUSY, why, str(path))
        self.path = path


class Gone(FileNotFoundError):
    """An inbox file that was not there when opened (open_regular): removed since the listing.
    Its own class for the same reason as AccessDenied."""


def _looks_like_a_report(name: str) -> bool:
    return bool(not name.startswith(".") or ASIDE.match(name)) and not name.endswith(IN_PROGRESS_SUFFIXES)


def candidates(inbox: Path) -> list[Path]:
    """Regular files directly in the inbox that are not marked in progress, in name order.

    Includes files that filing away set aside (see module doc): they are still waiting.
    Symbolic links are not followed (see `refused`). Sorted by name before the paths are made
    (a pathlib object costs more than the sort: 20,000 files a national night).
    """
    with os.scandir(inbox) as entries:
        found = [(e.name, e.path) for e in entries
                 if e.is_file(follow_symlinks=False) and _looks_like_a_report(e.name)]
    found.sort(key=lambda entry: _agency_name(entry[0]))
    return [Path(path) for _, path in found]


UNREADABLE = "unreadable"  # `receive`'s refused_now kind for a file the night may not open


def refusal(path: Path, kind: str) -> Issue:
    """FILE_NOT_REGULAR for an inbox entry, or FILE_ACCESS_DENIED for a file the night may not
    open (kind UNREADABLE), naming it (IDs masked, like every name shown)."""
    name = masked(name_as_text(inbox_name(path)))
    if kind == UNREADABLE:
        return make_issue("FILE_ACCESS_DENIED", file=name)
    return make_issue("FILE_NOT_REGULAR", file=name, detail=detail("FILE_NOT_REGULAR", kind))


def name_as_text(name: str) -> str:
    """A file name as the file system gave it (undecodable bytes as lone surrogates, Python's
    surrogateescape) -> valid UTF-8 text: a UTF-8 name unchanged, any other byte as `\\xNN`."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def name_issues(name: str) -> list[Issue]:
    """[FILE_NAME_ENCODING_INVALID] when a file name (as the file system gave it) is not UTF-8, else [].

    The message names the file as text, and as it reads in Windows-874 when every byte decodes
    that way into Thai letters: most such names come from Thai Windows tools."""
    raw = os.fsencode(name)
    try:
        raw.decode("utf-8")
        return []
    except UnicodeDecodeError:
        pass
    try:
        thai = raw.decode("cp874")
    except UnicodeDecodeError:
        thai = None
    reading = (detail("FILE_NAME_ENCODING_INVALID", "cp874", name=thai) if thai and re.search("[\u0e01-\u0e5b]", thai)
               else detail("FILE_NAME_ENCODING_INVALID", "unknown"))
    return [make_issue("FILE_NAME_ENCODING_INVALID", file=masked(name_as_text(name)), reading=reading)]


def kind_of(mode: int) -> str:
    """What an entry that is not a regular file is, as FILE_NOT_REGULAR's detail key names it."""
    for test, kind in ((stat.S_ISLNK, "symlink"), (stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "device"), (stat.S_ISBLK, "device")):
        if test(mode):
            return kind
    return "other"


def refused(inbox: Path) -> list[tuple[Path, str]]:
    """(path, kind) of the inbox entries that would be agency files but are not regular files.

    A real folder is one too (kind "folder": its files are never read), but for processed/ and
    quarantine/; a hidden one is not listed, as a hidden file is not. Only lstat is used:
    nothing is opened.
    """
    out = []
    with os.scandir(inbox) as entries:
        for e in entries:
            if not _looks_like_a_report(e.name):
                continue
            if e.is_dir(follow_symlinks=False):
                if e.name not in (PROCESSED, QUARANTINE):
                    out.append((Path(e.path), "folder"))
                continue
            try:
                mode = e.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:  # removed since the listing: nothing to refuse
                continue
            if not stat.S_ISREG(mode):
                out.append((Path(e.path), kind_of(mode)))
    return sorted(out, key=lambda item: inbox_name(item[0]))


def inbox_name(path: Path) -> str:
    """The name the agency gave the file (a set-aside file keeps its own name)."""
    return _agency_name(path.name)


def _agency_name(name: str) -> str:
    aside = ASIDE.match(name) if name.startswith(".") else None
    return aside.group(1) if aside else name


def _signature(path: str) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime_ns


def settled(inbox: Path, settle_seconds: float, sleep: Callable[[float], None] = time.sleep,
            signatures: dict[Path, tuple[int, int]] | None = None) -> tuple[list[Path], list[Path]]:
    """(settled, still changing): files whose size and mtime held still for settle_seconds.
    signatures, when given, gets each settled file's (size, mtime_ns), for `receive` to compare
    with what it opens."""
    listed = candidates(inbox)
    before = [_signature(os.fspath(p)) for p in listed]
    if settle_seconds > 0 and listed:
        sleep(settle_seconds)
    ready, changing = [], []
    for path, signature in zip(listed, before):
        if signature is not None and _signature(os.fspath(path)) == signature:
            ready.append(path)
            if signatures is not None:
                signatures[path] = signature
        else:
            changing.append(path)
    return ready, changing


_SETLEASE = getattr(fcntl, "F_SETLEASE", None)  # Linux only
_SETSIG = getattr(fcntl, "F_SETSIG", None)

# File systems whose leases the kernel grants and refuses itself, from the opens it sees (module
# doc). overlay: checked on Linux 6.18, a writer through the overlay (a container's SFTP server)
# makes the lease refused, on a file of the upper or the lower layer; one writing into the upper
# folder from outside the overlay is not seen (the settle time guards then).
LEASE_FILE_SYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "zfs", "overlay"})
MOUNTS = "/proc/self/mounts"
NO_LEASES = "file leases are not available on this system"  # not Linux: the kernel cannot be asked


def _mount_point(field: str) -> str:
    """A mount point as /proc/self/mounts writes it: space, tab, newline and backslash octal-escaped."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def file_system_type(path: Path | str, mounts: str | None = None) -> str | None:
    """The type of the file system `path` lies on: the mount whose point is the longest prefix of
    its real path (the last such line, when mounts are stacked on one point). mounts: the text of
    /proc/self/mounts (read when None). None when it cannot be told."""
    if mounts is None:
        try:
            with open(MOUNTS, encoding="utf-8", errors="surrogateescape") as fh:
                mounts = fh.read()
        except OSError:
            return None
    real = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _mount_point(fields[1])
        inside = real == point or real.startswith(point if point.endswith("/") else point + "/")
        if inside and (best is None or len(point) >= best[0]):
            best = len(point), fields[2]
    return best[1] if best else None


def lease_untold(folder: Path | str, mounts: str | None = None) -> str | None:
    """None when a read lease refused on a file of `folder` means "open for writing" (its file
    system is one of LEASE_FILE_SYSTEMS); else why the kernel's answer cannot be trusted there.
    Asked once a night (receive, file_away), not once a file."""
    if _SETLEASE is None:
        return NO_LEASES
    kind = file_system_type(folder, mounts)
    if kind in LEASE_FILE_SYSTEMS:
        return None
    if kind is None:
        return "the inbox's file system type is unknown"
    # The type is the system's text (no agency's): kept plain, as the rest of the note.
    return f"the inbox is on a {kind} file system, whose file leases do not tell other machines' writers"


def held_for_writing(fd: int, unchecked: list[str] | None = None, untold: str | None = None) -> bool:
    """Whether another process holds this file open for writing (module doc): a read lease is
    refused then. Taken and released at once: held, a writer opening the file would break it, and
    the kernel would signal this process. That signal is made SIGURG (ignored unless handled)
    rather than SIGIO, whose default ends the process, for the instant between the two calls.
    False when the kernel cannot tell, the reason noted in `unchecked` when given. untold: the
    folder's `lease_untold`; when set, the kernel is not asked (its answer would not be trusted)."""
    if untold is None and _SETLEASE is None:
        untold = NO_LEASES
    if untold is not None:
        if unchecked is not None:
            unchecked.append(untold)
        return False
    try:
        if _SETSIG is not None:
            fcntl.fcntl(fd, _SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, _SETLEASE, fcntl.F_RDLCK)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EBUSY):
            return True
        if unchecked is not None:
            unchecked.append(f"a file lease was refused ({errno.errorcode.get(exc.errno, exc.errno)}: {exc.strerror})")
        return False
    fcntl.fcntl(fd, _SETLEASE, fcntl.F_UNLCK)
    return False


OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_regular(path: Path | str, dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    """One place that opens inbox files, so transient errors are raised (and retried) here: the
    file's descriptor and its fstat.

    O_NOFOLLOW: a symbolic link is refused, not followed; O_NONBLOCK: opening a FIFO does not
    wait for a writer. fstat then checks what was opened, so nothing but a regular file is read.
    dir_fd: `path` is a name in that folder (file_away).
    """
    try:
        fd = os.open(path, OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component is a symbolic link
            raise NotRegularFile(Path(path), "symlink") from None
        if isinstance(exc, PermissionError):
            raise AccessDenied(exc.errno, exc.strerror, exc.filename) from None
        if isinstance(exc, FileNotFoundError):
            raise Gone(exc.errno, exc.strerror, exc.filename) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(Path(path), kind_of(st.st_mode))
        os.set_blocking(fd, True)
        return fd, st
    except BaseException:
        os.close(fd)
        raise


def open_file(path: Path) -> BinaryIO:
    """An inbox file opened as open_regular checks it, as a binary file object."""
    fd, _ = open_regular(path)
    try:
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def receive(paths: Iterable[Path], evidence_dir: Path,
            refused_now: list[tuple[Path, str]] | None = None,
            gone: list[Path] | None = None, writing: list[Path] | None = None,
            signatures: dict[Path, tuple[int, int]] | None = None,
            unchecked: list[str] | None = None) -> list[InboxFile]:
    """Keep each file's bytes in the evidence store. Idempotent: safe to retry after an I/O error.

    A file that turned out not to be a regular file when opened is skipped, and noted in
    `refused_now` (path, kind) when given; so is one the night may not open (kind UNREADABLE:
    see the module doc). A file gone since the listing is skipped and noted in `gone` when given.
    A file still open for writing, or changed since the settle check saw it (its `signatures`
    entry), is skipped and noted in `writing` when given (module doc); `unchecked` gets why the
    kernel could not tell, when it could not.
    One file's fault must not stop the others: raised, it failed the whole night, and the next
    night met the same file first. The files are kept as one batch with a single flush
    to disk (evidence.KeepBatch): the same guarantee as a flush per file, at the cost of one.
    """
    out: list[InboxFile] = []
    untold: dict[Path, str | None] = {}  # folder -> its lease_untold, asked once
    with evidence.KeepBatch(evidence_dir) as batch:
        for path in paths:
            if path.parent not in untold:
                untold[path.parent] = lease_untold(path.parent)
            try:
                out.append(receive_one(path, evidence_dir, batch, signatures.get(path) if signatures else None,
                                       unchecked, untold[path.parent]))
            except StillWriting:
                if writing is not None:
                    writing.append(path)
            except NotRegularFile as exc:
                if refused_now is not None:
                    refused_now.append((path, exc.kind))
            except AccessDenied:  # the file's permissions: retrying will not change them
                if refused_now is not None:
                    refused_now.append((path, UNREADABLE))
            except Gone:  # removed or renamed by its sender after the listing
                if gone is not None:
                    gone.append(path)
    return out


def receive_one(path: Path, evidence_dir: Path, batch: evidence.KeepBatch | None = None,
                settled_as: tuple[int, int] | None = None, unchecked: list[str] | None = None,
                untold: str | None = None) -> InboxFile:
    """The size first (fstat of the file opened): a file within the limit is copied and hashed in
    chunks; one over the limit is only hashed (streamed), and its bytes stay in the inbox (see the
    module docstring). With `batch`, the copy is named in the store when the batch ends (receive).

    A night receives every file here (20,000 at national size, issue 22): one open, one fstat,
    a read or two, on the descriptor the checks were made on. With `batch`, two more (a lease
    taken and released) tell a file still open for writing; it and a file whose fstat differs
    from `settled_as` (size, mtime_ns: the settle check's), or changes while it is read (one
    more fstat after the read), raise StillWriting (module doc); untold: the folder's lease_untold
    (held_for_writing)."""
    limit = LIMITS.max_file_bytes
    name = name_as_text(inbox_name(path))
    if batch is None:
        if path.lstat().st_size <= limit:
            kept = evidence.keep_file(evidence_dir, path, limit, opener=open_file)
            if kept is not None:
                return InboxFile(name, path, kept[0], kept[1], evidence.evidence_path(evidence_dir, kept[0]))
        digest, size = evidence.sha256_of_file(path, opener=open_file)  # over the limit, or grew past it
        return InboxFile(name, path, digest, size, None)
    fd, st = open_regular(path)
    try:
        if settled_as is not None and (st.st_size, st.st_mtime_ns) != settled_as:
            raise StillWriting(path, "changed since the settle check")
        if held_for_writing(fd, unchecked, untold):
            raise StillWriting(path, "open for writing by another program")
        kept = batch.add_from(fd, limit, st.st_size) if st.st_size <= limit else None
        if kept is None:
            os.lseek(fd, 0, os.SEEK_SET)  # over the limit, or grew past it: hashed, not kept
        digest, size = kept if kept is not None else evidence.sha256_of_fd(fd)
        # A writer that opened it after the checks above, while it was read: the bytes read may be
        # part old, part new. One more fstat tells (module doc); the copy is not named in the store.
        after = os.fstat(fd)
        if (after.st_size, after.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            if kept is not None:
                batch.drop_last()
            raise StillWriting(path, "changed while it was read")
        return InboxFile(name, path, digest, size, batch.path_of(digest) if kept is not None else None)
    finally:
        os.close(fd)


class FilingError(OSError):
    """Some files could not be filed away; the others were. They stay in the inbox for the next run."""


FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


# Why file_away left a received file alone (its `left` callback): WRITING, another program holds
# it open for writing (module doc), whatever its bytes are now.
CHANGED, GONE, WRITING = "changed", "gone", "writing"


def file_away(files: Iterable[tuple[InboxFile, str]], inbox: Path,
              moving: Callable[[Path], None] | None = None,
              left: Callable[[InboxFile, str], None] | None = None) -> list[Path]:
    """Move each (file, status) to processed/ or quarantine/; returns the new paths.

    moving(new path): called just before each rename (pilots/filing.py's child reports there
    what a night must count if the child ends without its answer).

    A file that changed or vanished since it was received is left alone: the next run looks at it.
    So is one another program holds open for writing (WRITING): it may be changing now.
    left(file, CHANGED, GONE or WRITING) is told of each, so that the night can say so: a changed file's
    new bytes stay in the inbox for the next night; a vanished one's bytes as read are recorded.
    One file that cannot be moved does not stop the others; the first error is raised at the end.

    A night files 20,000 files away (issue 22), so each costs few system calls: the inbox and each
    folder are opened once (the folder found or made by `_folder`, then held by its descriptor, so
    every file goes into that very folder, whatever happens to its name meanwhile), and per file
    there is one open, fstat and read or two for its hash, one lstat for a free name and one
    rename, on names relative to those descriptors.
    """
    moved, failed = [], []
    set_aside: dict[Path, Path] = {}  # inbox/processed (a file) -> where it was set aside
    held: dict[str, tuple[Path, int]] = {}  # folder name -> (folder, its descriptor)
    inbox_text = os.fspath(inbox)
    inbox_fd: int | None = None
    untold = lease_untold(inbox)  # once, not once a file
    try:
        for item, status in files:
            try:
                folder, folder_fd = _held_folder(inbox, QUARANTINE if status == "quarantined" else PROCESSED,
                                                 set_aside, held)
                if inbox_fd is None:
                    inbox_fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                source = os.fspath(set_aside.get(item.inbox_path, item.inbox_path) if set_aside else item.inbox_path)
                head, _, source_name = source.rpartition("/")
                if (head or ".") != inbox_text:
                    continue
                now = _sha_in(inbox_fd, source_name, item.size, untold)
                if now != item.sha256:
                    if left is not None:
                        left(item, GONE if now is None else WRITING if now == WRITING else CHANGED)
                    continue
                name = inbox_name(item.inbox_path)  # the name's own bytes, kept in quarantine/ as sent
                if "/" in name or "\0" in name or name in ("", ".", ".."):  # see the module doc
                    raise ValueError(f"refused to move outside {folder.name}/")
                target = _free_name(folder_fd, name)
                filed = Path(f"{folder}/{target}")
                if moving is not None:
                    moving(filed)
                # same file system: atomic
                os.rename(source_name, target, src_dir_fd=inbox_fd, dst_dir_fd=folder_fd)
                moved.append(filed)
            except (OSError, ValueError) as exc:
                # Named by its text name only: an OSError's own text repeats the paths, as the file
                # system has them.
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                failed.append(masked(f"{item.name}: {type(exc).__name__}: {reason}"))
    finally:
        for fd in [inbox_fd, *(fd for _, fd in held.values())]:
            if fd is not None:
                os.close(fd)
    if failed:
        raise FilingError(f"{len(failed)} file(s) were not filed away: {'; '.join(failed)}")
    return moved


def _held_folder(inbox: Path, name: str, set_aside: dict[Path, Path],
                 held: dict[str, tuple[Path, int]]) -> tuple[Path, int]:
    """inbox/<name> found or made (`_folder`) the first time a file goes there, then held open
    (O_NOFOLLOW: a link swapped in meanwhile is refused). A failure is not kept: the next file
    tries again, as each file did before."""
    if name not in held:
        folder = _folder(inbox, name, set_aside)
        held[name] = folder, os.open(folder, FOLDER_FLAGS)
    return held[name]


def _folder(inbox: Path, name: str, set_aside: dict[Path, Path]) -> Path:
    """inbox/<name> as a folder. A file of that name is an agency's file: it is set aside first.

    Rename, then mkdir: a crash in between leaves the file under its aside name, which
    `candidates` lists under its own name, so the next run finds it.
    """
    folder = inbox / name
    try:  # the usual case: a real folder (not a link), made already
        if stat.S_ISDIR(os.lstat(folder).st_mode):
            return folder
    except FileNotFoundError:
        pass
    if folder.is_symlink() or (not folder.is_dir() and os.path.lexists(folder)):  # never move through a link
        n = 0
        while os.path.lexists(aside := inbox / f".pilotkpi-aside.{n}.{name}"):
            n += 1
        os.rename(folder, aside)
        set_aside[folder] = aside
    folder.mkdir(exist_ok=True)
    return folder


def current_sha(path: Path) -> str | None:
    """The SHA-256 of an inbox file now; None when it is gone, is not a regular file, or may not be
    opened (then it is not known to be the file recorded: left as it is, as the night leaves it)."""
    try:
        fd, st = open_regular(path)
    except (FileNotFoundError, NotRegularFile, AccessDenied):
        return None
    try:
        return evidence.sha256_of_fd(fd, min(st.st_size + 1, evidence.CHUNK))[0]
    finally:
        os.close(fd)


def _sha_in(folder_fd: int, name: str, size: int, untold: str | None = None) -> str | None:
    """The SHA-256 of the file `name` in that folder now; None when it is gone; "" when it is no
    longer a regular file or is not `size` bytes long (then it is not the file received either);
    WRITING when another program holds it open for writing (held_for_writing; untold: the
    folder's lease_untold)."""
    try:
        fd, st = open_regular(name, dir_fd=folder_fd)
    except FileNotFoundError:  # gone
        return None
    except NotRegularFile:  # swapped for a link or the like: not the file received
        return ""
    try:
        if held_for_writing(fd, untold=untold):
            return WRITING
        if st.st_size != size:
            return ""
        return evidence.sha256_of_fd(fd, min(size + 1, evidence.CHUNK))[0]
    finally:
        os.close(fd)


def _free_name(folder_fd: int, name: str) -> str:
    """report.csv, then report.1.csv, report.2.csv, … : an earlier file of that name stays.

    The numbered name is kept within NAME_MAX bytes: the stem is shortened on a UTF-8 character
    boundary and the extension kept (an agency name may be 255 bytes: 85 Thai characters).
    """
    n = 0
    candidate = name
    while _taken(folder_fd, candidate):
        n += 1
        candidate = numbered_name(name, n)
    return candidate


def _taken(folder_fd: int, name: str) -> bool:
    try:
        os.lstat(name, dir_fd=folder_fd)
    except FileNotFoundError:
        return False
    return True


def numbered_name(name: str, n: int) -> str:
    stem, suffix = os.path.splitext(name)
    tail = f".{n}{suffix}"
    if len(os.fsencode(tail)) >= NAME_MAX // 2:  # an "extension" that long is part of the name
        stem, tail = name, f".{n}"
    return _cut(stem, NAME_MAX - len(os.fsencode(tail))) + tail


def _cut(text: str, limit: int) -> str:
    """text shortened to at most `limit` bytes (file system encoding) without splitting a character."""
    raw = os.fsencode(text)
    if len(raw) <= limit:
        return text
    cut = limit
    while cut > 0 and raw[cut] & 0xC0 == 0x80:  # raw[cut] continues a character that started before
        cut -= 1
    return os.fsdecode(raw[:cut])


def is_transient(exc: BaseException) -> bool:
    """I/O errors worth retrying (a file locked or briefly unreadable), not a missing inbox."""
    return isinstance(exc, OSError) and not isinstance(
        exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, NotRegularFile, AccessDenied))



