"""A pilot whose rows are in the wrong store (warehouse.md, binding; issue 24 item 2).

The next job moves its rows and original files to the store its classification names, inside its
one commit, keeps its figures, records the move (ingest.status_changes) and prints one line.

- The demo: PLT-2548-005 (open: 15 submissions, 21 KPI actuals, 28 budget lines, latest
  composite 🟢 4.1244 on_target, figures from the issue) set to restricted, then back to open.
- SIGKILL during the move, and after the open commit: the old state or the new one, and the next
  job finishes it.
- The upgrade: a warehouse made by release 6fe971e (before the restricted store), then one night
  of this one. tests/data/release_6fe971e.tar.gz is what that release made of its own demo
  (`pilotkpi demo`, as of 2006-08-15): its registry, its evidence folder and its warehouse as
  EXPORT DATABASE (FORMAT parquet) wrote it (tests/data/make_release_6fe971e.sh). A fixture, not
  a checkout of the old commit at test time: CI clones shallow, and the old code's own
  dependencies would have to install as they were. The warehouse is rebuilt from it with
  migrations 0001-0003 (unchanged since that release) and the exported rows, so its schema is that
  release's and this one's migrations 0004 on run as they do on a real deployment.
"""
from __future__ import annotations

import csv
import re
import shutil
import tarfile
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.support import ROOT, SERIAL
from tests.test_crash_kill import killed_run
from tests.test_flow import run_cli
from warehouse import evidence, restricted
from warehouse.migrate import migrate
from warehouse.paths import files_of
from warehouse.publish import published_path

MOVED = "PLT-2548-005"
DEMO_AS_OF = "2006-08-15"
FIXTURE = ROOT / "tests" / "data" / "release_6fe971e.tar.gz"


def q(path: Path, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


def reclassify(registry: Path, pilot: str, classification: str) -> None:
    path = registry / "pilots" / f"{pilot}.yaml"
    text, n = re.subn(r"(?m)^classification: \w+$", f"classification: {classification}",
                      path.read_text(encoding="utf-8"))
    assert n == 1
    path.write_text(text, encoding="utf-8")


def line_counts(path: Path, pilot: str) -> tuple[int, int, int]:
    """(submissions, KPI actuals, budget lines) of the pilot in one DuckDB file."""
    return tuple(q(path, f"SELECT count(*) FROM {t} WHERE pilot_id = ?", [pilot])[0][0]
                 for t in ("ingest.submissions", "core.kpi_actuals", "core.budget_lines"))


def leftovers(path: Path, pilot: str, sids: list[int], names: list[str], allowed=()) -> dict[str, int]:
    """Rows of the pilot, of its submissions or naming its files, in every table of one file but
    the `allowed` ones."""
    found = {}
    con = duckdb.connect(str(path), read_only=True)  # one connection for every column, not one each
    try:
        for schema, table, column in con.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                "WHERE column_name IN ('pilot_id', 'submission_id', 'file_name') "
                "AND table_schema NOT IN ('information_schema', 'pg_catalog')").fetchall():
            name = f"{schema}.{table}"
            if name in allowed or name == "approval.quarter_closures":
                continue
            values = {"pilot_id": [pilot], "submission_id": sids, "file_name": names}[column]
            n = con.execute(f"SELECT count(*) FROM {name} WHERE list_contains(?, {column})", [values]).fetchone()[0]
            if n:
                found[f"{name}.{column}"] = n
        errors = con.execute("SELECT count(*) FROM ops.runs WHERE error IS NOT NULL AND list_has_any(?, "
                             "regexp_extract_all(error, '[^ :]+'))", [names]).fetchone()[0]
    finally:
        con.close()
    if errors:
        found["ops.runs.error"] = errors
    return found


def scores(path: Path, pilot: str) -> list[tuple]:
    return q(path, "SELECT period, composite_score, status FROM marts.pilot_scores WHERE pilot_id = ? ORDER BY period",
             [pilot])


def reminder_rows(out: Path, pilot: str) -> list[tuple]:
    path = out / "reminders" / "reminders.csv"
    if not path.exists():
        return []
    # One row per agency and letter (kpis/letters/render.py): each report is a line of the
    # reports cell, "<pilot> [(names)] <period> due <date> <n> days overdue level <n> <reason> ...".
    found = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh):
            for line in r["reports"].splitlines():
                words = line.split()
                if words and words[0] == pilot:
                    at = next(i for i, w in enumerate(words) if re.fullmatch(r"\d{4}-Q[1-4]", w))
                    found.append((r["agency_code"], words[at], words[at + 8]))
    return found


def stored(folder: Path, shas: list[str]) -> int:
    return sum(evidence.evidence_path(folder, sha).exists() for sha in shas)


# Relations of the open side that may hold a restricted pilot's rows (warehouse.md), and the
# open list of its held files (approval.restricted_held: id, agency, dates).
OPEN_ALLOWED = {"registry.pilots", "registry.pilot_agencies", "marts.pilot_scores", "marts.reporting_compliance",
                "marts.reminders", "marts.due_periods", "approval.restricted_held"}


def test_a_reclassified_pilot_moves_with_its_files_and_keeps_its_figures(demo_run, tmp_path):
    demo = tmp_path / "demo"
    shutil.copytree(demo_run[0], demo, symlinks=True)
    wh, registry, out = demo / "warehouse.duckdb", demo / "registry", demo / "out"
    rs, open_ev = files_of(wh).restricted, files_of(wh).evidence
    r_ev = restricted.files_for(wh).evidence
    base = ["--registry", registry, "--warehouse", wh, "--out", out, "--as-of", DEMO_AS_OF]
    sids = [r[0] for r in q(wh, "SELECT submission_id FROM ingest.submissions WHERE pilot_id = ?", [MOVED])]
    names = [r[0] for r in q(wh, "SELECT file_name FROM ingest.submissions WHERE list_contains(?, submission_id)",
                             [sids])]
    shas = [r[0] for r in q(wh, "SELECT DISTINCT sha256 FROM ingest.submissions WHERE list_contains(?, submission_id)",
                            [sids])]
    before_scores = scores(wh, MOVED)
    assert (len(sids), line_counts(wh, MOVED)) == (15, (15, 21, 28))
    assert before_scores[-1][1:] == (Decimal("4.1244"), "on_target")
    assert reminder_rows(out, MOVED) == []  # every agency of the pilot reported
    assert stored(open_ev, shas) == len(shas) and stored(r_ev, shas) == 0

    # An earlier job that failed on one of its files left the file's name in the open ops.runs.
    con = duckdb.connect(str(wh))
    try:
        con.execute("INSERT INTO ops.runs (run_id, started_at, as_of, status, error) VALUES ('earlier-failure', "
                    "TIMESTAMP '2006-08-14 20:00:00', DATE '2006-08-14', 'failed', ?)",
                    [f"ValueError: could not move {names[0]}: disk full"])
    finally:
        con.close()

    # Open -> restricted, by the next nightly run (nothing new in the inbox).
    reclassify(registry, MOVED, "restricted")
    code, output = cli("run", "--inbox", demo / "inbox", "--settle-seconds", "0", *base)
    assert code == 0, output
    assert (f"moved pilot {MOVED} from the open warehouse to the restricted store (its classification is now "
            f"restricted)") in output
    for path in (wh, published_path(wh)):
        assert leftovers(path, MOVED, sids, names, OPEN_ALLOWED) == {}, path
        assert line_counts(path, MOVED) == (0, 0, 0)
        assert scores(path, MOVED) == before_scores
    assert line_counts(rs, MOVED) == (15, 21, 28)
    assert scores(rs, MOVED) == before_scores
    # Replaced whole, its class kept (warehouse/moves.py; tests/test_move_run_errors.py has the texts).
    mover = re.search(r"^run (\S+) as of", output, re.M).group(1)
    assert q(wh, "SELECT error FROM ops.runs WHERE run_id = 'earlier-failure'") == [
        (f"ValueError: [detail removed: it named data of a pilot that became restricted, moved to the restricted "
         f"store by run {mover} / ลบรายละเอียดแล้ว: ข้อความอ้างถึงข้อมูลของโครงการที่ถูกจัดเป็นโครงการชั้นความลับ "
         f"ซึ่งย้ายไปคลังข้อมูลชั้นความลับโดยการประมวลผล {mover}]",)]
    assert q(rs, "SELECT reason, count(*), count(DISTINCT submission_id), bool_and(status_before = status_after) "
                 "FROM ingest.status_changes WHERE reason LIKE 'moved%' GROUP BY ALL") == [
        ("moved_to_restricted", 15, 15, True)]
    assert stored(open_ev, shas) == 0 and stored(r_ev, shas) == len(shas)
    assert reminder_rows(out, MOVED) == []  # no letter for a report that was sent
    summary = (out / "summary.en.md").read_text(encoding="utf-8")
    assert "4.1244" in summary and not any(n in summary for n in names)

    # Restricted -> open, by a rebuild.
    reclassify(registry, MOVED, "open")
    code, output = cli("rebuild", *base)
    assert code == 0, output
    assert (f"moved pilot {MOVED} from the restricted store to the open warehouse (its classification is now "
            f"open)") in output
    assert leftovers(rs, MOVED, sids, names) == {}
    for path in (wh, published_path(wh)):
        assert line_counts(path, MOVED) == (15, 21, 28)
        assert scores(path, MOVED) == before_scores
        assert sorted(r[0] for r in q(path, "SELECT file_name FROM ingest.submissions WHERE pilot_id = ?",
                                      [MOVED])) == sorted(names)
    assert q(wh, "SELECT reason, count(*) FROM ingest.status_changes WHERE reason LIKE 'moved%' "
                 "GROUP BY ALL ORDER BY 1") == [("moved_to_open", 15), ("moved_to_restricted", 15)]
    assert stored(open_ev, shas) == len(shas) and stored(r_ev, shas) == 0
    assert reminder_rows(out, MOVED) == []

    # A third job moves nothing and says nothing about it.
    code, output = cli("rebuild", *base)
    assert code == 0 and "moved pilot" not in output


PILOT = "PLT-2548-003"  # tests/test_flow.py's scenario: open, 5 submissions (a..f), 3 accepted


def _state(root: Path) -> tuple[tuple, tuple]:
    """(open, restricted) line counts of PILOT after the recovery the next job runs at its start."""
    wh = root / "wh.duckdb"
    con = duckdb.connect(str(wh))  # read-write: replays the WAL, as the next job does
    try:
        restricted.recover(restricted.files_for(wh), con)
    finally:
        con.close()
    rs = files_of(wh).restricted
    return line_counts(wh, PILOT), line_counts(rs, PILOT) if rs.exists() else (0, 0, 0)


@SERIAL
@pytest.mark.parametrize("point", ["moving", "open-committed"])
def test_a_move_killed_leaves_the_old_state_or_the_new(tmp_path, scenario_copy, point):
    registry, inbox = scenario_copy  # the first night (tests/conftest.py)
    wh = tmp_path / "wh.duckdb"
    old_scores = scores(wh, PILOT)
    shas = [r[0] for r in q(wh, "SELECT DISTINCT sha256 FROM ingest.submissions WHERE evidence_kept")]
    opened = line_counts(wh, PILOT)
    # a, b, c, d and the quarantined f carry the pilot; the duplicate e (a's bytes) goes with a
    assert opened[0] == 5 and len(shas) == 5
    reclassify(registry, PILOT, "restricted")

    killed_run(tmp_path, registry, inbox, point)

    after = _state(tmp_path)
    # Killed before the open commit: rolled back in both files; after it: finished in both.
    assert after == ((opened, (0, 0, 0)) if point == "moving" else ((0, 0, 0), opened))
    open_ev, r_ev = files_of(wh).evidence, restricted.files_for(wh).evidence
    assert stored(open_ev, shas) == len(shas)  # the originals are removed only after the commit

    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 0, output
    assert ("moved pilot" in output) == (point == "moving")
    assert _state(tmp_path) == ((0, 0, 0), opened)
    assert q(files_of(wh).restricted, "SELECT count(DISTINCT submission_id) FROM ingest.status_changes "
                                      "WHERE reason = 'moved_to_restricted'") == [(6,)]
    assert q(wh, "SELECT count(*) FROM ingest.submissions") == [(0,)]
    assert scores(files_of(wh).restricted, PILOT) == old_scores == scores(wh, PILOT)
    assert stored(open_ev, shas) == 0 and stored(r_ev, shas) == len(shas)


@SERIAL
def test_a_first_move_killed_after_its_commit_is_finished_even_once_the_pilot_is_open_again(tmp_path, scenario_copy):
    """Verifier VI, F2: the pilot's rows were only in the killed job's `.next` (the store's first
    job), and the next job, its registry naming no restricted pilot, never looked at `.next`: the
    pilot was left with no data. The next job renames `.next` (its job committed), then moves the
    pilot back to the open side: every row and figure of the first night again."""
    registry, inbox = scenario_copy  # the first night (tests/conftest.py): no restricted store
    wh = tmp_path / "wh.duckdb"
    files = restricted.files_for(wh)
    old_scores, opened = scores(wh, PILOT), line_counts(wh, PILOT)
    assert opened[0] == 5 and not files.store.exists()
    reclassify(registry, PILOT, "restricted")

    killed_run(tmp_path, registry, inbox, "open-committed")

    # The open commit holds the move; the pilot's rows are only in the working copy.
    assert files.next.exists() and not files.store.exists()
    reclassify(registry, PILOT, "open")
    code, output = run_cli(registry, inbox, tmp_path)
    assert code == 0, output
    assert f"moved pilot {PILOT} from the restricted store to the open warehouse" in output
    assert not files.next.exists()
    assert line_counts(wh, PILOT) == opened and line_counts(files.store, PILOT) == (0, 0, 0)
    assert scores(wh, PILOT) == old_scores == scores(published_path(wh), PILOT)


def _old_release(root: Path) -> Path:
    """The warehouse, registry and evidence that release 6fe971e made of its demo, under root."""
    with tarfile.open(FIXTURE) as tar:
        tar.extractall(root, filter="tar")
    release = root / "release_6fe971e"
    export = release / "warehouse-export"
    con = duckdb.connect(str(release / "warehouse.duckdb"))
    try:
        migrate(con, target=3)  # that release's schema: migrations 0001-0003
        con.execute("DELETE FROM ops.schema_migrations")  # its own rows, with their dates, follow
        for table, name in re.findall(r"COPY (\w+\.\w+) FROM '[^']*/([^'/]+)'",
                                      (export / "load.sql").read_text(encoding="utf-8")):
            schema, bare = table.split(".")
            exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
                                 "AND table_name = ?", [schema, bare]).fetchall()[0][0]
            source = f"read_parquet('{export / name}')"
            # its marts were built by its own code, not by a migration
            con.execute(f"INSERT INTO {table} SELECT * FROM {source}" if exists
                        else f"CREATE TABLE {table} AS SELECT * FROM {source}")
    finally:
        con.close()
    return release


def test_a_warehouse_of_the_release_before_the_restricted_store_upgrades_in_one_night(tmp_path, prefect_harness):
    release = _old_release(tmp_path)
    wh, out, inbox = release / "warehouse.duckdb", tmp_path / "out", tmp_path / "inbox"
    inbox.mkdir()
    secret = "PLT-2548-006"  # restricted in that release's demo registry, yet stored in the open warehouse
    assert q(wh, "SELECT max(version) FROM ops.schema_migrations") == [(3,)]
    sids = [r[0] for r in q(wh, "SELECT submission_id FROM ingest.submissions WHERE pilot_id = ?", [secret])]
    names = [r[0] for r in q(wh, "SELECT file_name FROM ingest.submissions WHERE list_contains(?, submission_id)",
                             [sids])]
    shas = [r[0] for r in q(wh, "SELECT DISTINCT sha256 FROM ingest.submissions WHERE list_contains(?, submission_id)",
                            [sids])]
    assert line_counts(wh, secret) == (29, 14, 42)  # 29 submissions, 56 lines (the figures)
    old_scores = scores(wh, secret)  # as that release computed them
    assert [s[1:] for s in old_scores[-2:]] == [(Decimal("2.5125"), "at_risk")] * 2

    code, output = cli("run", "--registry", release / "registry", "--inbox", inbox, "--warehouse", wh, "--out", out,
                       "--as-of", DEMO_AS_OF, "--settle-seconds", "0")
    assert code == 0, output
    assert f"moved pilot {secret} from the open warehouse to the restricted store" in output
    rs = files_of(wh).restricted
    for path in (wh, published_path(wh)):
        assert leftovers(path, secret, sids, names, OPEN_ALLOWED) == {}, path
        assert scores(path, secret) == old_scores
    assert line_counts(rs, secret) == (29, 14, 42)
    assert scores(rs, secret) == old_scores
    assert stored(release / "warehouse.evidence", shas) == 0
    assert stored(restricted.files_for(wh).evidence, shas) == len(shas)
    # No letter calls a report of the pilot missing: its four agencies all reported.
    assert reminder_rows(out, secret) == []
    letters = {p.stem.split(".")[0] for p in (out / "reminders").glob("*.html")}
    assert letters.isdisjoint({"01005", "01006", "11002", "25001"})
    assert "no_data 0" in output  # pilots by status: every pilot keeps its score
