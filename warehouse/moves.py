"""Pilots whose rows are in the wrong store (warehouse.md, binding): a pilot reclassified open ->
restricted or back, or a warehouse made by a version without the restricted store.

The next job, whatever its kind, moves such a pilot inside its own all-or-nothing commit
(flows/nightly._job calls `move_misplaced` right after writing today's registry): every row keyed
by the pilot or by one of its submissions (ingest.*, core.*, held lines, its file decisions in
approval.decisions) goes to the other store's working copy and leaves the source. Line-level
marts rows are deleted from the source; the job rebuilds every mart afterwards from the moved
core.* rows, so the figures stay what they were. Each moved submission gets an
ingest.status_changes row (reason moved_to_restricted / moved_to_open, status unchanged) in the
store that receives it. On a move to the restricted store, every open ops.runs.error text that
names the pilot, its files or its KPIs is replaced whole (`_redact_run_errors`).

Both stores commit through the restricted store's two-file protocol (warehouse/restricted.py:
the open ops.runs row decides, `recover` rolls the working copy forward or back), so a crash
leaves the old state or the new one. Original files are copied into the other evidence folder
before the commit (write-once, checked by hash) and removed from the source only after it
(`forget_files`); a job killed in between leaves two copies, and `sweep_evidence`, run at the
start of every job on the committed state, removes the copy that the store's own rows no longer
reference once the other store holds the same bytes.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb

from warehouse.personal import printable
from warehouse import evidence, store
from warehouse.errors import MessageGuard
from warehouse.publish import MOVED_TO_RESTRICTED, note_afresh
from warehouse.testpoints import pause_point

TO_RESTRICTED, TO_OPEN = "moved_to_restricted", "moved_to_open"
# Marts rows the open warehouse keeps of a restricted pilot (warehouse.md); every other marts row
# of a moved pilot is deleted from the source and rebuilt in its new store by the same job.
OPEN_KEPT_MARTS = ("pilot_scores", "reporting_compliance", "reminders", "due_periods")
# Rows that follow a pilot's submissions only, not the pilot: close/reopen decisions stay beside
# approval.quarter_closures, in the open warehouse (a restricted pilot's without their note or
# reason, which restricted.mirror_closures moves to the restricted store's closure rows and back).
BY_SUBMISSION_ONLY = ("approval.decisions",)


@dataclass
class Move:
    pilot_id: str
    direction: str  # TO_RESTRICTED or TO_OPEN
    submissions: int
    files: list[str] = field(default_factory=list)  # SHA-256 of the original files copied
    source_evidence: Path | None = None
    target_evidence: Path | None = None

    def line(self) -> str:
        where = ("from the open warehouse to the restricted store" if self.direction == TO_RESTRICTED
                 else "from the restricted store to the open warehouse")
        now = "restricted" if self.direction == TO_RESTRICTED else "open"
        return f"moved pilot {self.pilot_id} {where} (its classification is now {now})"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> tuple[list[str], list[dict]]:
    cur = con.execute(sql, params)
    columns = [d[0] for d in cur.description]
    # Decimals travel as text and are cast back to the column's type (store._insert): exact.
    return columns, [{c: format(v, "f") if isinstance(v, Decimal) else v for c, v in zip(columns, row)}
                     for row in cur.fetchall()]


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, set[str]]]:
    """The tables that hold a pilot's rows: every base table of ingest and core with a pilot_id or
    submission_id column (so a table added later moves too), and approval.decisions."""
    cols: dict[str, set[str]] = {}
    for schema, table, column in con.execute(
            "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE t.table_type = 'BASE TABLE' AND c.column_name IN ('pilot_id', 'submission_id') "
            "AND (c.table_schema IN ('ingest', 'core') OR list_contains(?, c.table_schema || '.' || c.table_name))",
            [list(BY_SUBMISSION_ONLY)]).fetchall():
        cols.setdefault(f"{schema}.{table}", set()).add(column)
    # submissions first: the others refer to it
    return sorted(cols.items(), key=lambda kv: (kv[0] != "ingest.submissions", kv[0]))


def _pilot_submissions(con: duckdb.DuckDBPyConnection, pilot_id: str) -> list[int]:
    """A pilot's submissions, the quarantined ones whose pilot could not be read that `reprocess`
    then read as the pilot's (reprocess_of: the same bytes), and the duplicates of all of them (a
    duplicate records no pilot of its own)."""
    return [r[0] for r in con.execute("""
        WITH own AS (SELECT submission_id, reprocess_of FROM ingest.submissions WHERE pilot_id = ?),
        files AS (SELECT submission_id FROM own
                  UNION SELECT s.submission_id FROM own JOIN ingest.submissions s ON s.submission_id = own.reprocess_of
                  WHERE s.pilot_id IS NULL)
        SELECT submission_id FROM ingest.submissions
        WHERE submission_id IN (SELECT submission_id FROM files) OR duplicate_of IN (SELECT submission_id FROM files)
        ORDER BY submission_id""", [pilot_id]).fetchall()]


def _pilots_with_rows(con: duckdb.DuckDBPyConnection) -> set[str]:
    found: set[str] = set()
    for table, columns in _tables(con):
        if "pilot_id" in columns and table not in BY_SUBMISSION_ONLY:
            found |= {r[0] for r in con.execute(f"SELECT DISTINCT pilot_id FROM {table} WHERE pilot_id IS NOT NULL")
                      .fetchall()}
    return found


def misplaced(open_con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection,
              restricted: set[str], open_pilots: set[str]) -> dict[str, str]:
    """pilot -> direction, for each pilot with rows in the store its classification does not name.
    Only pilots today's registry classifies move: rows of a pilot it no longer names stay where
    they are (moving a pilot whose classification is unknown out of the restricted store could
    only leak)."""
    out = {p: TO_RESTRICTED for p in _pilots_with_rows(open_con) & restricted}
    out.update({p: TO_OPEN for p in _pilots_with_rows(rcon) & open_pilots})
    return dict(sorted(out.items()))


def _move_rows(src: duckdb.DuckDBPyConnection, dst: duckdb.DuckDBPyConnection, pilot_id: str | None,
               sids: list[int]) -> None:
    """The rows of the pilot and of its submissions (pilot_id None: of the submissions only)."""
    for table, columns in _tables(src):
        by_pilot = pilot_id is not None and table not in BY_SUBMISSION_ONLY and "pilot_id" in columns
        keys = ["pilot_id = ?"] * by_pilot
        if "submission_id" in columns:
            keys.append("list_contains(?, submission_id)")
        if not keys:
            continue
        where = " OR ".join(keys)
        params = [pilot_id] * ("pilot_id = ?" in keys) + [sids] * ("submission_id" in columns)
        names, rows = _rows(src, f"SELECT * FROM {table} WHERE {where} ORDER BY ALL", params)
        if table == "ingest.status_changes":  # numbered per store: renumbered in order after its rows
            rows.sort(key=lambda r: r["change_id"])
            first = dst.execute("SELECT coalesce(max(change_id), 0) + 1 FROM ingest.status_changes").fetchall()[0][0]
            rows = [{**r, "change_id": first + n} for n, r in enumerate(rows)]
        store._insert(dst, table, names, rows)
        src.execute(f"DELETE FROM {table} WHERE {where}", params)


def _drop_marts(con: duckdb.DuckDBPyConnection, pilot_id: str, keep: tuple[str, ...]) -> None:
    for (table,) in con.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'marts' "
            "AND column_name = 'pilot_id' ORDER BY table_name").fetchall():
        if table not in keep:
            con.execute(f"DELETE FROM marts.{table} WHERE pilot_id = ?", [pilot_id])


# What replaces an earlier job's error that named data now restricted (its error class kept).
REMOVED_ERROR = ("[detail removed: it named data of a pilot that became restricted, moved to the restricted store "
                 "by run {run_id} / ลบรายละเอียดแล้ว: ข้อความอ้างถึงข้อมูลของโครงการที่ถูกจัดเป็นโครงการชั้นความลับ "
                 "ซึ่งย้ายไปคลังข้อมูลชั้นความลับโดยการประมวลผล {run_id}]")
_ERROR_CLASS = re.compile(r"[A-Za-z_][\w.]*(?=: )")
_CODE_EDGE = r"[0-9A-Za-z]"  # a code is a whole word: G1 is not in G12 (an id is followed by _ in a file name)
# A file's stem shorter than this is not looked for alone ("q3", "data"): such a word is in many
# an error that names nothing of the pilot. Its whole name (with the extension) still is.
_MIN_STEM = 6


def _moved_words(src: duckdb.DuckDBPyConnection, dst: duckdb.DuckDBPyConnection, pilot_id: str | None,
                 names: set[str]) -> re.Pattern | None:
    """What marks an error text as quoting the moved data: the pilot id (any case), its files' names
    (as sent, as ops.runs stores them, and their stems of 6 characters or more), its KPIs' codes and
    names (Thai and English, any case), each as a whole word (_CODE_EDGE: no ASCII letter or digit
    on either side), so that a KPI named "Rate" does not blank "generate", nor a file report.csv
    "reporting". A value alone (87.3456) is not recognisable; an error that quotes one names the
    file, the KPI or the pilot beside it in every message this code writes."""
    texts = set()
    for name in names | {printable(n) for n in names}:
        texts.add(name)
        stem = name.rsplit(".", 1)[0]
        if len(stem) >= _MIN_STEM:
            texts.add(stem)
    codes = set()
    if pilot_id is not None:
        codes.add(pilot_id)
        for con in (dst, src):  # today's registry rows of the pilot are in the store it moves to
            for code, th, en in con.execute("SELECT kpi_code, name_th, name_en FROM registry.kpis WHERE pilot_id = ?",
                                            [pilot_id]).fetchall():
                codes.add(code)
                texts |= {t for t in (th, en) if t and len(t) >= 3}
    words = sorted(texts | codes, key=len, reverse=True)
    parts = [f"(?<!{_CODE_EDGE}){re.escape(w)}(?!{_CODE_EDGE})" for w in words if w]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


def _redact_run_errors(open_con: duckdb.DuckDBPyConnection, words: re.Pattern | None, run_id: str,
                       error_log: Path | None) -> None:
    """Earlier jobs' errors in the open ops.runs that name the moved data (warehouse.md: nothing of
    a pilot moved to the restricted store stays behind, in ops.runs.error included). A job of a
    warehouse with restricted pilots already kept only the open text (warehouse/errors.py); an
    error written while the pilot was open may quote its values next to its file, KPI or id, so
    such a text is replaced whole, its error class kept, and the whole text goes to the restricted
    store's error log (`error_log`), the operator's alone. Hiding the names alone left the values."""
    if words is None:
        return
    for err_run, error in open_con.execute("SELECT run_id, error FROM ops.runs WHERE error IS NOT NULL "
                                           "ORDER BY run_id").fetchall():
        if not words.search(error):
            continue
        if error_log is not None:
            MessageGuard(error_log, set, job="move").keep_text(
                f"ops.runs.error of run {err_run}, removed from the open warehouse by run {run_id}:\n{error}")
        cls = _ERROR_CLASS.match(error)
        removed = REMOVED_ERROR.format(run_id=run_id)
        open_con.execute("UPDATE ops.runs SET error = ? WHERE run_id = ?",
                         [f"{cls.group(0)}: {removed}" if cls else removed, err_run])


def move_misplaced(open_con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection, restricted: set[str],
                   open_pilots: set[str], open_evidence: Path, restricted_evidence: Path, run_id: str,
                   at: datetime, error_log: Path | None = None) -> list[Move]:
    """Move every misplaced pilot, inside the job's transactions on both connections. `error_log`:
    the restricted store's, which keeps the run errors a move removes from the open side."""
    moves = []
    for pilot_id, direction in misplaced(open_con, rcon, restricted, open_pilots).items():
        sids = _pilot_submissions(open_con if direction == TO_RESTRICTED else rcon, pilot_id)
        moves.append(_move(open_con, rcon, pilot_id, sids, direction, open_evidence, restricted_evidence, run_id, at,
                           error_log))
        pause_point("moving")  # tests/test_pilot_moves.py kills the job here: nothing committed yet
    return moves


def move_submissions(open_con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection, sids: list[int],
                     direction: str, open_evidence: Path, restricted_evidence: Path, run_id: str,
                     at: datetime, error_log: Path | None = None) -> Move:
    """Move some submissions (their rows, every row keyed by them, their original files) to the
    other store, inside the job's transactions: a quarantined file whose pilot could not be read
    (so it was open) that `reprocess` now reads as a restricted pilot's, or back (pilots/ingest.py).
    The original files leave the source with `forget_files` after the commit."""
    return _move(open_con, rcon, None, sids, direction, open_evidence, restricted_evidence, run_id, at, error_log)


def _move(open_con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection, pilot_id: str | None,
          sids: list[int], direction: str, open_evidence: Path, restricted_evidence: Path, run_id: str,
          at: datetime, error_log: Path | None = None) -> Move:
    """One move: a pilot's rows and its submissions', or some submissions' only (pilot_id None)."""
    to_restricted = direction == TO_RESTRICTED
    src, dst = (open_con, rcon) if to_restricted else (rcon, open_con)
    src_ev, dst_ev = (open_evidence, restricted_evidence) if to_restricted else (restricted_evidence, open_evidence)
    names = {r[0] for r in src.execute("SELECT file_name FROM ingest.submissions WHERE "
                                       "list_contains(?, submission_id)", [sids]).fetchall() if r[0]}
    kept = [r[0] for r in src.execute("SELECT DISTINCT sha256 FROM ingest.submissions WHERE "
                                      "list_contains(?, submission_id) AND coalesce(evidence_kept, true)",
                                      [sids]).fetchall()]
    files = sorted(sha for sha in kept if evidence.copy_into(src_ev, dst_ev, sha))
    statuses = dict(src.execute("SELECT submission_id, status FROM ingest.submissions "
                                "WHERE list_contains(?, submission_id)", [sids]).fetchall())
    _move_rows(src, dst, pilot_id, sids)
    if pilot_id is not None:  # a few files leave their pilot's marts to the job's own build after its body
        _drop_marts(src, pilot_id, OPEN_KEPT_MARTS if to_restricted else ())
    store._record_changes(dst, [
        {"submission_id": sid, "status_before": statuses[sid], "status_after": statuses[sid], "reason": direction,
         "related_submission_id": None, "run_id": run_id, "decision_id": None, "changed_at": at}
        for sid in sids])
    if to_restricted:
        _redact_run_errors(open_con, _moved_words(src, dst, pilot_id, names), run_id, error_log)
        # The rows and texts removed from the open side stay as bytes in its working file: the next
        # published copy is written afresh (warehouse/publish.py).
        note_afresh(open_con, MOVED_TO_RESTRICTED, run_id)
    return Move(pilot_id, direction, len(sids), files, src_ev, dst_ev)


def forget_files(moves: list[Move]) -> list[str]:
    """After the commit: the moved files leave their old evidence folder (the new one holds them,
    checked by hash). Returns the errors, for the log; the next job's sweep retries."""
    errors = []
    for move in moves:
        for sha in move.files:
            try:
                evidence.forget_moved(move.source_evidence, move.target_evidence, sha)
            except OSError as exc:
                errors.append(f"{type(exc).__name__} for {sha[:12]}")
    return errors


def _kept_shas(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {r[0] for r in con.execute("SELECT DISTINCT sha256 FROM ingest.submissions "
                                      "WHERE coalesce(evidence_kept, true)").fetchall()}


def sweep_evidence(open_con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection, open_evidence: Path,
                   restricted_evidence: Path) -> int:
    """At a job's start, on the committed state: a file that one store's rows reference and the
    other's do not leaves the other's evidence folder, if this one holds the same bytes (what a
    move killed after its commit, before `forget_files`, leaves behind; or the copy of a move
    rolled back). Returns the number of files removed.

    Found from the small side: the restricted store's files (a few hundred) are looked up in the
    open folder one by one, and the restricted folder is listed; the open store's references
    (every file: 20,000 at 400 pilots) are read only when one of those is there, which a night
    without a killed move never has. Reading them, and listing the open folder, cost each night's
    start 0.06 s at 400 pilots. The same files go as when both sides were read whole: a file in
    the open folder whose hash the restricted rows reference and the open ones do not, and one in
    the restricted folder that the open rows reference and the restricted ones do not."""
    restricted_shas = _kept_shas(rcon)
    in_open = {sha for sha in restricted_shas if os.path.lexists(evidence.evidence_path(open_evidence, sha))}
    strays = _listed(restricted_evidence) - restricted_shas  # referenced by the open rows, if at all
    if not in_open and not strays:
        return 0
    open_shas = _kept_shas(open_con)
    removed = 0
    for sha in sorted(in_open - open_shas):
        removed += evidence.forget_moved(open_evidence, restricted_evidence, sha)
    for sha in sorted(strays & open_shas):
        removed += evidence.forget_moved(restricted_evidence, open_evidence, sha)
    return removed


_HEX = frozenset("0123456789abcdef")


def _listed(folder: Path) -> set[str]:
    """The names in an evidence folder's shard folders (`<sha[:2]>/`, warehouse/evidence.py), one
    listing per shard; other folders (the restricted store's `.staging`) are not the store's."""
    stored: set[str] = set()
    try:
        for shard in os.scandir(folder):
            if len(shard.name) == 2 and set(shard.name) <= _HEX and shard.is_dir(follow_symlinks=False):
                stored.update(entry.name for entry in os.scandir(shard.path))
    except FileNotFoundError:
        return set()
    return stored
