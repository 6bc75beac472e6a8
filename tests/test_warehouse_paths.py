"""Each warehouse file has its own published copy, evidence folder and lock (warehouse/paths.py);
names that would share one are refused, not shared."""
from __future__ import annotations

import hashlib
import itertools
import shutil

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import AS_OF, make_scenario
from warehouse.db import WarehouseRefused, evidence_dir_for
from warehouse.lock import lock_path
from warehouse.paths import files_of
from warehouse.publish import published_path
from warehouse.shell import resolve


def test_the_usual_name_keeps_the_names_of_earlier_versions(tmp_path):
    f = files_of(tmp_path / "warehouse.duckdb")
    assert f.published == tmp_path / "warehouse.published.duckdb"
    assert f.evidence == tmp_path / "warehouse.evidence"
    assert f.lock == tmp_path / "warehouse.duckdb.lock"
    # Every module asks the same rule.
    assert published_path(tmp_path / "warehouse.duckdb") == f.published
    assert evidence_dir_for(tmp_path / "warehouse.duckdb") == f.evidence
    assert lock_path(tmp_path / "warehouse.duckdb") == f.lock
    assert resolve(tmp_path / "warehouse.duckdb") == f.published
    assert resolve(tmp_path / "warehouse.published.duckdb") == tmp_path / "warehouse.published.duckdb"


def test_other_names_derive_from_the_whole_name(tmp_path):
    f = files_of(tmp_path / "pk.db")
    assert (f.published, f.evidence, f.lock) == (
        tmp_path / "pk.db.published.duckdb", tmp_path / "pk.db.evidence", tmp_path / "pk.db.lock")
    assert files_of(tmp_path / "pk").published == tmp_path / "pk.published.duckdb"
    assert files_of(tmp_path / "pk.db.duckdb").evidence == tmp_path / "pk.db.evidence"


# Names that may live side by side in one folder: none may derive a path another derives or is.
TOGETHER = ["pk.duckdb", "pk.db", "pk.DUCKDB", "pk.sqlite", "pk.duckdb.bak", "pk.published", "pk.evidence.duckdb",
            "warehouse.duckdb", "warehouse.db.bak", "pk.duckdb.duckdb"]


def test_no_two_warehouses_in_one_folder_share_a_derived_path(tmp_path):
    derived = {name: files_of(tmp_path / name) for name in TOGETHER}
    for (a, fa), (b, fb) in itertools.combinations(derived.items(), 2):
        paths_a = {fa.published, fa.evidence, fa.lock, tmp_path / a}
        paths_b = {fb.published, fb.evidence, fb.lock, tmp_path / b}
        assert not paths_a & paths_b, (a, b)


@pytest.mark.parametrize("name, twin, base", [("pk.duckdb", "pk", "pk"), ("pk", "pk.duckdb", "pk"),
                                              ("pk.db.duckdb", "pk.db", "pk.db"), ("pk.db", "pk.db.duckdb", "pk.db")])
def test_a_pair_that_would_share_is_refused(tmp_path, name, twin, base):
    (tmp_path / twin).write_bytes(b"")
    with pytest.raises(WarehouseRefused) as raised:
        files_of(tmp_path / name)
    assert str(raised.value) == (f"{tmp_path / name}: {twin} in the same folder would share its published copy "
                                 f"{base}.published.duckdb and evidence folder {base}.evidence; rename or move one "
                                 "of the two")


def test_a_directory_of_the_twin_name_is_no_warehouse(tmp_path):
    (tmp_path / "pk").mkdir()
    assert files_of(tmp_path / "pk.duckdb").published == tmp_path / "pk.published.duckdb"


@pytest.mark.parametrize("name", ["pk.published.duckdb", "pk.duckdb.wal", "pk.duckdb.lock", "pk.evidence",
                                  ".pk.published.duckdb.123.tmp"])
def test_a_warehouse_named_like_a_derived_file_is_refused(tmp_path, name):
    with pytest.raises(WarehouseRefused, match="a warehouse may not be named"):
        files_of(tmp_path / name)


def test_run_refuses_a_twin_pair_in_one_line(tmp_path):
    registry, inbox = make_scenario(tmp_path)
    (tmp_path / "pk").write_bytes(b"someone's file")
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(tmp_path / "pk.duckdb"), "--out", str(tmp_path / "out"), "--as-of", AS_OF])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"pilotkpi: {tmp_path / 'pk.duckdb'}: pk in the same folder would share")
    assert not (tmp_path / "pk.duckdb").exists() and not (tmp_path / "pk.evidence").exists()


def _accepted(path) -> set[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {r[0] for r in con.execute("SELECT file_name FROM ingest.submissions WHERE status = 'accepted'").fetchall()}
    finally:
        con.close()


def test_two_warehouses_in_one_folder_each_publish_their_own_rows(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path / "one")
    inbox_two = tmp_path / "two"
    inbox_two.mkdir()
    shutil.copy(inbox / "b_sec_q1.csv", inbox_two / "b_sec_q1.csv")
    b_sha = hashlib.sha256((inbox / "b_sec_q1.csv").read_bytes()).hexdigest()
    folder = tmp_path / "data"
    for wh, box in (("pk.duckdb", inbox), ("pk.db", inbox_two)):
        result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(box), "--warehouse",
                                           str(folder / wh), "--out", str(tmp_path / f"out-{wh}"), "--as-of", AS_OF])
        assert result.exit_code == 0, result.output

    # make_scenario: c_lead_q2 is superseded by d_lead_q2_fix, e_dup is a duplicate, f_bad quarantined.
    assert _accepted(folder / "pk.published.duckdb") == {"a_lead_q1.csv", "b_sec_q1.csv", "d_lead_q2_fix.csv"}
    assert _accepted(folder / "pk.db.published.duckdb") == {"b_sec_q1.csv"}
    assert [p.name for p in (folder / "pk.db.evidence").rglob("*") if p.is_file()] == [b_sha]
    assert len([p for p in (folder / "pk.evidence").rglob("*") if p.is_file()]) == 5  # e_dup has a's bytes
    result = CliRunner().invoke(main, ["sql", "--warehouse", str(folder / "pk.db"), "-c",
                                       "SELECT count(*) AS n FROM ingest.submissions;"])
    assert result.exit_code == 0, result.output
    assert [line.strip("│ ") for line in result.output.splitlines()][-2] == "1", result.output
