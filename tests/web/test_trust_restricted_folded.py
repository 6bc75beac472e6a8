"""The web reads a file's pilot for the restricted routing as the night does (RV9 #5): one helper,
warehouse/restricted.py folded_pilot. A restricted pilot's report whose id is written
`plt-2548-006` is quarantined PILOT_UNKNOWN by both (ids are compared exactly), yet the night
routes it to the restricted store (tests/test_restricted_routing.py): the web's audit trail, on
the open side, must not keep the name it was uploaded under either (warehouse.md). Before, the
web compared ids exactly, took the file for an open one and wrote its name in the trail."""
from __future__ import annotations

import json

from tests.web.conftest import text_of, verdict
from tests.web.test_trust_restricted_trail import RESTRICTED_REPORT, SECRET, trail


def _uploads(site_dir, who: str) -> list[dict]:
    events = [json.loads(line) for line in trail(site_dir).splitlines()]
    return [e for e in events if e["event"] == "upload" and e["who"] == who]


def test_a_file_naming_the_restricted_pilot_in_lower_case_is_restricted_on_the_web(client_for, site_dir):
    lead = client_for("demo-restricted-agency")
    # Its header's id and every row's, lower case with a space; full-width in a second file.
    for name, pilot in ((f"{SECRET}-lower.csv", " plt-2548-006"), (f"{SECRET}-wide.csv", "ＰＬＴ-２５４８-００６")):
        page = lead.upload(name, RESTRICTED_REPORT.replace("PLT-2548-006", pilot).encode())
        assert verdict(page.text) == "quarantined"  # PILOT_UNKNOWN: the id is still compared exactly
        assert "PILOT_UNKNOWN" in page.text
        assert name in text_of(page.text)  # the agency sees its own name on its page
    uploads = _uploads(site_dir, "demo-restricted-agency")
    assert [e["file_name"] for e in uploads] == [None, None], uploads
    assert SECRET not in trail(site_dir)

    # An id that folds to no restricted pilot is open: its name is kept (the trail's rule for open files).
    page = lead.upload("open-draft.csv", RESTRICTED_REPORT.replace("PLT-2548-006", "plt-2548-004").encode())
    assert verdict(page.text) == "quarantined"
    assert [e["file_name"] for e in _uploads(site_dir, "demo-restricted-agency")][2] == "open-draft.csv"
