"""Filing a night's inbox away in a process of its own (issue 22).

After its commit the night renders its pages while filing away runs beside them (flows/cheap.py).
In a thread the two share the GIL: filing away is a handful of short system calls per file, and
each one hands the GIL to the rendering and waits to get it back. At 20,000 files that made it
3.4-3.6 s beside the rendering against 1.5 s alone (the idle national bench, 2026-12-05), the
rendering slowed too, and the night waited a second for it after the letters. So a night with
FILING_PROCESS_FILES files or more (`PILOTKPI_FILING_PROCESS_FILES`, 2,000 by default: the
national night, not the 1%-new one) files them away in a child process on the other core: the
same `pilots.inbox.file_away`, its checks and its moves. A smaller night files away in the thread
as before (the child's start, ~0.1 s, would cost more).

The child is `python -P -c _CHILD_CODE` started in the code root, with the code root first on
PYTHONPATH: `-P` keeps the current directory off sys.path, so no `pilots/` folder where the night
was started can be imported in place of this one. It keeps a private duplicate of fd 1 for its
answer and points fd 1 at stderr before importing the project, so a stray print cannot break it.

The parent writes one pickle on the child's stdin, (inbox, [(name, inbox path, SHA-256, size,
status)], the notes' descriptor: strings and numbers, cheap to pickle beside the rendering), and reads one from the
child's answer: ("moved", [paths], left) or ("failed", the FilingError's text, names masked as file_away
masks them, left): that is this step's failure, and the next night files the rest away. `left`
lists (inbox path, CHANGED or GONE) for each file the child left alone as changed or removed
since it was read; the parent tells its caller of each (`left` of file_away), as the thread does. A child that
ends without its answer (an import error, memory, a bug) is reported with its exit code and the
last line of its stderr (IDs masked here, restricted names hidden by the caller), and the files
are filed away in this process instead (file_away skips every file the child moved: no longer in
the inbox with its SHA-256), so that a child that always fails leaves no inbox unfiled. If the
child cannot be started at all, the files are filed away here too. The night's "moved N" counts
the child's moves too: before each rename the child notes the new path in a memfd that the parent
passed it (its descriptor is the pickle's third item), through a shared mapping (memory stores,
no system call per file: `_notes`); a child that ended without its answer is credited with each
noted path that exists (read before this process files anything, so a move noted and not made is
not counted, and that file is filed here, once).

Crash safety is file_away's own: each file is moved by one rename, after the commit, so a kill
at any file leaves every file either in the inbox (the next night files it away, recognised by
name and SHA-256 as the committed run's file: no new row) or filed. Before each file the child
checks that its parent lives, so a child orphaned by a kill of the night alone finishes at most
the file it is on and never files away beside the next night. tests/test_filing_process.py kills
the night with its whole process group while its child is paused between two files
(`pause_point("filing")`), and the night alone there: the orphan, let go on, files nothing more
and ends (its answer meets a closed pipe), and the next night files the rest away, none twice.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

from pilots import inbox as inbox_folder
from pilots.inbox import FilingError, InboxFile
from warehouse.personal import masked
from warehouse.testpoints import pause_point

FILING_PROCESS_FILES = int(os.environ.get("PILOTKPI_FILING_PROCESS_FILES", "2000"))
_CODE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding this `pilots` package
# The child's program: the answer goes on a private duplicate of fd 1, and fd 1 is pointed at
# stderr before anything of the project is imported, so that a stray print lands on stderr.
_CHILD_CODE = "import os; out = os.dup(1); os.dup2(2, 1); from pilots import filing; filing.main(out)"


def file_away(files: Iterable[tuple[InboxFile, str]], inbox: Path,
              warn: Callable[[str], None] | None = None,
              left: Callable[[InboxFile, str], None] | None = None) -> list[Path]:
    """pilots.inbox.file_away, in a child process for FILING_PROCESS_FILES files or more.

    warn(text): how a child that ended without its answer is reported (its last line of stderr,
    IDs masked); the caller hides restricted names in it. The files are then filed away here.
    left(file, CHANGED or GONE): each file left in place as changed or removed since it was read
    (pilots.inbox.file_away), wherever it was filed away."""
    files = list(files)
    if len(files) < FILING_PROCESS_FILES:
        return inbox_folder.file_away(files, inbox, left=left)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(_CODE_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    # Where the child notes each move before it makes it (see _notes): read only if the child
    # ends without its answer.
    with _notes(inbox, len(files)) as progress:
        try:
            # -P and cwd: no folder but the code root's can shadow the project (see the module doc).
            child = subprocess.Popen([sys.executable, "-P", "-c", _CHILD_CODE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=_CODE_ROOT,
                                     pass_fds=(progress.fileno(),))
        except OSError:  # no process to be had (memory, process limits): filed away here instead
            return inbox_folder.file_away(files, inbox, left=left)
        rows = [(f.name, os.fspath(f.inbox_path), f.sha256, f.size, status) for f, status in files]
        # communicate() reads both pipes while it writes: an answer or a stderr of any size passes.
        out, err = child.communicate(pickle.dumps((os.fspath(inbox), rows, progress.fileno()),
                                                  protocol=pickle.HIGHEST_PROTOCOL))
        try:
            outcome, detail, left_alone = pickle.loads(out)
        except Exception:  # noqa: BLE001 - it ended without its answer: a bug, an import error, memory
            return _file_away_after(child.returncode, err, _moved_by_child(progress, inbox), files, inbox, warn, left)
    if left is not None and left_alone:
        by_path = {os.fspath(f.inbox_path): f for f, _ in files}
        for path, why in left_alone:
            left(by_path[path], why)
    if outcome == "failed":
        raise FilingError(detail)
    return [Path(p) for p in detail]


def _notes(inbox: Path, count: int):
    """A file without a name, room enough for `count` new paths (each NUL-ended), zeros until the
    child writes into it through a shared mapping: plain stores in memory, no system call per
    file (a write() per file cost the child 0.1 s of CPU and the move's wall ~0.9 s at 20,000 files,
    bench/results/2026-12-05-H-filing-notes.md), and kept by the kernel whenever the child ends.
    A memfd (memory only), else a temporary file (O_TMPFILE: nothing left behind either)."""
    room = count * (len(os.fsencode(inbox)) + len(f"/{inbox_folder.QUARANTINE}/") + inbox_folder.NAME_MAX + 1)
    try:
        fd = os.memfd_create("pilotkpi-filing-notes", os.MFD_CLOEXEC)
    except (AttributeError, OSError):  # no memfd here
        fd = os.dup(tempfile.TemporaryFile().fileno())
    if fd < 3:  # a night started with fd 0, 1 or 2 closed: pass_fds would lose it to the child's stdio
        low, fd = fd, fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
        os.close(low)
    notes = os.fdopen(fd, "w+b")
    try:
        os.ftruncate(notes.fileno(), max(room, 1))
    except BaseException:
        notes.close()
        raise
    return notes


def _moved_by_child(progress, inbox: Path) -> list[Path]:
    """The files a child that ended without its answer had moved: each move it noted (before
    making it) whose new path exists. Read before anything else is filed away: a move noted and
    not made (the child stopped in between) is not counted, and the file is still in the inbox.
    Only a path right inside processed/ or quarantine/ counts: a note cut short by a SIGKILL
    amid its copy could name something else that exists (the folder itself)."""
    progress.seek(0)
    noted = [os.fsdecode(raw) for raw in progress.read().split(b"\0") if raw]  # zeros where none was written
    folders = {os.fspath(inbox / inbox_folder.PROCESSED), os.fspath(inbox / inbox_folder.QUARANTINE)}
    return [Path(p) for p in noted if os.path.dirname(p) in folders and os.path.lexists(p)
            and not os.path.isdir(p)]


def _file_away_after(returncode: int, err: bytes, moved_by_child: list[Path], files: list[tuple[InboxFile, str]],
                     inbox: Path, warn: Callable[[str], None] | None,
                     left: Callable[[InboxFile, str], None] | None = None) -> list[Path]:
    """Filing away in this process after a child that ended without its answer: its moves and
    this process's, so that the night counts every file filed (the child's too)."""
    stopped = _stopped(returncode, err)
    # Filed away here instead, so that no night is left on a path that always fails: safe, as
    # file_away skips every file no longer in the inbox with its SHA-256 (the child's moves).
    try:
        moved = inbox_folder.file_away(files, inbox, left=_not_moved_by_child(left, moved_by_child))
    except FilingError as exc:
        raise FilingError(f"{stopped}; filing away here instead failed too: {exc}") from None
    if warn is not None:
        warn(f"{stopped}; filed away in the night's own process instead")
    return moved_by_child + moved


def _not_moved_by_child(left: Callable[[InboxFile, str], None] | None,
                        moved_by_child: list[Path]) -> Callable[[InboxFile, str], None] | None:
    """`left` for the files filed away here after the child: a file gone from the inbox because
    the child moved it is not reported as removed. It is known by its bytes (size and SHA-256) in
    one of the child's moves, the one of its own name first; each move accounts for one file."""
    if left is None or not moved_by_child:
        return left
    unclaimed = list(moved_by_child)

    def told(item: InboxFile, why: str) -> None:
        if why == inbox_folder.GONE:
            name = inbox_folder.inbox_name(item.inbox_path)
            for path in sorted(unclaimed, key=lambda p: p.name != name):
                if _same_bytes(path, item):
                    unclaimed.remove(path)
                    return
        left(item, why)
    return told


def _same_bytes(path: Path, item: InboxFile) -> bool:
    try:
        if os.lstat(path).st_size != item.size:
            return False
        return inbox_folder.current_sha(path) == item.sha256
    except OSError:
        return False


def _stopped(returncode: int, err: bytes) -> str:
    """Why the child ended without its answer: its exit code and its last line of stderr (a
    traceback's last line names the error), national IDs masked."""
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    reason = f": {lines[-1]}" if lines else ""
    return masked(f"filing away in its own process stopped (exit code {returncode}){reason}")


def _while_parent_lives(rows: list[tuple], parent: int) -> Iterator[tuple[InboxFile, str]]:
    """The files as file_away takes them (their bytes' place is not needed: None), until the
    parent is gone."""
    for n, (name, path, sha256, size, status) in enumerate(rows):
        if n == 1:
            pause_point("filing")  # tests/test_filing_process.py kills the night here: one file filed
        if os.getppid() != parent:  # the night was killed: the next one files the rest away
            return
        yield InboxFile(name, Path(path), sha256, size, None), status


def main(answer_fd: int) -> None:
    """The child's work: answer_fd is its private duplicate of the stdout the parent reads (fd 1
    itself is stderr: a stray print cannot break the answer)."""
    parent = os.getppid()
    inbox, rows, progress = pickle.load(sys.stdin.buffer)
    notes, end = mmap.mmap(progress, 0), [0]  # shared: the parent reads what is stored here

    def moving(path: Path) -> None:
        """Noted before the move: what the night counts if no answer comes (see _notes)."""
        raw = os.fsencode(path) + b"\0"  # names hold no NUL
        if end[0] + len(raw) <= len(notes):  # always, by _notes' room; else only the count is short
            notes[end[0]:end[0] + len(raw)] = raw
            end[0] += len(raw)

    left_alone: list[tuple[str, str]] = []

    def left(item: InboxFile, why: str) -> None:
        left_alone.append((os.fspath(item.inbox_path), why))

    try:
        moved = inbox_folder.file_away(_while_parent_lives(rows, parent), Path(inbox), moving, left)
        answer = ("moved", [os.fspath(p) for p in moved], left_alone)
    except FilingError as exc:
        answer = ("failed", str(exc), left_alone)
    with os.fdopen(answer_fd, "wb") as out:
        out.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
