"""The read half of the pure stage: read and normalise a batch of files, nothing else.

A pure function of its input (names, hashes, bytes or evidence paths, and the registry's KPI
units), so it may run in a Dask worker process (flows/parallel.py) while the flow process
validates and writes the batch before. That is why this module stays lean: it imports the
readers, the normaliser and warehouse.stages only, never pandas, Great Expectations, DuckDB or
Prefect (tests/test_dask_parsing.py checks what a worker imports). A worker runs
read_files_packed: the same read, sent back as one pickled payload (unpack_read, in the flow
process).

Validation (pilots/checks.py, Great Expectations) is the other half: pilots.ingest.validate_read.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path

from pilots.defects import Issue
from pilots.normalise import NormalisedFile, normalise_table
from pilots.readers import ReadFailure, read_report
from pilots.readers.base import fewer_collections
from warehouse.library_warnings import quiet_in_this_process, quiet_unless_routed
from warehouse.stages import stage


@dataclass(frozen=True)
class ToRead:
    """A new file for the pure stage: its bytes, or the evidence path to read them from where the
    stage runs (a local worker reads the file itself; a remote one is sent the bytes)."""
    name: str
    sha256: str
    path: Path | None = None
    data: bytes | None = None
    issues: tuple[Issue, ...] = ()  # found before reading (a file name that is not UTF-8)

    def read_bytes(self) -> bytes:
        return self.data if self.data is not None else self.path.read_bytes()

    def with_bytes(self) -> ToRead:
        return ToRead(self.name, self.sha256, data=self.read_bytes(), issues=self.issues)


@dataclass
class Received:
    """One file of a batch as the pure stage sees it: filled in by read_into, then validated."""
    path: Path
    data: bytes
    sha256: str
    format: str | None = None
    encoding: str | None = None
    table: NormalisedFile | None = None
    issues: list[Issue] = field(default_factory=list)
    raw_identity: dict[str, str | None] = field(default_factory=dict)  # as the file wrote it


def read_into(rec: Received, units: dict) -> None:
    """Read and normalise one file into rec: its format, encoding, table and the issues found."""
    try:
        raw = read_report(rec.path.name, rec.data)
    except ReadFailure as failure:
        rec.format, rec.encoding = failure.format, failure.encoding
        rec.issues.append(failure.issue)
        rec.raw_identity = dict(failure.identity)  # a JSON document without lines still names it
        return
    rec.format, rec.encoding = raw.format, raw.encoding
    rec.issues.extend(raw.issues)
    rec.table = normalise_table(raw, units)
    rec.raw_identity = rec.table.raw_identity
    rec.issues.extend(rec.table.issues)


def read_files(items: list[ToRead], units: dict) -> list[Received]:
    """Read and normalise a batch (the task a Dask worker runs), in the items' order.

    The files' bytes are dropped once read: what goes back to the flow process is the normalised
    rows, the issues and the identity, not the bytes it already has in the evidence store. The
    `read` stage is logged here, by the worker (a local worker inherits PILOTKPI_STAGE_LOG): the
    read's own cost; the flow process logs its wait for it as `read_wait`."""
    quiet_unless_routed()  # a library's warning quotes the file: never raw on stderr (warehouse/library_warnings.py)
    received = [Received(Path(item.name), item.read_bytes(), item.sha256, issues=list(item.issues))
                for item in items]
    with stage("read"), fewer_collections():
        for rec in received:
            read_into(rec, units)
            rec.data = b""
    return received


def read_files_packed(items: list[ToRead], units: dict) -> bytes:
    """read_files for a Dask worker: its result pickled by the task itself, so the worker sends
    one bytes object back (unpack_read gives the records again in the flow process).

    Why: left to Dask, the result is pickled when the flow process asks for it, on the worker's
    event loop, which must take the GIL from the thread reading the next chunk, a switch interval
    (5 ms) at a time; and it is unpickled in the flow process's event loop thread with the
    collector's default thresholds, one young-generation collection per 700 of the ~200,000
    objects a chunk holds. A bytes object costs the event loops next to nothing either side.

    A reading process shows a library's warnings without the file's text (openpyxl quotes a
    workbook's cells and names, a restricted pilot's too), never raw on the stderr it shares with
    the command line: warehouse/library_warnings.py."""
    quiet_in_this_process()
    return pack(read_files(items, units))


def pack(records: list) -> bytes:
    """Records (a read's, or the FileReads validated from one) as one payload for another process:
    unpack_read gives them back."""
    return pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL)


def unpack_read(payload: bytes) -> list[Received]:
    """The records `pack` pickled (a payload of this process's own worker or reader, over the
    cluster's TLS: as trusted as any result Dask unpickles), with the read's collector thresholds."""
    with fewer_collections():
        return pickle.loads(payload)
