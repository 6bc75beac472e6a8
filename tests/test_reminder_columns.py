"""follow-up.md's per-report columns in marts.reminders (issue 23 made reminders.csv one row per
letter, so the mart is where they live): agency names (th, en), pilot names (th, en; empty for a
restricted pilot) and the latest quarantined file, on a night of the demo (docs/demo.md) whose
inbox lacks two corrections, so that two quarantined files stay the latest of their report:

- MICT (11002), lead of the open PLT-2548-001, sent 2548-Q3 only as the defective
  `PLT-2548-001_11002_2548-Q3.csv` (G1 144.3 %), here renamed to RENAMED, its `_v2` removed.
  2548-Q3 ends 2005-06-30, due 30 days later on 2005-07-30; as of 2006-08-15 that is
  1 + 31 + 30 + 31 + 30 + 31 + 31 + 28 + 31 + 30 + 31 + 30 + 31 + 15 = 381 days: level 3.
- The Royal Thai Police (25001), secondary of the restricted PLT-2548-006 (45 report days), sent
  2549-Q1 only as the defective `PLT-2548-006_25001_2549-Q1.csv`, its `_v2` removed. 2549-Q1 ends
  2005-12-31, due 2006-02-14; 14 + 31 + 30 + 31 + 30 + 31 + 15 = 182 days: level 3. The open
  warehouse and its published copy must hold neither that file's name nor the pilot's names in
  the row (warehouse.md: the open side keeps who reported when, no file name).
- DBD (10004) still owes PLT-2548-004's 2548-Q3, 2549-Q2 and 2549-Q3 (docs/demo.md): missing,
  no file.
Names are those of the demo registry (registry/agencies.yaml, registry/pilots/*.yaml).
"""
from __future__ import annotations

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from pilots import demo
from tests.support import rows
from warehouse.paths import files_of

RENAMED = "รายงาน GIN <ไตรมาส 3> & 11002.csv"  # agency text: stored as received
SECRET_FILE = "PLT-2548-006_25001_2549-Q1.csv"
SECRET_NAMES = ("ระบบยืนยันตัวบุคคลและแลกเปลี่ยนข้อมูลเพื่อความมั่นคง (ระบบแยกส่วน)",
                "Segregated identity verification and watch-list exchange for national security")
MICT = ("11002", "กระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร", "Ministry of Information and Communication Technology")
POLICE = ("25001", "สำนักงานตำรวจแห่งชาติ", "Royal Thai Police")
DBD = ("10004", "กรมพัฒนาธุรกิจการค้า", "Department of Business Development")
GIN = ("PLT-2548-001", "เครือข่ายสารสนเทศภาครัฐ (GIN)", "Government Information Network (GIN)")
CENTRAL = ("PLT-2548-004", "ระบบเชื่อมโยงข้อมูลกลางบุคคลและนิติบุคคลพร้อมการยืนยันตัวตน",
           "Central person and juristic-person data with identity authentication")
COLUMNS = ("agency_code, agency_name_th, agency_name_en, pilot_id, pilot_name_th, pilot_name_en, period, "
           "days_overdue, level, reason, latest_quarantined_file")


@pytest.fixture(scope="module")
def night(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("reminder-columns")
    paths = demo.write_demo(root)
    inbox = paths.inbox
    (inbox / "PLT-2548-001_11002_2548-Q3_v2.csv").unlink()
    (inbox / "PLT-2548-006_25001_2549-Q1_v2.csv").unlink()
    (inbox / "PLT-2548-001_11002_2548-Q3.csv").rename(inbox / RENAMED)
    result = CliRunner().invoke(main, ["run", "--registry", str(paths.registry), "--inbox", str(inbox),
                                       "--warehouse", str(root / "warehouse.duckdb"), "--out", str(root / "out"),
                                       "--as-of", paths.as_of.isoformat()])
    assert result.exit_code == 0, result.output
    return files_of(root / "warehouse.duckdb")


def test_the_mart_carries_the_names_and_the_latest_quarantined_file(night):
    expected = [
        (*DBD, *CENTRAL, "2548-Q3", 381, 3, "missing", None),
        (*DBD, *CENTRAL, "2549-Q2", 107, 3, "missing", None),
        (*DBD, *CENTRAL, "2549-Q3", 16, 1, "missing", None),
        (*MICT, *GIN, "2548-Q3", 381, 3, "rejected_file", RENAMED),
        # restricted: agency names (the registry's), no pilot name, no file name
        (*POLICE, "PLT-2548-006", None, None, "2549-Q1", 182, 3, "rejected_file", None),
    ]
    for path in (night.warehouse, night.published):
        assert rows(path, f"SELECT {COLUMNS} FROM marts.reminders ORDER BY agency_code, pilot_id, period") == expected
    # The row still points at the file by id: the restricted store has it, under the name received.
    (sid,) = rows(night.published, "SELECT latest_quarantined_submission_id FROM marts.reminders "
                                   "WHERE pilot_id = 'PLT-2548-006'")[0]
    assert rows(night.restricted, "SELECT file_name, status FROM ingest.submissions WHERE submission_id = ?",
                [sid]) == [(SECRET_FILE, "quarantined")]
    assert rows(night.restricted, f"SELECT {COLUMNS} FROM marts.reminders") == [expected[-1]]


def test_no_restricted_file_or_pilot_name_reaches_the_open_side(night):
    for path in (night.warehouse, night.published):
        assert SECRET_FILE.encode() not in path.read_bytes(), path
        con = duckdb.connect(str(path), read_only=True)
        try:
            for schema, table, column in con.execute(
                    "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                    "WHERE data_type = 'VARCHAR' AND table_schema NOT IN ('information_schema', 'pg_catalog')"
                    ).fetchall():
                hits = con.execute(f'SELECT count(*) FROM {schema}.{table} WHERE contains("{column}", ?)',
                                   [SECRET_FILE]).fetchone()[0]
                assert hits == 0, f"{schema}.{table}.{column} of {path}"
                if schema == "marts":  # registry.pilots keeps the names (warehouse.md); no mart row does
                    hits = con.execute(f'SELECT count(*) FROM {schema}.{table} WHERE list_contains(?, "{column}")',
                                       [list(SECRET_NAMES)]).fetchone()[0]
                    assert hits == 0, f"{schema}.{table}.{column} of {path}"
        finally:
            con.close()


def test_the_open_copy_of_a_restricted_reminder_blanks_its_names_and_file_whatever_the_store_holds(night, tmp_path):
    """warehouse/restricted.merge_mart copies a restricted pilot's marts.reminders rows to the open
    side with OPEN_MART_BLANKS' columns NULL: the mart's SQL leaves them NULL already, so here the
    restricted store's row is given the pilot's names and the file's name (as a later change of the
    SQL could), and the copy still carries none of them, and every other column as the store has it."""
    import shutil

    from warehouse.restricted import merge_mart

    open_path, store_path = tmp_path / "open.duckdb", tmp_path / "restricted.duckdb"
    shutil.copyfile(night.warehouse, open_path)
    shutil.copyfile(night.restricted, store_path)
    open_con, rcon = duckdb.connect(str(open_path)), duckdb.connect(str(store_path))
    try:
        rcon.execute("UPDATE marts.reminders SET pilot_name_th = ?, pilot_name_en = ?, latest_quarantined_file = ? "
                     "WHERE pilot_id = 'PLT-2548-006'", [*SECRET_NAMES, SECRET_FILE])
        merge_mart(open_con, rcon, {"PLT-2548-006"}, "reminders")
        everything = "SELECT * FROM marts.reminders WHERE pilot_id = 'PLT-2548-006' ORDER BY ALL"
        names = [d[0] for d in rcon.execute(everything).description]
        stored, copied = rcon.execute(everything).fetchall(), open_con.execute(everything).fetchall()
        assert [d[0] for d in open_con.execute(everything).description] == names and len(copied) == len(stored) == 1
        blanked = ("pilot_name_th", "pilot_name_en", "latest_quarantined_file")
        row, kept = dict(zip(names, copied[0])), dict(zip(names, stored[0]))
        assert [row[c] for c in blanked] == [None, None, None]
        assert [kept[c] for c in blanked] == [*SECRET_NAMES, SECRET_FILE]  # the store keeps what it holds
        assert {c: v for c, v in row.items() if c not in blanked} == {c: v for c, v in kept.items() if c not in blanked}
        assert (row["agency_code"], row["agency_name_en"], row["period"], row["days_overdue"], row["reason"]) == (
            POLICE[0], POLICE[2], "2549-Q1", 182, "rejected_file")
    finally:
        open_con.close()
        rcon.close()
