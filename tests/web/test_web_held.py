"""The held files and quarters pages (web/held.py) and the what-if behind them (kpis/whatif.py), on
tests/web/held_story.py's five held files. Every expected figure is worked out by hand from
shared/spec/scoring.md and the demo's FY2549 thresholds:

PLT-2548-003 (K1 percent, higher, last, weight 40, [40, 50, 60, 70, 80]; K2 days, lower, last,
weight 35, [20, 15, 10, 7.5, 5]; K3 count, higher, sum, weight 25, [2000, 4000, 6000, 8000, 10000]
× q/4). 2549-Q3 now: K1 65.6 → 3 + 5.6/10 = 3.5600, K2 10.1 → 2.9800, K3 1631 + 1383 + 1744 =
4758 against [1500, 3000, 4500, 6000, 7500] → 3 + 258/1500 = 3.1720; composite
(3.56×40 + 2.98×35 + 3.172×25)/100 = 3.2600.
- opdc_q3 (K1 45.6): K1 → 1 + 5.6/10 = 1.5600 (off_track: below 2); composite
  (1.56×40 + 2.98×35 + 3.172×25)/100 = 246/100 = 2.4600, at_risk.
- opdc_q2 (K3 1500 instead of 1383 in 2549-Q2): Q2 K3 = 1631 + 1500 = 3131 against
  [1000, 2000, 3000, 4000, 5000] → 3 + 131/1000 = 3.1310; composite (3.34×40 + 2.9×35 + 3.131×25)/100
  = 3.13375 → 3.1338 (half away from zero); Q3 K3 = 4758 − 1383 + 1500 = 4875 → 3 + 375/1500 =
  3.2500; Q3 composite (142.4 + 104.3 + 81.25)/100 = 3.2795.
PLT-2548-001 (G1 percent, higher, last, weight 60, [50, 60, 70, 80, 90]; G2 weight 40, 3.4000 in Q3):
- mict_q3 (G1 88.8): 4 + 8.8/10 = 4.8800; composite (4.88×60 + 3.4×40)/100 = 4.2880 (now 3.6880).
- mict_q2 (dated 2006-04-10, before the accepted 2006-04-18, submission 7): approving supersedes it;
  nothing changes.
PLT-2548-006 (restricted; S1 count, higher, weight 50, [6, 8, 10, 12, 14]; S2 days, lower,
weight 50, [20, 16, 12, 9, 6]; 2549-Q3 now 2.5125):
- secret_q3 (S1 11, S2 11): S1 3 + 1/2 = 3.5000, S2 3 + (12 − 11)/(12 − 9) = 3.3333;
  composite (3.5×50 + 3.3333×50)/100 = 3.41665 → 3.4167, on_target.
"""
from __future__ import annotations

import io
import re
import shutil
import time
from decimal import Decimal as D

import pytest

from tests.test_pilot_moves import cli, q
from tests.web.conftest import AS_OF, Client, make_app, passwords_of, text_of
from tests.web.held_story import base
from tests.web.test_web_matrix import ACCOUNT, ROLES, walk

PUBLISHED, RESTRICTED = "warehouse.published.duckdb", "warehouse.restricted.duckdb"


@pytest.fixture(scope="module")
def story(held_story_site, tmp_path_factory):
    """A copy of the held story (tests/web/conftest.py `held_story_site`) for this module."""
    folder, ids = held_story_site
    target = tmp_path_factory.mktemp("held") / "demo"
    shutil.copytree(folder, target, symlinks=True)
    return target, ids


@pytest.fixture(scope="module")
def app(story):
    """One app over the story (it never writes the warehouse); an uncleared committee account."""
    from web.accounts import accounts_path, add

    folder, _ = story
    add(accounts_path(folder / "warehouse.duckdb"), "committee-uncleared", "committee", "uncleared-password-1", [])
    return make_app(folder)


@pytest.fixture(scope="module")
def passwords(story) -> dict[str, str]:  # for conftest's signed_in
    return {**passwords_of(story[0]), "committee-uncleared": "uncleared-password-1"}


def rows_of(page: str, table_id: str) -> dict[str, dict[str, str]]:
    """A table's rows by their data-kpi / data-period key: field -> shown text."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page, re.S).group(0)
    out = {}
    for key, row in re.findall(r'<tr data-(?:kpi|period)="([^"]+)"[^>]*>(.*?)</tr>', body, re.S):
        out[key] = {f: text_of(v).strip() for f, v in re.findall(r'data-field="([a-z-]+)">(.*?)</td>', row, re.S)}
        out[key]["statuses"] = re.findall(r'data-status="([a-z_]+)"', row)
    return out


# --- the what-if, hand-computed -------------------------------------------------------------------

def test_whatif_of_a_correction_in_a_closed_quarter(story):
    from kpis.whatif import what_if_approved

    folder, ids = story
    w = what_if_approved(folder / PUBLISHED, ids["opdc_q3"])
    assert (w.pilot_id, w.agency_code, w.period, w.as_of) == ("PLT-2548-003", "03009", "2549-Q3", AS_OF)
    assert (w.outcome, w.replaced, w.restricted) == ("accepted", 38, False)
    before, after = w.before["2549-Q3"], w.after["2549-Q3"]
    assert {k: v.score for k, v in before.kpis.items()} == {"K1": D("3.5600"), "K2": D("2.9800"), "K3": D("3.1720")}
    assert {k: v.score for k, v in after.kpis.items()} == {"K1": D("1.5600"), "K2": D("2.9800"), "K3": D("3.1720")}
    assert (after.kpis["K1"].actual, after.kpis["K1"].status, after.kpis["K1"].weighted_score) == (
        D("45.6"), "off_track", D("0.6240"))
    assert (before.composite, before.status, before.closed, before.changed_since_closing) == (
        D("3.2600"), "on_target", True, False)
    assert (after.composite, after.status, after.closed, after.changed_since_closing) == (
        D("2.4600"), "at_risk", True, True)
    assert w.changed_periods() == ["2549-Q3"]


def test_whatif_of_a_sum_kpi_moves_the_later_quarters_too(story):
    from kpis.whatif import what_if_approved

    folder, ids = story
    w = what_if_approved(folder / PUBLISHED, ids["opdc_q2"])
    assert (w.period, w.outcome, w.replaced) == ("2549-Q2", "accepted", 37)
    assert w.changed_periods() == ["2549-Q2", "2549-Q3"]
    q2, q3 = w.after["2549-Q2"], w.after["2549-Q3"]
    assert (q2.kpis["K3"].actual, q2.kpis["K3"].score) == (D("3131"), D("3.1310"))
    assert (w.before["2549-Q2"].composite, q2.composite) == (D("3.1045"), D("3.1338"))  # 3.13375, half away from zero
    assert (q3.kpis["K3"].actual, q3.kpis["K3"].score, q3.composite) == (D("4875"), D("3.2500"), D("3.2795"))
    assert q3.kpis["K1"] == w.before["2549-Q3"].kpis["K1"]  # a `last` KPI of Q3 is untouched


def test_whatif_of_an_older_file_is_superseded_and_changes_nothing(story):
    from kpis.whatif import what_if_approved

    folder, ids = story
    w = what_if_approved(folder / PUBLISHED, ids["mict_q2"])
    assert (w.outcome, w.kept, w.replaced) == ("superseded", 7, None)
    assert w.changed_periods() == [] and w.before == w.after


def test_whatif_of_a_restricted_pilot_reads_the_restricted_store_only_when_given(story):
    from kpis.whatif import NotHeld, what_if_approved

    folder, ids = story
    with pytest.raises(NotHeld):
        what_if_approved(folder / PUBLISHED, ids["secret_q3"])  # not cleared: no restricted store
    w = what_if_approved(folder / PUBLISHED, ids["secret_q3"], folder / RESTRICTED)
    assert (w.pilot_id, w.restricted, w.outcome) == ("PLT-2548-006", True, "accepted")
    after = w.after["2549-Q3"]
    assert {k: v.score for k, v in after.kpis.items()} == {"S1": D("3.5000"), "S2": D("3.3333")}
    assert (w.before["2549-Q3"].composite, after.composite, after.status) == (D("2.5125"), D("3.4167"), "on_target")
    with pytest.raises(NotHeld):
        what_if_approved(folder / PUBLISHED, 38)  # accepted, not held
    with pytest.raises(NotHeld):
        what_if_approved(folder / PUBLISHED, 999999)


def test_whatif_equals_what_the_approve_job_then_produces(story, tmp_path):
    """The what-if of two files, then the real `approve` jobs on a copy: the pilots' marts after
    each job are exactly the what-if's figures (every due period, every KPI)."""
    from kpis.whatif import what_if_approved

    folder, ids = story
    copy = tmp_path / "demo"
    shutil.copytree(folder, copy, symlinks=True)
    open_w = what_if_approved(copy / PUBLISHED, ids["opdc_q3"])
    secret_w = what_if_approved(copy / PUBLISHED, ids["secret_q3"], copy / RESTRICTED)
    for key in ("opdc_q3", "secret_q3"):
        code, out = cli("approve", ids[key], "--by", "Committee secretary", "--note", "as the what-if said", *base(copy))
        assert code == 0, out

    def marts(path, pilot):
        kpis = q(path, "SELECT period, kpi_code, actual, score, weighted_score, status, is_missing FROM marts.kpi_scores "
                       "WHERE pilot_id = ? ORDER BY ALL", [pilot])
        pilots = q(path, "SELECT period, composite_score, status, closed, changed_since_closing FROM marts.pilot_scores "
                         "WHERE pilot_id = ? ORDER BY ALL", [pilot])
        return kpis, pilots

    def whatif(w):
        kpis = sorted((p, k.kpi_code, k.actual, k.score, k.weighted_score, k.status, k.is_missing)
                      for p, f in w.after.items() for k in f.kpis.values())
        pilots = sorted((p, f.composite, f.status, f.closed, f.changed_since_closing) for p, f in w.after.items())
        return kpis, pilots

    assert marts(copy / PUBLISHED, "PLT-2548-003") == whatif(open_w)
    assert marts(copy / RESTRICTED, "PLT-2548-006") == whatif(secret_w)
    assert ("2549-Q3", D("2.4600"), "at_risk", True, True) in whatif(open_w)[1]


def test_whatif_on_a_published_copy_from_before_migration_0017(story, tmp_path):
    """A published copy is migrated by the next night only, so until then the web reads one of the
    schema before (0016: ops.mart_partitions without agency_code). The what-if keeps no keys in its
    scratch database, so it answers there with the same hand-computed figures as on a current copy."""
    import duckdb

    from kpis.whatif import what_if_approved

    folder, ids = story
    copy = tmp_path / PUBLISHED
    shutil.copyfile(folder / PUBLISHED, copy)
    con = duckdb.connect(str(copy))
    try:
        con.execute("DELETE FROM ops.mart_partitions WHERE agency_code IS NOT NULL")
        con.execute("ALTER TABLE ops.mart_partitions DROP COLUMN agency_code")
        con.execute("DELETE FROM ops.schema_migrations WHERE version >= 17")
        assert con.execute("SELECT max(version) FROM ops.schema_migrations").fetchone() == (16,)
    finally:
        con.close()
    w = what_if_approved(copy, ids["opdc_q3"])
    before, after = w.before["2549-Q3"], w.after["2549-Q3"]
    assert (w.outcome, w.replaced) == ("accepted", 38)
    assert {k: v.score for k, v in after.kpis.items()} == {"K1": D("1.5600"), "K2": D("2.9800"), "K3": D("3.1720")}
    assert (before.composite, after.composite, after.status) == (D("3.2600"), D("2.4600"), "at_risk")


def test_whatif_reads_one_pilot_and_writes_nothing(story):
    """The stores are attached read-only: their bytes are unchanged. (Speed: bench/web.py.)"""
    from kpis.whatif import what_if_approved

    folder, ids = story
    before = {name: (folder / name).read_bytes() for name in (PUBLISHED, RESTRICTED)}
    started = time.monotonic()
    what_if_approved(folder / PUBLISHED, ids["secret_q3"], folder / RESTRICTED)
    assert time.monotonic() - started < 30  # a guard against a hang, not a speed test
    assert {name: (folder / name).read_bytes() for name in (PUBLISHED, RESTRICTED)} == before


# --- the pages ------------------------------------------------------------------------------------

def test_the_held_list_shows_every_held_file_to_the_committee(story, signed_in):
    _, ids = story
    page = signed_in("demo-committee").get("/held")
    assert page.status_code == 200
    listed = [int(i) for i in re.findall(r'<tr data-submission="(\d+)"', page.text)]
    assert sorted(listed) == sorted(ids.values())
    row = re.search(rf'<tr data-submission="{ids["opdc_q3"]}".*?</tr>', page.text, re.S).group(0)
    assert "PLT-2548-003_03009_2549-Q3_rev1.csv" in row and "14 ส.ค. 2549" in row and "38 (11 ก.ค. 2549)" in row
    secret = re.search(rf'<tr data-submission="{ids["secret_q3"]}".*?</tr>', page.text, re.S).group(0)
    assert 'data-store="restricted"' in secret and "secret-fix" in secret  # demo-committee is cleared


def test_the_held_file_page_shows_the_figures_now_and_if_approved(story, signed_in):
    _, ids = story
    client = signed_in("demo-committee")
    page = client.get(f"/held/{ids['opdc_q3']}").text
    figures = rows_of(page, "figures")
    assert figures["K1"]["value-now"] == "65.6%" and figures["K1"]["value-if"] == "45.6%"
    assert (figures["K1"]["score-now"], figures["K1"]["score-if"]) == ("3.5600", "1.5600")
    assert figures["K1"]["statuses"] == ["on_target", "off_track"]
    assert (figures["K2"]["score-now"], figures["K2"]["score-if"]) == ("2.9800", "2.9800")
    assert (figures["composite"]["score-now"], figures["composite"]["score-if"]) == ("3.2600", "2.4600")
    assert figures["composite"]["statuses"] == ["on_target", "at_risk"]
    assert 'data-kpi="K1" data-changed="true"' in page and 'data-kpi="K2" data-changed="false"' in page
    assert 'data-outcome="accepted"' in page and "แทนที่รายงานเลขที่ 38" in page
    assert 'data-field="accepted-id">38<' in page and "PLT-2548-003_03009_2549-Q3.csv" in page
    assert "ปิดเมื่อ" in page and "คะแนนรวมเมื่อปิดงวด 3.2600" in page  # the closure, in Thai with BE dates
    assert "14 ส.ค. 2549" in page and "11 ก.ค. 2549" in page
    assert 'id="periods"' not in page  # only 2549-Q3 moves

    sum_page = client.get(f"/held/{ids['opdc_q2']}").text
    assert rows_of(sum_page, "figures")["composite"]["score-if"] == "3.1338"
    assert rows_of(sum_page, "periods") == {"2549-Q3": {"score-now": "3.2600", "score-if": "3.2795",
                                                        "statuses": ["on_target", "on_target"]}}
    # Agency text (a line's note) is shown escaped.
    assert "&lt;b&gt;ฉบับแก้ไข 2&lt;/b&gt;" in sum_page and "<b>ฉบับแก้ไข 2</b>" not in sum_page

    older = client.get(f"/held/{ids['mict_q2']}").text
    assert 'data-outcome="superseded"' in older and 'id="no-change"' in older


def test_the_held_file_page_in_english(story, passwords, app):
    _, ids = story
    client = Client(app)
    assert client.sign_in("demo-analyst", passwords["demo-analyst"]).status_code == 303
    client.post("/language", data={"csrf": client.csrf("/held"), "lang": "en", "back": "/held"})
    page = client.get(f"/held/{ids['mict_q3']}").text
    client.close()
    assert '<html lang="en">' in page
    figures = rows_of(page, "figures")
    assert (figures["G1"]["value-now"], figures["G1"]["value-if"]) == ("78.8%", "88.8%")
    assert (figures["G1"]["score-now"], figures["G1"]["score-if"]) == ("3.8800", "4.8800")
    assert (figures["composite"]["score-now"], figures["composite"]["score-if"]) == ("3.6880", "4.2880")
    assert "If approved, this file becomes accepted and replaces submission" in page
    assert "15 Aug 2006" in page and "FY2006 Q3" in page


def test_the_committee_gets_the_decision_forms_and_the_analyst_only_reads(story, signed_in):
    _, ids = story
    committee = signed_in("demo-committee").get(f"/held/{ids['opdc_q3']}").text
    approve = re.search(r'<form[^>]*id="approve".*?</form>', committee, re.S).group(0)
    reject = re.search(r'<form[^>]*id="reject".*?</form>', committee, re.S).group(0)
    for form, kind, text_field in ((approve, "approve", "note"), (reject, "reject", "reason")):
        assert 'method="post" action="/decisions"' in form
        assert re.search(r'name="csrf" value="[^"]+"', form)
        assert f'name="kind" value="{kind}"' in form
        assert f'name="submission_id" value="{ids["opdc_q3"]}"' in form
        assert f'name="{text_field}"' in form
    assert "required" in re.search(r'<input[^>]*name="reason"[^>]*>', reject).group(0)
    analyst = signed_in("demo-analyst").get(f"/held/{ids['opdc_q3']}")
    assert analyst.status_code == 200 and "3.2600" in analyst.text  # reads the same figures
    assert 'action="/decisions"' not in analyst.text and 'id="read-only"' in analyst.text
    assert signed_in("demo-analyst").get("/quarters").status_code == 403


def test_a_restricted_held_file_shows_its_figures_only_to_cleared_accounts(story, signed_in):
    _, ids = story
    path = f"/held/{ids['secret_q3']}"
    cleared = signed_in("demo-committee").get(path).text
    assert rows_of(cleared, "figures")["composite"]["score-if"] == "3.4167"
    assert "PLT-2548-006_01005_2549-Q3_secret-fix.csv" in cleared
    secret_values = ("3.4167", "3.3333", "secret-fix", "ACT-L3-01", "13,705,118.35")
    for name in ("committee-uncleared", "demo-analyst"):
        client = signed_in(name)
        listed = client.get("/held").text
        row = re.search(rf'<tr data-submission="{ids["secret_q3"]}".*?</tr>', listed, re.S).group(0)
        assert 'data-limited="true"' in row and "01005" in row and "2 ส.ค. 2549" in row
        page = client.get(path)
        assert page.status_code == 200 and 'id="restricted-note"' in page.text
        assert not [v for v in secret_values if v in page.text + listed], name
        for table in ("held-files.csv", f"held-{ids['secret_q3']}-scores.csv"):
            download = client.get(("/held" if table.startswith("held-files") else path) + f"?download={table}")
            assert not [v for v in secret_values if v in download.text], (name, table)
    # The uncleared committee still decides it (data-quality.md §2: listed so the committee can).
    assert 'name="kind" value="approve"' in signed_in("committee-uncleared").get(path).text


def test_a_missing_or_unseeable_id_answers_404(story, signed_in):
    _, ids = story
    client = signed_in("demo-committee")
    for path in ("/held/999999", "/held/38", "/held/abc", "/held/-1", f"/held/{ids['opdc_q3']}x",
                 "/held/99999999999999999999999"):
        assert client.get(path).status_code == 404, path
    # 38 exists (accepted) but is not held; an unseeable restricted line-level id is never found by
    # its number in the open store for an uncleared account either.
    assert signed_in("committee-uncleared").get("/held/999999").status_code == 404


def test_tables_download_as_csv_and_xlsx(story, signed_in):
    from openpyxl import load_workbook

    _, ids = story
    client = signed_in("demo-committee")
    listed = client.get("/held?download=held-files.csv")
    assert listed.headers["content-type"].startswith("text/csv")
    assert listed.content.startswith(b"\xef\xbb\xbf") and str(ids["opdc_q3"]) in listed.text
    assert ',"=""03009""",' in listed.text  # a code Excel would turn into a number stays text
    scores = client.get(f"/held/{ids['opdc_q3']}?download=held-{ids['opdc_q3']}-scores.xlsx")
    sheet = load_workbook(io.BytesIO(scores.content)).active
    rows = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["composite"][6:8] == (3.26, 2.46) and rows["K1"][4:8] == (65.6, 45.6, 3.56, 1.56)
    lines = client.get(f"/held/{ids['opdc_q3']}?download=held-{ids['opdc_q3']}-lines.csv").text
    assert lines.count("\r\n") == 1 + 5 + 5  # header, the held file's 5 lines, the accepted one's 5
    assert client.get("/quarters?download=closures.csv").text.count("PLT-2548-") == 6  # 2549-Q3: six pilots


def test_the_quarters_page_lists_closures_and_carries_the_forms(story, signed_in):
    page = signed_in("demo-committee").get("/quarters").text
    assert re.findall(r'<tr data-period="(2549-Q\d)"', page)[:2] == ["2549-Q3", "2549-Q2"]
    closures = re.search(r'<table id="closures">.*?</table>', page, re.S).group(0)
    assert closures.count("<tr data-pilot=") == 6  # 2549-Q3 by default; PLT-2548-007 ended before it
    row = re.search(r'<tr data-pilot="PLT-2548-003".*?</tr>', closures, re.S).group(0)
    assert "Committee secretary" in row and "meeting 8/2549" in row and "3.2600" in row
    assert signed_in("demo-committee").get("/quarters?period=2549-Q2").text.count('<tr data-pilot=') == 7
    close = re.search(r'<form[^>]*id="close".*?</form>', page, re.S).group(0)
    reopen = re.search(r'<form[^>]*id="reopen".*?</form>', page, re.S).group(0)
    for form, kind, text_field in ((close, "close", "note"), (reopen, "reopen", "reason")):
        assert 'method="post" action="/decisions"' in form and f'name="kind" value="{kind}"' in form
        assert re.search(r'name="csrf" value="[^"]+"', form) and f'name="{text_field}"' in form
        assert re.search(r'<input[^>]*name="confirm"[^>]*required', form)
    assert '<option value="">ทุกโครงการ</option>' in close  # close: the pilot is optional
    assert '<option value="2549-Q3">' in close and '<option value="2548-Q1">' in close
    assert re.findall(r'<option value="(\d{4}-Q\d)"', reopen) == ["2549-Q3", "2549-Q2"]  # closed ones only
    assert '<select name="pilot_id" required>' in reopen
    assert "เช่น PLT-2548-001 2549-Q3 หรือพิมพ์เฉพาะไตรมาส เช่น 2549-Q3 เมื่อปิดทุกโครงการ" in close
    assert "เช่น PLT-2548-001 2549-Q3<" in reopen  # the latest closed quarter


def test_the_confirmation_text_is_the_pilot_and_the_period_or_the_period_for_every_pilot():
    from web import decisions
    from web.held import confirmation_text

    cases = {("close", "2549-Q3", "PLT-2548-003"): "PLT-2548-003 2549-Q3", ("close", "2549-Q3", None): "2549-Q3",
             ("reopen", "2549-Q2", "PLT-2548-006"): "PLT-2548-006 2549-Q2"}
    assert {case: confirmation_text(*case) for case in cases} == cases
    if hasattr(decisions, "confirmation_text"):  # /decisions checks the same text (web/decisions.py)
        assert {case: decisions.confirmation_text(*case) for case in cases} == cases


def test_the_quarters_page_says_when_no_quarter_is_closed_and_offers_no_reopening(client_for):
    """The README's demo has closed no quarter: the reopen form (an empty list of quarters) is not
    offered; the page says why, in the page's language. Closing is still offered."""
    committee = client_for("demo-committee")
    for lang, said in (("th", "ขณะนี้ไม่มีไตรมาสที่ปิดอยู่ จึงยังไม่มีไตรมาสให้เปิดอีกครั้ง"),
                       ("en", "No quarter is closed now, so there is none to reopen.")):
        committee.post("/language", data={"csrf": committee.csrf("/"), "lang": lang, "back": "/"})
        page = committee.get("/quarters")
        assert page.status_code == 200
        assert re.search(r'<p id="nothing-to-reopen">([^<]*)</p>', page.text).group(1) == said
        assert 'name="kind" value="reopen"' not in page.text and 'id="reopen-button"' not in page.text
        assert 'name="kind" value="close"' in page.text and 'id="close-button"' in page.text
        assert 'id="no-closures"' in page.text


# --- the authorisation matrix rows of these routes -------------------------------------------------

def test_authorisation_matrix_of_the_held_routes(story, app, passwords):
    """The matrix of tests/web/test_web_matrix.py for this module's routes, asked by its `walk`."""
    folder, ids = story
    signin = {"anonymous": "redirect", "disabled": "redirect"}
    readers = {"agency": 403, "restricted_agency": 403, "analyst": 200, "committee": 200, **signin}
    matrix = [
        ("GET", "/held", "-", readers),
        ("GET", f"/held/{ids['opdc_q3']}", "open", readers),
        ("GET", f"/held/{ids['secret_q3']}", "restricted", readers),  # listed to all who read held files, figures aside
        ("GET", "/held/999999", "nonexistent", {**readers, "analyst": 404, "committee": 404}),
        ("GET", "/held/38", "accepted", {**readers, "analyst": 404, "committee": 404}),  # accepted, not held
        ("GET", "/quarters", "-", {"agency": 403, "restricted_agency": 403, "analyst": 403, "committee": 200, **signin}),
    ]
    cells, wrong = walk(_Maker(app), passwords, folder, matrix)
    assert not wrong, "\n".join(map(str, wrong))
    assert cells == len(matrix) * len(ROLES)
    assert set(ACCOUNT) <= set(ROLES)


class _Maker:
    """What test_web_matrix._client takes: something with the app as `.app`."""

    def __init__(self, app):
        self.app = app


def test_a_damaged_store_met_by_the_whatif_is_the_one_the_503_names(story, passwords, tmp_path):
    """A cleared committee account's page of the restricted held file: its what-if (kpis/whatif.py)
    reads the restricted store and the published copy (the held row is looked for there first,
    and the closures are the open warehouse's). The published copy is damaged on disk after the
    site has read what the page itself needs (its catalogue and blocks are in the site's open
    connection), and a new restricted store is in place (so the what-if is worked out again): the
    503 names the published copy, not the restricted store, in Thai and English. A restricted
    store that cannot be read is named as such."""
    import os

    from tests.web.test_web_pilots import _swap_in, _unavailable

    folder, ids = story
    site = tmp_path / "demo"
    shutil.copytree(folder, site, symlinks=True)
    app = make_app(site)
    client = Client(app)
    try:
        assert client.sign_in("demo-committee", passwords["demo-committee"]).status_code == 303
        path = f"/held/{ids['secret_q3']}"
        assert client.get(path).status_code == 200
        published, restricted = site / PUBLISHED, site / RESTRICTED
        good, good_restricted = published.read_bytes(), restricted.read_bytes()
        st = published.stat()
        with open(published, "r+b") as f:  # in place: the same file (inode, mtime) to the site
            f.seek(3 * 4096)  # DuckDB's three headers stay; the catalogue and every block are zeros
            f.write(b"\0" * (len(good) - 3 * 4096))
        os.utime(published, ns=(st.st_atime_ns, st.st_mtime_ns))
        _swap_in(restricted, good_restricted)  # a new copy of the store, as a job leaves it
        page = client.get(path)
        assert page.status_code == 503, page.status_code
        store, problem, said = _unavailable(page)
        assert (store, problem) == ("published", "unreadable")
        assert "The published copy of the warehouse (warehouse.published.duckdb) cannot be read" in said[1][1]
        assert "อ่านสำเนาเผยแพร่ของคลังข้อมูล (warehouse.published.duckdb) ไม่ได้" in said[0][1]

        _swap_in(published, good)
        assert client.get(path).status_code == 200
        _swap_in(restricted, good_restricted[:8192])
        store, problem, said = _unavailable(client.get(path))
        assert (store, problem) == ("restricted", "unreadable")
        assert "The restricted store (warehouse.restricted.duckdb) cannot be read" in said[1][1]
    finally:
        client.close()
