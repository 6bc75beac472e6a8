"""What the pages say is what happens (verifiers VE F5, VF F2-F6, F8), on a copy of the demo:

- a broken registry on disk: a 503 page in Thai and English naming the file and the rule as
  `pilotkpi check` does, on the pages that need the registry; the others keep working;
- a score links to its page only where that page opens (an agency that is not the lead: text);
- the receipt says where the night's result shows (the submissions page) and links to it;
- a file's two times (sent through the site; taken in by the night's run) each labelled;
- the upload check names a column as `pilotkpi check` does (the header as the file wrote it);
- a file sent through the site has one name on every page (/held, a score's sources);
- `pilotkpi accounts add` refuses an agency code the registry does not have.
"""
from __future__ import annotations

import re

import duckdb
from click.testing import CliRunner
from markupsafe import escape

from flows.cli import main
from tests.web.conftest import HEADER, Client, make_app, report, text_of


def _english(client: Client) -> None:
    r = client.post("/language", data={"csrf": client.csrf("/guide"), "lang": "en", "back": "/guide"})
    assert r.status_code == 303


def _both(client: Client, path: str) -> dict[str, object]:
    """The page in Thai, then in English (the client is switched to English)."""
    th = client.get(path)
    _english(client)
    return {"th": th, "en": client.get(path)}


# --- a broken registry (VE F5) -----------------------------------------------------------------

PROBLEM = "pilots/PLT-2548-004.yaml: PLT-2548-004: every pilot must have exactly one lead agency (found 2)"
PROBLEM_TH = "pilots/PLT-2548-004.yaml: PLT-2548-004: ทุกโครงการต้องมีหน่วยงานหลัก (lead) หนึ่งหน่วยงานพอดี (พบ 2)"
TH_TITLE = "ขณะนี้ใช้ทะเบียนโครงการไม่ได้"
EN_TITLE = "The pilot registry cannot be used right now"
TH_TODO = ("ไม่มีข้อมูลใดถูกเขียนหรือสูญหาย กรุณาแจ้งผู้ดูแลระบบให้แก้ไฟล์ที่ระบุไว้ข้างต้น "
           "แล้วหน้านี้จะใช้ได้ทันทีโดยไม่ต้องเริ่มระบบใหม่ หน้าที่ไม่ใช้ทะเบียนยังใช้ได้ตามปกติ")
EN_TODO = ("Nothing was written and nothing is lost. Tell the operator, who fixes the file named above; "
           "this page then works again at once, without a restart. Pages that do not need the registry work as usual.")


def _assert_registry_page(response) -> None:
    assert response.status_code == 503, response.text[:300]
    text = text_of(response.text)
    assert 'data-store="registry"' in response.text and 'data-problem="broken"' in response.text
    for words in (TH_TITLE, EN_TITLE, TH_TODO, EN_TODO, PROBLEM, PROBLEM_TH):  # both languages, whatever the session's
        assert words in text, words
    assert "Internal Server Error" not in text and "Traceback" not in text


def test_a_broken_registry_answers_503_naming_the_file_and_rule(site_dir, client_for):
    pilot_file = site_dir / "registry" / "pilots" / "PLT-2548-004.yaml"
    good = pilot_file.read_text(encoding="utf-8")
    pilot_file.write_text(good.replace('{code: "10004", role: secondary}', '{code: "10004", role: lead}'),
                          encoding="utf-8")
    (site_dir / "r.csv").write_bytes(report())
    cli = CliRunner().invoke(main, ["check", str(site_dir / "r.csv"), "--registry", str(site_dir / "registry")])
    assert cli.exit_code == 4 and cli.stderr == (f"pilotkpi: broken registry, nothing was written: {PROBLEM}\n"
                                                 f"pilotkpi: ทะเบียนโครงการไม่ถูกต้อง จึงไม่ได้บันทึกข้อมูลใด ๆ: {PROBLEM_TH}\n")

    agency, committee = client_for("demo-agency"), client_for("demo-committee")
    _assert_registry_page(agency.get("/"))
    _assert_registry_page(agency.get("/submissions"))
    _assert_registry_page(agency.upload("r.csv", report()))
    _assert_registry_page(committee.get("/submissions"))
    _assert_registry_page(committee.get("/quarters"))
    _english(agency)
    _assert_registry_page(agency.get("/"))  # the same page in an English session
    # What does not need the registry keeps working.
    for client, path in ((agency, "/pilots"), (agency, "/guide"), (agency, "/upload"), (committee, "/pilots/PLT-2548-004")):
        assert client.get(path).status_code == 200, path
    # Fixed on disk: the next request uses it, no restart.
    pilot_file.write_text(good, encoding="utf-8")
    assert agency.get("/").status_code == 200 and committee.get("/quarters").status_code == 200


def test_a_threshold_year_with_no_list_answers_503_not_500(site_dir, client_for):
    """`2548:` with nothing after it once crashed the loader (TypeError): the web answered 500. It is
    a broken registry like any other: the 503 page naming the file, the KPI and the rule."""
    pilot_file = site_dir / "registry" / "pilots" / "PLT-2548-004.yaml"
    good = pilot_file.read_text(encoding="utf-8")
    assert good.count("2548: [10, 20, 30, 40, 50]") == 1
    pilot_file.write_text(good.replace("2548: [10, 20, 30, 40, 50]", "2548:"), encoding="utf-8")
    committee = client_for("demo-committee")
    r = committee.get("/quarters")
    assert r.status_code == 503, r.text[:300]
    text = text_of(r.text)
    for words in ("pilots/PLT-2548-004.yaml: PLT-2548-004 / D1: thresholds for 2548 must be five numbers",
                  "pilots/PLT-2548-004.yaml: PLT-2548-004 / D1: thresholds ของปี 2548 ต้องเป็นตัวเลขห้าค่า"):
        assert words in text, words


# --- score links (VF F2) -------------------------------------------------------------------------

def test_a_score_links_only_where_its_page_opens(site_dir, client_for):
    from web.accounts import accounts_path, add

    add(accounts_path(site_dir / "warehouse.duckdb"), "lead-15001", "agency", "lead password 15001", ["15001"])
    secondary, committee = client_for("demo-agency"), client_for("demo-committee")
    lead = client_for()
    assert lead.sign_in("lead-15001", "lead password 15001").status_code == 303
    page = secondary.get("/pilots/PLT-2548-004").text
    assert 'id="kpis"' in page and "/scores/" not in page and 'class="score-link"' not in page
    kpis = re.search(r'<table class="kpis" id="kpis">.*?</table>', page, re.S).group(0)
    assert re.findall(r'data-fig="score"', kpis) or re.search(r"\d\.\d{2}", text_of(kpis))  # the scores, as text
    for client in (committee, lead):
        links = sorted(set(re.findall(r'href="(/pilots/PLT-2548-004/scores/[^"]+)"', client.get("/pilots/PLT-2548-004").text)))
        assert links and all(client.get(link).status_code == 200 for link in links)
    # and the page the secondary agency no longer links to still refuses it
    assert secondary.get(links[0]).status_code == 404


# --- the receipt and the two times (VF F3, F4) -------------------------------------------------

TH_NEXT = "ผลการประมวลผลคืนนี้จะแสดงในหน้ารายงานที่ส่งแล้วของหน่วยงาน: รายงานที่ส่งแล้ว"
EN_NEXT = "The result of tonight's run will show on your agency's submissions page: My submissions"
TH_SENT, EN_SENT = "เวลาที่ส่ง (ระบบเว็บได้รับไฟล์ เวลาประเทศไทย)", "Sent (received by the site, Bangkok time)"
TH_NIGHT, EN_NIGHT = "เวลาที่รอบประมวลผลกลางคืนรับเข้า (เวลาประเทศไทย)", "Taken in by the night's run (Bangkok time)"


def _cell(page: str, sha: str, field: str) -> str:
    row = re.search(rf'<tr data-sha256="{sha}".*?</tr>', page, re.S).group(0)
    return text_of(re.search(rf'data-field="{field}">(.*?)</td>', row, re.S).group(1)).strip()


def test_the_receipt_says_where_the_result_shows_and_each_time_is_labelled(client_for):
    agency = client_for("demo-agency")
    checked = agency.upload("my report.csv", report())
    sent = agency.send(checked.text)
    assert sent.status_code == 303
    receipt_url = sent.headers["location"]
    pages = _both(agency, receipt_url)
    for lang, next_text, sent_label in (("th", TH_NEXT, TH_SENT), ("en", EN_NEXT, EN_SENT)):
        page = pages[lang].text
        assert next_text in text_of(page)
        assert re.search(r'<p id="next-night">[^<]*<a href="/submissions">', page)
        assert f"<th>{sent_label}</th>" in page and "on this site" not in page and "ในหน้านี้" not in page
    sha = re.search(r'data-field="sha256">([0-9a-f]{64})<', pages["en"].text).group(1)
    sent_at = text_of(re.search(r'data-field="sent_at">(.*?)</td>', pages["en"].text).group(1)).strip()

    listing = agency.get("/submissions").text  # English now
    assert f"<th>{EN_SENT}</th><th>{escape(EN_NIGHT)}</th>" in listing
    assert _cell(listing, sha, "sent_at") == sent_at and _cell(listing, sha, "processed_at") == "–"
    stored = re.search(r'<tr data-sha256="([0-9a-f]{64})" data-status="accepted"', listing).group(1)
    assert _cell(listing, stored, "sent_at") == "–" and re.match(r"\d+ \w+ \d{4} \d\d:\d\d", _cell(listing, stored, "processed_at"))
    thai = client_for("demo-agency").get("/submissions").text
    assert f"<th>{TH_SENT}</th><th>{TH_NIGHT}</th>" in thai and "เวลาที่ได้รับ" not in thai
    one = agency.get(f"/submissions/{stored}").text
    assert f"<th>{EN_SENT}</th>" in one and f"<th>{escape(EN_NIGHT)}</th>" in one


# --- the check's column (VF F5) ----------------------------------------------------------------

def test_the_check_names_the_column_as_pilotkpi_check_does(site_dir, client_for, tmp_path):
    thai_header = HEADER.replace("allocated_thb", "งบจัดสรร")
    line = "PLT-2548-004,10004,2549-Q3,2006-08-10,budget,ACT-L3-03,3,,lots,5000000.00,own,x"
    data = f"{thai_header}\n{line}\n".encode("utf-8")
    (tmp_path / "bad.csv").write_bytes(data)
    cli = CliRunner().invoke(main, ["check", str(tmp_path / "bad.csv"), "--registry", str(site_dir / "registry")])
    assert "(row 2, column งบจัดสรร)" in cli.output  # the file's headers are English but one: English words
    agency = client_for("demo-agency")
    for lang in ("th", "en"):
        if lang == "en":
            _english(agency)
        page = agency.upload("bad.csv", data).text
        row = re.search(r'<tr class="sev-error" data-code="NOT_A_NUMBER">.*?</tr>', page, re.S).group(0)
        assert '<td data-column="allocated_thb">งบจัดสรร</td>' in row, row
    english = agency.upload("bad.csv", f"{HEADER}\n{line}\n".encode("utf-8")).text
    assert '<td data-column="allocated_thb">allocated_thb</td>' in english


# --- one name (VF F6) --------------------------------------------------------------------------

def test_a_file_sent_through_the_site_has_one_name_everywhere(site_dir, passwords):
    """Stored files as if sent through the site (their `send` lines in the audit trail): the lead's
    files of PLT-2548-004 (a score's sources) and one held file (PLT-2548-003's first, marked held
    in this copy). Each page names them as sent, never by the stored name, escaped."""
    with duckdb.connect(str(site_dir / "warehouse.published.duckdb")) as con:
        sources = con.execute("SELECT sha256, file_name FROM ingest.submissions WHERE status = 'accepted' "
                              "AND pilot_id = 'PLT-2548-004' AND agency_code = '15001' ORDER BY submission_id").fetchall()
        held_id, held_sha, held_name = con.execute(
            "SELECT submission_id, sha256, file_name FROM ingest.submissions WHERE status = 'accepted' "
            "AND pilot_id = 'PLT-2548-003' ORDER BY submission_id LIMIT 1").fetchone()
        con.execute("UPDATE ingest.submissions SET status = 'held' WHERE submission_id = ?", [held_id])
    app = make_app(site_dir)
    sent = [(sha, f"ผลงาน <{i}>.csv") for i, (sha, _) in enumerate(sources)] + [(held_sha, "held as sent.csv")]
    for sha, name in sent:
        app.state.site.audit.record("send", "someone", None, receipt=f"r-{sha[:8]}", file_name=name,
                                    inbox_name=f"web-x-{sha[:16]}.csv", size=1, sha256=sha, pilot_id="PLT-2548-004",
                                    agency_code="15001", period="2549-Q3", submitted_on="2006-08-10", verdict="new",
                                    warnings=0)
    committee = Client(app)
    assert committee.sign_in("demo-committee", passwords["demo-committee"]).status_code == 303
    link = re.search(r'href="(/pilots/PLT-2548-004/scores/[^"]+)"', committee.get("/pilots/PLT-2548-004").text).group(1)
    for lang in ("th", "en"):
        if lang == "en":
            _english(committee)
        table = re.search(r'<table id="sources">.*?</table>', committee.get(link).text, re.S).group(0)
        shown = re.findall(r'class="source">([^<]*)</a>', table)
        assert shown and all(re.fullmatch(r"ผลงาน &lt;\d+&gt;\.csv", name) for name in shown), shown
        assert not any(stored in table for _, stored in sources)
        held = committee.get("/held").text
        row = re.search(rf'<tr data-submission="{held_id}".*?</tr>', held, re.S).group(0)
        assert "held as sent.csv" in row and held_name not in row
        listing = committee.get("/submissions").text
        assert "held as sent.csv" in listing and "ผลงาน &lt;0&gt;.csv" in listing


# --- accounts (VF F8) --------------------------------------------------------------------------

def _accounts(*args: str):
    return CliRunner().invoke(main, ["accounts", *args], input="long enough password\n")


def test_accounts_add_refuses_an_agency_code_the_registry_does_not_have(site_dir, tmp_path):
    wh = str(site_dir / "warehouse.duckdb")
    published = site_dir / "warehouse.published.duckdb"
    r = _accounts("add", "x", "--role", "agency", "--agency", "99999", "--warehouse", wh, "--password-stdin")
    assert r.exit_code == 1 and r.stderr == f"pilotkpi: agency code not in the registry ({published}): '99999'\n"
    registry = site_dir / "registry"
    r = _accounts("add", "x", "--role", "agency", "--agency", "10004", "--agency", "99998", "--warehouse", wh,
                  "--registry", str(registry), "--password-stdin")
    assert r.exit_code == 1 and r.stderr == f"pilotkpi: agency code not in the registry ({registry}): '99998'\n"
    assert _accounts("add", "x", "--role", "agency", "--agency", "10004", "--warehouse", wh,
                     "--password-stdin").exit_code == 0
    assert _accounts("add", "y", "--role", "agency", "--agency", "15001", "--warehouse", wh, "--registry",
                     str(registry), "--password-stdin").exit_code == 0
    lonely = str(tmp_path / "new.duckdb")  # no published copy yet, no --registry: nothing to check against
    r = _accounts("add", "z", "--role", "agency", "--agency", "10004", "--warehouse", lonely, "--password-stdin")
    assert r.exit_code == 1 and r.stderr == (
        f"pilotkpi: cannot check the agency codes: no published copy of the warehouse ({tmp_path / 'new.published.duckdb'}) "
        "yet; give --registry DIR\n")
    assert _accounts("add", "z", "--role", "analyst", "--warehouse", lonely, "--password-stdin").exit_code == 0
