"""The authorisation matrix of web.md: every route, for every role, on its own objects, another
agency's and ones that do not exist. Another agency's id answers exactly like a missing one (404).
Then every page is crawled as each role, and the HTML searched for a restricted pilot's file
names, hashes and line-level text."""
from __future__ import annotations

import re

from tests.web.conftest import Client, report

MISSING_SHA = "0" * 64
ROLES = ("anonymous", "agency", "restricted_agency", "analyst", "committee", "disabled")
ACCOUNT = {"agency": "demo-agency", "restricted_agency": "demo-restricted-agency", "analyst": "demo-analyst",
           "committee": "demo-committee"}


def _objects(client_for, site_dir) -> dict:
    """Ids to ask for: demo-agency's (10004) stored file and receipt, another agency's, none."""
    store = client_for.app.state.site.data
    own_sha = store.published.rows("SELECT sha256 FROM ingest.submissions WHERE agency_code = '10004' LIMIT 1")[0]["sha256"]
    other_sha = store.published.rows("SELECT sha256 FROM ingest.submissions WHERE agency_code = '03009' LIMIT 1")[0]["sha256"]
    restricted_sha = store.restricted.rows("SELECT sha256 FROM ingest.submissions WHERE agency_code = '01005' LIMIT 1")[0]["sha256"]
    agency = client_for("demo-agency")
    own_receipt = agency.get(agency.send(agency.upload("r.csv", report()).text).headers["location"]).url.path
    from web.accounts import accounts_path, add
    add(accounts_path(site_dir / "warehouse.duckdb"), "other-agency", "agency", "other-password-1", ["03009"])
    other = Client(client_for.app)
    assert other.sign_in("other-agency", "other-password-1").status_code == 303
    page = other.upload("o.csv", b"pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,"
                                  b"disbursed_thb,funding_source,note\nPLT-2548-003,03009,2549-Q4,2006-08-14,kpi,K1,,70,,,,\n")
    assert 'id="send"' in page.text, page.text
    other_receipt = other.get(other.send(page.text).headers["location"]).url.path
    other.close()
    return {"own_sha": own_sha, "other_sha": other_sha, "restricted_sha": restricted_sha,
            "own_receipt": own_receipt, "other_receipt": other_receipt}


# (method, path template, {role: expected status}); "redirect" is 303 to /signin.
def _matrix(o: dict) -> list[tuple[str, str, str, dict]]:
    signin = {"anonymous": "redirect", "disabled": "redirect"}
    post_anon = {"anonymous": 403, "disabled": 403}
    everyone = {"agency": 200, "restricted_agency": 200, "analyst": 200, "committee": 200, **signin}
    agency_only = {"agency": 200, "restricted_agency": 200, "analyst": 403, "committee": 403, **signin}
    rows = [
        ("GET", "/", "-", everyone),
        ("GET", "/upload", "-", agency_only),
        ("GET", "/submissions", "-", everyone),
        ("GET", "/guide", "-", everyone),
        ("GET", "/examples/PLT-2548-003_03009_2549-Q3.csv", "-", everyone),
        ("GET", "/examples/PLT-2548-002_01002_2549-Q3.xlsx", "-", everyone),
        ("GET", "/examples/..%2F..%2Fetc%2Fpasswd", "nonexistent", {r: 404 for r in ROLES}),  # no such route
        ("GET", "/examples/no-such-example.csv", "nonexistent", {**{r: 404 for r in ACCOUNT}, **signin}),
        ("GET", f"/submissions/{o['own_sha']}", "own", {"agency": 200, "restricted_agency": 404, "analyst": 200,
                                                        "committee": 200, **signin}),
        ("GET", f"/submissions/{o['other_sha']}", "other", {"agency": 404, "restricted_agency": 404, "analyst": 200,
                                                            "committee": 200, **signin}),
        ("GET", f"/submissions/{o['restricted_sha']}", "restricted", {"agency": 404, "restricted_agency": 200,
                                                                      "analyst": 404, "committee": 200, **signin}),
        ("GET", f"/submissions/{MISSING_SHA}", "nonexistent", {**{r: 404 for r in ACCOUNT}, **signin}),
        ("GET", o["own_receipt"], "own", {"agency": 200, "restricted_agency": 404, "analyst": 403, "committee": 403, **signin}),
        ("GET", "/receipts/no-such-receipt", "nonexistent", {"agency": 404, "restricted_agency": 404, "analyst": 403,
                                                             "committee": 403, **signin}),
        ("POST", "/upload", "-", {"agency": 200, "restricted_agency": 200, "analyst": 403, "committee": 403, **post_anon}),
        ("POST", "/send", "nonexistent", {"agency": 409, "restricted_agency": 409, "analyst": 403, "committee": 403,
                                          **post_anon}),
        ("POST", "/language", "-", {r: 303 for r in ROLES}),  # a visitor may switch the sign-in page too
    ]
    rows.append(("GET", o["other_receipt"], "other", {"agency": 404, "restricted_agency": 404, "analyst": 403,
                                                      "committee": 403, **signin}))
    return rows


def _client(client_for, passwords, site_dir, role: str) -> Client:
    client = Client(client_for.app)
    if role in ACCOUNT:
        assert client.sign_in(ACCOUNT[role], passwords[ACCOUNT[role]]).status_code == 303
    elif role == "disabled":
        from web.accounts import accounts_path, add, disable
        path = accounts_path(site_dir / "warehouse.duckdb")
        add(path, "gone-agency", "agency", "gone-password-1", ["10004"])
        assert client.sign_in("gone-agency", "gone-password-1").status_code == 303
        disable(path, "gone-agency")  # its session ends at the next request
    return client


def _ask(client: Client, method: str, path: str):
    if method == "GET":
        return client.get(path)
    csrf = (re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
            or re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text))
    token = csrf.group(1) if csrf else ""
    if path == "/upload":
        return client.post(f"/upload?csrf={token}", files={"file": ("m.csv", report(period="2549-Q4"), "text/csv")})
    return client.post(path, data={"csrf": token, "token": "no-such-check", "lang": "en", "back": "/"})


def walk(client_for, passwords, site_dir, matrix) -> tuple[int, list]:
    """Ask every row of a matrix as every role: (the cells asked, the cells that answered otherwise)."""
    cells, wrong = 0, []
    for role in ROLES:
        client = _client(client_for, passwords, site_dir, role)
        for method, path, case, expected in matrix:
            r = _ask(client, method, path)
            got = "redirect" if r.status_code == 303 and r.headers["location"] == "/signin" else r.status_code
            cells += 1
            if got != expected[role]:
                wrong.append((role, method, path, case, expected[role], got))
        client.close()
    return cells, wrong


def test_every_route_for_every_role_and_object(client_for, passwords, site_dir):
    objects = _objects(client_for, site_dir)
    matrix = _matrix(objects)
    cells, wrong = walk(client_for, passwords, site_dir, matrix)
    assert not wrong, "\n".join(map(str, wrong))
    routes = {(m, re.sub(r"/[0-9a-f]{64}|/receipts/.+|/examples/.+", "/{id}", p)) for m, p, _, _ in matrix}
    print(f"authorisation matrix: {len(matrix)} route x case rows ({len(routes)} routes) x {len(ROLES)} roles = {cells} cells")
    assert cells == len(matrix) * len(ROLES)


def test_a_missing_id_and_another_agencys_id_answer_alike(client_for, site_dir):
    objects = _objects(client_for, site_dir)
    client = client_for("demo-agency")
    other, missing = client.get(f"/submissions/{objects['other_sha']}"), client.get(f"/submissions/{MISSING_SHA}")
    assert other.status_code == missing.status_code == 404
    strip = lambda t: re.sub(r'value="[^"]+"|[0-9a-f]{64}', "", t)  # noqa: E731 - the CSRF token differs per page
    assert strip(other.text) == strip(missing.text)


def test_restricted_line_level_text_appears_only_for_cleared_accounts(client_for, passwords, site_dir):
    """Seeded values: the restricted pilot's stored file names, hashes and line notes. Every
    page each role can reach is crawled (links followed from the home page)."""
    store = client_for.app.state.site.data.restricted
    seeds = {r["file_name"] for r in store.rows("SELECT file_name FROM ingest.submissions")}
    seeds |= {r["sha256"] for r in store.rows("SELECT sha256 FROM ingest.submissions")}
    seeds |= {r["note"] for r in store.rows("SELECT note FROM core.budget_lines WHERE note IS NOT NULL")}
    assert len(seeds) > 20
    seen = {}
    for role in ("agency", "restricted_agency", "analyst", "committee"):
        client = _client(client_for, passwords, site_dir, role)
        pages, todo = {}, ["/"]
        while todo:
            path = todo.pop()
            if path in pages or not path.startswith("/") or path.startswith("/static") or path.startswith("/examples"):
                continue
            pages[path] = client.get(path).text
            todo += re.findall(r'href="(/[^"#?]*)"', pages[path])
        html = "\n".join(pages.values())
        seen[role] = {s for s in seeds if s in html}
        client.close()
    assert not seen["agency"] and not seen["analyst"]
    assert seen["restricted_agency"] and seen["committee"]  # the crawl does reach them where allowed
