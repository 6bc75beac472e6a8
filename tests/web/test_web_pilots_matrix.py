"""The authorisation matrix of web.md for the pilot pages (web/committee.py), with the helpers of
tests/web/test_web_matrix.py: every role on an open pilot it takes part in, one it does not, the
restricted pilot, one that does not exist, and their downloads."""
from __future__ import annotations

from tests.web.test_web_matrix import ROLES, walk

SIGN_IN = {"anonymous": "redirect", "disabled": "redirect"}
EVERYONE = {"agency": 200, "restricted_agency": 200, "analyst": 200, "committee": 200, **SIGN_IN}
# (method, path, case, {role: expected}); demo-agency speaks for 10004 (PLT-2548-004 only),
# demo-restricted-agency for 01005 (lead of the restricted PLT-2548-006 only).
MATRIX = [
    ("GET", "/pilots", "-", EVERYONE),
    ("GET", "/pilots?layer=3&strategy=1&status=off_track", "-", EVERYONE),
    ("GET", "/pilots?download=pilots.csv", "-", EVERYONE),
    ("GET", "/pilots/PLT-2548-004", "own", {**EVERYONE, "restricted_agency": 404}),
    ("GET", "/pilots/PLT-2548-004?download=kpis.xlsx", "own", {**EVERYONE, "restricted_agency": 404}),
    ("GET", "/pilots/PLT-2548-001", "other", {**EVERYONE, "agency": 404, "restricted_agency": 404}),
    ("GET", "/pilots/PLT-2548-006", "restricted", {**EVERYONE, "agency": 404}),
    ("GET", "/pilots/PLT-2548-006?download=trend.csv", "restricted", {**EVERYONE, "agency": 404}),
    ("GET", "/pilots/PLT-2548-999", "nonexistent", {**{r: 404 for r in ("agency", "restricted_agency", "analyst",
                                                                        "committee")}, **SIGN_IN}),
    ("POST", "/pilots", "-", {r: 405 for r in ROLES}),  # read-only pages: no POST route at all
]


def test_pilot_pages_for_every_role_and_object(client_for, passwords, site_dir):
    cells, wrong = walk(client_for, passwords, site_dir, MATRIX)
    assert not wrong, "\n".join(map(str, wrong))
    assert cells == len(MATRIX) * len(ROLES)


def test_downloads_follow_the_page_they_belong_to(client_for):
    """A download answers only for a pilot the account may see: another agency's pilot is 404,
    whatever the file asked for."""
    agency = client_for("demo-agency")
    assert agency.get("/pilots/PLT-2548-004?download=kpis.csv").headers["content-type"].startswith("text/csv")
    for path in ("/pilots/PLT-2548-001?download=kpis.csv", "/pilots/PLT-2548-006?download=trend.csv"):
        r = agency.get(path)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "data-pilot" not in r.text and "(GIN)" not in r.text and "watch-list" not in r.text
