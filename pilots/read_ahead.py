"""A speculative read of inbox files, before the night has received them (flows/parallel.py,
"Read-ahead"): the task a local Dask worker runs while Prefect's server starts.

What it reads is only a guess: nothing is recorded, nothing moved, and the file may still change
before the night receives it. So each file is read exactly as the night's own read would read it
(pilots.reading.read_files_packed over a ToRead), and the result is keyed by everything that read
depends on besides the KPI units: the name as the night knows it (`name_as_text`, which decides
the format), the SHA-256 of the bytes read, and the issues found before reading (a name that is
not UTF-8). The flow process uses a record only when its own received file has the same key (and
the night's units are the ones read with); any other file is read again as before.

Files are opened as the night opens them (pilots.inbox.open_file: no symbolic link followed, only
regular files); a file over the size limit, or that cannot be opened, is left out (the night
quarantines or refuses it itself). Lean like pilots.reading: a worker imports nothing heavier.
"""
from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from pilots.inbox import inbox_name, name_as_text, name_issues, open_file
from pilots.reading import ToRead, pack, read_files, read_files_packed
from pilots.readers.limits import LIMITS
from warehouse.library_warnings import quiet_in_this_process

Key = tuple[str, str, tuple]  # (name as text, sha256, issues found before reading)


def key_of(item: ToRead) -> Key:
    """What a read of `item` depends on, besides the units: its name, its bytes' hash, its issues."""
    return item.name, item.sha256, tuple(item.issues)


def _guess(path: Path) -> ToRead | None:
    """The inbox file as the night would read it, or None (gone, not a regular file, too large)."""
    limit = LIMITS.max_file_bytes
    try:
        with open_file(path) as fh:
            data = fh.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit:
        return None
    name = inbox_name(path)
    return ToRead(name_as_text(name), hashlib.sha256(data).hexdigest(), data=data, issues=tuple(name_issues(name)))


def read_inbox_files(paths: list[Path], units: dict, keep_as: int | None = None) -> tuple[list[Key], bytes]:
    """Read `paths` from the inbox: each file's key, and the packed read of those files in the
    same order (unpack_read gives the records back).

    keep_as: the forked reader (flows/forked_reader.py) also keeps the records under this number,
    with the units they were read with, for validate_kept; a Dask worker keeps nothing (None)."""
    quiet_in_this_process()  # a reading process's warnings: warehouse/library_warnings.py
    if keep_as is not None:
        _KEPT.pop(keep_as, None)  # an earlier read-ahead's (other units): never validated for this one
    items = [item for item in map(_guess, paths) if item is not None]
    keys = [key_of(item) for item in items]
    if keep_as is None:
        return keys, read_files_packed(items, units)
    records = read_files(items, units)
    _KEPT[keep_as] = (units, keys, records)
    return keys, pack(records)


# The forked reader's own reads, by read_inbox_files' keep_as, until validate_kept takes them:
# the read-ahead's chunks of a one-batch inbox (flows/parallel.py ReadAhead.keep), in this process only.
_KEPT: dict[int, tuple[dict, list[Key], list]] = {}


def validate_kept(numbers: list[int], registry_dir: str, registry_sha256: str,
                  as_of: date) -> tuple[list[Key], bytes] | None:
    """The validate half of the pure stage (pilots.ingest.validate_read), in the forked reader,
    over the records it kept of reads `numbers` (the read-ahead of a one-batch inbox, as the night
    cuts it when every file is new): their keys in order, and the FileReads pickled. None, and
    nothing validated, when:
    - a read is not kept (it failed), or a file in it was over the size limit (the night reads
      that one again: parallel._Guess.take);
    - this process has not built GE (a forkserver's child has: flows/warm_preload.py; building it
      costs seconds, more than the night's own validation of a batch);
    - this process holds no registry loaded from `registry_dir` with the night's content hash
      (loaded_registry: nothing is parsed here), or its KPI units are not those the reads used.
    The kept records go in every case.

    Why here: on a served 1%-new night the reader's reads end while the night is still opening
    its job, and the night then validated the batch itself (0.15-0.25 s); now the reader
    validates it meanwhile, and the night takes the result only where it received every file of
    its batch as read here, with the same registry and as-of date (flows/parallel.py, "Validated
    ahead"). validate_read is a pure function of the records, the registry and the date, file by
    file: the FileReads are those the night would make."""
    kept = [_KEPT.pop(number, None) for number in numbers]
    _KEPT.clear()  # nothing else is asked for: the reader holds no read longer than this
    if any(entry is None for entry in kept):
        return None
    if any(issue.code == "FILE_TOO_LARGE" for _, _, records in kept for rec in records for issue in rec.issues):
        return None
    from pilots.checks import ge_built
    from pilots.registry import loaded_registry

    if not ge_built():
        return None
    registry = loaded_registry(registry_dir)
    if registry is None or registry.content_sha256 != registry_sha256:
        return None
    units = registry.kpi_units()
    if any(read_with != units for read_with, _, _ in kept):
        return None
    from pilots.ingest import validate_read  # pandas and GE: only the forked reader gets here

    keys = [key for _, read_keys, _ in kept for key in read_keys]
    reads = validate_read([rec for _, _, records in kept for rec in records], registry, as_of)
    return keys, pack(reads)
