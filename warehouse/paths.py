"""The one rule naming the files derived from a warehouse: published copy, evidence folder, lock.

`X.duckdb` keeps the names of earlier versions (`X.published.duckdb`, `X.evidence/`,
`X.duckdb.lock`). Any other name N derives from the whole name (`N.published.duckdb`,
`N.evidence/`), so `pk.db` and `pk.duckdb` no longer share anything. Two cases would still
collide, and are refused rather than shared:
- `X` and `X.duckdb` in one folder (both derive `X.published.duckdb` and `X.evidence`);
- a warehouse whose own name is one pilotkpi or DuckDB derives (`….published.duckdb`, `….wal`,
  `….lock`, `….evidence`, `….tmp`), which would be overwritten as another warehouse's file.
The lock file was always `<full name>.lock`, which never collides.
The web front door's accounts file is `<base>.accounts.*` beside the warehouse (web.md).
The restricted store (warehouse.md, "Restricted pilots") follows the same rule: `X.restricted.duckdb`
with its evidence in `X.restricted.evidence/`; a store given by --restricted-store R.duckdb keeps
its evidence in `R.evidence/`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from warehouse.errors import WarehouseRefused, error_log_of

PUBLISHED_SUFFIX = ".published.duckdb"
EVIDENCE_SUFFIX = ".evidence"
LOCK_SUFFIX = ".lock"
RESTRICTED_SUFFIX = ".restricted.duckdb"
NEXT_SUFFIX = ".next"  # the restricted store's working copy during a job (warehouse/restricted.py)
ACCOUNTS_INFIX = ".accounts"  # `<base>.accounts.*`: the web's accounts file (../shared/spec/web.md)
WAL_SUFFIX = ".wal"  # DuckDB's write-ahead log beside a database file
# Every write-ahead log DuckDB 2.0 may leave beside a database file (the names in its library).
WAL_SUFFIXES = (WAL_SUFFIX, f"{WAL_SUFFIX}.checkpoint", f"{WAL_SUFFIX}.recovery")
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

    @property
    def base(self) -> str:
        return self.published.name[: -len(PUBLISHED_SUFFIX)]


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


# One file, one role (warehouse.md): what each role owns. A folder role owns everything inside it.
def _open_roles(files: WarehouseFiles) -> list[tuple[str, Path, bool]]:
    """(role, path, is_folder) of the open side: the warehouse and what derives from it."""
    return [("the warehouse", files.warehouse, False),
            ("the warehouse's write-ahead log", files.warehouse.with_name(files.warehouse.name + WAL_SUFFIX), False),
            ("the analysts' published copy", files.published, False),
            ("the published copy's write-ahead log", files.published.with_name(files.published.name + WAL_SUFFIX),
             False),
            ("the warehouse's evidence folder", files.evidence, True),
            ("the run lock", files.lock, False)]


def _restricted_roles(store: Path) -> list[tuple[str, Path, bool]]:
    """(role, path, is_folder) of a restricted store: the file, its working copy, their logs, its evidence."""
    nxt = store.with_name(store.name + NEXT_SUFFIX)
    return [("the restricted store", store, False),
            ("the restricted store's write-ahead log", store.with_name(store.name + WAL_SUFFIX), False),
            ("the restricted store's working copy", nxt, False),
            ("the working copy's write-ahead log", nxt.with_name(nxt.name + WAL_SUFFIX), False),
            ("the restricted store's error log", error_log_of(store), False),
            ("the restricted store's evidence folder", restricted_evidence_of(store), True)]


def _real(path: Path) -> Path:
    """The path with symbolic links and `..` resolved (a missing tail kept as written)."""
    return Path(os.path.realpath(path))


def _identity(path: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of an existing file, so two names of one file (a hard link) are one."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _shares(a: Path, a_folder: bool, b: Path, b_folder: bool) -> bool:
    """True when the two paths name one file, or one lies inside the other's folder."""
    ra, rb = _real(a), _real(b)
    if ra == rb or (a_folder and rb.is_relative_to(ra)) or (b_folder and ra.is_relative_to(rb)):
        return True
    ia = _identity(a)
    return ia is not None and ia == _identity(b)


def refuse_shared_roles(warehouse_path: str | Path, store: str | Path) -> None:
    """WarehouseRefused (one line, before anything is written) when the restricted store at `store`,
    or a file derived from it, would share a file with the warehouse, its WAL, its published copy,
    its evidence folder, its lock file or the accounts file beside it: compared as real paths
    (symbolic links and `..` resolved) and by device and inode (hard links)."""
    files = files_of(warehouse_path)
    store = Path(store)
    open_roles = _open_roles(files)
    folder = _real(files.warehouse.parent)
    for mine, path, is_folder in _restricted_roles(store):
        for theirs, other, other_folder in open_roles:
            if _shares(path, is_folder, other, other_folder):
                raise WarehouseRefused(store, _shared(mine, theirs, other, files))
        real = _real(path)
        if real.parent == folder and (real.name == files.base + ACCOUNTS_INFIX
                                      or real.name.startswith(files.base + ACCOUNTS_INFIX + ".")):
            raise WarehouseRefused(store, _shared(mine, "the web's accounts file", real, files))
        for accounts in files.warehouse.parent.glob(f"{glob_escape(files.base)}{ACCOUNTS_INFIX}*"):
            if not is_folder and _shares(path, False, accounts, False):
                raise WarehouseRefused(store, _shared(mine, "the web's accounts file", accounts, files))
    # The store's own roles must not share among themselves (`R` and `R.evidence` spelled alike).
    own = _restricted_roles(store)
    for i, (mine, path, is_folder) in enumerate(own):
        for theirs, other, other_folder in own[i + 1:]:
            if _shares(path, is_folder, other, other_folder):
                raise WarehouseRefused(store, _shared(mine, theirs, other, files))


# The folders of a job that hold others' files (one file, one role, warehouse.md): a store's file
# inside the inbox is read as an agency's report, quarantined and copied into the open evidence
# (verifier VI F4); the --out folder's files go to agencies and the committee.
_FOLDER_ROLES = {
    "inbox": ("the inbox (--inbox)", "the night reads every file in it as an agency's report",
              "โฟลเดอร์รับไฟล์ (--inbox)"),
    "out": ("the output folder (--out)", "its files go to agencies and the committee", "โฟลเดอร์ผลลัพธ์ (--out)"),
}


def refuse_in_job_folders(warehouse_path: str | Path, store: str | Path | None, inbox: str | Path | None = None,
                          out: str | Path | None = None) -> None:
    """WarehouseRefused (one line, before anything is written) when the warehouse, its published
    copy, evidence folder, lock, the restricted store (`store`, else the default) or a file of
    it lies inside the inbox or the --out folder, or when either folder is one of them or lies
    inside an evidence folder. Compared as refuse_shared_roles compares (real paths, inodes).
    The text is in English and Thai: operators of either language run the night."""
    files = files_of(warehouse_path)
    roles = _open_roles(files) + _restricted_roles(Path(store) if store else files.restricted)
    for key, folder in (("inbox", inbox), ("out", out)):
        if folder is None:
            continue
        where, why, where_th = _FOLDER_ROLES[key]
        for mine, path, is_folder in roles:
            if _shares(path, is_folder, Path(folder), True):
                raise WarehouseRefused(path, (
                    f"{mine} and {where} ({folder}) overlap, and {why}: one file, one role; keep the warehouse, its "
                    "published copy, the restricted store and their evidence folders out of the inbox and the "
                    "output folder, and those folders out of them / ไฟล์คลังข้อมูล สำเนาที่เผยแพร่ "
                    f"คลังข้อมูลชั้นความลับ และโฟลเดอร์หลักฐาน ต้องไม่อยู่ใน{where_th} ({folder}) และ{where_th} "
                    "ต้องไม่อยู่ในโฟลเดอร์เหล่านั้น: หนึ่งไฟล์ หนึ่งหน้าที่"))


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _shared(mine: str, theirs: str, other: Path, files: WarehouseFiles) -> str:
    return (f"{mine} would share a file with {theirs} ({other}): one file, one role; give "
            f"--restricted-store a path of its own, such as the default {files.restricted}")
