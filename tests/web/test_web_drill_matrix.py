"""The drill-down's and the SQL page's rows of the authorisation matrix (web.md), with the
helpers of tests/web/test_web_matrix.py: every role on its own objects, another agency's, a
restricted pilot's and ones that do not exist. An id the account may not see answers 404 like a
missing one."""
from __future__ import annotations

import re

from tests.web.test_web_matrix import MISSING_SHA, ROLES, _objects, walk


def _matrix(o: dict) -> list[tuple[str, str, str, dict]]:
    signin = {"anonymous": "redirect", "disabled": "redirect"}
    nobody = {"agency": 404, "restricted_agency": 404, "analyst": 404, "committee": 404, **signin}
    return [
        # demo-agency (10004) leads no pilot; 03009 leads PLT-2548-003; 01005 the restricted PLT-2548-006.
        ("GET", "/pilots/PLT-2548-003/scores/2549-Q3/K1", "other",
         {"agency": 404, "restricted_agency": 404, "analyst": 200, "committee": 200, **signin}),
        # A restricted pilot's score page (KPI name, weight, thresholds, score): cleared analyst and
        # committee accounts only; its lead agency too answers 404, as its pilot page withholds the
        # KPI table (spec web.md: an agency sees its own restricted submissions and their status).
        ("GET", "/pilots/PLT-2548-006/scores/2549-Q3/S1", "restricted",
         {"agency": 404, "restricted_agency": 404, "analyst": 404, "committee": 200, **signin}),
        ("GET", "/pilots/PLT-2548-006/scores/2549-Q3/S1?download=score-plt-2548-006-s1-2549-q3-sources.csv",
         "restricted", {"agency": 404, "restricted_agency": 404, "analyst": 404, "committee": 200, **signin}),
        ("GET", "/pilots/PLT-2548-003/scores/2549-Q3/NO-SUCH-KPI", "nonexistent", nobody),
        ("GET", "/pilots/PLT-2548-099/scores/2549-Q3/K1", "nonexistent", nobody),
        ("GET", "/pilots/PLT-2548-003/scores/not-a-period/K1", "nonexistent", nobody),
        ("GET", f"/submissions/{o['own_sha']}/original", "own",
         {"agency": 200, "restricted_agency": 404, "analyst": 200, "committee": 200, **signin}),
        ("GET", f"/submissions/{o['other_sha']}/original", "other",
         {"agency": 404, "restricted_agency": 404, "analyst": 200, "committee": 200, **signin}),
        ("GET", f"/submissions/{o['restricted_sha']}/original", "restricted",
         {"agency": 404, "restricted_agency": 200, "analyst": 404, "committee": 200, **signin}),
        ("GET", f"/submissions/{MISSING_SHA}/original", "nonexistent", nobody),
        ("GET", "/submissions/not-a-hash/original", "nonexistent", nobody),
        ("GET", f"/submissions/{o['own_sha']}?download=submissions.csv", "own",  # not a table of that page
         {"agency": 200, "restricted_agency": 404, "analyst": 200, "committee": 200, **signin}),
        ("GET", "/submissions?download=submissions.csv", "-",
         {"agency": 200, "restricted_agency": 200, "analyst": 200, "committee": 200, **signin}),
        ("GET", "/sql", "-", {"agency": 403, "restricted_agency": 403, "analyst": 200, "committee": 403, **signin}),
        ("GET", "/sql?q=SELECT+1", "-",
         {"agency": 403, "restricted_agency": 403, "analyst": 200, "committee": 403, **signin}),
    ]


def test_drill_down_and_sql_routes_for_every_role_and_object(client_for, passwords, site_dir):
    objects = _objects(client_for, site_dir)
    matrix = _matrix(objects)
    cells, wrong = walk(client_for, passwords, site_dir, matrix)
    assert not wrong, "\n".join(map(str, wrong))
    assert cells == len(matrix) * len(ROLES)


def test_a_refused_download_answers_like_a_missing_one(client_for, site_dir):
    objects = _objects(client_for, site_dir)
    agency = client_for("demo-agency")
    other = agency.get(f"/submissions/{objects['other_sha']}/original")
    missing = agency.get(f"/submissions/{MISSING_SHA}/original")
    restricted = agency.get(f"/submissions/{objects['restricted_sha']}/original")
    strip = lambda t: re.sub(r'value="[^"]+"|[0-9a-f]{64}', "", t)  # noqa: E731 - the CSRF token differs per page
    assert other.status_code == missing.status_code == restricted.status_code == 404
    assert strip(other.text) == strip(missing.text) == strip(restricted.text)
    assert not [e for e in client_for.app.state.site.audit.events("download")]  # nothing was handed out
