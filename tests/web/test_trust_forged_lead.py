"""An agency's upload check tells it nothing of a restricted pilot by claiming to be its lead
(reviewer RV5, F1). The check judges a file as the agency its rows name, and a restricted pilot's
KPI codes and units are judged for its lead's files only (pilots/kpi_units.py): a file whose rows
claimed the lead (01005 of the demo's restricted PLT-2548-006) was judged as the lead's, and its
defects (KPI_UNKNOWN for a code the pilot lacks, none for the ones it has; NOT_A_NUMBER for
"12 บาท" on a KPI that is no baht KPI) were shown to demo-agency (10004). Now a file for an agency
the account does not speak for is refused as such, before its defects, which are not shown."""
from __future__ import annotations

import re

from tests.web.conftest import verdict

HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note"


def probe(agency: str) -> bytes:
    rows = [f"PLT-2548-006,{agency},2549-Q3,2006-07-20,kpi,{code},,{value},,,," for code, value in
            (("S1", "12 บาท"), ("S2", "5"), ("ZZ9", "5"), ("S3", "5"), ("S4", "5"))]
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def test_a_file_claiming_a_restricted_pilots_lead_shows_no_defect_of_its_kpis(client_for):
    client = client_for("demo-agency")  # speaks for 10004, no part of PLT-2548-006
    own = client.upload("own.csv", probe("10004"))
    assert verdict(own.text) == "quarantined"
    assert set(re.findall(r'data-code="([A-Z_]+)"', own.text)) == {"AGENCY_NOT_PARTICIPANT"}
    forged = client.upload("forged.csv", probe("01005"))
    assert verdict(forged.text) == "foreign" and "01005" in forged.text
    assert re.findall(r'data-code="([A-Z_]+)"', forged.text) == []  # no KPI_UNKNOWN, no NOT_A_NUMBER
    assert 'id="issues"' not in forged.text and 'id="send"' not in forged.text
