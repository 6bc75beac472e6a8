"""`pilotkpi publish`: complete what committed runs left undone, without a new run.

A run that committed but failed to publish or to file its inbox away (ops.runs status
`committed_with_errors`) is completed by the next run anyway; this does it now. It files away
the inbox files those runs recorded (recognised by name and SHA-256, as the next run would),
publishes the analysts' copy, and marks completed the runs whose every missing step it did.
The copy is written afresh while ops.publish_afresh says a restricted pilot's data left the open
side (warehouse/publish.py), as a run's would be. The caller holds the run lock.
"""
from __future__ import annotations

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


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def complete(warehouse_path: Path, inbox: Path | None = None, also_done: frozenset[str] = frozenset()) -> Completion:
    """With a restricted store, an error leaves as the open side may see it (warehouse/errors.py):
    filing away may touch a restricted pilot's inbox file. also_done: steps the caller did just
    before (`publish --out` writes the summaries and letters)."""
    from warehouse import restricted
    from warehouse.errors import MessageGuard, error_log_of, stored_file_names

    files = restricted.files_for(warehouse_path)
    if not files.store.exists():
        return _complete(warehouse_path, inbox, also_done)
    guard = MessageGuard(error_log_of(files.store), lambda: stored_file_names(None, [files.store]), job="publish")
    return guard.call(_complete, warehouse_path, inbox, also_done)


def _complete(warehouse_path: Path, inbox: Path | None, also_done: frozenset[str]) -> Completion:
    con = connect(warehouse_path)
    try:
        moved: list[Path] = []
        if inbox is not None:
            moved = inbox_folder.file_away(_unfiled_in(inbox, _unfiled(con, warehouse_path)), inbox)
        done = {"publish"} | ({"file_away"} if inbox is not None else set()) | set(also_done)
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
    return Completion(published, moved, completed, missing)


def _rewrite_afresh(warehouse_path: Path) -> None:
    """The working file written afresh after a copy written afresh is in place (no later byte copy
    publishes its freed blocks again). If this fails the note stays, and the next publish writes
    afresh once more: nothing worse."""
    try:
        rewrite_afresh(warehouse_path)
    except Exception:  # noqa: BLE001 - published already; the note only costs the next publish a fresh copy
        pass


def _unfiled(con, warehouse_path: Path) -> dict[tuple[str, str], str]:
    """Unfiled files of both stores: a restricted pilot's are recorded in the restricted store
    (its default place; read-only, it is only ever replaced whole)."""
    import duckdb

    from warehouse import restricted

    unfiled = store.unfiled_files(con)
    files = restricted.files_for(warehouse_path)
    if files.store.exists():
        restricted.check_permissions(files)
        rcon = duckdb.connect(str(files.store), read_only=True)
        try:
            unfiled.update(store.unfiled_files(con, rcon))
        finally:
            rcon.close()
    return unfiled


def _unfiled_in(inbox: Path, unfiled: dict[tuple[str, str], str]) -> list[tuple[inbox_folder.InboxFile, str]]:
    """The inbox files that unfinished runs recorded: same name, same bytes. The name compared is
    the one stored, as the run compares it (flows/nightly._key): the text name (a name that is not
    UTF-8 has its bytes as \\xNN, pilots/inbox.name_as_text) with national IDs masked."""
    names = {name for name, _ in unfiled}
    found = []
    for path in inbox_folder.candidates(inbox):
        text = inbox_folder.name_as_text(inbox_folder.inbox_name(path))
        key = masked(text)
        if key not in names:
            continue  # not hashed: a new file waits for the next run
        sha = inbox_folder.current_sha(path)
        if (key, sha) in unfiled:
            found.append((inbox_folder.InboxFile(text, path, sha, path.stat().st_size, path), unfiled[(key, sha)]))
    return found
