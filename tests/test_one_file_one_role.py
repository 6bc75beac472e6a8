"""One file, one role (warehouse.md; issue 24 item 5): a restricted store whose path would share a
file with the warehouse, its WAL, its published copy, its evidence folder, the lock file or the
accounts file beside it (or whose own evidence folder would be the warehouse's) is refused before
anything is written, compared as real paths (symbolic links, `..`) and by inode (hard links).
Through the CLI: exit 1, one line, and the published copy and both stores byte-identical."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import AS_OF
from tests.test_restricted_store import make_restricted_scenario, run


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def snapshot(root: Path) -> dict[str, str | None]:
    """Every file beside the warehouse (evidence folders included), by content."""
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*"))
            if p.is_file() and "prefect" not in p.parts and not p.name.endswith(".lock")}


@pytest.fixture(scope="module")
def built(tmp_path_factory, prefect_harness):
    """A warehouse after one night, with its restricted store beside it (the default)."""
    root = tmp_path_factory.mktemp("roles")
    registry, inbox = make_restricted_scenario(root)
    code, output = run(root, registry, inbox)
    assert code == 0, output
    assert (root / "wh.restricted.duckdb").is_file() and (root / "wh.published.duckdb").is_file()
    (root / "wh.accounts.yaml").write_text("accounts: []\n", encoding="utf-8")  # the web's file (web.md)
    os.link(root / "wh.published.duckdb", root / "hard-link.duckdb")
    os.symlink(root / "wh.published.duckdb", root / "sym-link.duckdb")
    (root / "alias").symlink_to(root, target_is_directory=True)
    (root / "sub").mkdir()
    return root, registry, inbox


# (what --restricted-store names, relative to the folder; the role it would share)
COLLISIONS = [
    ("wh.published.duckdb", "the analysts' published copy"),  # the case
    ("sub/../wh.published.duckdb", "the analysts' published copy"),
    ("alias/wh.published.duckdb", "the analysts' published copy"),  # a symbolic link to the folder
    ("sym-link.duckdb", "the analysts' published copy"),  # a symbolic link to the file
    ("hard-link.duckdb", "the analysts' published copy"),  # a hard link: the same inode
    ("wh.duckdb", "the warehouse"),
    ("wh.duckdb.wal", "the warehouse's write-ahead log"),
    ("wh.duckdb.lock", "the run lock"),
    ("wh.evidence/ab/store.duckdb", "the warehouse's evidence folder"),
    ("wh", "the warehouse's evidence folder"),  # its evidence folder would be wh.evidence/
    ("wh.accounts.yaml", "the web's accounts file"),
]


@pytest.mark.parametrize("given, role", COLLISIONS, ids=[c[0] for c in COLLISIONS])
def test_run_refuses_a_store_that_shares_a_file_and_writes_nothing(built, given, role):
    root, registry, inbox = built
    before = snapshot(root)
    code, output = run(root, registry, inbox, "--restricted-store", str(root / given))
    assert code == 1, output
    assert output.count("\n") == 1 and output.startswith(f"pilotkpi: {root / given}: "), output
    assert f"would share a file with {role} (" in output and "one file, one role" in output
    assert "chmod" not in output  # never the advice that would make that file the restricted store
    assert snapshot(root) == before


@pytest.mark.parametrize("command", ["rebuild", "reprocess"])
def test_the_maintenance_jobs_refuse_it_too(built, command):
    root, registry, _ = built
    before = snapshot(root)
    args = [command] + (["6"] if command == "reprocess" else []) + [
        "--registry", str(registry), "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"),
        "--as-of", AS_OF, "--restricted-store", str(root / "wh.published.duckdb")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.output.count("\n") == 1 and "would share a file with the analysts' published copy" in result.output
    assert snapshot(root) == before


def test_a_first_run_with_the_published_copys_name_writes_no_warehouse(tmp_path):
    """The issue's sequence from the start: refused at once, so the later publish never overwrites it."""
    registry, inbox = make_restricted_scenario(tmp_path)
    store = tmp_path / "rs" / "w" / "pk.published.duckdb"
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox),
                                       "--warehouse", str(tmp_path / "rs" / "w" / "pk.duckdb"),
                                       "--out", str(tmp_path / "out"), "--as-of", AS_OF,
                                       "--restricted-store", str(store)])
    assert result.exit_code == 1, result.output
    assert "would share a file with the analysts' published copy" in result.output
    assert sorted(p.name for p in (tmp_path / "rs" / "w").iterdir()) == ["pk.duckdb.lock"]  # the lock only
    assert not (tmp_path / "out").exists() and not (inbox / "processed").exists()


def test_a_path_of_its_own_is_accepted(built):
    root, registry, inbox = built
    code, output = run(root, registry, inbox, "--restricted-store", str(root / "wh.restricted.duckdb"))
    assert code == 0, output


# Verifier VI F4: a store inside the inbox was read by the next night as a report file, quarantined
# as an open file and copied whole into the open evidence. The inbox and the --out folder are roles
# too: no warehouse file, store or evidence folder inside them, and neither inside an evidence folder.
THAI_INBOX = "ต้องไม่อยู่ในโฟลเดอร์รับไฟล์ (--inbox)"
THAI_OUT = "ต้องไม่อยู่ในโฟลเดอร์ผลลัพธ์ (--out)"


@pytest.mark.parametrize("given, folder, thai", [
    ("inbox/r.duckdb", "the inbox (--inbox)", THAI_INBOX),
    ("inbox/vault/r.duckdb", "the inbox (--inbox)", THAI_INBOX),
    ("out/r.duckdb", "the output folder (--out)", THAI_OUT),
], ids=["inbox", "inbox-subfolder", "out"])
def test_run_refuses_a_store_inside_the_inbox_or_the_output_folder(built, given, folder, thai):
    root, registry, inbox = built
    (root / "inbox" / "vault").mkdir(exist_ok=True)
    before = snapshot(root)
    code, output = run(root, registry, inbox, "--restricted-store", str(root / given))
    assert code == 1, output
    where = root / given.split("/")[0]
    assert output.count("\n") == 1, output
    assert output.startswith(f"pilotkpi: {root / given}: the restricted store and {folder} ({where}) overlap, and "), \
        output
    assert "one file, one role" in output and thai in output
    assert snapshot(root) == before and not (root / given).exists()


def test_the_warehouse_inside_the_output_folder_is_refused(built):
    """rebuild --out naming the folder that holds the warehouse: its files would be among the outputs."""
    root, registry, _ = built
    before = snapshot(root)
    result = CliRunner().invoke(main, ["rebuild", "--registry", str(registry), "--warehouse", str(root / "wh.duckdb"),
                                       "--out", str(root), "--as-of", AS_OF])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"pilotkpi: {root / 'wh.duckdb'}: the warehouse and the output folder (--out) "
                                    f"({root}) overlap, and its files go to agencies and the committee"), result.output
    assert THAI_OUT in result.output and result.output.count("\n") == 1
    assert snapshot(root) == before


def test_an_inbox_inside_an_evidence_folder_is_refused(built):
    root, registry, _ = built
    inbox = root / "wh.restricted.evidence" / "in"
    inbox.mkdir(exist_ok=True)
    before = snapshot(root)
    code, output = run(root, registry, inbox)
    assert code == 1, output
    assert output.startswith(f"pilotkpi: {root / 'wh.restricted.evidence'}: the restricted store's evidence folder "
                             f"and the inbox (--inbox) ({inbox}) overlap"), output
    assert snapshot(root) == before
