"""The one rule naming the files derived from a warehouse: published copy, evidence folder, lock.

`X.duckdb` keeps the names of earlier versions (`X.published.duckdb`, `X.evidence/`,
`X.duckdb.lock`). Any other name N derives from the whole name (`N.published.duckdb`,
`N.evidence/`), so `pk.db` and `pk.duckdb` no longer share anything. Two cases would still
collide, and are refused rather than shared:
- `X` and `X.duckdb` in one folder (both derive `X.published.duckdb` and `X.evidence`);
- a warehouse whose own name is one pilotkpi or DuckDB derives (`….published.duckdb`, `….wal`,
  `….lock`, `….evidence`, `….tmp`), which would be overwritten as another warehouse's file.
The lock file was always `<full name>.lock`, which never collides.
The restricted store (warehouse.md, "Restricted pilots") follows the same rule: `X.restricted.duckdb`
with its evidence in `X.restricted.evidence/`; a store given by --restricted-store R.duckdb keeps
its evidence in `R.evidence/`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from warehouse.errors import WarehouseRefused

PUBLISHED_SUFFIX = ".published.duckdb"
EVIDENCE_SUFFIX = ".evidence"
LOCK_SUFFIX = ".lock"
RESTRICTED_SUFFIX = ".restricted.duckdb"
NEXT_SUFFIX = ".next"  # the restricted store's working copy during a job (warehouse/restricted.py)
_DUCKDB = ".duckdb"
# Names this code or DuckDB gives to derived files (the WAL is `<file>.wal`, publishing writes
# `.<copy>.<pid>.tmp`): a warehouse with such a name would be another warehouse's file.
_RESERVED = (PUBLISHED_SUFFIX, RESTRICTED_SUFFIX, NEXT_SUFFIX, ".wal", LOCK_SUFFIX, EVIDENCE_SUFFIX, ".tmp")


@dataclass(frozen=True)
class WarehouseFiles:
    warehouse: Path
    published: Path
    evidence: Path
    lock: Path
    restricted: Path  # the default restricted store


def files_of(warehouse_path: str | Path) -> WarehouseFiles:
    """The derived paths of a warehouse file; WarehouseRefused where they could be shared."""
    path = Path(warehouse_path)
    name = path.name
    for suffix in _RESERVED:
        if name.endswith(suffix):
            raise WarehouseRefused(path, f"a warehouse may not be named *{suffix}: pilotkpi and DuckDB give that "
                                         "name to files derived from a warehouse; choose a name ending in .duckdb")
    base = name[: -len(_DUCKDB)] if name.endswith(_DUCKDB) and len(name) > len(_DUCKDB) else name
    twin = path.with_name(name + _DUCKDB) if base == name else path.with_name(base)
    if twin.is_file():
        raise WarehouseRefused(path, f"{twin.name} in the same folder would share its published copy "
                                     f"{base}{PUBLISHED_SUFFIX} and evidence folder {base}{EVIDENCE_SUFFIX}; "
                                     "rename or move one of the two")
    return WarehouseFiles(path, path.with_name(base + PUBLISHED_SUFFIX), path.with_name(base + EVIDENCE_SUFFIX),
                          path.with_name(name + LOCK_SUFFIX), path.with_name(base + RESTRICTED_SUFFIX))


def restricted_evidence_of(store: str | Path) -> Path:
    """The restricted store's evidence folder: `R.duckdb` -> `R.evidence/` (so the default
    `X.restricted.duckdb` keeps it in `X.restricted.evidence/`)."""
    path = Path(store)
    name = path.name
    base = name[: -len(_DUCKDB)] if name.endswith(_DUCKDB) and len(name) > len(_DUCKDB) else name
    return path.with_name(base + EVIDENCE_SUFFIX)


def component(name: str) -> str:
    """`name` if it is one plain path component, else ValueError: a code that becomes a file
    name under a folder of ours (an agency code in OUT/reminders/) never climbs out of it:
    no `..`, `/`, `\\` (a separator elsewhere), NUL, or absolute path."""
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise ValueError(f"refused as a file name: {name!r}")
    return name
