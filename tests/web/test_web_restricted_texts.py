"""What the web shows of a restricted pilot to accounts not cleared for it (spec web.md,
"Restricted pilots"; verifier V5), on a copy of the README's demo (PLT-2548-006 restricted, lead
01005; demo-agency 10004 takes no part in it):

F1  the committee closes 2549-Q3 for PLT-2548-006 with a note and reopens it with a reason (the
    CLI's jobs, the ones the web's decisions run): /quarters and its closures.csv show the texts
    to the cleared committee only, and /sql gives an analyst the closure and decision rows
    without them; an open pilot's note is shown to every committee account as before.
F4  demo-agency checks files naming PLT-2548-006 with an unknown KPI code and with a real one:
    the same single defect (AGENCY_NOT_PARTICIPANT) either way, on the check page and in the
    night's quarantine, so no KPI code of the pilot is told. Its lead still hears KPI_UNKNOWN.
"""
from __future__ import annotations

import html
import re

import duckdb
from click.testing import CliRunner

from tests.web.conftest import AS_OF, HEADER, text_of
from web.accounts import accounts_path, add

NOTE, REASON = "SECRET-CLOSE-NOTE-watchlist-V5", "SECRET-REOPEN-REASON-agent-V5"
OPEN_NOTE = "open-close-note-V5"
SECRET = "PLT-2548-006"


def _cli(site, *args: str) -> str:
    from flows.cli import main

    base = ["--registry", str(site / "registry"), "--warehouse", str(site / "warehouse.duckdb"),
            "--out", str(site / "out"), "--as-of", AS_OF.isoformat()]
    result = CliRunner().invoke(main, [*args, *base])
    assert result.exit_code == 0, result.output
    return result.output


def _rows(path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_restricted_pilots_close_note_and_reopen_reason_reach_cleared_accounts_only(site_dir, client_for):
    site = site_dir
    _cli(site, "close-quarter", "2549-Q3", "--pilot", SECRET, "--by", "demo-committee", "--note", NOTE)
    _cli(site, "reopen", "2549-Q3", "--pilot", SECRET, "--by", "demo-committee", "--reason", REASON)
    _cli(site, "close-quarter", "2549-Q3", "--pilot", "PLT-2548-003", "--by", "demo-committee", "--note", OPEN_NOTE)
    path = accounts_path(site / "warehouse.duckdb")
    add(path, "plain-committee", "committee", "plain-committee-password", [])
    add(path, "plain-analyst", "analyst", "plain-analyst-password", [])
    plain, analyst = client_for(), client_for()
    assert plain.sign_in("plain-committee", "plain-committee-password").status_code == 303
    assert analyst.sign_in("plain-analyst", "plain-analyst-password").status_code == 303
    cleared = client_for("demo-committee")

    for client, shown in ((plain, False), (cleared, True)):
        page = client.get("/quarters", params={"period": "2549-Q3"})
        csv = client.get("/quarters", params={"period": "2549-Q3", "download": "closures.csv"})
        assert page.status_code == csv.status_code == 200
        text = text_of(page.text)
        assert SECRET in text and "PLT-2548-003" in text and OPEN_NOTE in text and OPEN_NOTE in csv.text
        assert (NOTE in text, REASON in text, NOTE in csv.text, REASON in csv.text) == (shown,) * 4
        secret_line = [line for line in csv.text.splitlines() if line.startswith(SECRET)]
        assert len(secret_line) == 1 and "demo-committee" in secret_line[0]  # the row is there, reopened

    for sql in ("SELECT pilot_id, closed_by, note, reopened_by, reopen_reason FROM approval.quarter_closures "
                f"WHERE pilot_id = '{SECRET}'",
                f"SELECT action, note FROM approval.decisions WHERE pilot_id = '{SECRET}' ORDER BY decision_id"):
        r = analyst.get("/sql", params={"q": sql})
        assert r.status_code == 200
        assert NOTE not in r.text and REASON not in r.text
    cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", analyst.get("/sql", params={
        "q": f"SELECT action FROM approval.decisions WHERE pilot_id = '{SECRET}' ORDER BY decision_id"}).text, re.S)]
    assert [c.strip() for c in cells] == ["close", "reopen"]
    data = client_for.app.state.site.data  # the site's own read-only connections to both files
    sql = f"SELECT note, reopen_reason FROM approval.quarter_closures WHERE pilot_id = '{SECRET}'"
    assert data.published.rows(sql) == [{"note": None, "reopen_reason": None}]
    assert data.restricted.rows(sql) == [{"note": NOTE, "reopen_reason": REASON}]


def _codes(page: str) -> list[str]:
    return re.findall(r'<tr class="sev-[^"]+" data-code="([^"]+)">', page)


def test_a_stranger_to_a_restricted_pilot_learns_none_of_its_kpi_codes(site_dir, client_for):
    site = site_dir
    files = {  # S1 is a KPI of PLT-2548-006, ZZ9 is not
        "stranger-wrong-code.csv": f"{HEADER}\n{SECRET},10004,2549-Q3,2006-07-11,kpi,ZZ9,,5,,,,\n",
        "stranger-right-code.csv": f"{HEADER}\n{SECRET},10004,2549-Q3,2006-07-11,kpi,S1,,5,,,,\n",
    }
    stranger = client_for("demo-agency")
    checked = {name: stranger.upload(name, text.encode()) for name, text in files.items()}
    assert [_codes(r.text) for r in checked.values()] == [["AGENCY_NOT_PARTICIPANT"]] * 2

    lead = client_for("demo-restricted-agency")  # its lead still hears of a wrong code
    own = lead.upload("lead-wrong-code.csv", f"{HEADER}\n{SECRET},01005,2549-Q3,2006-07-11,kpi,ZZ9,,5,,,,\n".encode())
    assert "KPI_UNKNOWN" in _codes(own.text)

    # The night says the same in its quarantine (the agency's submissions pages show these rows).
    for name, text in files.items():
        (site / "inbox" / name).write_text(text, encoding="utf-8")
    _cli(site, "run", "--inbox", str(site / "inbox"), "--settle-seconds", "0")
    issues = _rows(site / "warehouse.restricted.duckdb", """
        SELECT s.file_name, s.status, list(i.code ORDER BY i.code) FROM ingest.submissions s
        JOIN ingest.issues i USING (submission_id) WHERE s.file_name LIKE 'stranger-%' GROUP BY ALL ORDER BY 1""")
    assert issues == [("stranger-right-code.csv", "quarantined", ["AGENCY_NOT_PARTICIPANT"]),
                      ("stranger-wrong-code.csv", "quarantined", ["AGENCY_NOT_PARTICIPANT"])]
