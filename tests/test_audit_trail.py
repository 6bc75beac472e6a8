"""The audit trail (issue 14 item 3): every status a submission takes is a row of
ingest.status_changes, written in the same transaction as the status, and ingest.* is never
updated in place without one.

The story runs on the demo inbox (as of 2006-08-15), then:
  1 close-quarter 2549-Q3 for PLT-2548-003
  2 a run with OPDC's 2549-Q3 report three times (held: a later fix, an older copy, a third one),
    two corrections of its 2549-Q1 report in one run (the first replaced by the second at once),
    a defective file (quarantined) and a byte copy of a demo file (duplicate)
  3 approve the fix (accepted, replacing the demo's version), approve the older copy (superseded
    by the fix), reject the third
  4 register PLT-2548-030 and reprocess the demo's quarantined PLT-2548-030 file (accepted)
  5 rebuild
Along the way the evidence folder only grows: no file in it is replaced, touched or deleted.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import io
import re
import shutil
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from pilots.demo import AS_OF as DEMO_AS_OF
from tests.fuzz.checks import trail_problems
from tests.support import ROOT
from warehouse.paths import files_of

AS_OF = "2006-08-15"
assert DEMO_AS_OF.isoformat() == AS_OF  # the demo night (demo_run) is as of the same day
P = "PLT-2548-003"
STATUSES = {"accepted", "superseded", "duplicate", "quarantined", "held", "rejected"}


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def query(path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def resend(data: bytes, submitted_on: str, **actuals: str) -> bytes:
    """OPDC's canonical CSV (utf-8, comma, English headers) with another submitted_on and KPI actuals."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    header = rows[0]
    for row in rows[1:]:
        row[header.index("submitted_on")] = submitted_on
        if row[header.index("item_code")] in actuals:
            row[header.index("actual")] = actuals[row[header.index("item_code")]]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file under the evidence folder: (inode, mtime_ns, size, mode, SHA-256 of its bytes)."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        st = path.stat()
        out[str(path.relative_to(folder))] = (st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode,
                                             hashlib.sha256(path.read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def story(demo_run, tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("audit")
    # The demo inbox's night is the session's `pilotkpi demo` (tests/conftest.py demo_run: the
    # same registry, inbox and as-of date through the same nightly job), on a copy of its folder.
    folder, result = demo_run
    shutil.copytree(folder, root / "demo", symlinks=True)
    demo = SimpleNamespace(registry=root / "demo" / "registry", inbox=root / "demo" / "inbox")
    wh, out = root / "demo" / "warehouse.duckdb", root / "demo" / "out"
    base = ["--registry", str(demo.registry), "--warehouse", str(wh), "--out", str(out), "--as-of", AS_OF]
    s: dict = {"wh": wh}
    s["demo_run"] = result.exit_code, result.output
    evidence = files_of(wh).evidence
    s["evidence_after_demo"] = snapshot(evidence)
    s["close"] = cli("close-quarter", "2549-Q3", "--pilot", P, "--by", "Somchai", *base)

    q3 = (demo.inbox / "processed" / f"{P}_03009_2549-Q3.csv").read_bytes()
    q1 = (demo.inbox / "processed" / f"{P}_03009_2549-Q1.csv").read_bytes()
    q2 = (demo.inbox / "processed" / f"{P}_03009_2549-Q2_rev1.csv").read_bytes()
    inbox = root / "inbox2"
    inbox.mkdir()
    files = {
        "a_q3_fix.csv": resend(q3, "2006-08-10", K1="66.0"),
        "b_q3_older.csv": resend(q3, "2006-07-01", K1="64.0"),
        "c_q3_third.csv": resend(q3, "2006-08-12", K1="67.0"),
        "d_q3_copy.csv": q3,
        "e_q1_v2.csv": resend(q1, "2006-02-01"),
        "f_q1_v3.csv": resend(q1, "2006-02-15"),
        "g_q2_bad.csv": resend(q2, "2006-05-01", K1="150"),  # a percentage over 100: quarantined
    }
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    s["second_run"] = cli("run", "--inbox", str(inbox), *base)
    s["ids"] = ids = dict(query(wh, "SELECT file_name, submission_id FROM ingest.submissions"))
    s["approve_fix"] = cli("approve", str(ids["a_q3_fix.csv"]), "--by", "Somchai", "--note", "typo", *base)
    s["approve_older"] = cli("approve", str(ids["b_q3_older.csv"]), "--by", "Somchai", *base)
    s["reject"] = cli("reject", str(ids["c_q3_third.csv"]), "--by", "Somchai", "--reason", "sent twice", *base)

    pilot = demo.registry / "pilots" / f"{P}.yaml"
    (demo.registry / "pilots" / "PLT-2548-030.yaml").write_text(
        pilot.read_text(encoding="utf-8").replace(P, "PLT-2548-030"), encoding="utf-8")
    s["reprocess"] = cli("reprocess", str(ids["PLT-2548-030_15001_2548-Q2.csv"]), *base)
    s["rebuild"] = cli("rebuild", *base)
    s["evidence_at_end"] = snapshot(evidence)
    s["evidence_names_at_end"] = sorted(p.name for p in evidence.rglob("*"))
    s["new_files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    return s


def trail(story, file_name: str) -> list[tuple]:
    sid = story["ids"][file_name]
    return query(story["wh"], f"SELECT status_before, status_after, reason, related_submission_id, "
                              f"decision_id IS NOT NULL FROM ingest.status_changes WHERE submission_id = {sid} "
                              f"ORDER BY change_id")


def test_every_job_succeeded(story):
    for key in ("demo_run", "close", "second_run", "approve_fix", "approve_older", "reject", "reprocess", "rebuild"):
        code, out = story[key]
        assert code == 0, (key, out)
    # a, b, c held; d the copy; e accepted then replaced by f in the same run; g quarantined.
    assert "files seen 7: accepted 1, superseded 1, duplicates 1, quarantined 1, held 3" in story["second_run"][1]


def test_every_submission_has_a_chain_ending_in_its_status(story):
    wh = story["wh"]
    status = dict(query(wh, "SELECT submission_id, status FROM ingest.submissions"))
    rows = query(wh, "SELECT change_id, submission_id, status_before, status_after, reason FROM ingest.status_changes "
                     "ORDER BY change_id")
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))  # numbered without gaps
    chains: dict[int, list[tuple]] = {}
    for _, sid, before, after, reason in rows:
        chains.setdefault(sid, []).append((before, after, reason))
    assert set(chains) == set(status)
    for sid, chain in chains.items():
        assert chain[0][0] is None and chain[0][2] in ("received", "reprocess"), (sid, chain)
        for previous, change in zip(chain, chain[1:]):
            assert change[0] == previous[1], (sid, chain)
        assert chain[-1][1] == status[sid], (sid, chain)
    con = duckdb.connect(str(wh), read_only=True)
    try:
        assert trail_problems(con) == []  # the same check in SQL, as the fuzz runs apply it
    finally:
        con.close()
    # Every status, and the reprocessed event, occurs.
    assert {after for _, _, _, after, _ in rows} == STATUSES
    assert {reason for *_, reason in rows} == {"received", "replaced", "approved", "rejected", "reprocess",
                                               "reprocessed"}


def test_the_trail_check_finds_a_broken_chain(warehouse):
    """tests/fuzz/checks.trail_problems, which the fuzz runs apply to thousands of hostile files."""
    for sid, status in ((1, "superseded"), (2, "accepted"), (3, "held")):
        warehouse.execute("INSERT INTO ingest.submissions (submission_id, sha256, file_name, size_bytes, received_at, "
                          "run_id, status, error_count, warning_count) VALUES (?, 'aa', 'f.csv', 1, "
                          "TIMESTAMP '2006-08-15 02:00:00', 'r', ?, 0, 0)", [sid, status])
    warehouse.execute("INSERT INTO ingest.status_changes VALUES "
                      "(1, 1, NULL, 'accepted', 'received', NULL, 'r', NULL, TIMESTAMP '2006-08-15 02:00:00'), "
                      "(2, 1, 'accepted', 'superseded', 'replaced', 2, 'r', NULL, TIMESTAMP '2006-08-15 02:00:00'), "
                      "(3, 2, NULL, 'held', 'received', NULL, 'r', NULL, TIMESTAMP '2006-08-15 02:00:00'), "
                      "(4, 2, 'accepted', 'accepted', 'approved', NULL, 'r', 1, TIMESTAMP '2006-08-16 09:00:00')")
    # 1 chains (NULL -> accepted -> superseded, its status); 2 skips a step (held, then "from accepted");
    # 3 has no row at all.
    assert trail_problems(warehouse) == ["submission 3 has no status change",
                                         "submission 2: change 4 starts from accepted, not held"]
    warehouse.execute("UPDATE ingest.submissions SET status = 'rejected' WHERE submission_id = 1")
    assert "submission 1 is rejected but its last change says superseded" in trail_problems(warehouse)


def test_the_demo_resubmission_is_accepted_then_replaced(story):
    rev = story["ids"][f"{P}_03009_2549-Q2_rev1.csv"]
    # Both files are in the demo run's one batch: the first is written accepted and superseded after.
    assert trail(story, f"{P}_03009_2549-Q2.csv") == [
        (None, "accepted", "received", None, False), ("accepted", "superseded", "replaced", rev, False)]
    original = story["ids"]["PLT-2548-004_15001_2548-Q4.csv"]
    assert trail(story, "สำเนา PLT-2548-004_15001_2548-Q4.csv") == [
        (None, "duplicate", "received", original, False)]


def test_resubmissions_in_one_run_and_across_runs(story):
    ids = story["ids"]
    assert trail(story, f"{P}_03009_2549-Q1.csv") == [
        (None, "accepted", "received", None, False), ("accepted", "superseded", "replaced", ids["e_q1_v2.csv"], False)]
    assert trail(story, "e_q1_v2.csv") == [
        (None, "accepted", "received", None, False), ("accepted", "superseded", "replaced", ids["f_q1_v3.csv"], False)]
    assert trail(story, "f_q1_v3.csv") == [(None, "accepted", "received", None, False)]
    assert trail(story, "g_q2_bad.csv") == [(None, "quarantined", "received", None, False)]
    assert trail(story, "d_q3_copy.csv") == [
        (None, "duplicate", "received", ids[f"{P}_03009_2549-Q3.csv"], False)]
    # The run's changes carry its run_id and its time of receipt.
    run_id, received = query(story["wh"], f"SELECT run_id, received_at FROM ingest.submissions "
                                          f"WHERE submission_id = {ids['e_q1_v2.csv']}")[0]
    assert query(story["wh"], f"SELECT DISTINCT run_id, changed_at FROM ingest.status_changes "
                              f"WHERE submission_id = {ids['e_q1_v2.csv']}") == [(run_id, received)]


def test_decisions_name_their_row_in_approval_decisions(story):
    ids, wh = story["ids"], story["wh"]
    fix, older, third = ids["a_q3_fix.csv"], ids["b_q3_older.csv"], ids["c_q3_third.csv"]
    assert trail(story, "a_q3_fix.csv") == [(None, "held", "received", None, False),
                                            ("held", "accepted", "approved", None, True)]
    # The older copy (1 Jul) lost to the approved fix (10 Aug): superseded by it.
    assert trail(story, "b_q3_older.csv") == [(None, "held", "received", None, False),
                                              ("held", "superseded", "approved", fix, True)]
    assert trail(story, "c_q3_third.csv") == [(None, "held", "received", None, False),
                                              ("held", "rejected", "rejected", None, True)]
    assert trail(story, f"{P}_03009_2549-Q3.csv") == [(None, "accepted", "received", None, False),
                                                      ("accepted", "superseded", "replaced", fix, True)]
    # Each decision's changes carry its decision_id, its job's run_id and its time.
    got = query(wh, "SELECT d.action, c.submission_id, c.status_after, c.run_id = d.run_id, "
                    "c.changed_at = d.decided_at FROM ingest.status_changes c "
                    "JOIN approval.decisions d USING (decision_id) ORDER BY c.change_id")
    demo_q3 = ids[f"{P}_03009_2549-Q3.csv"]
    assert got == [("approve", demo_q3, "superseded", True, True), ("approve", fix, "accepted", True, True),
                   ("approve", older, "superseded", True, True), ("reject", third, "rejected", True, True)]
    assert query(wh, "SELECT r.kind FROM ingest.status_changes c JOIN ops.runs r USING (run_id) "
                     "WHERE c.decision_id IS NOT NULL ORDER BY c.change_id") == [
        ("approve",), ("approve",), ("approve",), ("reject",)]


def test_reprocessing_is_recorded_on_both_submissions(story):
    wh, ids = story["wh"], story["ids"]
    old = ids["PLT-2548-030_15001_2548-Q2.csv"]
    new, old_received, new_received = query(
        wh, f"SELECT n.submission_id, o.received_at, n.received_at FROM ingest.submissions n "
            f"JOIN ingest.submissions o ON o.submission_id = n.reprocess_of WHERE n.reprocess_of = {old}")[0]
    assert trail(story, "PLT-2548-030_15001_2548-Q2.csv") == [
        (None, "quarantined", "received", None, False), ("quarantined", "quarantined", "reprocessed", new, False)]
    assert query(wh, f"SELECT status_before, status_after, reason, related_submission_id FROM ingest.status_changes "
                     f"WHERE submission_id = {new}") == [(None, "accepted", "reprocess", old)]
    # The new row keeps the original receipt; its changes are dated by the reprocess job.
    assert new_received == old_received
    (run_id, started, finished), = query(wh, "SELECT run_id, started_at, finished_at FROM ops.runs "
                                             "WHERE kind = 'reprocess'")
    changes = query(wh, f"SELECT run_id, changed_at FROM ingest.status_changes WHERE submission_id = {new} "
                        f"OR (submission_id = {old} AND reason = 'reprocessed')")
    assert len(changes) == 2 and all(r == run_id and started <= at <= finished for r, at in changes)


def test_no_job_replaces_or_deletes_an_evidence_file(story):
    before, after = story["evidence_after_demo"], story["evidence_at_end"]
    # Every file kept after the demo run is still there: same inode, mtime, size, mode and bytes,
    # after a run with resubmissions and a duplicate, decisions, a reprocess and a rebuild.
    assert {name: after.get(name) for name in before} == before
    # New: the six distinct new files; the copy d_q3_copy.csv has the bytes of a demo file.
    new = {sha for sha in story["new_files"].values()}
    assert len(new) == 7 and story["new_files"]["d_q3_copy.csv"] in {v[-1] for v in before.values()}
    assert {v[-1] for name, v in after.items() if name not in before} == new - {story["new_files"]["d_q3_copy.csv"]}
    assert not [n for n in story["evidence_names_at_end"] if n.endswith(".tmp")]
    # Read-only: no file in the store can be opened for writing by its mode bits.
    assert all(v[3] & 0o222 == 0 for v in after.values())


# --- the static check: `UPDATE ingest.` only beside a status change --------------------------------

CODE_DIRS = ("pilots", "flows", "kpis", "warehouse", "bench")
CHANGE_WRITERS = {"_record_changes", "_record_update"}


def _strings(node: ast.AST) -> list[str]:
    """The literal text of a function's strings, f-strings' literal parts included."""
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _calls(node: ast.AST) -> set[str]:
    return {n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
            for n in ast.walk(node) if isinstance(n, ast.Call)}


def _sql_texts(tree: ast.AST) -> list[tuple[ast.AST, str]]:
    """Every string of the code with its node, docstrings aside: an f-string whole, its fields as {name}."""
    fstrings = [n for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)]
    parts = {id(c) for f in fstrings for c in ast.walk(f)}
    parts |= {id(n.body[0].value) for n in ast.walk(tree)
              if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
              and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    texts = [(f, ast.unparse(f)) for f in fstrings]
    return texts + [(n, n.value) for n in ast.walk(tree)
                    if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in parts]


UPDATE = re.compile(r"\bUPDATE\s+([\w.{}]+)", re.I)


def unaudited_updates(source: str, path: str) -> list[str]:
    """Every `UPDATE ingest.` (or UPDATE of a table named at run time) outside a warehouse/store.py
    function that also writes ingest.status_changes."""
    problems = []
    tree = ast.parse(source)
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for text_node, text in _sql_texts(tree):
        for target in UPDATE.findall(text):
            if not (target.lower().startswith("ingest.") or "{" in target or target == ""):
                continue
            owner = [f for f in functions if f.lineno <= text_node.lineno <= (f.end_lineno or f.lineno)]
            where = f"{path}:{text_node.lineno} UPDATE {target}"
            if path != "warehouse/store.py" or not owner:
                problems.append(f"{where}: outside warehouse/store.py")
            elif not (_calls(owner[-1]) & CHANGE_WRITERS
                      or any("INSERT INTO ingest.status_changes" in t for t in _strings(owner[-1]))):
                problems.append(f"{where}: {owner[-1].name} writes no status change")
    return problems


def code_files() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py") if ".venv" not in p.parts)


def test_every_update_of_ingest_writes_a_status_change():
    files = code_files()
    assert ROOT / "warehouse" / "store.py" in files and len(files) > 40
    problems = [p for f in files for p in unaudited_updates(f.read_text(encoding="utf-8"),
                                                          f.relative_to(ROOT).as_posix())]
    assert problems == []
    # The SQL migrations never rewrite ingest.* either (0009 only adds its own table's rows).
    for sql in sorted((ROOT / "warehouse" / "migrations").glob("*.sql")):
        assert not re.search(r"\bUPDATE\s+ingest\.|\bDELETE\s+FROM\s+ingest\.", sql.read_text(encoding="utf-8"), re.I), sql
    # Nothing deletes from ingest.* at all.
    for f in files:
        assert not re.search(r"DELETE\s+FROM\s+ingest\.", f.read_text(encoding="utf-8"), re.I), f


def test_the_static_check_finds_an_unaudited_update():
    bad = ('def set_status(con, sid, status):\n'
           '    con.execute("UPDATE ingest.submissions SET status = ? WHERE submission_id = ?", [status, sid])\n')
    assert unaudited_updates(bad, "warehouse/store.py") == [
        "warehouse/store.py:2 UPDATE ingest.submissions: set_status writes no status change"]
    assert unaudited_updates(bad, "pilots/approval.py") == [
        "pilots/approval.py:2 UPDATE ingest.submissions: outside warehouse/store.py"]
    dynamic = 'def f(con, t):\n    con.execute(f"UPDATE {t} SET x = 1")\n'
    assert unaudited_updates(dynamic, "warehouse/store.py") == [
        "warehouse/store.py:2 UPDATE {t}: f writes no status change"]
    good = bad.replace("    con.execute", "    _record_update(con)\n    con.execute")
    assert unaudited_updates(good, "warehouse/store.py") == []
