"""`pilotkpi publish`: complete what committed runs left undone, without a new run.

A run that committed but failed to publish or to file its inbox away (ops.runs status
`committed_with_errors`) is completed by the next run anyway; this does it now. It files away
the inbox files those runs recorded (recognised by name and SHA-256, as the next run would),
publishes the analysts' copy, and marks completed the runs whose every missing step it did.
Filing away is done only when no file of those runs was left: one this command may not read
(unreadable, or open for writing by another program), or runs' files recorded in a restricted
store it did not open (found by ops.runs.files_seen against the submissions it knows). Then the
runs stay unfinished and the next run files those away. That last case is a fallback: a
warehouse that records its store (warehouse/store_identity.py) refuses publish without it
before anything is done; only one for which migration 0021 recorded none (its registry named
no restricted pilot kept in the store alone) gets here with its store unread.
The copy is written afresh while ops.publish_afresh says a restricted pilot's data left the open
side (warehouse/publish.py), as a run's would be. The caller holds the run lock.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pilots import inbox as inbox_folder
from warehouse.personal import masked
from warehouse import store
from warehouse.db import connect
from warehouse.publish import afresh_reasons, forget_afresh, publish, rewrite_afresh

COMPLETED_BY = "pilotkpi publish"


@dataclass
class Completion:
    published: Path
    moved: list[Path] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    still_missing: dict[str, list[str]] = field(default_factory=dict)  # run_id -> steps only a run does
    not_filed: list[str] = field(default_factory=list)  # why file_away was not done (counts, no names)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def complete(warehouse_path: Path, inbox: Path | None = None, also_done: frozenset[str] = frozenset(),
             restricted_store: Path | None = None) -> Completion:
    """With a restricted store, an error leaves as the open side may see it (warehouse/errors.py):
    filing away may touch a restricted pilot's inbox file. also_done: steps the caller did just
    before (`publish --out` writes the summaries and letters)."""
    from warehouse import restricted
    from warehouse.errors import MessageGuard, error_log_of, stored_file_names

    files = restricted.files_for(warehouse_path, restricted_store)
    if not files.store.exists():
        return _complete(warehouse_path, inbox, also_done, files)
    guard = MessageGuard(error_log_of(files.store), lambda: stored_file_names(None, [files.store]), job="publish")
    return guard.call(_complete, warehouse_path, inbox, also_done, files)


def _complete(warehouse_path: Path, inbox: Path | None, also_done: frozenset[str], files) -> Completion:
    """files: the restricted store's (warehouse.restricted.RestrictedFiles), found or not."""
    con = connect(warehouse_path)
    try:
        moved: list[Path] = []
        not_filed: list[str] = []
        if inbox is not None:
            unfiled, unknown = _unfiled(con, files)
            found, unreadable = _unfiled_in(inbox, unfiled)
            writing: list[inbox_folder.InboxFile] = []
            moved = inbox_folder.file_away(found, inbox, left=lambda item, why: writing.append(item)
                                           if why == inbox_folder.WRITING else None)
            if unknown:  # the fallback for a warehouse 0021 recorded no store of (module doc)
                not_filed.append(f"{unknown} file(s) of unfinished run(s) are recorded in a restricted store not "
                                 f"read here (not {files.store}): give --restricted-store, or let the next run file "
                                 "them away")
            if unreadable:
                not_filed.append(f"{unreadable} inbox file(s) named as files those runs recorded could not be "
                                 "read (their permissions, or not a regular file): the next run looks at them again")
            if writing:
                not_filed.append(f"{len(writing)} file(s) are open for writing by another program: left in the "
                                 "inbox for the next run")
        # file_away is done only when nothing of those runs was left (module doc).
        done = {"publish"} | ({"file_away"} if inbox is not None and not not_filed else set()) | set(also_done)
        completed = store.complete_runs(con, done, COMPLETED_BY, _now())
        missing = {r: [s for s in steps if s not in done] for r, steps in store.unfinished_runs(con).items()
                   if r not in completed}
        afresh = bool(afresh_reasons(con))
    except BaseException:
        con.close()
        raise
    try:
        # A CHECKPOINT that fails invalidates the database (DuckDB 2.0): the runs just marked
        # completed are then in its write-ahead log only, and are marked unfinished again below,
        # on the file opened again (the log replayed), as after a failed copy.
        try:
            con.execute("CHECKPOINT")
        finally:
            con.close()
        published = publish(warehouse_path, forget_afresh if afresh else None, afresh=afresh)
    except BaseException:
        con = connect(warehouse_path)
        try:
            store.uncomplete_runs(con, completed)
        finally:
            con.close()
        raise
    if afresh:  # in place: the working file written afresh too, its note done with there
        _rewrite_afresh(warehouse_path)
    return Completion(published, moved, completed, missing, not_filed)


def _rewrite_afresh(warehouse_path: Path) -> None:
    """The working file written afresh after a copy written afresh is in place (no later byte copy
    publishes its freed blocks again). If this fails the note stays, and the next publish writes
    afresh once more: nothing worse."""
    try:
        rewrite_afresh(warehouse_path)
    except Exception:  # noqa: BLE001 - published already; the note only costs the next publish a fresh copy
        pass


def _unfiled(con, files) -> tuple[dict[tuple[str, str], str], int]:
    """Unfiled files of both stores: a restricted pilot's are recorded in the restricted store
    (--restricted-store, else its default place; read-only, it is only ever replaced whole); and
    how many files the runs that did not file away saw (ops.runs.files_seen) beyond those two
    stores' submissions of theirs: files recorded in a store not read here."""
    import duckdb

    from warehouse import restricted

    unfiled = store.unfiled_files(con)
    known = _submissions_of_unfiled_runs(con, con)
    if files.store.exists():
        restricted.check_permissions(files)
        rcon = duckdb.connect(str(files.store), read_only=True)
        try:
            unfiled.update(store.unfiled_files(con, rcon))
            known += _submissions_of_unfiled_runs(con, rcon)
        finally:
            rcon.close()
    seen = con.execute("SELECT coalesce(sum(files_seen), 0) FROM ops.runs WHERE list_contains(?, run_id)",
                       [_unfiled_runs(con)]).fetchone()[0]
    return unfiled, max(0, int(seen) - known)


def _unfiled_runs(con) -> list[str]:
    return [r for r, steps in store.unfinished_runs(con).items() if "file_away" in steps]


def _submissions_of_unfiled_runs(con, submissions_con) -> int:
    return submissions_con.execute("SELECT count(*) FROM ingest.submissions WHERE list_contains(?, run_id)",
                                   [_unfiled_runs(con)]).fetchone()[0]


def _unfiled_in(inbox: Path, unfiled: dict[tuple[str, str], str]
                ) -> tuple[list[tuple[inbox_folder.InboxFile, str]], int]:
    """The inbox files that unfinished runs recorded: same name, same bytes. The name compared is
    the one stored, as the run compares it (flows/nightly._key): the text name (a name that is not
    UTF-8 has its bytes as \\xNN, pilots/inbox.name_as_text) with national IDs masked. Also how
    many files of a recorded name could not be read (not known to be theirs or not: left)."""
    names = {name for name, _ in unfiled}
    found, unreadable = [], 0
    for path in inbox_folder.candidates(inbox):
        text = inbox_folder.name_as_text(inbox_folder.inbox_name(path))
        key = masked(text)
        if key not in names:
            continue  # not hashed: a new file waits for the next run
        sha = inbox_folder.current_sha(path)
        if sha is None and os.path.lexists(path):  # unreadable or not a regular file (gone: nothing to file)
            unreadable += 1
        elif (key, sha) in unfiled:
            found.append((inbox_folder.InboxFile(text, path, sha, path.stat().st_size, path), unfiled[(key, sha)]))
    return found, unreadable
