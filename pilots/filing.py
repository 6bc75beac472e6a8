"""Filing a night's inbox away in a process of its own (issue 22).

After its commit the night renders its pages while filing away runs beside them (flows/cheap.py).
In a thread the two share the GIL: filing away is a handful of short system calls per file, and
each one hands the GIL to the rendering and waits to get it back. At 20,000 files that made it
3.4-3.6 s beside the rendering against 1.5 s alone (the idle national bench, 2026-12-05), the
rendering slowed too, and the night waited a second for it after the letters. So a night with
FILING_PROCESS_FILES files or more (`PILOTKPI_FILING_PROCESS_FILES`, 2,000 by default: the
national night, not the 1%-new one) files them away in a child process, `python -m
pilots.filing`, on the other core: the same `pilots.inbox.file_away`, its checks and its moves.
A smaller night files away in the thread as before (the child's start, ~0.1 s, would cost more).

The parent writes one pickle on the child's stdin, (inbox, [(name, inbox path, SHA-256, size,
status)]: strings and numbers, cheap to pickle beside the rendering), and reads
one from its stdout: ("moved", [paths]) or ("failed", the FilingError's text, names masked as
file_away masks them). A child that ends otherwise is this step's failure (FilingError): the
night ends committed_with_errors and the next one files the rest away, as after any failure of
this step. If the child cannot be started at all, the files are filed away here, in the thread.

Crash safety is file_away's own: each file is moved by one rename, after the commit, so a kill
at any file leaves every file either in the inbox (the next night files it away, recognised by
name and SHA-256 as the committed run's file: no new row) or filed. The child stops before its
next file once its parent is gone (killed alone, not with its process group), so that it never
files away beside the next night. tests/test_filing_process.py kills the night while its child
is paused between two files (`pause_point("filing")`).
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Iterable, Iterator

from pilots import inbox as inbox_folder
from pilots.inbox import FilingError, InboxFile
from warehouse.testpoints import pause_point

FILING_PROCESS_FILES = int(os.environ.get("PILOTKPI_FILING_PROCESS_FILES", "2000"))
_CODE_ROOT = Path(__file__).resolve().parent.parent  # the folder holding this `pilots` package


def file_away(files: Iterable[tuple[InboxFile, str]], inbox: Path) -> list[Path]:
    """pilots.inbox.file_away, in a child process for FILING_PROCESS_FILES files or more."""
    files = list(files)
    if len(files) < FILING_PROCESS_FILES:
        return inbox_folder.file_away(files, inbox)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(_CODE_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    try:
        child = subprocess.Popen([sys.executable, "-m", "pilots.filing"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    except OSError:  # no process to be had (memory, process limits): filed away here instead
        return inbox_folder.file_away(files, inbox)
    rows = [(f.name, os.fspath(f.inbox_path), f.sha256, f.size, status) for f, status in files]
    out, _ = child.communicate(pickle.dumps((os.fspath(inbox), rows), protocol=pickle.HIGHEST_PROTOCOL))
    try:
        outcome, detail = pickle.loads(out)
    except Exception:  # noqa: BLE001 - it ended without its answer: killed, or out of memory
        raise FilingError(f"filing away in its own process stopped (exit code {child.returncode}); "
                          "the next run files the rest away") from None
    if outcome == "failed":
        raise FilingError(detail)
    return [Path(p) for p in detail]


def _while_parent_lives(rows: list[tuple], parent: int) -> Iterator[tuple[InboxFile, str]]:
    """The files as file_away takes them (their bytes' place is not needed: None), until the
    parent is gone."""
    for n, (name, path, sha256, size, status) in enumerate(rows):
        if n == 1:
            pause_point("filing")  # tests/test_filing_process.py kills the night here: one file filed
        if os.getppid() != parent:  # the night was killed: the next one files the rest away
            return
        yield InboxFile(name, Path(path), sha256, size, None), status


def main() -> None:
    parent = os.getppid()
    inbox, rows = pickle.load(sys.stdin.buffer)
    try:
        moved = inbox_folder.file_away(_while_parent_lives(rows, parent), Path(inbox))
        answer = ("moved", [os.fspath(p) for p in moved])
    except FilingError as exc:
        answer = ("failed", str(exc))
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
