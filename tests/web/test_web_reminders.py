"""The reminders page and the night's letters on the site (web.md's table: "its reminders and
letters": an agency its own agencies only, analysts –, the committee all), and the staff's home.

The whole flow: the README's demo files, four of them left out, go through a real night as of
2006-09-05 (`pilotkpi run`), which writes marts.reminders and OUT/reminders/<agency>.{th,en}.html;
then the site, as the committee, an agency, another agency and an analyst.

Worked by hand (follow-up.md; fiscal quarters: 2549-Q1 = Oct-Dec 2005, Q2 = Jan-Mar 2006,
Q3 = Apr-Jun 2006; due = the quarter's end + report_due_days, 30 days, 45 for PLT-2548-006):
  left out                               -> overdue report              due         days  level reason
  PLT-2548-003_15001_2549-Q1_v2.csv      15001 PLT-2548-003 2549-Q1     2006-01-30   218   3  rejected_file
      (the quarantined PLT-2548-003_15001_2549-Q1.csv stays: the letter and page name it)
  PLT-2548-001_11002_2549-Q3.csv         11002 PLT-2548-001 2549-Q3     2006-07-30    37   2  missing
  PLT-2548-006_01006_2549-Q3.csv         01006 PLT-2548-006 2549-Q3     2006-08-14    22   1  missing (restricted)
  PLT-2548-006_25001_2549-Q1_v2.csv      25001 PLT-2548-006 2549-Q1     2006-02-14   203   3  rejected_file (restricted:
      its quarantined PLT-2548-006_25001_2549-Q1.csv is named to 25001 itself and cleared accounts only)
  and the demo's own (never sent):       10004 PLT-2548-004 2548-Q3     2005-07-30   402   3  missing
                                         10004 PLT-2548-004 2549-Q2     2006-04-30   128   3  missing
                                         10004 PLT-2548-004 2549-Q3     2006-07-30    37   2  missing
  days: 2006-01-30 -> 09-05 = 29 (Feb) + 31 + 30 + 31 + 30 + 31 + 31 + 5 = 218;
        2006-02-14 -> 09-05 = 14 + 31 + 30 + 31 + 30 + 31 + 31 + 5 = 203; 2006-07-30 -> 09-05 = 1 + 31 + 5 = 37;
        2006-08-14 -> 09-05 = 17 + 5 = 22; 2006-04-30 -> 09-05 = 31 + 30 + 31 + 31 + 5 = 128; 2005-07-30 -> +365 = 402.
  So five agencies get letters: 10004 (level 3), 15001 (3), 25001 (3), 11002 (2), 01006 (1).
"""
from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from tests.support import SERIAL
from tests.web.conftest import AS_OF, Client, text_of
from tests.web.test_web_matrix import ROLES, walk

NIGHT = date(2006, 9, 5)
LEFT_OUT = ("PLT-2548-003_15001_2549-Q1_v2.csv", "PLT-2548-001_11002_2549-Q3.csv",
            "PLT-2548-006_01006_2549-Q3.csv", "PLT-2548-006_25001_2549-Q1_v2.csv")
# (agency, pilot, period) -> (due date, days overdue, level, reason), as worked out above
EXPECTED = {
    ("15001", "PLT-2548-003", "2549-Q1"): ("2006-01-30", 218, 3, "rejected_file"),
    ("11002", "PLT-2548-001", "2549-Q3"): ("2006-07-30", 37, 2, "missing"),
    ("01006", "PLT-2548-006", "2549-Q3"): ("2006-08-14", 22, 1, "missing"),
    ("25001", "PLT-2548-006", "2549-Q1"): ("2006-02-14", 203, 3, "rejected_file"),
    ("10004", "PLT-2548-004", "2548-Q3"): ("2005-07-30", 402, 3, "missing"),
    ("10004", "PLT-2548-004", "2549-Q2"): ("2006-04-30", 128, 3, "missing"),
    ("10004", "PLT-2548-004", "2549-Q3"): ("2006-07-30", 37, 2, "missing"),
}
REJECTED_OPEN = "PLT-2548-003_15001_2549-Q1.csv"
REJECTED_RESTRICTED = "PLT-2548-006_25001_2549-Q1.csv"
RESTRICTED_NAME_EN = "Segregated identity verification and watch-list exchange for national security"
MARKUP_NAME = 'Department of Provincial Administration <b class="x">&amp;</b>'  # agency text with markup


@pytest.fixture(scope="module")
def letters_night(demo_run, tmp_path_factory) -> Path:
    """The demo's files less LEFT_OUT, through one night as of NIGHT, in a folder of their own,
    with its accounts; never changed by the tests."""
    from flows.cli import main
    from web.accounts import accounts_path, add

    demo = demo_run[0]
    site = tmp_path_factory.mktemp("letters-night")
    shutil.copytree(demo / "registry", site / "registry")
    agencies = site / "registry" / "agencies.yaml"
    text = agencies.read_text(encoding="utf-8")
    assert "name_en: Department of Provincial Administration\n" in text
    agencies.write_text(text.replace("name_en: Department of Provincial Administration\n",
                                     f"name_en: '{MARKUP_NAME}'\n"), encoding="utf-8")
    inbox = site / "inbox"
    inbox.mkdir()
    files = [*(demo / "inbox" / "processed").iterdir(), *(demo / "inbox" / "quarantine").iterdir()]
    assert {REJECTED_OPEN, REJECTED_RESTRICTED, *LEFT_OUT} <= {f.name for f in files}
    for f in files:
        if f.name not in LEFT_OUT:
            shutil.copy2(f, inbox / f.name)
    result = CliRunner().invoke(main, ["run", "--registry", str(site / "registry"), "--inbox", str(inbox),
                                       "--warehouse", str(site / "warehouse.duckdb"), "--out", str(site / "out"),
                                       "--as-of", NIGHT.isoformat(), "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output
    assert "reminder letters: 5 agencies" in result.output, result.output
    path = accounts_path(site / "warehouse.duckdb")
    add(path, "committee", "committee", "committee-password-1", [])
    add(path, "cleared", "committee", "cleared-password-1", [], restricted=True)
    add(path, "analyst", "analyst", "analyst-password-1", [])
    add(path, "dopa", "agency", "dopa-password-1", ["15001"])
    add(path, "police", "agency", "police-password-1", ["25001"])
    add(path, "dbd", "agency", "dbd-password-1", ["10004"])
    return site


def _app(site: Path, **config):
    from web.app import SiteConfig, create_app

    return create_app(SiteConfig(site / "registry", site / "inbox", site / "warehouse.duckdb", as_of=NIGHT, **config))


@pytest.fixture(scope="module")
def sign_in(letters_night):
    app = _app(letters_night)
    clients = []

    def make(name: str) -> Client:
        client = Client(app)
        clients.append(client)
        assert client.sign_in(name, f"{name}-password-1").status_code == 303
        return client

    yield make
    for c in clients:
        c.close()


def rows_of(page: str) -> dict[tuple[str, str, str], dict[str, str]]:
    """The reminders table: (agency, pilot, period) -> its cells by data-field, and reason/level."""
    table = page.split('<table id="reminders">')[1].split("</table>")[0]
    out = {}
    for attrs, body in re.findall(r"<tr (data-agency=[^>]*)>(.*?)</tr>", table, re.S):
        a = dict(re.findall(r'data-([a-z]+)="([^"]*)"', attrs))
        cells = {f: text_of(v).strip() for f, v in re.findall(r'<td[^>]*data-field="([a-z_]+)"[^>]*>(.*?)</td>', body, re.S)}
        out[(a["agency"], a["pilot"], a["period"])] = dict(cells, level_code=a["level"], reason_code=a["reason"],
                                                           html=body)
    return out


def letters_of(page: str) -> dict[str, list[str]]:
    table = page.split('<table id="letters"')[1].split("</table>")[0]
    return {code: re.findall(r'data-letter="([a-z]+)"', body)
            for code, body in re.findall(r'<tr data-agency="([^"]+)"[^>]*>(.*?)</tr>', table, re.S)}


@SERIAL
def test_the_night_writes_the_reminders_the_committee_and_agencies_read(letters_night, sign_in):
    site = letters_night
    # The night's own output, as follow-up.md worked by hand.
    with duckdb.connect(str(site / "warehouse.published.duckdb"), read_only=True) as con:
        stored = {(a, p, per): (str(d), days, level, reason) for a, p, per, d, days, level, reason in con.execute(
            "SELECT agency_code, pilot_id, period, due_date, days_overdue, level, reason FROM marts.reminders").fetchall()}
    assert stored == EXPECTED
    assert sorted(p.name for p in (site / "out" / "reminders").glob("*.html")) == sorted(
        f"{code}.{lang}.html" for code in ("10004", "15001", "25001", "11002", "01006") for lang in ("th", "en"))

    # The committee: every agency's reminders, days, level and reason, most overdue first; the
    # open pilot's rejected file by name; the restricted one's file name not (account not cleared).
    committee = sign_in("committee")
    home = committee.get("/")
    assert home.status_code == 200 and 'href="/reminders"' in home.text
    assert "ระยะต่อไป" not in home.text  # the placeholder is gone
    levels = dict(re.findall(r'<tr data-level="(\d)"><td>[^<]*</td><td class="num">(\d+)', home.text))
    assert levels == {"3": "4", "2": "2", "1": "1"}
    page = committee.get("/reminders")
    assert page.status_code == 200
    rows = rows_of(page.text)
    assert set(rows) == set(EXPECTED)
    for key, (due, days, level, reason) in EXPECTED.items():
        row = rows[key]
        assert (row["days_overdue"], row["level_code"], row["reason_code"]) == (str(days), str(level), reason), key
    assert [k for k in rows][:4] == sorted([k for k in EXPECTED if EXPECTED[k][2] == 3], key=lambda k: -EXPECTED[k][1])
    assert rows[("15001", "PLT-2548-003", "2549-Q1")]["reason"] == "ไฟล์ไม่ผ่านการตรวจสอบ"
    assert rows[("11002", "PLT-2548-001", "2549-Q3")]["reason"] == "ยังไม่ได้รับรายงาน"
    assert rows[("15001", "PLT-2548-003", "2549-Q1")]["latest_file"] == REJECTED_OPEN
    assert rows[("10004", "PLT-2548-004", "2549-Q2")]["latest_file"] == "–"
    assert REJECTED_RESTRICTED not in page.text
    assert rows[("25001", "PLT-2548-006", "2549-Q1")]["latest_file"] != "–"  # says why it names no file
    assert letters_of(page.text) == {code: ["th", "en"] for code in ("10004", "15001", "25001", "11002", "01006")}
    # Agency text escaped (the registry's name with markup, in English).
    committee.post("/language", data={"csrf": committee.csrf("/reminders"), "lang": "en", "back": "/reminders"})
    english = committee.get("/reminders").text
    assert '<b class="x">' not in english and "&lt;b class=&#34;x&#34;&gt;&amp;amp;&lt;/b&gt;" in english
    assert "Days overdue" in english and "file failed validation" in english
    committee.post("/language", data={"csrf": committee.csrf("/reminders"), "lang": "th", "back": "/reminders"})
    # ... and the CSV download of the same rows.
    csv = committee.get("/reminders?download=reminders.csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert REJECTED_OPEN in csv.text and REJECTED_RESTRICTED not in csv.text and csv.text.count("\r\n") == 8

    # A letter opens, as the night wrote it, under a policy that loads and runs nothing.
    letter = committee.get("/reminders/letters/15001/th")
    assert letter.status_code == 200 and letter.content == (site / "out" / "reminders" / "15001.th.html").read_bytes()
    assert letter.headers["content-security-policy"].startswith("default-src 'none';")
    assert "script-src" not in letter.headers["content-security-policy"] and "sandbox" in letter.headers["content-security-policy"]
    assert REJECTED_OPEN in letter.text and "ขอแสดงความนับถือ" in letter.text
    restricted = committee.get("/reminders/letters/25001/en")
    assert restricted.status_code == 200 and "PLT-2548-006" in restricted.text
    assert RESTRICTED_NAME_EN not in restricted.text and REJECTED_RESTRICTED not in restricted.text
    for missing in ("/reminders/letters/16003/th", "/reminders/letters/99999/th", "/reminders/letters/15001/fr",
                    "/reminders/letters/..%2Freminders.csv/th", "/reminders/letters/reminders.csv/th"):
        assert committee.get(missing).status_code == 404, missing

    # A cleared committee account sees the restricted pilot's rejected file too.
    cleared = rows_of(sign_in("cleared").get("/reminders").text)
    assert cleared[("25001", "PLT-2548-006", "2549-Q1")]["latest_file"] == REJECTED_RESTRICTED

    # An agency: its own reminders only, its letters; another agency's letter is a 404 like none.
    dopa = sign_in("dopa")
    mine = dopa.get("/reminders")
    assert set(rows_of(mine.text)) == {("15001", "PLT-2548-003", "2549-Q1")}
    assert letters_of(mine.text) == {"15001": ["th", "en"]}
    assert "11002" not in mine.text and "10004" not in mine.text
    own = dopa.get("/reminders/letters/15001/en")
    assert own.status_code == 200 and own.content == (site / "out" / "reminders" / "15001.en.html").read_bytes()
    other, none = dopa.get("/reminders/letters/11002/th"), dopa.get("/reminders/letters/99999/th")
    assert other.status_code == none.status_code == 404
    assert other.text.replace("/11002/", "/99999/") == none.text  # the same page (but for its own address)
    # Its home page: the reminders with their reason, and the way to its letters.
    home = dopa.get("/").text.split('<table id="reminders">')[1].split("</table>")[0]
    assert 'data-reason="rejected_file"' in home and "ไฟล์ไม่ผ่านการตรวจสอบ" in home and "218" in home
    # The restricted pilot's own agency sees its own rejected file.
    police = rows_of(sign_in("police").get("/reminders").text)
    assert police[("25001", "PLT-2548-006", "2549-Q1")]["latest_file"] == REJECTED_RESTRICTED
    dbd = rows_of(sign_in("dbd").get("/reminders").text)
    assert {k: (v["days_overdue"], v["level_code"]) for k, v in dbd.items()} == {
        k: (str(e[1]), str(e[2])) for k, e in EXPECTED.items() if k[0] == "10004"}

    # An analyst: refused, as on other pages it may not use; its home has its own entry points.
    analyst = sign_in("analyst")
    for path in ("/reminders", "/reminders/letters/15001/th", "/reminders?download=reminders.csv"):
        assert analyst.get(path).status_code == 403, path
    home = analyst.get("/").text
    assert 'href="/sql"' in home and 'href="/reminders"' not in home and 'href="/quarters"' not in home


@SERIAL
def test_letters_are_read_from_the_out_folder_the_site_is_given(letters_night, tmp_path):
    """`pilotkpi web --out`: another folder than the night's has no letter to show."""
    empty = tmp_path / "elsewhere"
    (empty / "reminders").mkdir(parents=True)
    client = Client(_app(letters_night, out_dir=empty))
    try:
        assert client.sign_in("committee", "committee-password-1").status_code == 303
        page = client.get("/reminders").text
        assert set(rows_of(page)) == set(EXPECTED)
        assert letters_of(page) == {code: [] for code in ("10004", "15001", "25001", "11002", "01006")}
        assert client.get("/reminders/letters/15001/th").status_code == 404
        shutil.copy2(letters_night / "out" / "reminders" / "15001.th.html", empty / "reminders" / "15001.th.html")
        assert client.get("/reminders/letters/15001/th").status_code == 200
    finally:
        client.close()


def test_after_a_back_dated_job_the_letters_of_the_published_date_are_shown(letters_night, tmp_path):
    """A job run back in time publishes that date's reminders and writes its letters to
    OUT/reminders/<date>/ (kpis/letters/render.py write_letters), leaving the later date's letters
    in OUT/reminders: the site shows the letters of the published copy's date, never one date's
    reminders beside another date's letters (reviewer RV8 F1). Here the copy's last job is NIGHT's."""
    out = tmp_path / "out"
    shutil.copytree(letters_night / "out" / "reminders", out / "reminders")
    later = (out / "reminders" / "15001.th.html").read_bytes() + b"<!-- the later date's letter -->"
    (out / "reminders" / "15001.th.html").write_bytes(later)
    other = out / "reminders" / "2005-01-01"  # another date's folder: not the copy's
    other.mkdir()
    (other / "15001.th.html").write_bytes(b"<p>2005-01-01</p>")
    client = Client(_app(letters_night, out_dir=out))
    try:
        assert client.sign_in("committee", "committee-password-1").status_code == 303
        assert client.get("/reminders/letters/15001/th").content == later  # no folder of NIGHT: OUT/reminders
        dated = out / "reminders" / NIGHT.isoformat()
        dated.mkdir()
        own = (letters_night / "out" / "reminders" / "15001.th.html").read_bytes()
        (dated / "15001.th.html").write_bytes(own)
        assert client.get("/reminders/letters/15001/th").content == own
        # An agency the dated folder has no letter for has none (not the later date's).
        assert client.get("/reminders/letters/11002/th").status_code == 404
        assert letters_of(client.get("/reminders").text)["15001"] == ["th"]
    finally:
        client.close()


def test_staff_home_and_agency_reasons_on_the_demo(client_for):
    """The demo as of its day: the committee's and analyst's homes are real entry points, Thai by
    default with the English switch; the agency's reminders say why."""
    committee = client_for("demo-committee")
    home = committee.get("/").text
    for href in ("/pilots", "/held", "/quarters", "/reminders", "/submissions", "/guide"):
        assert f'<a href="{href}">' in home.split('<ul id="entry-points">')[1], href
    assert "ระยะต่อไป" not in home and "next part" not in home
    assert "id=\"switch-language\"" in home and "<script" not in home
    committee.post("/language", data={"csrf": committee.csrf("/"), "lang": "en", "back": "/"})
    assert "Choose what to do." in committee.get("/").text
    analyst = client_for("demo-analyst")
    entries = analyst.get("/").text.split('<ul id="entry-points">')[1].split("</ul>")[0]
    assert re.findall(r'href="([^"]+)"', entries) == ["/pilots", "/held", "/submissions", "/sql", "/guide"]
    agency = client_for("demo-agency")
    table = agency.get("/").text.split('<table id="reminders">')[1].split("</table>")[0]
    assert "<th>เหตุผล</th>" in table and table.count('data-reason="missing"') == 3
    assert agency.get("/reminders").status_code == 200
    assert AS_OF == date(2006, 8, 15)


SIGN_IN = {"anonymous": "redirect", "disabled": "redirect"}
# The demo as of its day: demo-agency (10004) has letters (PLT-2548-004 overdue), demo-restricted-agency
# (01005) none; (method, path, case, {role: expected}).
READERS = {"agency": 200, "restricted_agency": 200, "analyst": 403, "committee": 200, **SIGN_IN}
OWN_LETTER = {"agency": 200, "restricted_agency": 404, "analyst": 403, "committee": 200, **SIGN_IN}
NO_LETTER = {"agency": 404, "restricted_agency": 404, "analyst": 403, "committee": 404, **SIGN_IN}
REMINDERS_MATRIX = [
    ("GET", "/reminders", "-", READERS),
    ("GET", "/reminders?download=reminders.csv", "-", READERS),
    ("GET", "/reminders/letters/10004/th", "own", OWN_LETTER),
    ("GET", "/reminders/letters/10004/en", "own", OWN_LETTER),
    ("GET", "/reminders/letters/01005/th", "nonexistent", NO_LETTER),  # 01005 owes nothing: no letter
    ("GET", "/reminders/letters/99999/th", "nonexistent", NO_LETTER),
    ("GET", "/reminders/letters/10004/fr", "nonexistent", NO_LETTER),
    ("GET", "/reminders/letters/10004.th.html/th", "nonexistent", NO_LETTER),
    ("POST", "/reminders", "-", {r: 405 for r in ROLES}),  # a read-only page
]


def test_reminders_matrix_for_every_role(client_for, passwords, site_dir):
    cells, wrong = walk(client_for, passwords, site_dir, REMINDERS_MATRIX)
    assert not wrong, "\n".join(map(str, wrong))
    assert cells == len(REMINDERS_MATRIX) * len(ROLES)
