"""The pilot pages (web/committee.py): /pilots and /pilots/{pilot_id} on the README's demo.

Figures are checked by hand against scoring.md from the demo's registry and report lines (quoted
in each test), and the overview against the committee summary the demo's run wrote. One copy of
the demo and one app serve the module's read-only tests; a test that changes anything takes its
own copy (client_for).
"""
from __future__ import annotations

import ast
import csv
import io
import re
import shutil
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.support import ROOT, SERIAL
from tests.web.conftest import AS_OF, Client, make_app, report, text_of, verdict

ROLES = {"agency": "demo-agency", "restricted_agency": "demo-restricted-agency", "analyst": "demo-analyst",
         "committee": "demo-committee"}


@pytest.fixture(scope="module")
def demo_copy(demo_run, tmp_path_factory):
    folder, _ = demo_run
    target = tmp_path_factory.mktemp("pilots") / "demo"
    shutil.copytree(folder, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def as_role(demo_copy):
    """as_role(role): a client of the module's app signed in as the demo account of that role."""
    app = make_app(demo_copy)
    lines = (demo_copy / "demo-passwords.txt").read_text(encoding="utf-8").splitlines()
    passwords = {line.split("\t")[0]: line.split("\t")[3] for line in lines}
    clients: dict[str, Client] = {}

    def make(role: str) -> Client:
        if role not in clients:
            clients[role] = Client(app)
            assert clients[role].sign_in(ROLES[role], passwords[ROLES[role]]).status_code == 303
        return clients[role]

    make.app = app
    yield make
    for c in clients.values():
        c.close()


def values(page: str, field: str, **attrs: str) -> list[str]:
    """The data-value of every figure `field` (optionally with data-kpi/-period/-key), in order."""
    found = []
    for span in re.findall(r'<span class="fig"[^>]*>', page):
        if f'data-field="{field}"' in span and all(f'data-{k}="{v}"' in span for k, v in attrs.items()):
            found.append(re.search(r'data-value="([^"]*)"', span).group(1))
    return found


def value(page: str, field: str, **attrs: str) -> str:
    found = values(page, field, **attrs)
    assert len(found) == 1, (field, attrs, found)
    return found[0]


def overview_rows(page: str) -> dict[str, dict]:
    rows = {}
    for tr in re.findall(r'<tr data-pilot="[^"]+".*?</tr>', page, re.S):
        pid = re.search(r'data-pilot="([^"]+)"', tr).group(1)
        rows[pid] = {"status": re.search(r'data-status="([^"]+)"', tr).group(1),
                     "composite": value(tr, "composite_score"),
                     "late": re.search(r'data-late="([^"]*)"', tr).group(1)}
    return rows


def round4(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.0001"), ROUND_HALF_UP)  # scoring.md §6: half away from zero


def test_pilot_page_figures_by_hand(as_role):
    """PLT-2548-004, 2549-Q3 (the demo's registry and the lead 15001's report):
    D1 count, higher, weight 50, thresholds 40/55/70/85/100, actual 47 -> k=1, s = 1 + 7/15
    D2 percent, higher, weight 30, thresholds 97/97.5/98/98.5/99, actual 97.41 -> s = 1 + 0.41/0.5
    D3 days, lower, weight 20, thresholds 6/5/4/3/2, actual 5.4 -> k=1, s = 1 + (6-5.4)/(6-5)."""
    page = as_role("committee").get("/pilots/PLT-2548-004").text
    d1, d2, d3 = round4(1 + Decimal(7) / 15), round4(1 + Decimal("0.41") / Decimal("0.5")), round4(1 + Decimal("0.6") / 1)
    assert (d1, d2, d3) == (Decimal("1.4667"), Decimal("1.8200"), Decimal("1.6000"))
    for kpi, s in (("D1", d1), ("D2", d2), ("D3", d3)):
        assert Decimal(value(page, "score", kpi=kpi, period="2549-Q3")) == s
        # each score links to the explain page of that KPI and period
        assert f'href="/pilots/PLT-2548-004/scores/2549-Q3/{kpi}"' in page
    composite = round4((d1 * 50 + d2 * 30 + d3 * 20) / 100)  # from the rounded s values
    assert composite == Decimal("1.5994")
    assert Decimal(value(page, "composite_score")) == composite
    assert 'data-status="off_track"' in page.split('id="kpis"')[0]  # composite under 2: off track
    assert [Decimal(v) for v in values(page, "t1", kpi="D2")] == [Decimal("97")]
    assert value(page, "actual", kpi="D3") == "5.4"

    # Budget as of 2549-Q3 (scoring.md §3): each agency's latest FY2549 report with budget lines:
    # 15001 (lead) 2549-Q3: ACT-L3-01 47,940,000 and ACT-L3-02 16,150,000, lead_integrated,
    #   disbursed 27,497,661.83 + 9,667,027.12
    # 11002 (supporting) 2549-Q3: ACT-L3-01 9,380,000 support_contribution, disbursed 5,010,374.18
    # 10004 (secondary) 2549-Q1: ACT-L3-03 16,130,000 own, disbursed 2,255,359.56
    lead = Decimal("47940000") + Decimal("16150000")
    total = lead + Decimal("9380000") + Decimal("16130000")
    integrated = lead + Decimal("9380000")
    disbursed = Decimal("27497661.83") + Decimal("9667027.12") + Decimal("5010374.18") + Decimal("2255359.56")
    expected = {
        "total_allocated_thb": total, "integrated_thb": integrated, "fragmented_thb": total - integrated,
        "integration_ratio": round4(integrated / total), "lead_share": round4(lead / total),
        "support_thb": Decimal("9380000"), "disbursed_thb": disbursed, "disbursement_rate": round4(disbursed / total),
        # ACT-L3-01 is in two agencies' lines, but neither is fragmented: no overlap
        "overlapping_activities": Decimal(0), "agencies_reporting": Decimal(3), "agencies_expected": Decimal(3),
    }
    assert total == Decimal("89600000") and expected["integration_ratio"] == Decimal("0.8200")
    for field, want in expected.items():
        assert Decimal(value(page, field)) == want, field
    text = text_of(page)
    assert "89.60 ล้านบาท" in text and "82.00%" in text and "71.53%" in text

    # Compliance: 10004 sent nothing for 2549-Q3 (due 30 Jun 2006 + 30 days = 30 Jul 2006, BE 2549)
    row = re.search(r'<tr data-agency="10004" data-period="2549-Q3">.*?</tr>', page, re.S).group(0)
    assert "30 ก.ค. 2549" in text_of(row) and "ไม่ส่ง" in text_of(row)
    # Figures to confirm (data-quality.md): D1 jumped from a history median of 22 to 47
    assert 'data-flag="D1 2549-Q3"' in page and "ตัวเลขที่ควรยืนยัน" in text


def test_overview_carries_the_summarys_figures(as_role, demo_copy):
    """Every pilot's status, composite and late agencies as the summary the demo's run wrote."""
    summary = (demo_copy / "out" / "summary.th.html").read_text(encoding="utf-8")
    from_summary = {}
    for tr in re.findall(r'<tr data-overview="[^"]+".*?</tr>', summary, re.S):
        pid = re.search(r'data-overview="([^"]+)"', tr).group(1)
        late_cell = re.findall(r"<td>(.*?)</td>", tr, re.S)[-1]
        from_summary[pid] = (re.search(r'data-status="([^"]+)"', tr).group(1),
                             re.search(r'data-field="composite_score"[^>]*data-value="([^"]*)"', tr).group(1),
                             late_cell)
    page = as_role("committee").get("/pilots").text
    rows = overview_rows(page)
    assert set(rows) == set(from_summary) == {f"PLT-2548-00{n}" for n in range(1, 8)}
    for pid, (status, composite, late_cell) in from_summary.items():
        assert (rows[pid]["status"], rows[pid]["composite"]) == (status, composite), pid
        if late_cell != "–":  # every pilot with a due period, a restricted one too: the same agencies
            assert rows[pid]["late"].split() == re.findall(r"\d{5}", late_cell), pid
    # by hand: 10004 sent nothing for 2549-Q3 (PLT-2548-004); 07005 was 15 days late (PLT-2548-005)
    assert rows["PLT-2548-004"]["late"] == "10004" and rows["PLT-2548-005"]["late"] == "07005"
    assert rows["PLT-2548-004"]["composite"] == "1.5994"
    # the trend: a sparkline of the seven due periods 2548-Q1 .. 2549-Q3, without inline style or script
    row = re.search(r'<tr data-pilot="PLT-2548-004".*?</tr>', page, re.S).group(0)
    assert len(re.search(r'<polyline points="([^"]+)"', row).group(1).split()) == 7
    assert "▼ −0.4280" in text_of(row)  # 1.5994 − 2.0274 (2549-Q2), the summary's minus sign
    assert "style=" not in page and "<script" not in page


@pytest.mark.parametrize("query, shown", [
    ("layer=5", {"PLT-2548-003", "PLT-2548-007"}),                      # the registry's layer 5 pilots
    ("strategy=3", {"PLT-2548-004", "PLT-2548-005"}),                   # strategies [1, 3] and [3, 6]
    ("status=off_track", {"PLT-2548-004", "PLT-2548-007"}),             # composites 1.5994, 1.3321
    ("layer=5&status=off_track", {"PLT-2548-007"}),
    ("layer=3&strategy=6&status=at_risk", {"PLT-2548-006"}),            # the restricted pilot, open side
    ("layer=2&status=on_target", set()),
    ("layer=abc&status=nonsense", {f"PLT-2548-00{n}" for n in range(1, 8)}),  # not a filter: every pilot
])
def test_overview_filters(as_role, query, shown):
    page = as_role("analyst").get(f"/pilots?{query}").text
    assert set(overview_rows(page)) == shown
    assert f'data-shown="{len(shown)}" data-total="7"' in page
    if "abc" not in query:  # the form keeps the choice
        for name, chosen in (pair.split("=") for pair in query.split("&")):
            select = re.search(rf'<select name="{name}">.*?</select>', page, re.S).group(0)
            assert re.search(rf'<option value="{chosen}" selected>', select), (name, chosen)


def test_overview_download_has_the_filtered_rows(as_role):
    client = as_role("committee")
    r = client.get("/pilots?status=off_track&download=pilots.csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == ["PLT-2548-004", "PLT-2548-007"]
    assert rows[1][7] == "1.5994"


def test_agency_sees_only_its_pilots_and_others_answer_like_missing_ones(as_role):
    agency = as_role("agency")  # 10004: secondary agency of PLT-2548-004 only
    assert set(overview_rows(agency.get("/pilots").text)) == {"PLT-2548-004"}
    assert agency.get("/pilots/PLT-2548-004").status_code == 200
    other, missing = agency.get("/pilots/PLT-2548-001"), agency.get("/pilots/PLT-2548-999")
    assert other.status_code == missing.status_code == 404
    strip = lambda t: re.sub(r'value="[^"]+"|PLT-2548-\d+', "", t)  # noqa: E731 - the CSRF token, the path
    assert strip(other.text) == strip(missing.text)
    assert agency.get("/pilots/PLT-2548-001?download=kpis.csv").status_code == 404


def test_restricted_pilot_line_level_only_for_cleared_accounts(as_role):
    """PLT-2548-006: the committee account of the demo is cleared; the analyst is not; the
    restricted agency (01005, its lead) sees the open side of its own pilot."""
    store = as_role.app.state.site.data.restricted
    kpis = store.rows("SELECT kpi_code, name_th, name_en FROM registry.kpis WHERE pilot_id = 'PLT-2548-006'")
    assert {k["kpi_code"] for k in kpis} == {"S1", "S2"}
    secrets = {k["name_th"] for k in kpis} | {k["name_en"] for k in kpis}
    secrets |= {r["file_name"] for r in store.rows("SELECT file_name FROM ingest.submissions")}

    cleared = as_role("committee").get("/pilots/PLT-2548-006").text
    assert 'id="kpis"' in cleared and 'id="budget"' in cleared
    # S1: count, higher, thresholds 6/8/10/12/14, actual 9 -> k=2, s = 2 + (9-8)/(10-8) = 2.5000
    assert value(cleared, "score", kpi="S1", period="2549-Q3") == "2.5"
    assert any(s in cleared for s in secrets)
    assert as_role("committee").get("/pilots/PLT-2548-006?download=kpis.csv").headers["content-type"].startswith("text/csv")

    for role in ("analyst", "restricted_agency"):
        client = as_role(role)
        page = client.get("/pilots/PLT-2548-006").text
        assert value(page, "composite_score") == "2.5125"  # the open side: status, composite, trend
        assert 'data-status="at_risk"' in page and 'id="trend"' in page
        assert 'id="restricted-note"' in page
        assert 'id="kpis"' not in page and 'id="budget"' not in page and 'id="flags"' not in page
        assert not [s for s in secrets if s in page], role
        assert "S1" not in text_of(page) and "S2" not in text_of(page)
        download = client.get("/pilots/PLT-2548-006?download=kpis.csv")  # no such table here: the page
        assert download.headers["content-type"].startswith("text/html")
        assert client.get("/pilots/PLT-2548-006?download=trend.csv").status_code == 200
    assert set(overview_rows(as_role("restricted_agency").get("/pilots").text)) == {"PLT-2548-006"}


def test_sections_in_full_give_a_restricted_pilots_lines_the_summary_leaves_out(as_role):
    """kpis.summary.model.sections_in_full on the restricted store (the cleared pages' source):
    PLT-2548-006 keeps `restricted` and gets its KPI table and budget, which build_model (the
    committee summary's) leaves out. By hand (scoring.md §1), 2549-Q3: S1 count, higher,
    6/8/10/12/14, a = 9 -> 2 + (9 - 8)/(10 - 8) = 2.5000; S2 days, lower, 20/16/12/9/6, a = 13.9
    -> 2 + (16 - 13.9)/(16 - 12) = 2.5250; both in [2, 3): at_risk."""
    from kpis.summary import model

    with as_role.app.state.site.data.restricted.keyed_cursor() as (cur, _):
        full = {s.pilot_id: s for s in model.sections_in_full(cur, AS_OF)}["PLT-2548-006"]
        summary = {s.pilot_id: s for s in model.build_model(cur, AS_OF).pilots}["PLT-2548-006"]
    assert full.restricted and summary.restricted
    assert summary.kpis == [] and summary.budget is None
    assert full.period == "2549-Q3"
    assert [(k.kpi_code, k.actual, k.score, k.status) for k in full.kpis] == [
        ("S1", Decimal("9"), Decimal("2.5000"), "at_risk"), ("S2", Decimal("13.9"), Decimal("2.5250"), "at_risk")]
    assert full.budget["total_allocated_thb"] == Decimal("90800000.00")
    assert (full.composite, full.trend) == (summary.composite, summary.trend)


def _private_uses_of_kpis(source: str) -> list[str]:
    """Names with a leading underscore that a module takes from kpis (imported, or reached as an
    attribute of something imported from kpis)."""
    tree, from_kpis, found = ast.parse(source), set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "kpis":
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
            from_kpis |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            from_kpis |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] == "kpis"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in from_kpis:
                found.append(f"{base.id}...{node.attr}")
    return found


def test_the_web_uses_only_the_summarys_public_api():
    """web/ reads the summary's model and formatters through public names (model.sections_in_full,
    labels.raw_value, labels.quarter_of), so the summary may change its internals freely."""
    assert _private_uses_of_kpis("from kpis.summary import model as m\nm._Batch(c)\n") == ["m..._Batch"]
    assert _private_uses_of_kpis("from kpis.summary.render import _raw\n") == ["kpis.summary.render._raw"]
    found = {path.name: _private_uses_of_kpis(path.read_text(encoding="utf-8"))
             for path in sorted((ROOT / "web").glob("*.py"))}
    assert {name: uses for name, uses in found.items() if uses} == {}
    assert "committee.py" in found


def test_pilot_page_in_english_and_downloads(as_role, demo_copy):
    from openpyxl import load_workbook

    client = Client(as_role.app)
    try:
        lines = (demo_copy / "demo-passwords.txt").read_text(encoding="utf-8").splitlines()
        password = next(line.split("\t")[3] for line in lines if line.startswith("demo-analyst\t"))
        assert client.sign_in("demo-analyst", password).status_code == 303
        client.post("/language", data={"csrf": client.csrf("/pilots"), "lang": "en", "back": "/pilots"})
        page = client.get("/pilots/PLT-2548-005").text
        assert '<html lang="en">' in page
        # 07005 reported 2549-Q3 on 14 Aug 2006: due 30 Jun 2006 + 30 days = 30 Jul 2006, 15 days late
        row = text_of(re.search(r'<tr data-agency="07005" data-period="2549-Q3">.*?</tr>', page, re.S).group(0))
        assert "FY2006 Q3" in row and "30 Jul 2006" in row and "14 Aug 2006" in row and row.strip().endswith("15")
        assert "Reporting compliance: agencies late or missing" in text_of(page)

        r = client.get("/pilots/PLT-2548-005?download=compliance.csv")
        assert r.headers["content-disposition"] == 'attachment; filename="compliance.csv"'
        assert r.content.startswith("\ufeff".encode("utf-8"))
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        q3 = next(row for row in rows if row[0] == "2549-Q3")
        assert q3[1] == '="07005"'  # Excel would show 7005
        assert q3[4:] == ["2006-07-30", "TRUE", "2006-08-14", "15"]
        x = client.get("/pilots/PLT-2548-005?download=compliance.xlsx")
        sheet = load_workbook(io.BytesIO(x.content)).active
        cells = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert len(cells) == len(rows)
        xq3 = next(row for row in cells if row[0] == "2549-Q3")
        assert xq3[1] == "07005" and xq3[4].date().isoformat() == "2006-07-30" and xq3[6].date().isoformat() == "2006-08-14"
        assert xq3[7] == 15 and xq3[5] is True

        kpis = client.get("/pilots/PLT-2548-004?download=kpis.xlsx")
        sheet = load_workbook(io.BytesIO(kpis.content)).active
        got = {row[1]: row[13] for row in sheet.iter_rows(min_row=2, values_only=True)}
        assert {k: Decimal(str(v)) for k, v in got.items()} == {"D1": Decimal("1.4667"), "D2": Decimal("1.82"), "D3": Decimal("1.6")}
    finally:
        client.close()


def test_a_newly_published_copy_is_read_without_a_restart(client_for, site_dir):
    """The pages keep the summary's model per published copy; a copy published by rename (as
    warehouse/publish.py does) is read at the next request."""
    import duckdb

    client = client_for("demo-committee")
    assert value(client.get("/pilots/PLT-2548-004").text, "composite_score") == "1.5994"
    published = site_dir / "warehouse.published.duckdb"
    fresh = site_dir / "next.duckdb"
    shutil.copy(published, fresh)
    con = duckdb.connect(str(fresh))
    con.execute("UPDATE marts.pilot_scores SET composite_score = 3.1000, status = 'on_target' "
                "WHERE pilot_id = 'PLT-2548-004' AND period = '2549-Q3'")
    con.close()
    fresh.rename(published)
    page = client.get("/pilots").text
    assert overview_rows(page)["PLT-2548-004"] == {"status": "on_target", "composite": "3.1", "late": "10004"}


def _swap_in(path, data: bytes) -> None:
    """Replace a store by rename, as warehouse/publish.py replaces the published copy."""
    staged = path.with_name(path.name + ".staged")
    staged.write_bytes(data)
    staged.rename(path)


def _unavailable(page) -> tuple[str, str, list[str]]:
    """(store, problem, the page's text per language section) of a 503 page."""
    found = re.search(r'<div id="unavailable" data-store="(\w+)" data-problem="(\w+)">', page.text)
    sections = re.findall(r'<section lang="(th|en)" class="panel">(.*?)</section>', page.text, re.S)
    return found.group(1), found.group(2), [(lang, text_of(body).strip()) for lang, body in sections]


def test_a_damaged_or_missing_published_copy_gives_a_clear_503_and_heals_without_a_restart(
        client_for, site_dir, caplog):
    """The published copy cut short, not a DuckDB file, then gone: every role's pages answer 503
    (gone: all but an agency's home page and upload check, which read no copy as nothing stored
    yet, as before the first night) naming the file and what is wrong in Thai and English (the full path and DuckDB's reason only
    in the log); the warehouse itself is untouched; the copy `pilotkpi publish` writes again is
    read at the next request. A damaged restricted store stops only the cleared pages that read it."""
    import hashlib
    import logging

    caplog.set_level(logging.ERROR, logger="pilotkpi.web")
    published, restricted = site_dir / "warehouse.published.duckdb", site_dir / "warehouse.restricted.duckdb"
    good, good_restricted = published.read_bytes(), restricted.read_bytes()
    warehouse = hashlib.sha256((site_dir / "warehouse.duckdb").read_bytes()).hexdigest()
    clients = {name: client_for(name) for name in ("demo-committee", "demo-analyst", "demo-agency")}
    assert clients["demo-committee"].get("/pilots").status_code == 200  # the pages' books are built
    cut_short = ("unreadable", "อ่านสำเนาเผยแพร่ของคลังข้อมูล (warehouse.published.duckdb) ไม่ได้",
                 "The published copy of the warehouse (warehouse.published.duckdb) cannot be read: it is damaged, "
                 "cut short, or not a DuckDB file.")
    missing = ("missing", "ไม่พบสำเนาเผยแพร่ของคลังข้อมูล (warehouse.published.duckdb)",
               "The published copy of the warehouse (warehouse.published.duckdb) does not exist: no run has "
               "published it yet, or it was moved away.")
    figures = {"demo-committee": ["/pilots", "/pilots/PLT-2548-003", "/held", "/quarters", "/submissions"],
               "demo-analyst": ["/sql?q=SELECT+1", f"/pilots/PLT-2548-003/scores/2549-Q3/K1", "/submissions"],
               "demo-agency": ["/pilots"]}
    for damage, expected in ((good[:8192], cut_short), (b"not a database\n" * 100, cut_short), (None, missing)):
        pages = {name: list(paths) for name, paths in figures.items()}
        if damage is None:
            published.unlink()
            # No copy yet is the state before the first night: an agency's home page and upload
            # check still work ("nothing stored yet"), so the files that night needs can be sent.
            agency = clients["demo-agency"]
            home = agency.get("/")
            assert home.status_code == 200 and 'id="unavailable"' not in home.text
            checked = agency.upload("dbd-2549-q3.csv", report())
            assert checked.status_code == 200 and verdict(checked.text) == "new", checked.text[:500]
        else:
            _swap_in(published, damage)
            pages["demo-agency"].insert(0, "/")  # a damaged copy is an outage for everyone
        caplog.clear()
        for name, paths in pages.items():
            for path in paths:
                page = clients[name].get(path)
                assert page.status_code == 503, (name, path, page.status_code)
                store, problem, said = _unavailable(page)
                assert (store, problem) == ("published", expected[0])
                assert [lang for lang, _ in said] == ["th", "en"]
                assert said[0][1].startswith(f"ขณะนี้แสดงข้อมูลไม่ได้ {expected[1]}")
                assert said[1][1].startswith(f"The figures cannot be shown right now {expected[2]}")
                assert "pilotkpi publish" in said[1][1]
                assert str(site_dir) not in page.text and "IO Error" not in page.text
                assert f'data-account="{name}"' in page.text  # still the site's page, signed in
        logged = [r.getMessage() for r in caplog.records if r.name == "pilotkpi.web"]
        assert len(logged) == sum(map(len, pages.values()))
        assert f"GET /pilots: the published store {published} is {expected[0]}" in logged[0]
        assert hashlib.sha256((site_dir / "warehouse.duckdb").read_bytes()).hexdigest() == warehouse

    # The operator publishes the copy again, as the page says: read at the next request, no restart.
    from click.testing import CliRunner

    from flows.cli import main
    done = CliRunner().invoke(main, ["publish", "--warehouse", str(site_dir / "warehouse.duckdb")])
    assert done.exit_code == 0, done.output
    assert value(clients["demo-committee"].get("/pilots/PLT-2548-004").text, "composite_score") == "1.5994"
    assert clients["demo-agency"].get("/").status_code == 200

    # The restricted store cut short: the cleared committee's page of the restricted pilot says
    # so; the open pilots' pages do not read it and still answer.
    _swap_in(restricted, good_restricted[:8192])
    page = clients["demo-committee"].get("/pilots/PLT-2548-006")
    assert page.status_code == 503
    store, problem, said = _unavailable(page)
    assert (store, problem) == ("restricted", "unreadable")
    assert "The restricted store (warehouse.restricted.duckdb) cannot be read" in said[1][1]
    assert clients["demo-committee"].get("/pilots/PLT-2548-003").status_code == 200
    assert clients["demo-analyst"].get("/pilots/PLT-2548-006").status_code == 200  # not cleared: open side only
    _swap_in(restricted, good_restricted)
    assert clients["demo-committee"].get("/pilots/PLT-2548-006").status_code == 200


def test_a_damaged_block_met_by_a_query_makes_the_store_unavailable(tmp_path):
    """web/published.py: a file whose catalogue opens but one of whose blocks fails DuckDB's
    checksum (zeros written over the middle half of the file, where the big table's data lies) is
    reported as unreadable at the query that reaches the block, by `rows` and by the cursors the
    pages build their figures with; a query's own mistake stays that query's error."""
    import duckdb

    from web.published import ReadOnlyStore, StoreUnavailable

    path = tmp_path / "copy.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE big AS SELECT i, md5(i::VARCHAR) AS h FROM range(300000) t(i)")
    con.execute("CREATE TABLE small AS SELECT 1 AS x")
    con.close()
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.seek(size // 4 // 4096 * 4096)
        f.write(b"\0" * (size // 2 // 4096 * 4096))
    store = ReadOnlyStore(path, name="restricted")
    assert store.rows("SELECT x FROM small") == [{"x": 1}]
    with pytest.raises(StoreUnavailable) as raised:
        store.rows("SELECT max(h) AS h FROM big")
    assert (raised.value.store, raised.value.problem) == ("restricted", "unreadable")
    assert "Corrupt database file" in raised.value.detail
    with pytest.raises(StoreUnavailable):
        with store.keyed_cursor() as (cur, _):
            cur.execute("SELECT max(h) FROM big").fetchall()
    with pytest.raises(duckdb.BinderException):
        store.rows("SELECT no_such_column FROM small")
    with pytest.raises(duckdb.BinderException):
        with store.cursor() as cur:
            cur.execute("SELECT no_such_column FROM small")


@SERIAL
def test_closed_quarter_and_held_file_through_the_jobs(client_for, site_dir):
    """The committee closes PLT-2548-004's 2549-Q3 (close-quarter, as the CLI runs it), then
    10004's late 2549-Q3 report arrives and the night holds it: the pilot page shows the closed
    quarter (who closed it, escaped; when, in Bangkok time and BE; the composite at closing) and
    the held file to the committee, and no held file to the agency."""
    from click.testing import CliRunner

    from flows.cli import main
    from tests.web.conftest import AS_OF, report
    from tests.web.test_web_journey import night

    by = "<b>เลขานุการ</b> & co"
    result = CliRunner().invoke(main, ["close-quarter", "2549-Q3", "--pilot", "PLT-2548-004", "--by", by,
                                       "--registry", str(site_dir / "registry"), "--warehouse",
                                       str(site_dir / "warehouse.duckdb"), "--out", str(site_dir / "out"),
                                       "--as-of", AS_OF.isoformat()])
    assert result.exit_code == 0, result.output
    agency = client_for("demo-agency")
    assert agency.send(agency.upload("dbd-2549-q3.csv", report()).text).status_code == 303
    night(site_dir)

    page = client_for("demo-committee").get("/pilots/PLT-2548-004").text
    assert 'data-closed="2549-Q3"' in page  # the headline period is closed
    closure = re.search(r'<tr data-period="2549-Q3"><td class="nowrap">ไตรมาส 3/2549</td>.*?</tr>',
                        page.split('id="closed-quarters"')[1], re.S).group(0)
    assert "&lt;b&gt;เลขานุการ&lt;/b&gt; &amp; co" in closure and "<b>" not in closure
    assert re.search(r"\d{1,2} \S+ 25\d\d \d\d:\d\d น\.", text_of(closure))  # Bangkok time, Buddhist Era
    # the composite at closing is the one computed by hand above (1.5994), and a held file changes nothing
    assert value(closure, "composite_at_closing") == value(closure, "closure_composite") == "1.5994"
    held = re.findall(r'<tr data-held="(\d+)">.*?</tr>', page, re.S)
    assert len(held) == 1
    row = re.search(r'<tr data-held="\d+">.*?</tr>', page, re.S).group(0)
    assert f'href="/held/{held[0]}"' in row  # the held page (web/held.py) decides it
    assert "10004" in row and "ไตรมาส 3/2549" in row and "10 ส.ค. 2549" in text_of(row)  # submitted_on 2006-08-10
    mine = agency.get("/pilots/PLT-2548-004").text
    assert 'id="held"' not in mine and "data-held" not in mine
    assert 'data-closed="2549-Q3"' in mine
