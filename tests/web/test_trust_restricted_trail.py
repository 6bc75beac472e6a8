"""A restricted pilot's file name stays out of the web's audit trail (warehouse.md: the open side's
logs name no restricted file; docs/web.md already kept it out of `download` lines, but `upload`
and `send` wrote it), through a real upload, send and night."""
from __future__ import annotations

import json
import re

from tests.support import SERIAL
from tests.web.conftest import report, text_of, verdict
from tests.web.test_web_journey import night

SECRET = "ลับ-SECRET-radar-site-7"  # what the agency calls its file: never in the open side's logs
# PLT-2548-006 is restricted; 01005 (demo-restricted-agency) is its lead. The demo stored this
# report for 2549-Q3 as submitted on 2006-07-08: a later submitted_on replaces it.
RESTRICTED_REPORT = """pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note
PLT-2548-006,01005,2549-Q3,2006-08-12,kpi,S1,,9,,,,
PLT-2548-006,01005,2549-Q3,2006-08-12,kpi,S2,,14.5,,,,
PLT-2548-006,01005,2549-Q3,2006-08-12,budget,ACT-L3-01,3,,28610000.00,13705118.35,lead_integrated,
PLT-2548-006,01005,2549-Q3,2006-08-12,budget,ACT-L1-01,1,,10350000.00,4676344.42,lead_integrated,
"""


def trail(site_dir) -> str:
    return (site_dir / "warehouse.audit.jsonl").read_text(encoding="utf-8")


@SERIAL  # a whole night (tests/support.py: such files start first)
def test_a_restricted_pilots_file_is_known_in_the_trail_by_its_inbox_name_only(client_for, site_dir):
    lead = client_for("demo-restricted-agency")
    # A file with an error names the pilot too (the night routes it to the restricted store).
    bad = lead.upload(f"{SECRET}-draft.csv", RESTRICTED_REPORT.replace("14.5", "fourteen").encode())
    assert verdict(bad.text) == "quarantined"
    assert f"{SECRET}-draft.csv" in text_of(bad.text)  # the agency sees its own name on its page
    checked = lead.upload(f"{SECRET}.csv", RESTRICTED_REPORT.encode())
    assert verdict(checked.text) == "replaces"
    receipt = lead.get(lead.send(checked.text).headers["location"]).text
    inbox = [p.name for p in (site_dir / "inbox").iterdir() if p.name.startswith("web-")]
    assert len(inbox) == 1 and re.fullmatch(r"web-\d{8}T\d{12}Z-01005-[0-9a-f]{16}\.csv", inbox[0])
    assert re.search(rf'data-field="file_name">{re.escape(inbox[0])}<', receipt)  # the name it was sent under

    # An open pilot's file keeps its name as uploaded (the receipt, the lists, the trail).
    agency = client_for("demo-agency")
    open_receipt = agency.get(agency.send(agency.upload("dbd-2549-q3.csv", report()).text).headers["location"]).text
    assert 'data-field="file_name">dbd-2549-q3.csv<' in open_receipt

    night(site_dir)
    text = trail(site_dir)
    assert SECRET not in text and SECRET not in json.dumps([json.loads(line) for line in text.splitlines()])
    events = [json.loads(line) for line in text.splitlines()]
    uploads = [e for e in events if e["event"] == "upload" and e["who"] == "demo-restricted-agency"]
    assert [e["file_name"] for e in uploads] == [None, None] and uploads[0]["errors"] >= 1 and uploads[1]["errors"] == 0
    sends = {e["who"]: e for e in events if e["event"] == "send"}
    assert sends["demo-restricted-agency"]["file_name"] == inbox[0] == sends["demo-restricted-agency"]["inbox_name"]
    assert sends["demo-agency"]["file_name"] == "dbd-2549-q3.csv"
    assert [e["file_name"] for e in events if e["event"] == "upload" and e["who"] == "demo-agency"] == ["dbd-2549-q3.csv"]

    # After the night the lead finds its file accepted, under the name it was sent under.
    row = re.search(r'<tr data-sha256="([0-9a-f]{64})" data-status="accepted">\s*<td class="agency-text">'
                    + re.escape(inbox[0]), lead.get("/submissions").text)
    assert row, "the restricted file, accepted by the night, listed under its inbox name"
    assert SECRET not in lead.get(f"/submissions/{row.group(1)}").text
