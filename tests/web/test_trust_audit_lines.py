"""A line of the audit trail cut short (the disk filled, the power went mid-write) does not stop
the pages that read the trail, nor swallow the next entry (web/audit.py)."""
from __future__ import annotations

import json
import re

from tests.web.conftest import report, verdict


def test_a_cut_line_in_the_trail_is_skipped_and_the_next_entry_kept(client_for, site_dir):
    agency = client_for("demo-agency")
    first = agency.upload("q3.csv", report())
    assert verdict(first.text) == "new" and agency.send(first.text).status_code == 303
    trail = site_dir / "warehouse.audit.jsonl"
    with open(trail, "ab") as fh:  # a send line cut short by a crash, no newline after it
        fh.write(b'{"at": "2026-12-06T18:00:00.000000+00:00", "event": "send", "who": "demo-agency", "rece')

    listing = agency.get("/submissions")  # main: json.loads raised, 500 on every page reading sends
    assert listing.status_code == 200
    assert re.search(r'data-status="waiting">\s*<td class="agency-text">q3\.csv', listing.text)

    # The next send starts a line of its own: it is recorded, and recognised as sent.
    second = agency.upload("q2.csv", report(submitted_on="2006-08-11"))
    assert verdict(second.text) == "replaces"
    receipt = agency.send(second.text)
    assert receipt.status_code == 303 and agency.get(receipt.headers["location"]).status_code == 200
    assert verdict(agency.upload("q2-again.csv", report(submitted_on="2006-08-11")).text) == "duplicate"
    lines = trail.read_bytes().split(b"\n")
    cut = [i for i, line in enumerate(lines) if line.endswith(b'"rece')]
    assert len(cut) == 1 and json.loads(lines[cut[0] + 1])["event"] == "upload"
    sends = [json.loads(line) for line in lines if line.strip() and not line.endswith(b'"rece')]
    assert [e["file_name"] for e in sends if e["event"] == "send"] == ["q3.csv", "q2.csv"]
