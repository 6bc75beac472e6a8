"""Which restricted store belongs to the open warehouse (verifier VI, F1; migration 0021).

A job that found no restricted store made an empty one: given the wrong `--restricted-store`,
none (the default place was empty), or after a restore that missed the store, it wrote every
restricted pilot's figures as no data, published them so, and let the committee close a quarter
on them. warehouse.md: the open side keeps restricted pilots' marts copied from the store, and a
job must never replace that data with nothing.

So the open warehouse records its store (ops.restricted_store: a random store_id, the same in the
store's own row, and the last job that wrote it). A job refuses to start (StoreRefused: exit 1,
nothing written) when the warehouse records a store and the one at the given path is missing or
another. A new empty store is made only while the warehouse records none (the first night that
needs one). An upgraded warehouse that had a store records one of unknown id (migration 0021):
missing, it is refused; found, the first job records its id.

A store lost for good (a disk lost, no backup) would leave every job refused for ever. The way
forward is explicit: `pilotkpi rebuild --new-restricted-store` (NEW_STORE_OPTION) lets that one
job make a new empty store in place of the missing one and record its new id in both files; its
ops.runs row has kind NEW_STORE_KIND, and it says in English and Thai that every restricted
pilot's figures are no data until their files are sent again (new_store_lines). It is refused
where there is a store (or the job's working copy) at the path, or the warehouse records none:
it never replaces a store that is there.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.errors import WarehouseRefused


NEW_STORE_OPTION = "--new-restricted-store"
NEW_STORE_KIND = "rebuild_new_restricted_store"  # ops.runs.kind of the job that made a new store


class StoreRefused(WarehouseRefused):
    """The restricted store at the given path is missing or another warehouse's: one line, exit 1."""


# A warehouse from before migration 0021 whose jobs wrote a store (as that migration decides): it
# names a restricted pilot whose KPIs it does not hold (they are in the store only).
HAD_A_STORE = ("SELECT count(*) FROM registry.pilots p WHERE p.classification = 'restricted' "
               "AND NOT EXISTS (SELECT 1 FROM registry.kpis k WHERE k.pilot_id = p.pilot_id)")


@dataclass(frozen=True)
class Recorded:
    store_id: str | None  # None: a store from before migration 0021, id not yet recorded
    run_id: str | None  # the last committed job that wrote it


def recorded(con: duckdb.DuckDBPyConnection) -> Recorded | None:
    """What the open warehouse records of its restricted store; None: it never needed one.
    A file not yet migrated to 0021 (read before its job upgrades it) answers as 0021 would."""
    if not _has_table(con, "ops", "restricted_store"):
        if not _has_table(con, "registry", "pilots"):
            return None  # not a warehouse yet: the job makes it
        return Recorded(None, None) if con.execute(HAD_A_STORE).fetchone()[0] else None
    row = con.execute("SELECT store_id, run_id FROM ops.restricted_store LIMIT 1").fetchone()
    return Recorded(*row) if row else None


def own_id(rcon: duckdb.DuckDBPyConnection) -> str | None:
    """The restricted store's own id (None: made before migration 0021)."""
    row = rcon.execute("SELECT store_id FROM ops.restricted_store LIMIT 1").fetchone()
    return row[0] if row else None


def recorded_in_file(warehouse_path: str | Path) -> Recorded | None:
    """recorded() of the open warehouse file, opened read-only (None when it does not exist yet)."""
    from warehouse.db import _open  # a damaged or locked file: WarehouseRefused, one line

    if not Path(warehouse_path).exists():
        return None
    con = _open(warehouse_path, True, None)
    try:
        return recorded(con)
    finally:
        con.close()


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?",
                       [schema, table]).fetchone()[0] > 0


def _what(rec: Recorded) -> str:
    return f"store id {rec.store_id}" if rec.store_id else "made before pilotkpi recorded store ids"


def refuse_missing(store: Path, rec: Recorded | None) -> None:
    """Refuse when the warehouse records a restricted store and none is at `store`: a job would
    make an empty one and publish every restricted pilot as having no data."""
    if rec is None or store.exists():
        return
    raise StoreRefused(store, (
        f"no restricted store here, yet this warehouse's jobs wrote one ({_what(rec)}, last written by "
        f"run {rec.run_id or 'unknown'}); nothing was changed. Give its path with --restricted-store, or "
        f"restore it (and its evidence folder) from the backup taken with the warehouse "
        f"(docs/operations.md, \"Backup and restore\"); if it is lost for good, `pilotkpi rebuild "
        f"{NEW_STORE_OPTION}` makes a new empty one, and every restricted pilot's figures are no data until "
        f"their files are sent again / ไม่พบคลังข้อมูลชั้นความลับที่ {store} "
        f"แต่คลังข้อมูลนี้เคยเขียนคลังข้อมูลชั้นความลับไว้แล้ว จึงไม่ได้เปลี่ยนแปลงสิ่งใด "
        f"ให้ระบุที่อยู่ของคลังด้วย --restricted-store หรือกู้คืนคลังและโฟลเดอร์หลักฐานของคลังจากสำรองข้อมูล "
        f"หากคลังสูญหายถาวร ให้ใช้ `pilotkpi rebuild {NEW_STORE_OPTION}` เพื่อสร้างคลังใหม่ที่ว่างเปล่า "
        f"ตัวเลขของโครงการชั้นความลับทุกโครงการจะเป็นไม่มีข้อมูลจนกว่าจะส่งแฟ้มมาใหม่"))


def refuse_new_store(store: Path, working_copy: Path, rec: Recorded | None) -> None:
    """--new-restricted-store only where the warehouse records a store and none is at `store`
    (nor the job's working copy, which the next plain job renames into place or discards)."""
    if rec is None:
        reason = f"this warehouse records no restricted store: there is none to replace, {NEW_STORE_OPTION} is not needed"
        thai = "คลังข้อมูลนี้ไม่เคยบันทึกคลังข้อมูลชั้นความลับ จึงไม่มีคลังที่ต้องแทนที่"
    elif store.exists() or working_copy.exists():
        reason = (f"a restricted store is there ({store if store.exists() else working_copy}): "
                  f"{NEW_STORE_OPTION} only replaces a store lost for good")
        thai = f"มีคลังข้อมูลชั้นความลับอยู่แล้วที่ {store} ตัวเลือก {NEW_STORE_OPTION} ใช้แทนเฉพาะคลังที่สูญหายถาวรเท่านั้น"
    else:
        return
    raise StoreRefused(store, f"{reason}; nothing was changed / {thai} จึงไม่ได้เปลี่ยนแปลงสิ่งใด")


def new_store_lines(store: Path, lost: Recorded | None, new_id: str, pilots: list[str]) -> tuple[str, str]:
    """(English, Thai): what the job that made a new store in place of a lost one did."""
    lost_what = _what(lost) if lost is not None else "unknown"
    named = ", ".join(pilots) if pilots else "none in today's registry"
    return (f"made a new empty restricted store at {store} (store id {new_id}) in place of the lost one "
            f"({lost_what}), as {NEW_STORE_OPTION} asked: every restricted pilot's figures are now no data until "
            f"their agencies send their files again (restricted pilots: {named})",
            f"สร้างคลังข้อมูลชั้นความลับใหม่ที่ว่างเปล่าที่ {store} (รหัสคลัง {new_id}) แทนคลังที่สูญหาย ตามตัวเลือก "
            f"{NEW_STORE_OPTION} ตัวเลขของโครงการชั้นความลับทุกโครงการเป็นไม่มีข้อมูลจนกว่าหน่วยงานจะส่งแฟ้มมาใหม่ "
            f"(โครงการชั้นความลับ: {named})")


def refuse_other(store: Path, rec: Recorded | None, own: str | None) -> None:
    """Refuse a restricted store that is not the one the warehouse records (another warehouse's,
    or one made by a job given a wrong path). A store or warehouse from before migration 0021
    (no id on one side) is taken as the one: its id is recorded by this job (record())."""
    if rec is None:
        if own is None:
            return
        reason = (f"this restricted store (store id {own}) belongs to another warehouse: this warehouse's jobs "
                  f"never wrote one")
    elif rec.store_id is None or own == rec.store_id:
        return
    else:
        found = f"store id {own}" if own else "a store without an id"
        reason = f"this is not the restricted store of this warehouse (it is {found}; the warehouse's is store id " \
                 f"{rec.store_id})"
    raise StoreRefused(store, (
        f"{reason}; nothing was changed. Give the right store with --restricted-store, or restore the store "
        f"backed up with this warehouse (docs/operations.md, \"Backup and restore\") / คลังข้อมูลชั้นความลับที่ "
        f"{store} ไม่ใช่คลังของคลังข้อมูลนี้ จึงไม่ได้เปลี่ยนแปลงสิ่งใด ให้ระบุคลังที่ถูกต้องด้วย --restricted-store "
        f"หรือกู้คืนคลังที่สำรองไว้พร้อมกับคลังข้อมูลนี้"))


def record(con: duckdb.DuckDBPyConnection, rcon: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """In the job's transactions of both stores: the store's id (made now if it has none) and, in
    the open warehouse, this job as the last that wrote it."""
    store_id = own_id(rcon)
    if store_id is None:
        store_id = uuid.uuid4().hex
        rcon.execute("DELETE FROM ops.restricted_store")
        rcon.execute("INSERT INTO ops.restricted_store VALUES (?, NULL)", [store_id])
    con.execute("DELETE FROM ops.restricted_store")
    con.execute("INSERT INTO ops.restricted_store VALUES (?, ?)", [store_id, run_id])


def store_last_job(rcon: duckdb.DuckDBPyConnection) -> str | None:
    """The job that last wrote the restricted store (its ops.restricted_job; None: a new store)."""
    row = rcon.execute("SELECT run_id FROM ops.restricted_job").fetchone()
    return row[0] if row else None


def out_of_step(rec: Recorded | None, store_job: str | None) -> tuple[str, str] | None:
    """(English, Thai) warning when the store's last job is not the one the warehouse records as
    the last that wrote it: the two files were backed up or restored apart (verifier VI, F5). The
    job goes on (the store is a committed state; refusing would leave no way forward but another
    restore); the operator learns which files to send again. None when in step or not known (a
    warehouse from before migration 0021, a new store)."""
    if rec is None or rec.run_id is None or store_job is None or store_job == rec.run_id:
        return None
    return (f"warning: the restricted store's last job is run {store_job}, but this warehouse's last job that "
            f"wrote it is run {rec.run_id}: the two files are out of step (backed up or restored apart). "
            f"Restricted pilots' files received by the jobs in between are not in the store: restore both from "
            f"one backup, or move those files from inbox/processed/ back into the inbox "
            f"(docs/operations.md, \"Backup and restore\")",
            f"คำเตือน: งานล่าสุดที่เขียนคลังข้อมูลชั้นความลับคือ {store_job} แต่คลังข้อมูลนี้บันทึกว่างานล่าสุดที่เขียนคลังนั้นคือ "
            f"{rec.run_id} ไฟล์ทั้งสองไม่ตรงกัน (สำรองหรือกู้คืนคนละเวลา) แฟ้มของโครงการชั้นความลับที่ได้รับระหว่างนั้นไม่อยู่ในคลัง "
            f"ให้กู้คืนทั้งสองไฟล์จากสำรองข้อมูลชุดเดียวกัน หรือย้ายแฟ้มเหล่านั้นจาก inbox/processed/ กลับเข้า inbox")
