"""Evidence files are never deleted or overwritten (issue 14 item 3, agency-report-v1.md "Files
are evidence"): no code path opens the evidence store for writing except to create a new file,
and receiving the same bytes again leaves the stored file as it was.

The whole-run side (a resubmission, decisions, a reprocess and a rebuild leave every stored file
with its inode, mtime and bytes) is in tests/test_audit_trail.py.
"""
from __future__ import annotations

import ast
import hashlib
import os
import re
from pathlib import Path

from tests.support import ROOT
from warehouse.evidence import FILE_MODE, evidence_path, keep, keep_file

CODE_DIRS = ("pilots", "flows", "kpis", "warehouse", "bench")

# Calls that create, change, move or delete files. Names that are also list/dict/str methods
# count only on os or shutil.
WRITERS = {"fdopen", "write_bytes", "write_text", "unlink", "rmtree", "chmod", "fchmod", "symlink_to", "hardlink_to", "touch",
           "truncate", "mkstemp", "mkdtemp", "NamedTemporaryFile", "rmdir", "utime", "copyfile", "copytree", "copy2"}
OS_WRITERS = {"replace", "rename", "renames", "remove", "link", "symlink", "move", "copy"}
READ_MODES = {"r", "rb", "rt"}


def _name(call: ast.Call) -> str:
    return call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")


def _on_module(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) \
        and call.func.value.id in ("os", "shutil")


def _open_mode(call: ast.Call) -> str:
    """The mode of builtin open(file, mode) or Path.open(mode); '?' where it is not a literal."""
    position = 1 if isinstance(call.func, ast.Name) else 0
    node = call.args[position] if len(call.args) > position else next(
        (k.value for k in call.keywords if k.arg == "mode"), ast.Constant("r"))
    return node.value if isinstance(node, ast.Constant) else "?"


def _is_write(call: ast.Call) -> bool:
    name = _name(call)
    if name == "open":
        return _on_module(call) or _open_mode(call) not in READ_MODES  # os.open: flags, counted as a write
    if name in OS_WRITERS:
        # Path.replace/rename(target) take one argument; str.replace(old, new) two.
        return _on_module(call) or (name in ("replace", "rename") and len(call.args) == 1)
    return name in WRITERS


def writes_in(source: str) -> list[tuple[str, int, str]]:
    """(enclosing function, line, call) of every call that writes, moves or deletes a file."""
    tree = ast.parse(source)
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    out = []
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call) and _is_write(n)):
        owner = [f.name for f in functions if f.lineno <= call.lineno <= (f.end_lineno or f.lineno)]
        out.append((owner[-1] if owner else "<module>", call.lineno, ast.unparse(call)))
    return out


EVIDENCE_WORDS = re.compile(r"evidence|kept_at", re.I)


def evidence_writes_elsewhere(source: str) -> list[tuple[str, int, str]]:
    """Writes in a function that handles the evidence store (names it), outside warehouse/evidence.py."""
    tree = ast.parse(source)
    bodies = {f.name: ast.unparse(f) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return [w for w in writes_in(source)
            if EVIDENCE_WORDS.search(bodies.get(w[0], "")) or EVIDENCE_WORDS.search(w[2])]


def test_evidence_py_creates_new_files_only():
    """In warehouse/evidence.py the only writes are: a new temp file from mkstemp (O_CREAT|O_EXCL),
    its chmod and removal, os.link to the real name (fails if the name exists), and the chmods
    that make the store owner-only."""
    source = (ROOT / "warehouse" / "evidence.py").read_text(encoding="utf-8")
    writes = sorted((fn, call) for fn, _, call in writes_in(source))
    assert writes == [
        # KeepBatch: its temp files (O_CREAT|O_EXCL), made read-only on their descriptor once
        # written, linked under their SHA-256 after the one flush (a link never replaces a name),
        # then removed
        ("__exit__", "os.link(tmp, f'{shard}/{sha}')"),
        ("__exit__", "os.unlink(tmp)"),
        ("_create_new", "os.chmod(tmp, FILE_MODE)"),
        ("_create_new", "os.link(tmp, target)"),
        ("_new_temp", "os.fdopen(fd, 'wb')"),
        ("_new_temp", "os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 384)"),
        ("_new_temp", "tempfile.mkstemp(dir=evidence_dir, prefix='.incoming.', suffix='.tmp')"),
        ("add_from", "os.fchmod(fd, FILE_MODE)"),
        # adopt: a staged file linked in by _create_new (never replacing), then its staged name removed
        ("adopt", "staged.unlink()"),
        # a moved pilot's file, once the other store holds the same bytes (warehouse/moves.py)
        ("forget_moved", "source.unlink()"),
        ("keep", "tmp.unlink(missing_ok=True)"),
        ("keep_file", "tmp.unlink(missing_ok=True)"),
        # Modes only ever tightened to owner-only (folders 0700, files 0400): no byte is written.
        ("make_dir", "os.chmod(path, DIR_MODE)"),
        ("secure_store", "os.chmod(evidence_dir, DIR_MODE)"),
        ("secure_store", "os.chmod(f, FILE_MODE)"),
        ("secure_store", "os.chmod(shard, DIR_MODE)"),
        ("secure_store", "os.chmod(shard, stat.S_IMODE(st.st_mode) & 448)"),
    ]
    assert FILE_MODE == 0o400  # read-only, for its owner alone


# Benches that set up a fresh copy of a prepared state before each round: the copy's evidence
# store is made of hard links to the prepared one (an evidence file is never written after it is
# named, so a night adding files to the copy leaves the prepared one as it was) and removed whole
# before the next round. They write no store a night uses.
BENCH_STORE_COPIES = {"bench/served_paired.py": {"restore"}}
# The restricted side's staging folder is laid out as an evidence store (its shard folders), but it
# is not one: a job stages its new files there, and a committed job has moved them into the store,
# so what is left is never referenced. Emptying it at a job's start writes into no store.
STAGING_CLEANERS = {"warehouse/restricted.py": {"clean_staging", "_empty_shard"}}


def test_no_other_module_writes_into_the_evidence_store():
    files = sorted(p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py"))
    assert len(files) > 40
    found = {f.relative_to(ROOT).as_posix(): evidence_writes_elsewhere(f.read_text(encoding="utf-8"))
             for f in files if f != ROOT / "warehouse" / "evidence.py"}
    allowed = {name: BENCH_STORE_COPIES.get(name, set()) | STAGING_CLEANERS.get(name, set()) for name in found}
    found = {name: [w for w in writes if w[0] not in allowed[name]] for name, writes in found.items()}
    assert {name: w for name, w in found.items() if w} == {}
    # The scan does see the code's writes: the inbox's filing, publishing, the exports.
    all_writes = {f.relative_to(ROOT).as_posix(): writes_in(f.read_text(encoding="utf-8")) for f in files}
    assert any("os.rename(source_name, target" in c for _, _, c in all_writes["pilots/inbox.py"])
    assert any("os.replace(tmp, target)" in c for _, _, c in all_writes["warehouse/publish.py"])


def test_the_scan_finds_a_write_into_the_store():
    bad = ("def tidy(evidence_dir):\n"
           "    for p in evidence_dir.rglob('*'):\n"
           "        p.unlink()\n"
           "def fix(kept_at, data):\n"
           "    with open(kept_at, 'wb') as fh:\n"
           "        fh.write(data)\n"
           "def read(kept_at):\n"
           "    return open(kept_at, 'rb').read()\n")
    assert evidence_writes_elsewhere(bad) == [("tidy", 3, "p.unlink()"), ("fix", 5, "open(kept_at, 'wb')")]


def _stat(path: Path) -> tuple:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_mode & 0o777, path.read_bytes()


def test_the_same_bytes_again_leave_the_stored_file_untouched(tmp_path):
    store = tmp_path / "evidence"
    (tmp_path / "r.csv").write_bytes(b"pilot_id\nPLT-2548-003\n")
    digest = hashlib.sha256(b"pilot_id\nPLT-2548-003\n").hexdigest()
    assert keep_file(store, tmp_path / "r.csv", 1000) == (digest, 22)
    target = evidence_path(store, digest)
    first = _stat(target)
    assert first[2] == 0o400 and first[3] == b"pilot_id\nPLT-2548-003\n"
    os.utime(target, ns=(1_000_000_000, 1_000_000_000))  # an old mtime: a rewrite would show
    first = _stat(target)
    (tmp_path / "copy.csv").write_bytes(b"pilot_id\nPLT-2548-003\n")
    assert keep_file(store, tmp_path / "copy.csv", 1000) == (digest, 22)
    assert keep(store, b"pilot_id\nPLT-2548-003\n") == digest
    assert _stat(target) == first
    # Only the stored file: no temp file is left behind.
    assert [p.relative_to(store).as_posix() for p in store.rglob("*") if p.is_file()] == [f"{digest[:2]}/{digest}"]


def test_a_name_taken_meanwhile_is_never_replaced(tmp_path, monkeypatch):
    """Another writer stores a file under the name between the check and the write (simulated by
    a check that always says "not there"): the link fails and the stored file stays."""
    store = tmp_path / "evidence"
    data = b"agency bytes\n"
    digest = hashlib.sha256(data).hexdigest()
    target = evidence_path(store, digest)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"stored first\n")
    os.chmod(target, 0o444)
    before = _stat(target)
    (tmp_path / "in.csv").write_bytes(data)
    monkeypatch.setattr(Path, "exists", lambda self: False)
    assert keep_file(store, tmp_path / "in.csv", 1000) == (digest, len(data))
    assert keep(store, data) == digest
    monkeypatch.undo()
    assert _stat(target) == before
    assert sorted(p.name for p in store.rglob("*")) == [digest[:2], digest]
