"""The analysts' drill-down in the web (issue 21 items 3-4, web.md "Drill-down"): score -> formula
-> submission -> lines -> original file, its visibility by role and restricted clearance, and
the read-only SQL page with exactly the lockdown of `pilotkpi sql`."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from tests.support import ROOT, child_env
from tests.web.conftest import text_of
from web.accounts import accounts_path, add

SCORE = "/pilots/PLT-2548-003/scores/2549-Q3/K1"


def _pre(page: str) -> str:
    import html

    return html.unescape(re.search(r'<pre id="explain" class="explain">(.*?)</pre>', page, re.S).group(1))


def _cli(*args: str) -> tuple[int, str]:
    """The command as an analyst runs it: its own process (the app under test holds the published
    copy open, locked down, in this one)."""
    done = subprocess.run([sys.executable, "-m", "flows.cli", *args], env=child_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def _audit(site_dir) -> list[dict]:
    path = site_dir / "warehouse.audit.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_analyst_drills_from_a_score_to_the_original_file(client_for, site_dir):
    analyst = client_for("demo-analyst")
    page = analyst.get(SCORE)
    assert page.status_code == 200
    # The formula and its numbers, by hand (scoring.md §1): K1 is `higher`, thresholds 40 / 50 /
    # 60 / 70 / 80 in FY 2549, a = 65.6 -> k = 3, s = 3 + (65.6 - 60) / (70 - 60) = 3.5600;
    # weight 40 -> weighted 3.56 x 40 / 100 = 1.4240; s >= 3 -> on_target.
    assert 'data-score="3.5600"' in page.text
    facts = dict(re.findall(r'<tr data-item="([a-z_]+)"><th>[^<]*</th><td>(?:<code class="formula">)?([^<]*)', page.text))
    assert facts["actual"] == "65.6"
    assert facts["thresholds_applied"] == "40 / 50 / 60 / 70 / 80"
    assert facts["formula"].endswith("= 3 + (65.6 − 60) / (70 − 60) = 3 + 5.6 / 10")
    assert facts["score"] == "3.5600"
    assert facts["weighted_score"] == "3.5600 × 40 / 100 = 1.4240"
    # The status in the committee summary's words (kpis/summary/labels.py), as the pilot page says it.
    assert facts["status"] == "บรรลุเป้าหมาย"
    k1_row = re.search(r'<tr data-kpi="K1">(.*?)</tr>', analyst.get("/pilots/PLT-2548-003").text, re.S).group(1)
    assert '<span class="badge s-on_target" data-status="on_target">บรรลุเป้าหมาย</span>' in k1_row
    # ... exactly as `pilotkpi explain` prints them.
    code, printed = _cli("explain", "PLT-2548-003", "K1", "2549-Q3", "--warehouse", str(site_dir / "warehouse.duckdb"))
    assert code == 0 and _pre(page.text) == printed

    # -> the submission behind the actual, with its lines and row numbers.
    sha = re.search(r'<a href="/submissions/([0-9a-f]{64})" class="source">PLT-2548-003_03009_2549-Q3.csv</a>',
                    page.text).group(1)
    submission = analyst.get(f"/submissions/{sha}")
    assert submission.status_code == 200
    assert f'<code id="sha256">{sha}</code>' in submission.text
    lines = re.findall(r'<tr data-row="(\d+)" data-item="([^"]+)">', submission.text)
    assert lines[:3] == [("2", "K1"), ("3", "K2"), ("4", "K3")]  # the row explain names: K1 on row 2
    assert len(lines) == 5 and lines[3][1] == "ACT-L5-01"

    # -> the original file, byte for byte as the agency sent it, and the download audited.
    original = analyst.get(f"/submissions/{sha}/original")
    assert original.status_code == 200
    assert original.headers["content-type"] == "application/octet-stream"
    assert "attachment" in original.headers["content-disposition"]
    sent = (site_dir / "inbox" / "processed" / "PLT-2548-003_03009_2549-Q3.csv").read_bytes()
    assert original.content == sent
    assert hashlib.sha256(original.content).hexdigest() == sha
    download = [e for e in _audit(site_dir) if e["event"] == "download"]
    assert [(e["who"], e["sha256"], e["file_name"]) for e in download] == [
        ("demo-analyst", sha, "PLT-2548-003_03009_2549-Q3.csv")]


def test_the_score_sources_download_gives_the_pages_bangkok_time_under_a_bangkok_header(client_for):
    """The sources table's receipt time: the page shows it in Bangkok time (UTC+7, warehouse/times.py),
    so its CSV does, with the offset, and its XLSX as Bangkok's clock, headed as /submissions
    heads it (Bangkok time), in Thai and in English: never "(UTC)"."""
    from openpyxl import load_workbook

    analyst = client_for("demo-analyst")
    (utc,) = [r["received_at"] for r in client_for.app.state.site.data.published.rows(
        "SELECT received_at FROM ingest.submissions WHERE file_name = 'PLT-2548-003_03009_2549-Q3.csv'")]
    bangkok = utc + timedelta(hours=7)  # the stored UTC time (naive) on Bangkok's clock
    name = "score-plt-2548-003-k1-2549-q3-sources"
    cell = re.findall(r'<td class="nowrap">([^<]*)</td>', analyst.get(SCORE).text)[-1]
    assert cell.endswith(f"{bangkok:%H:%M} น."), (cell, utc)
    for lang, header in (("th", "เวลาที่รอบประมวลผลกลางคืนรับเข้า (เวลาประเทศไทย)"),
                         ("en", "Taken in by the night's run (Bangkok time)")):
        analyst.post("/language", data={"csrf": analyst.csrf("/"), "lang": lang, "back": "/"})
        got = list(csv.reader(io.StringIO(analyst.get(SCORE, params={"download": f"{name}.csv"}).content.decode("utf-8-sig"))))
        assert got[0][-1] == header and len(got) == 2, got
        assert got[1][-1] == bangkok.isoformat() + "+07:00", (got[1], utc)
        sheet = load_workbook(io.BytesIO(analyst.get(SCORE, params={"download": f"{name}.xlsx"}).content)).active
        head, row = list(sheet.iter_rows(values_only=True))
        assert head[-1] == header and abs(row[-1] - bangkok) < timedelta(milliseconds=1), (row, utc)  # Excel keeps ms


def test_every_kpi_page_equals_pilotkpi_explain(client_for, site_dir):
    """A `sum` KPI (K3: quarters 1..3 added, thresholds x 3/4) and a `lower` one (K2) too, in English."""
    analyst = client_for("demo-analyst")
    analyst.post("/language", data={"csrf": analyst.csrf("/"), "lang": "en", "back": "/"})
    # scoring.md §1 step 5 by hand: K1 3.5600 and K3 3.1720 are >= 3, K2 2.9800 is in [2, 3).
    statuses = {"K1": "on target", "K2": "at risk", "K3": "on target"}
    for kpi in ("K1", "K2", "K3"):
        page = analyst.get(f"/pilots/PLT-2548-003/scores/2549-Q3/{kpi}")
        code, printed = _cli("explain", "PLT-2548-003", kpi, "2549-Q3", "--warehouse", str(site_dir / "warehouse.duckdb"))
        assert code == 0 and _pre(page.text) == printed, kpi
        status = re.search(r'<tr data-item="status"><th>Status</th><td>([^<]*)</td>', page.text)
        assert status and status.group(1) == statuses[kpi], kpi
    k3 = analyst.get("/pilots/PLT-2548-003/scores/2549-Q3/K3")
    assert "sum of the fiscal year's quarters so far" in text_of(k3.text)
    assert len(re.findall(r'<tr data-submission="\d+">', k3.text)) == 3  # one source line per quarter
    # Another spelling of the period (as report files spell it) reaches the same score.
    assert analyst.get("/pilots/PLT-2548-003/scores/FY2006-Q3/k1").status_code == 200
    assert analyst.get("/pilots/PLT-2548-003/scores/2549-Q9/K1").status_code == 404


def test_restricted_lineage_lines_and_files_only_for_cleared_accounts(client_for, site_dir, passwords):
    store = client_for.app.state.site.data.restricted
    r_sha = store.rows("SELECT s.sha256 FROM ingest.submissions s JOIN core.budget_lines b USING (submission_id) "
                       "WHERE s.pilot_id = 'PLT-2548-006' AND s.agency_code = '01005' AND b.note IS NOT NULL "
                       "ORDER BY s.submission_id LIMIT 1")[0]["sha256"]
    r_score = "/pilots/PLT-2548-006/scores/2549-Q3/S1"
    add(accounts_path(site_dir / "warehouse.duckdb"), "plain-committee", "committee", "plain-password-1", [])
    plain = client_for()
    assert plain.sign_in("plain-committee", "plain-password-1").status_code == 303
    analyst, agency = client_for("demo-analyst"), client_for("demo-agency")
    for client in (plain, analyst, agency):  # not cleared: exactly like a missing id
        for path in (r_score, f"/submissions/{r_sha}", f"/submissions/{r_sha}/original"):
            assert client.get(path).status_code == 404, path

    committee = client_for("demo-committee")  # restricted: true
    page = committee.get(r_score)
    assert page.status_code == 200
    code, printed = _cli("explain", "PLT-2548-006", "S1", "2549-Q3", "--warehouse", str(site_dir / "warehouse.duckdb"),
                         "--restricted-store", str(site_dir / "warehouse.restricted.duckdb"))
    assert code == 0 and _pre(page.text) == printed
    lines = committee.get(f"/submissions/{r_sha}")
    notes = {r["note"] for r in store.rows("SELECT note FROM core.budget_lines b JOIN ingest.submissions s "
                                           "USING (submission_id) WHERE s.sha256 = ? AND note IS NOT NULL", [r_sha])}
    assert notes and all(n in text_of(lines.text) for n in notes)
    original = committee.get(f"/submissions/{r_sha}/original")
    assert hashlib.sha256(original.content).hexdigest() == r_sha
    entry = [e for e in _audit(site_dir) if e["event"] == "download"][-1]
    assert entry["store"] == "restricted" and "file_name" not in entry  # no restricted name in the trail

    # The restricted pilot's lead: its own files, but not the score page (the KPI's name, weight,
    # thresholds and score, which its pilot page withholds too): 404 like a missing score, its
    # CSV as well (spec web.md, "Restricted pilots"; verifier V5, F3).
    lead = client_for("demo-restricted-agency")
    strip = lambda t: re.sub(r'value="[^"]+"', "", t)  # noqa: E731 - the CSRF token differs per page
    refused, missing = lead.get(r_score), lead.get("/pilots/PLT-2548-006/scores/2549-Q3/NO-SUCH")
    assert refused.status_code == missing.status_code == 404 and strip(refused.text) == strip(missing.text)
    assert lead.get(r_score, params={"download": "score-plt-2548-006-s1-2549-q3-sources.csv"}).status_code == 404
    assert "/scores/" not in lead.get("/pilots/PLT-2548-006").text  # and no link leads there
    assert lead.get(f"/submissions/{r_sha}").status_code == 200
    assert lead.get(f"/submissions/{r_sha}/original").content == original.content


def test_an_agency_drills_into_its_own_files_only(client_for, site_dir):
    add(accounts_path(site_dir / "warehouse.duckdb"), "opdc", "agency", "opdc-password-1", ["03009"])
    opdc = client_for()
    assert opdc.sign_in("opdc", "opdc-password-1").status_code == 303
    page = opdc.get(SCORE)  # 03009 leads PLT-2548-003: the score's files are its own
    assert page.status_code == 200
    sha = re.search(r'href="/submissions/([0-9a-f]{64})" class="source"', page.text).group(1)
    assert opdc.get(f"/submissions/{sha}/original").status_code == 200
    dbd = client_for("demo-agency")  # 10004 takes part in other pilots but leads none
    assert dbd.get(SCORE).status_code == 404
    assert dbd.get(f"/submissions/{sha}").status_code == 404
    missing = dbd.get(f"/submissions/{'0' * 64}/original")
    other = dbd.get(f"/submissions/{sha}/original")
    assert other.status_code == missing.status_code == 404
    strip = lambda t: re.sub(r'value="[^"]+"', "", t)  # noqa: E731 - the CSRF token differs per page
    assert strip(other.text) == strip(missing.text)


def test_lines_are_paged_and_downloaded_whole(client_for, monkeypatch):
    from web import drilldown

    monkeypatch.setattr(drilldown, "LINES_PER_PAGE", 2)
    analyst = client_for("demo-analyst")
    sha = re.search(r'href="/submissions/([0-9a-f]{64})" class="source"', analyst.get(SCORE).text).group(1)
    rows = lambda page: re.findall(r'<tr data-row="(\d+)"', page.text)  # noqa: E731
    assert rows(analyst.get(f"/submissions/{sha}")) == ["2", "3"]
    third = analyst.get(f"/submissions/{sha}?page=3")
    assert rows(third) == ["6"] and "หน้า 3 จาก 3 (5 รายการ)" in text_of(third.text)
    name = re.search(r'href="\?download=(lines-\d+)\.csv"', third.text).group(1)
    got = list(csv.reader(io.StringIO(analyst.get(f"/submissions/{sha}?download={name}.csv").content.decode("utf-8-sig"))))
    assert [r[0] for r in got[1:]] == ["2", "3", "4", "5", "6"]
    assert got[1][2] == '="03009"' and got[1][7] == "65.6"  # the agency code stays text in Excel


# --- the SQL page ------------------------------------------------------------------------------

def _sql(client, statement: str, **params):
    return client.get("/sql", params={"q": statement, **params})


def _errors(page) -> list[str]:
    import html

    return [html.unescape(e) for e in re.findall(r'<p class="alert" data-error="1">(.*?)</p>', page.text, re.S)]


REFUSED = [
    "CREATE TABLE x (a INTEGER)",
    "DELETE FROM marts.pilot_scores",
    "ATTACH '{restricted}' AS r",
    "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('{restricted}')",
    "SELECT * FROM read_blob('{evidence}/*/*')",
    "SELECT * FROM glob('{evidence}/*')",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "SET lock_configuration = false",
]


def test_the_sql_page_refuses_exactly_what_pilotkpi_sql_refuses(client_for, site_dir, tmp_path):
    analyst = client_for("demo-analyst")
    values = {"restricted": site_dir / "warehouse.restricted.duckdb", "tmp": tmp_path,
              "evidence": site_dir / "warehouse.restricted.evidence"}
    statements = [template.format(**values) for template in REFUSED]
    page_errors = [_errors(_sql(analyst, statement)) for statement in statements]
    assert all(len(e) == 1 for e in page_errors), page_errors
    code, printed = _cli("sql", "--warehouse", str(site_dir / "warehouse.duckdb"), "-c", ";\n".join(statements) + ";")
    assert code == 1
    assert printed.splitlines() == [f"Error: {e[0]}" for e in page_errors]
    assert not (tmp_path / "out.csv").exists()
    # What it allows, it shows as a table.
    ok = _sql(analyst, "SELECT pilot_id, composite_score FROM marts.pilot_scores WHERE period = '2549-Q3' "
                       "ORDER BY composite_score DESC LIMIT 2")
    assert not _errors(ok)
    assert re.findall(r"<tr><td>(PLT-[^<]+)</td><td>([^<]+)</td></tr>", ok.text) == [
        ("PLT-2548-005", "4.1244"), ("PLT-2548-001", "3.6880")]  # docs/analyst-guide.md question 1



def test_the_sql_page_shows_columns_of_the_same_name_as_the_statement_names_them(client_for):
    """Reviewer RV9 item 2: a join's columns of the same name are shown each with its own values,
    headed by the names the statement gives (not composite_score_1), as `pilotkpi sql` shows them."""
    analyst = client_for("demo-analyst")
    page = _sql(analyst, "SELECT a.composite_score, b.composite_score, a.pilot_id AS composite_score "
                         "FROM marts.pilot_scores a JOIN marts.pilot_scores b ON b.period = a.period "
                         "AND b.pilot_id = 'PLT-2548-001' WHERE a.period = '2549-Q3' AND a.pilot_id = 'PLT-2548-005'")
    assert not _errors(page)
    assert re.findall(r"<th>([^<]*)</th>", page.text) == ["composite_score"] * 3
    # 2549-Q3 composites (docs/analyst-guide.md question 1): 4.1244 and 3.688, each column trimmed alone.
    assert re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", page.text) == [
        ("4.1244", "3.688", "PLT-2548-005")]

def test_the_sql_page_caps_rows_and_time_and_downloads_what_it_shows(client_for, monkeypatch):
    from openpyxl import load_workbook

    from web import drilldown

    monkeypatch.setattr(drilldown, "SQL_MAX_ROWS", 5)
    monkeypatch.setattr(drilldown, "SQL_SECONDS", 0.5)
    analyst = client_for("demo-analyst")
    statement = "SELECT range AS n, lpad(range::VARCHAR, 5, '0') AS code FROM range(100); " \
                "SELECT count(*) FROM range(100000000000) a, range(1000) b"
    page = _sql(analyst, statement)
    assert 'data-truncated="1"' in page.text
    assert re.findall(r"<tr><td>(\d+)</td>", page.text) == ["0", "1", "2", "3", "4"]
    assert _errors(page) == ["stopped after 0.5 s (the page's time limit)"]
    got = list(csv.reader(io.StringIO(_sql(analyst, statement, download="sql-result-1.csv").content.decode("utf-8-sig"))))
    assert got == [["n", "code"], *[[str(i), f'="0000{i}"'] for i in range(5)]]
    sheet = load_workbook(io.BytesIO(_sql(analyst, statement, download="sql-result-1.xlsx").content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("n", "code") and values[1] == (0, "00000") and len(values) == 6


def test_the_sql_pages_downloads_give_its_times_as_the_page_prints_them(client_for):
    """An analyst's SQL computes its own times: a stored UTC time, or one already moved to Bangkok
    time. The page prints each as computed, and so do its downloads (web.md: the same values as
    the page), never shifted by 7 hours: 20:27:00.5 stays 20:27:00.5, 03:27 stays 03:27."""
    from openpyxl import load_workbook

    analyst = client_for("demo-analyst")
    statement = ("SELECT TIMESTAMP '2006-08-14 20:27:00.5' AS utc, "
                 "TIMESTAMP '2006-08-14 20:27:00' + INTERVAL 7 HOUR AS bangkok")
    page = _sql(analyst, statement)
    assert re.findall(r"<tbody><tr><td>([^<]*)</td><td>([^<]*)</td>", page.text) == [
        ("2006-08-14 20:27:00.500000", "2006-08-15 03:27:00")]
    got = list(csv.reader(io.StringIO(_sql(analyst, statement, download="sql-result-1.csv").content.decode("utf-8-sig"))))
    assert got == [["utc", "bangkok"], ["2006-08-14T20:27:00.500000", "2006-08-15T03:27:00"]]  # ISO 8601, no zone
    sheet = load_workbook(io.BytesIO(_sql(analyst, statement, download="sql-result-1.xlsx").content)).active
    assert list(sheet.iter_rows(values_only=True))[1] == (datetime(2006, 8, 14, 20, 27, 0, 500000),
                                                         datetime(2006, 8, 15, 3, 27))


def test_no_restricted_value_is_reachable_from_the_sql_page(client_for):
    """The page's connection is the published copy, which holds none of the restricted pilot's
    line-level data: every text value of every relation is searched for the restricted store's
    file names, hashes, notes and KPI names."""
    data = client_for.app.state.site.data
    seeds = {r["v"] for r in data.restricted.rows(
        "SELECT file_name AS v FROM ingest.submissions UNION SELECT sha256 FROM ingest.submissions "
        "UNION SELECT note FROM core.budget_lines WHERE note IS NOT NULL "
        "UNION SELECT name_en FROM registry.kpis UNION SELECT name_th FROM registry.kpis")}
    assert len(seeds) > 20
    analyst = client_for("demo-analyst")
    columns = data.published.rows("SELECT schema_name || '.' || table_name AS rel, column_name AS col FROM duckdb_columns() "
                                  "WHERE NOT internal AND data_type = 'VARCHAR'")
    union = " UNION ".join(f'SELECT "{c["col"]}"::VARCHAR AS v FROM {c["rel"]}' for c in columns)
    # Distinct text values of the whole copy (UNION), and how many of them are restricted seeds.
    hits = _sql(analyst, f"SELECT count(*) AS values_seen, count(*) FILTER (WHERE v IN ({', '.join(repr(s) for s in seeds)})) "
                         f"AS restricted_seen FROM ({union})")
    counts = re.findall(r"<tr><td>(\d+)</td><td>(\d+)</td></tr>", hits.text)
    assert not _errors(hits) and int(counts[0][0]) > 500 and counts[0][1] == "0"
    assert "PLT-2548-006" in _sql(analyst, "SELECT pilot_id FROM registry.pilots").text  # only its open rows
    assert re.search(r"<tr><td>0</td></tr>", _sql(analyst, "SELECT count(*) FROM core.budget_lines "
                                                            "WHERE pilot_id = 'PLT-2548-006'").text)


@pytest.mark.parametrize("name", ["demo-agency", "demo-committee"])
def test_the_sql_page_is_the_analysts_alone(client_for, name):
    assert client_for(name).get("/sql", params={"q": "SELECT 1"}).status_code == 403


def test_a_held_files_lines_come_from_its_held_copy(tmp_path):
    """A file held for a closed quarter keeps its lines in ingest.held_* (they reach core.* only
    when approved): its page shows those; an accepted file's come from core.*."""
    from types import SimpleNamespace

    from warehouse.db import connect
    from web import drilldown
    from web.published import ReadOnlyStore

    path = tmp_path / "w.duckdb"
    con = connect(path)
    kpi = "INSERT INTO {} (pilot_id, agency_code, kpi_code, period, fiscal_year, quarter, actual, note, submission_id, " \
          "row_number) VALUES ('P', '03009', 'K1', '2549-Q3', 2549, 3, ?, 'n', ?, 2)"
    con.execute(kpi.format("ingest.held_kpi_actuals"), [70.5, 7])
    con.execute(kpi.format("core.kpi_actuals"), [65.6, 6])
    con.execute("INSERT INTO ingest.held_budget_lines (pilot_id, agency_code, period, fiscal_year, quarter, activity_code, "
                "layer, funding_source, allocated_thb, disbursed_thb, note, submission_id, row_number) VALUES "
                "('P', '03009', '2549-Q3', 2549, 3, 'ACT-1', 2, 'own', 100.50, 20, '=1+1', 7, 3)")
    con.close()
    page = SimpleNamespace(site=SimpleNamespace(data=SimpleNamespace(published=ReadOnlyStore(path))))
    held = {"submission_id": 7, "status": "held", "store": "open"}
    accepted = {"submission_id": 6, "status": "accepted", "store": "open"}
    assert drilldown.line_count(page, held) == 2
    got = drilldown.lines(page, held)
    assert [(r["row_number"], r["line_type"], r["item_code"], r["actual"], r["allocated_thb"]) for r in got] == [
        (2, "kpi", "K1", Decimal("70.5"), None), (3, "budget", "ACT-1", None, Decimal("100.50"))]
    assert [r["actual"] for r in drilldown.lines(page, accepted)] == [Decimal("65.6")]
    assert drilldown.lines(page, held, offset=1, limit=1)[0]["row_number"] == 3
    assert drilldown.lines(page, {**held, "status": "superseded", "submission_id": 99}) == []


def _sections(page) -> list[tuple[str, str]]:
    """(language, text) of each section of a page that speaks Thai and English whatever the session's."""
    return [(lang, text_of(body).strip())
            for lang, body in re.findall(r'<section lang="(th|en)" class="panel">(.*?)</section>', page.text, re.S)]


def test_a_stored_original_that_no_longer_matches_its_sha256_gets_a_clear_page_a_log_and_an_audit_line(
        client_for, site_dir, caplog):
    """The evidence store is write-once; a stored original changed on disk afterwards (an open
    file, then a restricted one) is never passed on: the page answers 503 (not a 500) in Thai and
    English naming the SHA-256 and what to do, the log names the path and the hash found, the audit
    trail records the refused download (no restricted file name in either); the file restored from
    its backup is served at the next request, without a restart."""
    import logging
    import os

    from warehouse import evidence
    from warehouse.db import evidence_dir_for

    caplog.set_level(logging.ERROR, logger="pilotkpi.web")
    analyst, committee = client_for("demo-analyst"), client_for("demo-committee")
    page = analyst.get(SCORE)
    open_sha = re.search(r'href="/submissions/([0-9a-f]{64})" class="source"', page.text).group(1)
    store = client_for.app.state.site.data.restricted
    r_sha = store.rows("SELECT sha256 FROM ingest.submissions WHERE pilot_id = 'PLT-2548-006' AND status = 'accepted' "
                       "ORDER BY submission_id LIMIT 1")[0]["sha256"]
    r_name = store.rows("SELECT file_name FROM ingest.submissions WHERE sha256 = ?", [r_sha])[0]["file_name"]
    cases = ((analyst, open_sha, evidence_dir_for(site_dir / "warehouse.duckdb"), "open"),
             (committee, r_sha, site_dir / "warehouse.restricted.evidence", "restricted"))
    for client, sha, folder, side in cases:
        path = evidence.evidence_path(folder, sha)
        good = path.read_bytes()
        mode = path.stat().st_mode
        os.chmod(path, 0o600)
        path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit of its last byte changed on disk
        found = hashlib.sha256(path.read_bytes()).hexdigest()
        caplog.clear()
        refused = client.get(f"/submissions/{sha}/original")
        assert refused.status_code == 503, (side, refused.status_code)
        assert refused.headers["content-type"].startswith("text/html")
        assert f'data-store="{side}-evidence" data-problem="changed"' in refused.text
        said = _sections(refused)
        assert [lang for lang, _ in said] == ["th", "en"]
        assert said[0][1].startswith(f"ดาวน์โหลดไฟล์ต้นฉบับนี้ไม่ได้ ไฟล์ต้นฉบับที่จัดเก็บไว้ (SHA-256 {sha}) "
                                     "ไม่ตรงกับ SHA-256 ที่บันทึกไว้เมื่อได้รับไฟล์")
        assert said[1][1].startswith(f"This original file cannot be downloaded The stored original file (SHA-256 {sha}) "
                                     "no longer matches the SHA-256 recorded when it was received")
        assert "restore the file from its backup" in said[1][1]
        assert str(site_dir) not in refused.text and found not in refused.text
        logged = [r.getMessage() for r in caplog.records if r.name == "pilotkpi.web"]
        assert logged == [f"GET /submissions/{sha}/original: the stored original {path} of submission "
                          f"{refused_id(client, sha)} ({side} store) hashes to {found}, not {sha}"]
        entry = _audit(site_dir)[-1]
        assert (entry["event"], entry["who"], entry["sha256"], entry["store"], entry["found_sha256"]) == (
            "download_refused", "demo-analyst" if side == "open" else "demo-committee", sha, side, found)
        assert "file_name" not in entry and r_name not in json.dumps(entry) and r_name not in logged[0]
        path.write_bytes(good)  # restored from the backup: served again, byte for byte
        os.chmod(path, mode)
        restored = client.get(f"/submissions/{sha}/original")
        assert restored.status_code == 200 and hashlib.sha256(restored.content).hexdigest() == sha


def refused_id(client, sha: str) -> int:
    """The submission id the page names for a file (its first stored row)."""
    page = client.get(f"/submissions/{sha}")
    return int(re.search(r'data-submission="(\d+)"', page.text).group(1))


def test_a_csv_download_keeps_what_excel_would_turn_into_other_values(client_for):
    """Verifier VB: text Excel reads as a number or a logical value ((5) -> -5, 12% -> 0.12, 1,234
    -> 1234, TRUE), and numbers of more than 15 significant digits (rounded by Excel), are written as
    ="…", which Excel shows as that very text; 15 digits and fewer, and plain numbers, stay bare."""
    analyst = client_for("demo-analyst")
    statement = ("SELECT '(5)' AS neg, '12%' AS pct, '1,234' AS sep, 'TRUE' AS yes, "
                 "98765432109876.54::DECIMAL(18, 2) AS big, 13838003787034917066::UBIGINT AS hash, "
                 "123456789012345::BIGINT AS fifteen, 1234.50::DECIMAL(18, 2) AS amount, '45.678' AS plain")
    got = list(csv.reader(io.StringIO(_sql(analyst, statement, download="sql-result-1.csv").content.decode("utf-8-sig"))))
    assert got == [["neg", "pct", "sep", "yes", "big", "hash", "fifteen", "amount", "plain"],
                   ['="(5)"', '="12%"', '="1,234"', '="TRUE"', '="98765432109876.54"', '="13838003787034917066"',
                    "123456789012345", "1234.50", "45.678"]]
