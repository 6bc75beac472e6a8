"""A request still reading the published copy when a night publishes a new one (verifier VB).

DuckDB hands a new connection of a path the database instance a connection still open in the
process has, so the web opened "the new copy" and got the old one, then took it for the new one
until the next publish: after the night that moved PLT-2548-003 to the restricted store, the SQL
page kept returning its 21 KPI actuals (warehouse.md: the published copy holds none of a restricted
pilot's actuals). web/published.py now opens a new copy only once the old one is closed.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import duckdb
from click.testing import CliRunner

from tests.web.conftest import AS_OF, text_of
from tests.web.test_web_drill import _errors
from tests.web.test_web_pilots import _swap_in, _unavailable

MOVED = "PLT-2548-003"
COUNT = f"SELECT count(*) AS n FROM core.kpi_actuals WHERE pilot_id = '{MOVED}'"


def _count_on_disk(path) -> int:
    """The file's count, read by another process (this one's DuckDB may hold the old instance)."""
    code = f"import duckdb; print(duckdb.connect({str(path)!r}, read_only=True).execute({COUNT!r}).fetchall()[0][0])"
    return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def _sql_count(client) -> int:
    page = client.get(f"/sql?q={quote(COUNT)}")
    assert page.status_code == 200, page.text[:400]
    found = re.search(r"\bn\s+(\d+)\b", text_of(page.text).split("Run", 1)[-1])
    assert found, text_of(page.text)[:600]
    return int(found.group(1))


class _Holder(threading.Thread):
    """A request of another thread that reads the copy, and holds it until `release` is set."""

    def __init__(self, store):
        super().__init__(daemon=True)
        self.store, self.holding, self.release = store, threading.Event(), threading.Event()
        self.seen: list[int] = []

    def run(self) -> None:
        with self.store.cursor() as cur:
            self.seen.append(cur.execute(COUNT).fetchall()[0][0])
            self.holding.set()
            self.release.wait(60)
            # The same request reading again keeps its copy: one request never mixes two copies.
            self.seen.append(self.store.rows(COUNT)[0]["n"])


def _in_thread(fn):
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()), daemon=True)
    thread.start()
    return thread, box


def test_a_query_running_while_a_night_moves_a_pilot_does_not_keep_the_old_copy(client_for, site_dir):
    """The night that moves PLT-2548-003 to the restricted store publishes while another request
    reads the old copy: the next request waits for it, then reads the new copy (0 actuals of the
    pilot), and so does every request after; the holding request kept its own copy throughout."""
    from flows.cli import main

    published = site_dir / "warehouse.published.duckdb"
    before = _count_on_disk(published)  # the demo's rows of the pilot, by another route
    assert before > 0
    analyst = client_for("demo-analyst")
    assert _sql_count(analyst) == before
    holder = _Holder(client_for.app.state.site.data.published)
    holder.start()
    assert holder.holding.wait(30)

    pilot = site_dir / "registry" / "pilots" / f"{MOVED}.yaml"
    pilot.write_text(pilot.read_text(encoding="utf-8").replace("classification: open", "classification: restricted"),
                     encoding="utf-8")
    night = CliRunner().invoke(main, ["run", "--registry", str(site_dir / "registry"), "--inbox", str(site_dir / "inbox"),
                                      "--warehouse", str(site_dir / "warehouse.duckdb"), "--out", str(site_dir / "out"),
                                      "--as-of", AS_OF.isoformat()])
    assert night.exit_code == 0, night.output
    assert f"moved {MOVED}" in night.output or MOVED in night.output
    assert _count_on_disk(published) == 0  # what the file on disk holds now

    waiting, box = _in_thread(lambda: _sql_count(analyst))
    time.sleep(0.5)
    assert waiting.is_alive(), "the request was given a copy while the old one was still open"
    holder.release.set()
    holder.join(30)
    waiting.join(30)
    assert box["result"] == 0
    assert holder.seen == [before, before]
    assert _sql_count(analyst) == 0
    assert _sql_count(client_for("demo-analyst")) == 0


def test_a_copy_held_past_the_wait_is_a_503_being_replaced_then_the_new_copy(client_for, site_dir):
    """A request that finds the old copy still in use after the wait is answered 503 "being
    replaced" in Thai and English, never with the old copy; once the old one is let go, the next
    request reads the new copy."""
    published = site_dir / "warehouse.published.duckdb"
    analyst = client_for("demo-analyst")
    before = _sql_count(analyst)
    store = client_for.app.state.site.data.published
    store.replace_wait = 0.3
    holder = _Holder(store)
    holder.start()
    assert holder.holding.wait(30)
    # A new copy without the pilot's actuals, replaced by rename as publish.py replaces it.
    fresh = site_dir / "fresh.duckdb"
    fresh.write_bytes(published.read_bytes())
    with duckdb.connect(str(fresh)) as con:
        con.execute(f"DELETE FROM core.kpi_actuals WHERE pilot_id = '{MOVED}'")
    _swap_in(published, fresh.read_bytes())

    page = analyst.get(f"/sql?q={quote(COUNT)}")
    assert page.status_code == 503
    store_name, problem, said = _unavailable(page)
    assert (store_name, problem) == ("published", "replacing")
    assert said[0][1].startswith("ขณะนี้แสดงข้อมูลไม่ได้ กำลังเปลี่ยนไปใช้สำเนาเผยแพร่ฉบับใหม่ (warehouse.published.duckdb)")
    assert said[1][1].startswith("The figures cannot be shown right now A new published copy of the warehouse "
                                 "(warehouse.published.duckdb) has just been published")
    assert said[1][1].endswith("Load this page again in a moment. Nothing is lost.")
    holder.release.set()
    holder.join(30)
    assert holder.seen == [before, before]
    assert _sql_count(analyst) == 0


def test_a_decision_read_back_finds_it_in_the_restricted_store_renamed_into_place(client_for, site_dir):
    """Reading a decision's outcome back from the stores (web/decisions.applied_rows: after a COMMIT
    that raised, and at the web's start) opens the restricted store as it is on disk, though the
    web's store still holds the one before it open: DuckDB gave the old one back."""
    import os
    import shutil

    from web.decisions import applied_rows

    restricted = site_dir / "warehouse.restricted.duckdb"
    store = client_for.app.state.site.data.restricted
    assert store.rows("SELECT count(*) AS n FROM approval.decisions")[0]["n"] == 0  # the demo's: held open now
    staged = site_dir / "restricted.staged.duckdb"
    shutil.copyfile(restricted, staged)
    with duckdb.connect(str(staged)) as con:  # the decision's job commits into a copy renamed into place
        con.execute("INSERT INTO approval.decisions (decision_id, decided_at, decided_by, action, pilot_id, period, "
                    "submission_id, note, status_after, run_id, idempotency_key) VALUES (41, TIMESTAMP '2006-08-16 09:00:00', "
                    "'demo-committee', 'approve', 'PLT-2548-006', '2549-Q3', 17, NULL, 'accepted', 'run-41', 'key-41')")
    os.replace(staged, restricted)
    assert applied_rows(site_dir / "warehouse.duckdb", None, "key-41") == [
        (41, "approve", "PLT-2548-006", "2549-Q3", 17, "accepted", "run-41")]


def test_the_sql_page_limits_a_request_not_each_statement(client_for, monkeypatch):
    """A request's statements share the page's time limit: the one running when it is used up is
    stopped and the rest are not run, so no request holds a copy much past the limit (reviewer RV6:
    four statements of 9 s each held the old copy 36 s, and the site answered 503 meanwhile)."""
    from web import drilldown

    monkeypatch.setattr(drilldown, "SQL_SECONDS", 0.5)
    slow = "SELECT count(*) FROM range(100000000000) a, range(1000) b"
    analyst = client_for("demo-analyst")
    started = time.monotonic()
    page = analyst.get(f"/sql?q={quote(f'{slow}; {slow}; SELECT 42 AS answer')}")
    assert page.status_code == 200
    assert time.monotonic() - started < 5  # 0.5 s of statements, not 1 s and more
    errors = _errors(page)
    assert errors == ["stopped after 0.5 s (the page's time limit)",
                      "not run: the page's time limit of 0.5 s was used up",
                      "not run: the page's time limit of 0.5 s was used up"], errors
