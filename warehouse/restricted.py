"""The restricted store (warehouse.md, "Restricted pilots: the segregated store").

Restricted pilots' line-level data (their KPIs and thresholds, submissions, issues, core.* and
held lines, line-level marts) lives only in a second DuckDB file with its own evidence folder,
file 0600 and folders 0700, owned by the operator. The open warehouse keeps for them only
registry.pilots/pilot_agencies and the marts pilot_scores, reporting_compliance and reminders,
copied from the restricted store's own marts, and the committee's closures and close/reopen
decisions without their note or reason (mirror_closures: the text is in this store).

Two files, one job. DuckDB cannot write two databases in one transaction, so a job commits them
with presumed abort, the open warehouse being the coordinator:
1. copy the restricted file to `<restricted>.next` (0600) and write the job's rows there;
2. record the job's run_id in it (ops.restricted_job), COMMIT, CHECKPOINT, close, fsync;
3. commit the open warehouse: its ops.runs row is the decision;
4. rename `.next` over the restricted file (and fsync the folder).
`recover` runs at every job start, under the run lock: a `.next` whose run_id the open ops.runs
records as committed is renamed (roll forward); any other `.next` is deleted (roll back). The
restricted file itself is never opened for writing, so it is always a committed state.
Which store belongs to the open warehouse is recorded in both (warehouse/store_identity.py): a
job refuses a missing or another store rather than make an empty one.

Received files' bytes land first in `<evidence>/.staging/` (inside the owner-only folder, since
a file's pilot is known only once it is read); once a file's store is decided they are moved by
rename into that store's evidence folder. Staging is emptied at the start and end of each job.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable, Iterator

import duckdb

from warehouse import evidence, store, store_identity
from warehouse.catalogue import has_pilot_id
from warehouse.errors import WarehouseRefused
from warehouse.paths import NEXT_SUFFIX, files_of, refuse_shared_roles, restricted_evidence_of
from warehouse.publish import CLEARED_CLOSURE_TEXTS, fsync_dir, note_afresh
from warehouse.testpoints import pause_point
from warehouse.times import bangkok_date_sql

FILE_MODE, DIR_MODE = 0o600, 0o700
COPY_CHUNK = 1024 * 1024  # copying the store into its working copy, where the kernel cannot (_copy_into)
STAGING = ".staging"
# The open warehouse keeps these marts' rows of restricted pilots (warehouse.md), copied from the
# restricted store, where they are computed from the line-level data.
OPEN_MARTS = ("pilot_scores", "reporting_compliance", "reminders")
# Columns of those rows that never cross to the open side (warehouse.md: no restricted file name;
# follow-up.md: no restricted pilot's name): the mart's SQL leaves them NULL already, and the copy
# writes NULL whatever the restricted store holds, so a later change there cannot leak them.
OPEN_MART_BLANKS = {"reminders": ("pilot_name_th", "pilot_name_en", "latest_quarantined_file")}
# marts.due_periods says which periods are due for a pilot from registry.pilots' dates alone (no
# figure): its open rows stay, so `close-quarter` closes a restricted pilot's due period too.
KEEP_OPEN = ("due_periods",)
# Registry tables that hold restricted pilots' rows in the restricted store only.
LINE_LEVEL_REGISTRY = ("registry.kpis", "registry.kpi_thresholds")
PER_PILOT_REGISTRY = ("registry.pilots", "registry.pilot_agencies", *LINE_LEVEL_REGISTRY)


@dataclass(frozen=True)
class RestrictedFiles:
    store: Path
    evidence: Path

    @property
    def next(self) -> Path:
        return self.store.with_name(self.store.name + NEXT_SUFFIX)

    @property
    def staging(self) -> Path:
        return self.evidence / STAGING


def files_for(warehouse_path: str | Path, restricted_store: str | Path | None = None) -> RestrictedFiles:
    """The restricted store of a warehouse: --restricted-store, else beside it (warehouse/paths.py)."""
    path = Path(restricted_store) if restricted_store else files_of(warehouse_path).restricted
    refuse_shared_roles(warehouse_path, path)  # one file, one role (warehouse.md)
    return RestrictedFiles(path, restricted_evidence_of(path))


def restricted_pilots(registry) -> set[str]:
    return {p.pilot_id for p in registry.pilots.values() if p.classification == "restricted"}


_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")


def folded_pilot(pilot_id: str) -> str:
    """A pilot id as the routing to the restricted store compares it, the night's (pilots/ingest.py)
    and the web's (web/agency.py) alike: NFKC (full-width letters and digits), Thai digits as
    ASCII, trimmed, upper case. Only ever compared with the registry's ids, never stored or shown:
    folding more can only route more files to the restricted side, the careful side."""
    return unicodedata.normalize("NFKC", str(pilot_id)).translate(_THAI_DIGITS).strip().upper()


def names_restricted(pilot_ids: Iterable[str | None], restricted: Iterable[str]) -> bool:
    """Whether any of a file's pilot ids (its header's, its rows') folds to a restricted pilot's."""
    return bool({folded_pilot(p) for p in pilot_ids if p} & {folded_pilot(p) for p in restricted})


def needed(files: RestrictedFiles, registry) -> bool:
    """A job uses the restricted store when the registry has a restricted pilot or the store exists
    (a pilot reclassified as open keeps its past rows there), or a killed job left its working copy
    `.next`: recover() must rename it first if that job committed, even when no pilot is restricted
    any more (a first move to the store killed after its open commit: the pilot's rows are only in
    `.next`, and the next job moves them back to the open side) (verifier VI, F2)."""
    return bool(restricted_pilots(registry)) or files.store.exists() or files.next.exists()


def check_permissions(files: RestrictedFiles) -> None:
    """Refuse (WarehouseRefused: one line, exit 1) a restricted store others could read."""
    for path, mode, what in ((files.store, FILE_MODE, "file"), (files.evidence, DIR_MODE, "folder")):
        try:
            st = path.lstat()
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise WarehouseRefused(path, f"the restricted store's {what} is a symbolic link; give its real path")
        if st.st_uid != os.getuid():
            raise WarehouseRefused(path, f"the restricted store's {what} belongs to uid {st.st_uid}, not to the "
                                         f"operator running pilotkpi (uid {os.getuid()})")
        if stat.S_IMODE(st.st_mode) & 0o077:
            raise WarehouseRefused(path, f"the restricted store's {what} is open to others (mode "
                                         f"{stat.S_IMODE(st.st_mode):04o}); it must be {mode:04o}: "
                                         f"chmod {mode:o} '{path}'")


def check_restricted(warehouse_path: str | Path, restricted_store: str | Path | None = None,
                     new_store: bool = False) -> None:
    """What commands check at start, before Prefect: the restricted store, if there is one, is
    the operator's alone (its folder and file are created so by the first job that needs them),
    and is there if the warehouse's jobs wrote one (the job checks it again: store_identity).
    new_store: `rebuild --new-restricted-store`, allowed only where that store is missing."""
    files = files_for(warehouse_path, restricted_store)
    check_permissions(files)
    if new_store:
        store_identity.refuse_new_store(files.store, files.next, store_identity.recorded_in_file(warehouse_path))
    elif not (files.store.exists() or files.next.exists()):
        store_identity.refuse_missing(files.store, store_identity.recorded_in_file(warehouse_path))


def make_folders(files: RestrictedFiles) -> None:
    """The evidence and staging folders, 0700 whatever the umask."""
    for folder in (files.evidence, files.staging):
        evidence.make_dir(folder)


def clean_staging(files: RestrictedFiles) -> None:
    """Staged bytes of an earlier job are never referenced: a committed job moved its files.

    Every file goes; the evidence layout's shard folders (`<sha[:2]>/`, owner-only, empty once
    their files are gone) stay for the next job's receive. Removing them cost each served 1%-new
    night at 400 pilots 0.1-0.4 s of wall time (about 140 rmdirs, at the night's end, on a disk
    where rmdir is slow), for folders the next night creates again. Anything else (DuckDB's spill
    folder, an entry this code did not make) is removed whole, as before."""
    staging = files.staging
    if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
        staging.unlink()
    elif staging.is_dir():
        with os.scandir(staging) as entries:
            for entry in entries:
                if _is_shard(entry):
                    _empty_shard(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
    make_folders(files)


def _is_shard(entry: os.DirEntry) -> bool:
    """A folder of the evidence layout: two lowercase hex digits (warehouse/evidence.evidence_path)."""
    name = entry.name
    return (len(name) == 2 and all(c in "0123456789abcdef" for c in name) and entry.is_dir(follow_symlinks=False))


def _empty_shard(folder: str) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


@contextmanager
def private_umask() -> Iterator[None]:
    """Files DuckDB creates beside the store (its WAL) are the operator's alone."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _discard_next(files: RestrictedFiles) -> None:
    for path in (files.next, files.next.with_name(files.next.name + ".wal")):
        path.unlink(missing_ok=True)


def committed(open_con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether the open store holds run_id's commit (the decision of a job over both stores)."""
    return open_con.execute("SELECT count(*) FROM ops.runs WHERE run_id = ? AND status IN "
                            "('committed_with_errors', 'succeeded')", [run_id]).fetchone()[0] > 0


def _next_run_id(files: RestrictedFiles) -> str | None:
    try:
        con = duckdb.connect(str(files.next), read_only=True)
    except duckdb.Error:
        return None  # unreadable: it was never prepared
    try:
        row = con.execute("SELECT run_id FROM ops.restricted_job").fetchone()
    except duckdb.Error:
        row = None
    finally:
        con.close()
    return row[0] if row else None


def recover(files: RestrictedFiles, open_con: duckdb.DuckDBPyConnection) -> str | None:
    """Finish or undo a job killed between its two commits; returns 'forward', 'back' or None."""
    if not files.next.exists():
        _discard_next(files)
        return None
    run_id = _next_run_id(files)
    if run_id is not None and committed(open_con, run_id):
        os.replace(files.next, files.store)
        fsync_dir(files.store.parent)
        return "forward"
    _discard_next(files)
    return "back"


def _copy_into(src: int, dst: int) -> None:
    """Every byte of src (an open file, at its start) into dst: in the kernel (copy_file_range),
    without the 10 MB passing through this process; else read and written in chunks."""
    size = os.fstat(src).st_size
    copied = 0
    in_kernel = getattr(os, "copy_file_range", None)  # Linux only
    try:
        while in_kernel is not None and copied < size:
            n = in_kernel(src, dst, size - copied)
            if n == 0:
                break  # the file shrank: copy what is left the plain way
            copied += n
    except OSError:  # not offered here (an older kernel, another file system): the plain way
        pass
    os.lseek(src, copied, os.SEEK_SET)
    os.lseek(dst, copied, os.SEEK_SET)
    while chunk := os.read(src, COPY_CHUNK):
        os.write(dst, chunk)


class RestrictedJob:
    """One job's writing to the restricted store, through its working copy `.next`."""

    def __init__(self, files: RestrictedFiles):
        from warehouse.db import connect

        self.files = files
        check_permissions(files)
        make_folders(files)
        _discard_next(files)
        if files.store.exists():  # else DuckDB creates the database (it needs a missing file for that)
            fd = os.open(files.next, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                os.fchmod(fd, FILE_MODE)  # whatever the umask
                with open(files.store, "rb") as src:
                    _copy_into(src.fileno(), fd)
                # Kept: a power loss between this copy and prepare's fsync could leave a torn copy
                # whose readable state (the store's older header) names an earlier committed run,
                # which recover() would roll forward. (prepare's fsync alone would flush these
                # pages too, but only at the job's end.)
                os.fsync(fd)
            finally:
                os.close(fd)
        pause_point("restricted-copied")
        with private_umask():
            self.con = connect(files.next, config={"temp_directory": str(files.staging / "duckdb-tmp")})
            os.chmod(files.next, FILE_MODE)
        self.con.execute("BEGIN TRANSACTION")

    def prepare(self, run_id: str) -> None:
        """Step 2: the job's rows and its run_id durable in `.next`, the file closed."""
        self.con.execute("DELETE FROM ops.restricted_job")
        self.con.execute("INSERT INTO ops.restricted_job (run_id) VALUES (?)", [run_id])
        with private_umask():
            self.con.execute("COMMIT")
            self.con.execute("CHECKPOINT")
        self.con.close()
        self.con = None
        fd = os.open(self.files.next, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        pause_point("restricted-prepared")

    def finish(self) -> None:
        """Step 4, after the open commit."""
        pause_point("open-committed")
        os.replace(self.files.next, self.files.store)
        fsync_dir(self.files.store.parent)

    def abort(self) -> None:
        if self.con is not None:
            try:
                self.con.close()  # an open transaction is rolled back
            finally:
                self.con = None
        _discard_next(self.files)


def split_registry(rows_by_table: dict[str, list[dict]], restricted: set[str]) -> tuple[dict, dict]:
    """(open rows, restricted store rows): restricted pilots' KPIs and thresholds go to the
    restricted store only; it gets its pilots' registry.pilots/pilot_agencies rows too, and the
    tables without pilots (agencies, strategies, secretariat) whole."""
    open_rows, closed_rows = {}, {}
    for table, rows in rows_by_table.items():
        if table not in PER_PILOT_REGISTRY:
            open_rows[table] = closed_rows[table] = rows
            continue
        closed_rows[table] = [r for r in rows if r["pilot_id"] in restricted]
        open_rows[table] = [r for r in rows if r["pilot_id"] not in restricted or table not in LINE_LEVEL_REGISTRY]
    return open_rows, closed_rows


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params=None) -> tuple[list[str], list[dict]]:
    cur = con.execute(sql, params or [])
    columns = [d[0] for d in cur.description]
    # Decimals travel as text and are cast back to the column's type (store._insert): exact.
    return columns, [{c: str(v) if isinstance(v, Decimal) else v for c, v in zip(columns, row)}
                     for row in cur.fetchall()]


# The committee's free text on a closure: the open warehouse keeps none of a restricted pilot's
# (pilots/approval.py); the restricted store's copy of the closure row holds it.
CLOSURE_TEXTS = ("note", "reopen_reason")
_CLOSURE_KEY = ("pilot_id", "period", "closed_at")


def mirror_closures(open_con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection,
                    restricted: set[str], run_id: str | None = None) -> None:
    """The committee's closures live in the open warehouse; the restricted store's pilot_scores
    need its pilots' ones (closed, changed_since_closing). Rewritten only when they differ: on most
    nights the committee closed nothing, and the rewrite was a delete and an insert for nothing.

    The closure rows are copied with the texts the restricted store holds (a restricted pilot's
    note and reopen reason, which its open rows lack). A text still on the open side (a warehouse
    written before migration 0019, or a pilot just reclassified restricted) moves here now, and
    the open closure and its close/reopen decision rows lose it, in this job's commit. A pilot
    reclassified open gets its texts back on its open rows. Closures of a pilot today's registry
    does not name stay as they are (warehouse/moves.py: its classification is unknown).
    Texts cleared on the open side are noted for publishing (run_id: the job): their bytes stay
    in the working file, so the next copy is written afresh (warehouse/publish.py)."""
    ids = sorted(restricted)
    sql = "SELECT * FROM approval.quarter_closures WHERE list_contains(?, pilot_id)"
    columns, rows = _rows(open_con, sql, [ids])
    _, held = _rows(rcon, "SELECT * FROM approval.quarter_closures")
    texts = {tuple(r[c] for c in _CLOSURE_KEY): r for r in held}
    for row in rows:
        kept = texts.get(tuple(row[c] for c in _CLOSURE_KEY), {})
        for c in CLOSURE_TEXTS:
            if row[c] is None:
                row[c] = kept.get(c)
    _texts_back_to_open(open_con, held, restricted)
    named = {r[0] for r in open_con.execute("SELECT pilot_id FROM registry.pilots").fetchall()}
    unnamed = [r for r in held if r["pilot_id"] not in named]  # kept: their classification is unknown
    if _same_closures(columns, rows + unnamed, held):
        _clear_open_texts(open_con, ids, run_id)
        return
    rcon.execute("DELETE FROM approval.quarter_closures")
    store._insert(rcon, "approval.quarter_closures", columns, rows + unnamed)
    _clear_open_texts(open_con, ids, run_id)


def _same_closures(columns: list[str], a: list[dict], b: list[dict]) -> bool:
    key = lambda r: repr([r.get(c) for c in columns])  # noqa: E731
    return sorted(map(key, a)) == sorted(map(key, b))


def _clear_open_texts(open_con: duckdb.DuckDBPyConnection, ids: list[str], run_id: str | None) -> None:
    """A restricted pilot's close notes and reopen reasons off the open side (checked first: most
    nights there is none, and the tables stay untouched). Clearing one notes that the next
    published copy is written afresh (warehouse/publish.note_afresh): the working file keeps the
    text's bytes in blocks DuckDB freed."""
    if not ids:
        return
    closures = ("FROM approval.quarter_closures WHERE list_contains(?, pilot_id) "
                "AND (note IS NOT NULL OR reopen_reason IS NOT NULL)")
    decisions = ("FROM approval.decisions WHERE list_contains(?, pilot_id) AND action IN ('close', 'reopen') "
                 "AND note IS NOT NULL")
    cleared = False
    if open_con.execute(f"SELECT count(*) {closures}", [ids]).fetchone()[0]:
        open_con.execute(f"UPDATE approval.quarter_closures SET note = NULL, reopen_reason = NULL "
                         f"{closures.removeprefix('FROM approval.quarter_closures ')}", [ids])
        cleared = True
    if open_con.execute(f"SELECT count(*) {decisions}", [ids]).fetchone()[0]:
        open_con.execute(f"UPDATE approval.decisions SET note = NULL "
                         f"{decisions.removeprefix('FROM approval.decisions ')}", [ids])
        cleared = True
    if cleared:
        note_afresh(open_con, CLEARED_CLOSURE_TEXTS, run_id)


def _texts_back_to_open(open_con: duckdb.DuckDBPyConnection, held: list[dict], restricted: set[str]) -> None:
    """The texts the restricted store holds of a pilot today's registry classifies open (it was
    restricted): back on its open closure rows and on their close/reopen decision rows (a close
    decision is recorded at its closure's closed_at, a reopen one at its reopened_at)."""
    open_pilots = {r[0] for r in open_con.execute(
        "SELECT pilot_id FROM registry.pilots WHERE classification <> 'restricted'").fetchall()}
    for r in held:
        if r["pilot_id"] in restricted or r["pilot_id"] not in open_pilots:
            continue
        key = [r["pilot_id"], r["period"], r["closed_at"]]
        if r["note"] is not None:
            open_con.execute("UPDATE approval.quarter_closures SET note = ? WHERE pilot_id = ? AND period = ? "
                             "AND closed_at = ? AND note IS NULL", [r["note"], *key])
            open_con.execute("UPDATE approval.decisions SET note = ? WHERE action = 'close' AND pilot_id = ? "
                             "AND period = ? AND decided_at = ? AND note IS NULL", [r["note"], *key])
        if r["reopen_reason"] is not None and r["reopened_at"] is not None:
            open_con.execute("UPDATE approval.quarter_closures SET reopen_reason = ? WHERE pilot_id = ? "
                             "AND period = ? AND closed_at = ? AND reopen_reason IS NULL", [r["reopen_reason"], *key])
            open_con.execute("UPDATE approval.decisions SET note = ? WHERE action = 'reopen' AND pilot_id = ? "
                             "AND period = ? AND decided_at = ? AND note IS NULL",
                             [r["reopen_reason"], r["pilot_id"], r["period"], r["reopened_at"]])


def _same_rows(con_a: duckdb.DuckDBPyConnection, sql_a: str, params_a: list, con_b: duckdb.DuckDBPyConnection,
               sql_b: str) -> bool:
    """Whether two queries (on two stores of the same schema) give the same columns and rows."""
    a, b = con_a.execute(f"{sql_a} ORDER BY ALL", params_a), con_b.execute(f"{sql_b} ORDER BY ALL")
    return [d[:2] for d in a.description] == [d[:2] for d in b.description] and a.fetchall() == b.fetchall()


def mirror_held(open_con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection) -> None:
    """The open warehouse's list of restricted pilots' held files (approval.restricted_held): what
    the committee needs to decide one (data-quality.md §2: submission id, agency, dates), never
    its file name, defects or figures. Rewritten from the restricted store by every job whose
    list differs from the one the open warehouse holds."""
    held = (f"SELECT submission_id, pilot_id, agency_code, period, submitted_on, {bangkok_date_sql('received_at')} "
            "AS received_on FROM ingest.submissions WHERE status = 'held' AND pilot_id IS NOT NULL")  # Bangkok date: 0023
    if _same_rows(rcon, held, [], open_con, "SELECT submission_id, pilot_id, agency_code, period, submitted_on, "
                                            "received_on FROM approval.restricted_held"):
        return
    open_con.execute("DELETE FROM approval.restricted_held")
    columns, rows = _rows(rcon, f"{held} ORDER BY submission_id")
    store._insert(open_con, "approval.restricted_held", columns, rows)


def merge_mart(open_con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection, restricted: set[str],
               name: str) -> None:
    """Just after the open side built marts.<name>: it drops every row of a restricted pilot (they
    were computed without its line-level data) but KEEP_OPEN's, and OPEN_MARTS take those rows
    from the restricted store, with OPEN_MART_BLANKS' columns NULL. Every mart is per pilot, so no
    open row aggregates a restricted pilot. (Run per mart, before later marts read it:
    kpis/build.build_marts `after`.)"""
    if name in KEEP_OPEN or not restricted or not has_pilot_id(open_con, f"marts.{name}"):
        return
    ids = sorted(restricted)
    open_con.execute(f"DELETE FROM marts.{name} WHERE list_contains(?, pilot_id)", [ids])
    if name in OPEN_MARTS:
        blanks = ", ".join(f"NULL AS {c}" for c in OPEN_MART_BLANKS.get(name, ()))
        select = f"* REPLACE ({blanks})" if blanks else "*"
        columns, rows = _rows(rcon, f"SELECT {select} FROM marts.{name} WHERE list_contains(?, pilot_id)", [ids])
        store._insert(open_con, f"marts.{name}", columns, rows)


def open_rows_digests(rcon: duckdb.DuckDBPyConnection, restricted: set[str]) -> dict[str, dict[str, str]]:
    """Per OPEN_MART, a digest of the rows the open side takes from the restricted store: an input
    of that open mart (kpis/build.build_marts extra_inputs), so a change there rebuilds it."""
    ids = sorted(restricted)
    out = {}
    for name in OPEN_MARTS:
        rows = rcon.execute(f"SELECT * FROM marts.{name} WHERE list_contains(?, pilot_id) ORDER BY ALL",
                            [ids]).fetchall()
        out[name] = {f"restricted:marts.{name}": hashlib.sha256(repr(rows).encode("utf-8")).hexdigest()}
    return out


def place(files: RestrictedFiles, open_evidence: Path, sha256: str, restricted: bool) -> None:
    """Move a received file's staged bytes into the evidence folder of its store (a link: the
    bytes never pass through the open folder, and a stored file is never replaced)."""
    target_dir = files.evidence if restricted else open_evidence
    evidence.adopt(evidence.evidence_path(files.staging, sha256), target_dir, sha256)
