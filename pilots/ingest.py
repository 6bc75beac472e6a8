"""Ingest an inbox: receive files in name order, keep their bytes, read, validate, and decide
each one's status (accepted / superseded / duplicate / quarantined) per agency-report-v1.md, or
`held` when the committee has closed the file's (pilot, period) (data-quality.md §2).

Files are processed in batches, in two stages:
- the pure stage, `read_batch`: read, normalise and validate a batch (one Great Expectations run)
  with no warehouse access and no state. Its two halves are pure too: the read
  (pilots.reading.read_files), which a night with many files runs on a Dask worker
  (flows/parallel.py), and the validation (`validate_read`), in the flow process;
- the decide/write stage, `Ingestor`: the single writer. It receives the files in name order,
  and writes the batches' results in that order (resubmission rules, inserts).
Only a bounded number of batches of rows is held in memory at a time; files already in the
warehouse are recognised by their hash and never read again. The caller owns the transaction
(one per run).
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

import duckdb

from warehouse.stages import stage
from pilots.contract import COLUMN_NAMES, HEADER_FIELDS
from pilots.defects import Issue, make_issue, relabel
from pilots.inbox import InboxFile, candidates, inbox_name, name_as_text, name_issues, receive_one
from pilots.kpi_units import file_agency
from pilots.normalise import canonical_identity
from warehouse.personal import mask_national_ids, masked
from pilots.reading import Received, ToRead, read_files, read_into
from pilots.readers import file_too_large, format_of
from pilots.readers.base import fewer_collections
from pilots.readers.limits import LIMITS
from pilots.registry import Registry
from warehouse import evidence, moves, restricted as restricted_store, store
from warehouse.errors import NotFound, Refused, error_log_of

if TYPE_CHECKING:  # pandas is imported by the read itself: a night with nothing new never needs it
    import numpy as np
    import pandas as pd

# Files per batch: one GE validation each, and the rows of one batch held at a time (a national
# file has about 50 lines) in this process and in a reading process. GE's cost per validation was
# mostly fixed (about 3 s on a busy 2-core machine, for 50 files as for 2,000: bench/dask.md), hence
# 1,000; since GE validates distinct combinations (pilots/checks.py) it is small, and a batch's
# rows are most of the night's peak memory. Measured (2026-12-05, 100 pilots, loaded 2-core
# machine): validating 2,000 files cost the same CPU in batches of 750 as of 1,000 (1.45 s), 20%
# more in batches of 500; the process tree's peak fell by 62 MiB at 500 (flow process -40,
# reading process -27). 750 keeps the CPU and takes a quarter of a batch off the peak.
DEFAULT_BATCH_SIZE = 750
# Below this many stored submissions a batch follows, each is read alone (_lines_of): a read of one
# submission_id skips the tables' other blocks (0.8 ms at 1M budget lines), where one read of a list
# of them scans each table whole (38-49 ms at 1M lines, measured 2026-12-05 on 196 random ids).
BATCHED_LINES_MIN = 32
FRAME_COLUMNS = ["row_number", *COLUMN_NAMES]
_cell = {name: itemgetter(name) for name in FRAME_COLUMNS}  # a normalised row -> one of its cells
_cells = itemgetter(*FRAME_COLUMNS)  # a normalised row -> its cells, in FRAME_COLUMNS order


@dataclass
class IngestCounts:
    files_seen: int = 0
    accepted: int = 0
    superseded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    held: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class FileOutcome:
    """What happened to one file, as `pilotkpi check` and the run summary report it."""
    file_name: str
    sha256: str
    status: str
    issues: list[Issue] = field(default_factory=list)
    submission_id: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # `check`: canonical column -> header as written


@dataclass
class FileRead:
    """What the pure stage found in one file. `rows` (the normalised rows) are kept only for a
    file without errors: a quarantined file's rows are never written."""
    name: str
    sha256: str
    format: str | None
    encoding: str | None
    rows: list[dict]
    issues: list[Issue]
    raw_identity: dict[str, str | None]  # as the file wrote it
    # Every pilot id its rows name, valid or not: a file naming a restricted pilot anywhere is
    # routed to the restricted store (warehouse.md), even when it is quarantined.
    pilots: frozenset[str] = frozenset()
    # Where a valid file's rows are in its validated batch's cells (_batch_cells: the columns, the
    # file's first and past-last row), for the write to take them column by column (_line_columns).
    # None: not taken from a batch (the cells are then made from `rows`). Not compared, nor shown:
    # the same cells as `rows`, only laid out for the write.
    cells: tuple[dict, int, int] | None = field(default=None, compare=False, repr=False)
    # The file's headers as written (canonical column -> header cell), for `pilotkpi check`'s and
    # the web check's naming of a column (pilots/contract.py column_as_written). Not compared.
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def line_cells(self) -> tuple[dict, int, int]:
        return self.cells if self.cells is not None else (_batch_cells([self.rows])[0], 0, len(self.rows))

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]


def _issue_row(sid: int, issue: Issue) -> dict:
    return {"submission_id": sid, "row_number": issue.row_number, "column_name": issue.column_name,
            "code": issue.code, "severity": issue.severity, "message_en": issue.message_en,
            "message_th": issue.message_th}


def inbox_files(inbox: Path) -> list[Path]:
    """The inbox's ready-looking files in code-point order of their names (order of receipt)."""
    return candidates(inbox)


def read_and_check(received: list[Received], registry: Registry, as_of: date) -> None:
    """Read every file of a batch and attach all its defects and warnings (no warehouse access):
    `pilotkpi check` and the web's check of an upload. The same read as pilots.reading.read_files
    and the same validation as validate_read, on records the caller keeps."""
    units = registry.kpi_units()
    with stage("read"), fewer_collections():
        for rec in received:
            read_into(rec, units)
    with fewer_collections():
        _check(received, registry, as_of)


def _batch_cells(tables: list) -> tuple[dict[str, np.ndarray], list[int]]:
    """The rows of a batch's files (one list of rows each) column by column: {FRAME_COLUMNS name:
    an object array of the cells as the rows hold them, every file's rows in turn}, and where each
    file's rows start (one more entry: the end). One look-up of all the cells per row, then the
    tuples turned into columns, all in C (map over an itemgetter, zip): 0.56 of the time of one pass
    per column (a row's dict looked up once, not once per column; measured on 9 national batches)."""
    import numpy as np

    starts = [0]
    for rows in tables:
        starts.append(starts[-1] + len(rows))
    count = starts[-1]
    columns = zip(*map(_cells, chain.from_iterable(tables))) if count else ((),) * len(FRAME_COLUMNS)
    return {name: np.fromiter(column, dtype=object, count=count)
            for name, column in zip(FRAME_COLUMNS, columns, strict=True)}, starts


def _frame(received: list[Received]) -> tuple[pd.DataFrame | None, dict[str, np.ndarray], list[int]]:
    """One frame of every row of the batch's read files, with their file_key (None: no rows); and
    the cells it was made of (_batch_cells), which the write takes its lines from."""
    cells, starts = _batch_cells([rec.table.rows if rec.table is not None else () for rec in received])
    if not starts[-1]:
        return None, cells, starts
    import numpy as np
    import pandas as pd

    batch = pd.DataFrame(cells, columns=FRAME_COLUMNS, dtype=object, copy=False)
    keys = np.repeat(np.arange(len(received), dtype=np.int64), np.diff(starts))
    batch.insert(0, "file_key", pd.Series(keys, dtype="int64"))
    return batch, cells, starts


class _FileAgencies:
    """file_key -> the file's agency (pilots/kpi_units.file_agency), found when first asked."""

    def __init__(self, received: list[Received]):
        self._received, self._found = received, {}

    def get(self, key: int) -> str | None:
        if key not in self._found:
            table = self._received[key].table
            self._found[key] = (None if table is None else
                                file_agency(map(itemgetter("agency_code"), table.rows), table.declared))
        return self._found[key]


def _validate(received: list[Received], batch: pd.DataFrame, registry: Registry, as_of: date) -> None:
    from pilots import checks  # with pandas: only a night with new files validates

    # A column already reported missing for the whole file is not reported again per row.
    missing = {key: rec.table.missing_columns for key, rec in enumerate(received)
               if rec.table is not None and rec.table.missing_columns}
    # Each file's agency (a JSON document's top-level one first): a restricted pilot's KPI units
    # judge its lead agency's lines only (pilots/kpi_units.py). Found only for the files that have a
    # restricted pilot's KPI lines (a walk over every row of every file cost the night ~0.3 s).
    for key, issue in checks.row_defects(batch, registry, missing, _FileAgencies(received)):
        received[key].issues.append(issue)
    for rec in received:
        # Every defect is reported, not only the first: the file rules run even after row
        # defects, and skip by themselves the checks whose inputs are unreadable. They read the
        # file's rows as the frame holds them (the same dicts), without going through pandas.
        if rec.table is not None and rec.table.rows:
            rec.issues.extend(checks.file_defects(rec.table.rows, registry, as_of, rec.table.declared))
            # A cell the row rules found wrong (LAYER_INVALID for `x` on a kpi line) is not also
            # "not read" (VALUE_NOT_USED): one message a cell, the error (verifier V9).
            wrong = {(i.row_number, i.column_name) for i in rec.issues if i.is_error}
            if wrong:
                rec.issues = [i for i in rec.issues
                              if i.code != "VALUE_NOT_USED" or (i.row_number, i.column_name) not in wrong]
    for rec in received:
        if rec.table is not None:  # messages name the columns as the file wrote them
            rec.issues = [relabel(i, rec.table.headers) for i in rec.issues]
        rec.issues.sort(key=lambda i: (i.row_number or 0, i.column_name or "", i.code))


def read_batch(items: list[ToRead], registry: Registry, as_of: date) -> list[FileRead]:
    """The pure stage: one FileRead per item, in the items' order. Its two halves, the ones a
    night with a reading process runs apart (flows/parallel.py), one after the other here."""
    return validate_read(read_files(items, registry.kpi_units()), registry, as_of)


def validate_read(received: list[Received], registry: Registry, as_of: date) -> list[FileRead]:
    """The validate half of the pure stage, over a batch that pilots.reading.read_files has read
    (in a Dask worker): the same FileReads as read_batch gives for the same items."""
    with fewer_collections():  # frames, issues and GE's objects: as for the read
        cells, starts = _check(received, registry, as_of)
        return [_file_read(rec, cells, starts[key]) for key, rec in enumerate(received)]


def _check(received: list[Received], registry: Registry, as_of: date) -> tuple[dict, list[int]]:
    """Validate the read files of a batch in one frame, attaching each file's defects to it; the
    batch's cells and where each file's rows start in them (_batch_cells; none: no rows)."""
    with stage("validate"):
        batch, cells, starts = _frame(received)
        if batch is not None:
            _validate(received, batch, registry, as_of)
        return cells, starts


_NO_PILOT = frozenset({None, ""})


def _file_read(rec: Received, cells: dict, start: int) -> FileRead:
    """The FileRead of a validated file whose rows start at `start` in its batch's cells."""
    valid = rec.table is not None and not any(i.is_error for i in rec.issues)
    # Every row holds every canonical column (the batch frame took them all); a missing pilot is None.
    pilots = frozenset(map(_cell["pilot_id"], rec.table.rows)) - _NO_PILOT if rec.table else frozenset()
    return FileRead(rec.path.name, rec.sha256, rec.format, rec.encoding, rec.table.rows if valid else [],
                    rec.issues, rec.raw_identity, pilots,
                    (cells, start, start + len(rec.table.rows)) if valid else None,
                    rec.table.headers if rec.table is not None else {})


def read_in_process(batches: Iterable[list[ToRead]], registry: Registry, as_of: date) -> Iterator[list[FileRead]]:
    """The pure stage in this process, one batch after another (no `--workers`)."""
    for batch in batches:
        yield read_batch(batch, registry, as_of)


def check_files(paths: Iterable[Path], registry: Registry, as_of: date) -> list[FileOutcome]:
    """What the nightly run would say of these files, without a warehouse (`pilotkpi check`).

    Duplicates and resubmissions depend on what was received before, so they are not judged here.
    A file name that is not UTF-8 is named as the run names it (pilots.inbox.name_as_text).
    """
    received, to_read = [], []
    for path in paths:
        size = path.stat().st_size  # before reading: a huge file is hashed in chunks, never loaded
        name, issues = Path(name_as_text(path.name)), name_issues(path.name)
        if size > LIMITS.max_file_bytes:
            received.append(Received(name, b"", evidence.sha256_of_file(path)[0], format_of(path.name),
                                      issues=[*issues, file_too_large(size)]))
        else:
            data = path.read_bytes()
            received.append(Received(name, data, evidence.sha256_of(data), issues=issues))
            to_read.append(received[-1])
    read_and_check(to_read, registry, as_of)
    return [FileOutcome(masked(rec.path.name), rec.sha256,
                        "quarantined" if any(i.is_error for i in rec.issues) else "accepted", rec.issues,
                        headers=rec.table.headers if rec.table is not None else {})
            for rec in received]


def _identity(rec: FileRead) -> tuple[str | None, str | None, str | None, str | None]:
    """(pilot, agency, period, submitted_on) of a valid file: its first data row, all validated."""
    if not rec.rows:
        return None, None, None, None
    first = rec.rows[0]
    return first["pilot_id"], first["agency_code"], first["period"], first["submitted_on"]


def _identity_columns(rec: FileRead, valid: bool) -> dict[str, str | None]:
    """The submission row's identity columns.

    pilot_id/agency_code/period/submitted_on hold canonical values only: a valid file's validated
    first row; for a quarantined file, each field the normaliser could read, else NULL (so a
    quarantined file counts for its (pilot, agency, period) exactly when all three were read,
    scoring.md §6). raw_* keep what the file wrote, as untrusted text for display only, with
    national ID numbers masked like every other text that reaches the warehouse.
    """
    if valid:
        canonical = dict(zip(HEADER_FIELDS, _identity(rec)))
    else:
        canonical = canonical_identity(rec.raw_identity)
    raw = {f"raw_{name}": None if rec.raw_identity.get(name) is None
           else mask_national_ids(rec.raw_identity[name])[0] for name in HEADER_FIELDS}
    return {**canonical, **raw}


@dataclass
class RestrictedSide:
    """The restricted store as a job's Ingestor sees it (warehouse/restricted.py): its connection
    (the job's working copy), its files, and the restricted pilots of today's registry."""
    con: duckdb.DuckDBPyConnection
    files: restricted_store.RestrictedFiles
    pilots: set[str]


@dataclass
class _Batch:
    """One batch as received, waiting for its results from the pure stage."""
    received: list[tuple[int, Path, int, str, int | None]] = field(default_factory=list)  # (sid, path, size, sha, duplicate_of)
    to_read: list[ToRead] = field(default_factory=list)   # the new files, in order
    read_sids: list[int] = field(default_factory=list)    # their submission ids
    unread: dict[int, FileRead] = field(default_factory=dict)  # over the size limit: quarantined unread
    not_kept: set[int] = field(default_factory=set)


BatchReader = Callable[[Iterable[list[ToRead]], Registry, date], Iterator[list[FileRead]]]


def _batches(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ingestor:
    """Receives files into the warehouse. Holds the small per-run state: known hashes and the
    currently accepted submission of each (pilot, agency, period)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, registry: Registry, *, evidence_dir: Path,
                 run_id: str, as_of: date, received_at: datetime, restricted: RestrictedSide | None = None,
                 outcomes=None):
        self.con, self.registry, self.evidence_dir = con, registry, evidence_dir
        self.run_id, self.as_of, self.received_at = run_id, as_of, received_at
        self.counts = IngestCounts()
        # One outcome per file, in the order received; outcomes: any object with .append (the
        # nightly run keeps only each file's status: flows/nightly.py, StatusesOnly).
        self.outcomes: list[FileOutcome] = [] if outcomes is None else outcomes
        # Restricted pilots' files go to the restricted store; ids, known hashes and the accepted
        # versions are one set over both stores. Bytes wait in its staging folder until routed.
        self.restricted = restricted
        self.receive_dir = restricted.files.staging if restricted else evidence_dir
        cons = [con] + ([restricted.con] if restricted else [])
        self.in_restricted: set[int] = set() if restricted is None else {r[0] for r in restricted.con.execute(
            "SELECT submission_id FROM ingest.submissions").fetchall()}
        self.moved: list[moves.Move] = []  # files reprocess moved to the other store (_follow_pilot)
        self.next_id = max(store.next_submission_id(c) for c in cons)
        self.known: dict[str, int] = {}
        # (pilot, agency, period) -> its accepted submission: (id, submitted_on, received_at, the id
        # it was received as: its own, or for a reprocessed file the quarantined one's; ids are
        # given in receipt order, so this orders files received in one run).
        self.accepted: dict[tuple[str, str, str], tuple[int, date, datetime, int]] = {}
        self._stored_lines: dict[int, Content] = {}  # a batch's, _stored_lines_of
        for c in cons:
            for digest, sid in c.execute("SELECT sha256, min(submission_id) FROM ingest.submissions "
                                         "GROUP BY sha256").fetchall():
                self.known[digest] = min(sid, self.known.get(digest, sid))
            self.accepted.update({(p, a, per): (sid, on, at, first) for sid, p, a, per, on, at, first in c.execute(
                "SELECT submission_id, pilot_id, agency_code, period, submitted_on, received_at, "
                "coalesce(reprocess_of, submission_id) FROM ingest.submissions WHERE status = 'accepted'").fetchall()})
        # (pilot, period) pairs the committee has closed and not reopened: their valid files are held.
        self.closed: set[tuple[str, str]] = set(con.execute(
            "SELECT pilot_id, period FROM approval.quarter_closures WHERE reopened_at IS NULL").fetchall())

    def ingest(self, paths: Iterable[Path | InboxFile], batch_size: int = DEFAULT_BATCH_SIZE,
               on_batch: Callable[[int], None] | None = None, read_batches: BatchReader | None = None
               ) -> IngestCounts:
        """Receive the files in batches, have `read_batches` run the pure stage over them (in this
        process by default), and write each batch's results in order as they come back.

        read_batches(batches, registry, as_of) must yield one result list per batch, in order; it
        pulls the batches lazily, so receiving stays at most its window ahead of writing.
        """
        pending: deque[_Batch] = deque()

        def received() -> Iterator[list[ToRead]]:
            for items in _batches(list(paths), batch_size):
                batch = self._receive(items)
                pending.append(batch)
                yield batch.to_read

        for results in (read_batches or read_in_process)(received(), self.registry, self.as_of):
            batch = pending.popleft()
            self._write_batch(batch, results)
            if on_batch:
                on_batch(len(batch.received))
            del batch, results  # written: not held while the next batch is read and validated
        # Counts are the final statuses of this run's files (a file accepted early in the run
        # and replaced later in it counts as superseded), over both stores.
        by_status: Counter = Counter()
        for con, _ in self._sinks():
            by_status.update(dict(con.execute(
                "SELECT status, count(*) FROM ingest.submissions WHERE run_id = ? GROUP BY status", [self.run_id]
            ).fetchall()))
        self.counts.files_seen = sum(by_status.values())
        self.counts.accepted = by_status.get("accepted", 0)
        self.counts.superseded = by_status.get("superseded", 0)
        self.counts.duplicates = by_status.get("duplicate", 0)
        self.counts.quarantined = by_status.get("quarantined", 0)
        self.counts.held = by_status.get("held", 0)
        return self.counts

    def _receive(self, items: list[Path | InboxFile]) -> _Batch:
        """Receive in order: keep the bytes, give each file its id, spot byte-identical files.
        No warehouse writes: the batches may be received ahead of writing."""
        batch = _Batch()
        for item in items:
            if not isinstance(item, InboxFile):
                item = receive_one(item, self.receive_dir)
            # From here on the file is known by its name with national IDs masked: that is the
            # name stored and shown; the inbox file itself is found again by its SHA-256.
            path, digest = Path(masked(item.name)), item.sha256
            issues = tuple(name_issues(inbox_name(item.inbox_path)))  # the name as the file system has it
            sid, self.next_id = self.next_id, self.next_id + 1
            original = self.known.get(digest)
            batch.received.append((sid, path, item.size, digest, original))
            if item.kept_at is None and not self._evidence_of(digest).exists():
                batch.not_kept.add(sid)
            if original is None:
                self.known[digest] = sid
                if item.kept_at is None:  # over the size limit: quarantined unread
                    batch.unread[sid] = FileRead(item.name, digest, format_of(item.name), None, [],
                                                 [*issues, file_too_large(item.size)], {})
                else:
                    batch.read_sids.append(sid)
                    batch.to_read.append(ToRead(item.name, digest, path=item.kept_at, issues=issues))
        return batch

    def _write_batch(self, batch: _Batch, results: list[FileRead]) -> None:
        """Decide statuses in order of receipt, then write the batch. The batch's line dicts and
        frames are many small objects freed by their reference counts: Python's cyclic collector
        runs less often meanwhile (fewer_collections), as in the read; it cost most of the write's
        CPU once the flow process holds its batches in flight (0.3-1.4 s of 1.5 s, 5,000 files)."""
        with fewer_collections():
            self._decide_and_write(batch, results)

    def _decide_and_write(self, batch: _Batch, results: list[FileRead]) -> None:
        by_sid = {**batch.unread, **dict(zip(batch.read_sids, results, strict=True))}
        submissions: list[dict] = []
        issue_rows: list[dict] = []
        accepted: dict[int, FileRead] = {}  # the batch's files accepted, whose lines go to core.*
        held: dict[int, FileRead] = {}      # and those held, whose lines are stored apart
        replaced: dict[int, int] = {}
        self._stored_lines = self._stored_lines_of(
            [by_sid[sid] for sid, _path, _size, _digest, original in batch.received if original is None])
        for sid, path, size, digest, original in batch.received:
            kept = sid not in batch.not_kept
            if original is not None:
                if original in self.in_restricted:  # a duplicate goes to the store of its original
                    self.in_restricted.add(sid)
                submissions.append(self._submission(sid, path.name, digest, size, "duplicate", duplicate_of=original,
                                                    kept=kept))
                self.outcomes.append(FileOutcome(path.name, digest, "duplicate", submission_id=sid))
                continue
            rec = by_sid[sid]
            errors = rec.errors
            if errors:
                status, superseded_by = "quarantined", None
            else:
                status, superseded_by = self._decide(sid, rec, accepted, replaced, held)
            row = self._submission(sid, path.name, digest, size, status, fmt=rec.format, encoding=rec.encoding,
                                   superseded_by=superseded_by, errors=len(errors),
                                   warnings=len(rec.issues) - len(errors), kept=kept)
            row.update(_identity_columns(rec, valid=not errors))
            if self._restricted_file(rec, row):
                self.in_restricted.add(sid)
            submissions.append(row)
            issue_rows.extend(_issue_row(sid, i) for i in rec.issues)
            self.outcomes.append(FileOutcome(path.name, digest, status, rec.issues, sid))
        self._stored_lines = {}  # read for this batch's decisions only

        # A file accepted earlier in this batch and replaced later in it is written as accepted and
        # superseded at once below, like one replaced in a later batch: the audit trail then shows
        # both steps whatever the batch size. Its lines never reach core.*.
        with stage("write"):
            for con, mine in self._sinks():  # each file's rows to the store of its pilot
                store.write_submissions(con, [r for r in submissions if mine(r["submission_id"])])
                store.write_issues(con, [r for r in issue_rows if mine(r["submission_id"])])
                store.write_lines(con, *_line_columns(
                    (sid, rec) for sid, rec in accepted.items() if sid not in replaced and mine(sid)))
                store.write_held_lines(con, *_line_columns((sid, rec) for sid, rec in held.items() if mine(sid)))
                store.supersede(con, {old: new for old, new in replaced.items() if mine(old)},
                                run_id=self.run_id, changed_at=self.received_at)
        if self.restricted is not None:  # the bytes of new files, from staging into their store's folder
            for sid, path, size, digest, original in batch.received:
                if original is None:
                    restricted_store.place(self.restricted.files, self.evidence_dir, digest, sid in self.in_restricted)

    def _sinks(self) -> list[tuple[duckdb.DuckDBPyConnection, Callable[[int], bool]]]:
        """(connection, does this submission id belong there) for the open and restricted stores."""
        sinks = [(self.con, lambda sid: sid not in self.in_restricted)]
        if self.restricted is not None:
            sinks.append((self.restricted.con, lambda sid: sid in self.in_restricted))
        return sinks

    def _con_of(self, sid: int) -> duckdb.DuckDBPyConnection:
        return self.restricted.con if sid in self.in_restricted else self.con

    def _evidence_dir_of(self, sid: int) -> Path:
        return self.restricted.files.evidence if sid in self.in_restricted else self.evidence_dir

    def _evidence_of(self, digest: str) -> Path:
        """Where the bytes of `digest` are kept, in either store (the open one if in neither)."""
        if self.restricted is not None:
            for folder in (self.restricted.files.evidence, self.restricted.files.staging):
                if evidence.evidence_path(folder, digest).exists():
                    return evidence.evidence_path(folder, digest)
        return evidence.evidence_path(self.evidence_dir, digest)

    def _restricted_file(self, rec: FileRead, row: dict) -> bool:
        """A file is restricted when its pilot, or any of its rows' pilots, is restricted
        (warehouse.md); a file whose pilot cannot be read is open.

        Read with the id folded (warehouse/restricted.py folded_pilot, as the web reads it;
        verifier VI F6): `plt-2548-006` is not
        the registry's pilot, so the file is quarantined PILOT_UNKNOWN as before, but its bytes are
        the restricted pilot's data, and it is quarantined in the restricted store, never copied or
        listed on the open side. An id that folds to no restricted pilot is read as it was."""
        if self.restricted is None:
            return False
        return restricted_store.names_restricted({row.get("pilot_id")} | rec.pilots, self.restricted.pilots)

    def reprocess(self, old_id: int) -> FileOutcome:
        """Re-read a quarantined submission's bytes with today's code (after a bug fix).

        If it now passes, it becomes a new submission with the original received_at (lateness is
        about when the agency sent it) and reprocess_of = old_id; the old row stays quarantined
        as history. If it still fails, nothing is written and the outcome lists the defects.
        """
        con = self._con_of(old_id)  # a restricted pilot's file is reprocessed in the restricted store
        row = con.execute("SELECT file_name, sha256, size_bytes, received_at, status, evidence_kept "
                          "FROM ingest.submissions WHERE submission_id = ?", [old_id]).fetchone()
        if row is None:
            where = "" if self.restricted is not None else (
                " in the open warehouse (a restricted pilot's submission is in the restricted store, which this "
                "job could not use)")
            raise NotFound(f"there is no submission {old_id}{where}")
        name, digest, size, received_at, status, kept = row
        if status != "quarantined":
            raise Refused(f"submission {old_id} ({name}) is {status}; only quarantined files are reprocessed")
        evidence_dir = self._evidence_dir_of(old_id)
        if kept is False and not evidence.evidence_path(evidence_dir, digest).exists():
            raise Refused(
                f"submission {old_id} ({name}) cannot be reprocessed: it was over the size limit when received "
                f"({size:,} bytes; PILOTKPI_MAX_FILE_BYTES is now {LIMITS.max_file_bytes:,}), so its bytes were "
                f"not copied into the evidence store. The file as received is in the inbox's quarantine/ folder "
                f"under that name (or with a .1, .2, ... before its extension), sha256 {digest}. Ask the agency "
                f"to split it into one file per pilot and quarter and send the parts: the same bytes sent again "
                f"are recorded as a duplicate.")
        done = con.execute("SELECT submission_id FROM ingest.submissions WHERE reprocess_of = ?",
                           [old_id]).fetchone()
        if done:
            raise Refused(f"submission {old_id} ({name}) was reprocessed already, as submission {done[0]}")
        [rec] = read_batch([ToRead(name, digest, path=evidence.evidence_path(evidence_dir, digest))],
                           self.registry, self.as_of)
        errors = rec.errors
        if errors:
            return FileOutcome(name, digest, "quarantined", rec.issues)
        sid, self.next_id = self.next_id, self.next_id + 1
        con = self._follow_pilot(old_id, rec)
        if old_id in self.in_restricted:
            self.in_restricted.add(sid)
        accepted: dict[int, FileRead] = {}
        held: dict[int, FileRead] = {}
        replaced: dict[int, int] = {}
        status, superseded_by = self._decide(sid, rec, accepted, replaced, held, (received_at, old_id))
        sub = self._submission(sid, name, digest, size, status, fmt=rec.format, encoding=rec.encoding,
                               superseded_by=superseded_by, warnings=len(rec.issues))
        sub.update(_identity_columns(rec, valid=True), received_at=received_at, reprocess_of=old_id)
        # The audit trail: the new submission's first status and a `reprocessed` row on the old one,
        # at this job's time (self.received_at), while the row keeps the original receipt.
        store.write_submissions(con, [sub], changed_at=self.received_at)
        store.write_issues(con, [_issue_row(sid, i) for i in rec.issues])
        store.write_lines(con, *_line_columns(accepted.items()))
        store.write_held_lines(con, *_line_columns(held.items()))
        store.supersede(con, replaced, run_id=self.run_id, changed_at=self.received_at)
        return FileOutcome(name, digest, status, rec.issues, sid)

    def _follow_pilot(self, old_id: int, rec: FileRead) -> duckdb.DuckDBPyConnection:
        """The store a reprocessed file belongs to now, as for a new file (warehouse.md): its
        pilot's, by today's registry. A quarantined file whose pilot could not be read was kept
        open; read now as a restricted pilot's (or one kept restricted, now an open pilot's), the
        old submission (its issues and status changes, its duplicates, its original file) moves
        to that store first, inside this job, so nothing of it stays on the other side
        (warehouse/moves.py; the original leaves its old folder after the commit: self.moved)."""
        restricted_now = self._restricted_file(rec, {"pilot_id": _identity(rec)[0]})
        if self.restricted is None or restricted_now == (old_id in self.in_restricted):
            return self._con_of(old_id)
        src = self._con_of(old_id)
        sids = [old_id] + [r[0] for r in src.execute(
            "SELECT submission_id FROM ingest.submissions WHERE duplicate_of = ? ORDER BY 1", [old_id]).fetchall()]
        self.moved.append(moves.move_submissions(
            self.con, self.restricted.con, sids, moves.TO_RESTRICTED if restricted_now else moves.TO_OPEN,
            self.evidence_dir, self.restricted.files.evidence, self.run_id, self.received_at,
            error_log_of(self.restricted.files.store)))
        (self.in_restricted.update if restricted_now else self.in_restricted.difference_update)(sids)
        return self._con_of(old_id)

    def _decide(self, sid: int, rec: FileRead, accepted: dict[int, FileRead], replaced: dict[int, int],
                held: dict[int, FileRead], receipt: tuple[datetime, int] | None = None) -> tuple[str, int | None]:
        """Resubmission rule: a later-or-equal submitted_on replaces the accepted version;
        an earlier one is superseded at once. On an equal date the one received later wins
        (agency-report-v1.md): `receipt` is this file's (received_at, id it was received as): the
        run's time and its own id, unless given: a reprocessed file keeps its original receipt,
        which may be earlier than the accepted one's, or in the same run and before it by name.

        A valid file for a closed (pilot, period), resubmission or late first report alike, is
        held: its lines are stored apart from core.* and nothing it says counts until approved
        (data-quality.md §2). Whether it would replace the accepted version is decided then.

        `accepted` and `held` collect the batch's files by status, for their lines to be written.
        """
        pilot, agency, period, submitted_on = _identity(rec)
        on = date.fromisoformat(submitted_on)
        key = (pilot, agency, period)
        current = self.accepted.get(key)
        if (pilot, period) in self.closed:
            rec.issues.append(make_issue("QUARTER_CLOSED", period=period))
            if current is not None and _same_content(self._lines_of(current[0], accepted), _file_content(rec)):
                rec.issues.append(make_issue("RESUBMISSION_UNCHANGED", previous=current[0]))
            held[sid] = rec
            return "held", None
        received_at, first = (self.received_at, sid) if receipt is None else receipt
        if current is not None:
            old_id, old_on, old_received_at, old_first = current
            if _same_content(self._lines_of(old_id, accepted), _file_content(rec)):
                rec.issues.append(make_issue("RESUBMISSION_UNCHANGED", previous=old_id))
            if (on, received_at, first) < (old_on, old_received_at, old_first):
                return "superseded", old_id
            replaced[old_id] = sid
        self.accepted[key] = (sid, on, received_at, first)
        accepted[sid] = rec
        return "accepted", None

    def _stored_lines_of(self, recs: list[FileRead]) -> dict[int, Content]:
        """The stored lines of the accepted submissions the batch's valid files may follow (those
        self.accepted holds for their (pilot, agency, period) before the batch): two SELECTs per
        store for the whole batch, where _lines_of took two per resubmitted file (196 files of a
        1%-new night at 400 pilots: 0.3 s). Read before the batch writes anything, as _lines_of
        read them: through the run's own connection, which sees this run's uncommitted rows.
        A submission the batch's decisions need and this did not read is read by _lines_of (as are
        all of a store's when it has fewer than BATCHED_LINES_MIN)."""
        wanted: set[int] = set()
        for rec in recs:
            if not rec.errors:
                pilot, agency, period, _on = _identity(rec)
                current = self.accepted.get((pilot, agency, period))
                if current is not None:
                    wanted.add(current[0])
        lines: dict[int, Content] = {}
        for con, mine in self._sinks():
            sids = sorted(sid for sid in wanted if mine(sid))
            if len(sids) < BATCHED_LINES_MIN:  # cheaper one by one (left to _lines_of)
                continue
            lines.update(_stored_lines(con, sids))
        return lines

    def _lines_of(self, sid: int, accepted: dict[int, FileRead]) -> Content:
        """The lines of the accepted submission `sid`: of this batch's file, or as stored (read
        for the whole batch by _stored_lines_of; _same_content compares them in any order)."""
        if sid in accepted:
            return _file_content(accepted[sid])
        if sid in self._stored_lines:
            return self._stored_lines[sid]
        # Read through the run's own connection: it must see this run's uncommitted rows.
        return _stored_lines(self._con_of(sid), [sid])[sid]

    def _submission(self, sid: int, name: str, digest: str, size: int, status: str, *, fmt=None, encoding=None,
                    superseded_by=None, duplicate_of=None, errors=0, warnings=0, kept=True) -> dict:
        return {
            "submission_id": sid, "sha256": digest, "file_name": name, "format": fmt, "encoding": encoding,
            "size_bytes": size, "received_at": self.received_at, "run_id": self.run_id, "pilot_id": None,
            "agency_code": None, "period": None, "submitted_on": None, "status": status,
            "superseded_by": superseded_by, "duplicate_of": duplicate_of, "error_count": errors,
            "warning_count": warnings, "evidence_kept": kept,
        }


# What RESUBMISSION_UNCHANGED compares of a version's lines (_same_content): its KPI lines as
# (kpi_code, actual), its budget lines as (activity_code, layer, allocated_thb, disbursed_thb,
# funding_source, note); stored lines come from SQL as these tuples, a file's from its rows.
Content = tuple[list[tuple], list[tuple]]


def _file_content(rec: FileRead) -> Content:
    """A valid file's lines as _same_content compares them (Content), from its rows: no dict per
    line (the 1%-new night compares 196 files' ~10,000 lines with their stored versions)."""
    kpis, budget = [], []
    for r in rec.rows:
        if r["line_type"] == "kpi":
            kpis.append((r["item_code"], r["actual"]))
        else:
            budget.append((r["item_code"], r["layer"], r["allocated_thb"], r["disbursed_thb"], r["funding_source"],
                           r["note"]))
    return kpis, budget


def _line_columns(files: Iterable[tuple[int, FileRead]]) -> tuple[store.Columns, store.Columns]:
    """Valid files' rows ((submission id, file) in order) as core.kpi_actuals and core.budget_lines
    rows, column by column: one row per line of the files' rows, in order (each file's lines in
    turn), without a dict per line (a night writes a million lines). Taken from the files' batch cells
    (FileRead.cells) by position: numpy indexing, not a Python step per line."""
    import numpy as np
    import pandas as pd

    kpis: dict[str, list] = {}
    budget: dict[str, list] = {}
    # Consecutive files of one batch share its cells: one index over them all.
    for cells, sids, spans in _runs_of_cells(files):
        starts, stops = np.array(spans, dtype=np.int64).reshape(-1, 2).T
        lengths = stops - starts
        at = np.arange(lengths.sum()) + np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        sid = np.repeat(np.array(sids, dtype=object), lengths)
        is_kpi = cells["line_type"][at] == "kpi"
        for out, rows, item_name in ((kpis, is_kpi, "kpi_code"), (budget, ~is_kpi, "activity_code")):
            taken = at[rows]
            periods = cells["period"][taken]
            numbers, distinct = pd.factorize(periods)  # (fiscal year, quarter) once per period; -1: none
            fiscal = np.array([int(period[:4]) for period in distinct] + [None], dtype=object)
            quarter = np.array([int(period[-1]) for period in distinct] + [None], dtype=object)
            columns = {"pilot_id": cells["pilot_id"][taken], "agency_code": cells["agency_code"][taken],
                       "period": periods, "fiscal_year": fiscal[numbers], "quarter": quarter[numbers],
                       "note": cells["note"][taken], "submission_id": sid[rows], "row_number": cells["row_number"][taken],
                       item_name: cells["item_code"][taken]}
            if out is kpis:
                columns["actual"] = cells["actual"][taken]
            else:
                columns["layer"] = np.fromiter(map(int, cells["layer"][taken]), dtype=object, count=len(taken))
                for name in ("funding_source", "allocated_thb", "disbursed_thb"):
                    columns[name] = cells[name][taken]
            for name, values in columns.items():
                out.setdefault(name, []).extend(values.tolist())
    if not kpis:
        kpis = {name: [] for name in (*_COMMON, "kpi_code", "actual")}
        budget = {name: [] for name in (*_COMMON, "activity_code", "layer", "funding_source", "allocated_thb",
                                        "disbursed_thb")}
    return store.Columns(kpis, len(kpis["pilot_id"])), store.Columns(budget, len(budget["pilot_id"]))


_KPI_LINE = ("kpi_code", "actual")  # Content's columns, as stored
_BUDGET_LINE = ("activity_code", "layer", "allocated_thb", "disbursed_thb", "funding_source", "note")


def _stored_lines(con, sids: list[int]) -> dict[int, Content]:
    """{submission_id: its lines as stored (Content)}, for each of `sids` (none: two empty lists).
    One read of a single id skips the tables' other blocks as `= ?` does (0.9 ms against 0.8 ms
    at 1M budget lines); a list of ids spread over the table reads it whole."""
    lines: dict[int, Content] = {sid: ([], []) for sid in sids}
    for part, table, columns in ((0, "core.kpi_actuals", _KPI_LINE), (1, "core.budget_lines", _BUDGET_LINE)):
        for sid, *row in con.execute(f"SELECT submission_id, {', '.join(columns)} FROM {table} "
                                     "WHERE list_contains(?, submission_id)", [sids]).fetchall():
            lines[sid][part].append(tuple(row))
    return lines


_COMMON = ("pilot_id", "agency_code", "period", "fiscal_year", "quarter", "note", "submission_id", "row_number")


def _runs_of_cells(files: Iterable[tuple[int, FileRead]]) -> Iterator[tuple[dict, list[int], list[int]]]:
    """(cells, submission ids, [start, stop, start, stop, ...]) of each run of consecutive files
    whose rows are in the same batch cells."""
    run: tuple[dict, list[int], list[int]] | None = None
    for sid, rec in files:
        cells, start, stop = rec.line_cells()
        if run is None or run[0] is not cells:
            if run is not None:
                yield run
            run = (cells, [], [])
        run[1].append(sid)
        run[2].extend((start, stop))
    if run is not None:
        yield run


def _same_content(old: Content, new: Content) -> bool:
    """Same KPI values and the same budget lines, whatever the format or submitted_on: the same
    multisets of lines (sizes compared first: unequal sizes are never the same multiset)."""
    (old_kpis, old_budget), (new_kpis, new_budget) = old, new
    if len(old_kpis) != len(new_kpis) or len(old_budget) != len(new_budget):
        return False
    return (Counter(map(_kpi_key, old_kpis)) == Counter(map(_kpi_key, new_kpis))
            and Counter(map(_budget_key, old_budget)) == Counter(map(_budget_key, new_budget)))


def _kpi_key(line: tuple) -> tuple:
    code, actual = line
    return code, _as_stored(actual, _ACTUAL_SCALE, 10)


def _budget_key(line: tuple) -> tuple:
    activity, layer, allocated, disbursed, funding, note = line
    return (activity, int(layer), _as_stored(allocated, _AMOUNT_SCALE, 2), _as_stored(disbursed, _AMOUNT_SCALE, 2),
            funding, note)


# The scales of core.kpi_actuals.actual (DECIMAL(38,10)) and of the amounts (DECIMAL(18,2)).
_ACTUAL_SCALE, _AMOUNT_SCALE = Decimal("1e-10"), Decimal("0.01")
# Validation accepts more decimals than a column keeps (checks._fits asks only that the rounded
# value fits), and the insert's cast rounds them half away from zero, as ROUND_HALF_UP does.
# Precision: 25 digits before the point (validation's cap) and 10 after, with room to spare.
_STORED = Context(prec=60, rounding=ROUND_HALF_UP)


def _as_stored(value, scale: Decimal, places: int) -> Decimal | None:
    """The number as the insert stores it: rounded to its column's scale (`places` decimals), so
    a file's 47.00000000004, a stored 47.0000000000 and another file's 47 are one value, whether
    the earlier version was stored on an earlier night or is in the same batch (the verdict once
    depended on that). Equal numbers hash alike (1.50 and 1.5), so a Counter of these keys needs
    no normalize(). A Decimal is a stored value (DuckDB gives its columns' numbers at their scale:
    taken as it is); a file's rows hold text (tests/test_trust_resubmission_rounding.py checks
    CSV, JSON and XLSX), rounded only when it has more decimals than the column keeps, the rare
    case (the 1%-new night compares ~40,000 values); anything else goes through str(), so a float
    compares as it prints."""
    if value is None or type(value) is Decimal:
        return value
    text = str(value)
    dot = text.find(".")
    if (dot < 0 or len(text) - dot - 1 <= places) and "e" not in text and "E" not in text:
        return Decimal(text)
    return Decimal(text).quantize(scale, context=_STORED)
