"""An agency's whole journey through the site and the nightly run (TestClient; the browser version
is tests/web/test_web_browser.py), and 20 agencies sending at once while a run holds the lock."""
from __future__ import annotations

import hashlib
import re
import threading
from decimal import Decimal

import duckdb
from click.testing import CliRunner

from pilots.defects import catalogue
from tests.support import SERIAL
from tests.web.conftest import AS_OF, Client, report, text_of, verdict


def night(site_dir) -> str:
    from flows.cli import main

    result = CliRunner().invoke(main, ["run", "--registry", str(site_dir / "registry"), "--inbox", str(site_dir / "inbox"),
                                       "--warehouse", str(site_dir / "warehouse.duckdb"), "--out", str(site_dir / "out"),
                                       "--as-of", AS_OF.isoformat(), "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output
    return result.output


def status_of(page: str, pilot: str, period: str) -> str:
    row = re.search(rf'<tr data-pilot="{pilot}" data-period="{period}"[^>]*>(.*?)</tr>', page, re.S).group(1)
    return re.search(r'data-status="([a-z_]+)"', row).group(1)


@SERIAL
def test_agency_checks_fixes_sends_and_sees_the_night(client_for, site_dir):
    client = client_for("demo-agency")
    home = client.get("/").text
    assert status_of(home, "PLT-2548-004", "2549-Q3") == "not_sent"
    assert status_of(home, "PLT-2548-004", "2549-Q4") == "not_sent"
    assert "PLT-2548-004" in home.split('id="reminders"')[1]  # the overdue 2549-Q3 report

    # A file with a defect: the check says what, where and how to fix it, and it cannot be sent.
    bad = client.upload("dbd-2549-q3.csv", report(disbursed="ห้าล้าน")).text
    assert verdict(bad) == "quarantined" and 'id="send"' not in bad
    row = re.search(r'<tr class="sev-error" data-code="NOT_A_NUMBER">(.*?)</tr>', bad, re.S).group(1)
    cells = [text_of(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[0] == "2" and cells[1] == "disbursed_thb"  # header = row 1
    assert "ห้าล้าน" in cells[3] and cells[4] == catalogue()["NOT_A_NUMBER"].fix_th

    # Fixed: a new report for 2549-Q3, sent with one more click, and a receipt.
    good = report()
    ok = client.upload("dbd-2549-q3.csv", good).text
    assert verdict(ok) == "new" and "รายงานใหม่สำหรับไตรมาส 3/2549" in text_of(ok)
    sent = client.send(ok)
    receipt = client.get(sent.headers["location"]).text
    fields = dict(re.findall(r'data-field="([a-z_0-9]+)">([^<]*)<', receipt))
    assert fields["file_name"] == "dbd-2549-q3.csv" and fields["size"] == f"{len(good):,}"
    assert fields["sha256"] == hashlib.sha256(good).hexdigest() and fields["account"] == "demo-agency"
    assert re.fullmatch(r"\d{1,2} ธ\.ค\. 25\d\d \d\d:\d\d น\.", fields["sent_at"].strip()) or "25" in fields["sent_at"]
    assert status_of(client.get("/").text, "PLT-2548-004", "2549-Q3") == "waiting"

    # The night takes it; the site sees the newly published copy without a restart.
    output = night(site_dir)
    assert "accepted 1" in output, output
    home = client.get("/").text
    assert status_of(home, "PLT-2548-004", "2549-Q3") == "accepted"
    mine = client.get("/submissions").text
    sha = hashlib.sha256(good).hexdigest()
    assert re.search(rf'<tr data-sha256="{sha}" data-status="accepted">', mine)
    stored = client.get(f"/submissions/{sha}")
    assert stored.status_code == 200 and 'data-status="accepted"' in stored.text

    # A resubmission replaces the report of 10 Aug 2549 (its submitted_on, 2006-08-10).
    newer = report(submitted_on="2006-08-12", disbursed="6000000.00")
    page = client.upload("dbd-2549-q3-v2.csv", newer).text
    assert verdict(page) == "replaces" and "แทนที่รายงานของท่านลงวันที่ 10 ส.ค. 2549" in text_of(page)
    assert client.send(page).status_code == 303
    # The same bytes twice: recognised, not sent again (the one waiting, and the one stored).
    again = client.upload("copy.csv", newer).text
    assert verdict(again) == "duplicate" and "ส่งไฟล์นี้แล้วเมื่อ" in text_of(again) and 'id="send"' not in again
    again = client.upload("copy.csv", good).text
    assert verdict(again) == "duplicate"
    assert len([p for p in (site_dir / "inbox").iterdir() if p.name.startswith("web-")]) == 1  # the first is filed


def _files_to_resend(site_dir, n: int) -> list[tuple[str, bytes]]:
    """n valid reports of different (pilot, agency, period): the demo's accepted ones, rebuilt as
    CSV from the stored lines with a later submission date (each then replaces its report)."""
    con = duckdb.connect(str(site_dir / "warehouse.published.duckdb"), read_only=True)
    subs = con.execute("SELECT submission_id, pilot_id, agency_code, period FROM ingest.submissions "
                       "WHERE status = 'accepted' AND period IN ('2549-Q3', '2549-Q2') "
                       "ORDER BY period DESC, pilot_id, agency_code LIMIT ?", [n]).fetchall()
    files = []
    for i, (sid, pilot, agency, period) in enumerate(subs):
        lines = ["pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note"]
        for code, actual in con.execute("SELECT kpi_code, actual FROM core.kpi_actuals WHERE submission_id = ? ORDER BY row_number", [sid]).fetchall():
            lines.append(f"{pilot},{agency},{period},2006-08-14,kpi,{code},,{Decimal(actual).normalize():f},,,,web {i}")
        for code, layer, alloc, disb, fund in con.execute(
                "SELECT activity_code, layer, allocated_thb, disbursed_thb, funding_source FROM core.budget_lines "
                "WHERE submission_id = ? ORDER BY row_number", [sid]).fetchall():
            lines.append(f"{pilot},{agency},{period},2006-08-14,budget,{code},{layer},,{alloc},{disb},{fund},web {i}")
        files.append((agency, ("\n".join(lines) + "\n").encode("utf-8")))
    con.close()
    assert len(files) == n
    return files


@SERIAL
def test_twenty_agencies_send_at_once_while_a_run_holds_the_lock(client_for, site_dir):
    from warehouse.lock import run_lock
    from web.accounts import accounts_path, add

    files = _files_to_resend(site_dir, 20)
    for i, (agency, _) in enumerate(files):
        add(accounts_path(site_dir / "warehouse.duckdb"), f"agency-{i:02}", "agency", f"password-{i:02}-long", [agency])
    results: list[object] = [None] * len(files)

    def one(i: int, data: bytes) -> None:
        client = Client(client_for.app)
        try:
            assert client.sign_in(f"agency-{i:02}", f"password-{i:02}-long").status_code == 303
            page = client.upload(f"report-{i}.csv", data).text
            assert verdict(page) == "replaces", text_of(page)[-600:]
            results[i] = client.send(page).status_code
        except BaseException as exc:  # noqa: BLE001 - reported below with its index
            results[i] = exc
        finally:
            client.close()

    with run_lock(site_dir / "warehouse.duckdb"):  # a nightly run is in progress
        threads = [threading.Thread(target=one, args=(i, data)) for i, (_, data) in enumerate(files)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [303] * 20
    inbox = sorted(p for p in (site_dir / "inbox").iterdir() if p.name.startswith("web-"))
    assert len(inbox) == 20
    assert sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in inbox) == \
        sorted(hashlib.sha256(data).hexdigest() for _, data in files)  # each exactly once, whole
    output = night(site_dir)
    assert "files seen 20: accepted 20" in output, output
    # Read through the site's own store: DuckDB keeps one instance per path in a process, and the
    # site still holds the copy it served before the night.
    shas = [hashlib.sha256(data).hexdigest() for _, data in files]
    statuses = client_for.app.state.site.data.published.rows(
        f"SELECT status, count(*) AS n FROM ingest.submissions WHERE sha256 IN ({', '.join('?' * 20)}) GROUP BY 1", shas)
    assert statuses == [{"status": "accepted", "n": 20}]


def test_a_file_for_a_closed_quarter_says_it_will_be_held(site_dir):
    """The committee closed PLT-2548-004's 2549-Q3 (written into the published copy here, as
    close-quarter would publish it): the check says the file will be held, and it may be sent."""
    import os

    from tests.web.conftest import make_app

    published = site_dir / "warehouse.published.duckdb"
    os.chmod(published, 0o644)
    con = duckdb.connect(str(published))
    con.execute("INSERT INTO approval.quarter_closures (pilot_id, period, closed_at, closed_by, status_at_closing, run_id) "
                "VALUES ('PLT-2548-004', '2549-Q3', TIMESTAMP '2006-08-14 03:00:00', 'secretary', 'at_risk', 'test')")
    con.close()
    client = Client(make_app(site_dir))
    lines = (site_dir / "demo-passwords.txt").read_text(encoding="utf-8").splitlines()
    password = next(line.split("\t")[3] for line in lines if line.startswith("demo-agency\t"))
    assert client.sign_in("demo-agency", password).status_code == 303
    page = client.upload("late.csv", report()).text
    assert verdict(page) == "held" and "รอคณะกรรมการพิจารณา: ไตรมาส 3/2549 ปิดแล้ว" in text_of(page)
    assert 'id="send"' in page
    client.close()
