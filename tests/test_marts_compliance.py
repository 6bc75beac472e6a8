"""marts.reporting_compliance against scoring.md §4 and its readings; figures by hand."""
from __future__ import annotations

from datetime import date

from kpis.cases import built_warehouse

LEAD, SEC, SUP, ADV = "03009", "15001", "11002", "20004"
COLUMNS = "submitted, first_submitted_on, due_date, on_time, days_late, versions, quarantined"


def pilot(report_due_days=30):
    return {"pilot_id": "P1", "start_date": date(2004, 10, 1), "end_date": date(2005, 9, 30), "lead_agency_code": LEAD,
            "report_due_days": report_due_days}


ROLES = [{"pilot_id": "P1", "agency_code": a, "role": r}
         for a, r in ((LEAD, "lead"), (SEC, "secondary"), (SUP, "supporting"), (ADV, "advisory"))]


def sub(sid, agency, period, submitted_on, status="accepted", pilot_id="P1"):
    return {"submission_id": sid, "pilot_id": pilot_id, "agency_code": agency, "period": period,
            "submitted_on": submitted_on, "status": status}


def compliance(submissions, as_of, report_due_days=30):
    con = built_warehouse({"registry.pilots": [pilot(report_due_days)], "registry.pilot_agencies": ROLES,
                           "ingest.submissions": submissions}, as_of)
    rows = con.execute(f"SELECT agency_code, period, role, {COLUMNS} FROM marts.reporting_compliance").fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def test_due_date_days_late_and_not_submitted():
    # Q2 2548 ends 31 Mar 2005: due 30 days later, 30 Apr. The lead signs 10 May: 10 days late.
    got = compliance([sub(1, LEAD, "2548-Q2", date(2005, 5, 10))], date(2005, 5, 15))
    assert got[LEAD, "2548-Q2"] == ("lead", True, date(2005, 5, 10), date(2005, 4, 30), False, 10, 1, 0)
    # Not submitted: on_time false, first_submitted_on and days_late empty, 0 versions.
    assert got[SEC, "2548-Q2"] == ("secondary", False, None, date(2005, 4, 30), False, None, 0, 0)
    # Q1 ends 31 Dec 2004: due 30 Jan 2005.
    assert got[SUP, "2548-Q1"] == ("supporting", False, None, date(2005, 1, 30), False, None, 0, 0)


def test_registry_report_due_days():
    # 45 days: Q1 due 31 Dec 2004 + 45 = 14 Feb 2005; signed 14 Feb is on time, 0 days late.
    got = compliance([sub(1, LEAD, "2548-Q1", date(2005, 2, 14))], date(2005, 2, 28), report_due_days=45)
    assert got[LEAD, "2548-Q1"] == ("lead", True, date(2005, 2, 14), date(2005, 2, 14), True, 0, 1, 0)


def test_late_correction_and_lost_earlier_file_keep_a_report_on_time():
    # Lead: on time 20 Apr, superseded by a correction of 20 May. Secondary: accepted 5 May (late), then a
    # valid file signed 28 Apr lost to it (older submitted_on) and was stored superseded: first 28 Apr.
    got = compliance([sub(1, LEAD, "2548-Q2", date(2005, 4, 20), "superseded"),
                      sub(2, LEAD, "2548-Q2", date(2005, 5, 20)),
                      sub(3, SEC, "2548-Q2", date(2005, 5, 5)),
                      sub(4, SEC, "2548-Q2", date(2005, 4, 28), "superseded")], date(2005, 5, 31))
    assert got[LEAD, "2548-Q2"] == ("lead", True, date(2005, 4, 20), date(2005, 4, 30), True, 0, 2, 0)
    assert got[SEC, "2548-Q2"] == ("secondary", True, date(2005, 4, 28), date(2005, 4, 30), True, 0, 2, 0)


def test_quarantined_counted_for_their_period_duplicates_nowhere():
    got = compliance([sub(1, SUP, "2548-Q1", date(2005, 1, 10), "quarantined"),
                      sub(2, SUP, "2548-Q1", None, "quarantined"),           # unreadable date: still its period
                      sub(3, None, None, None, "quarantined"),               # identity unreadable: counts nowhere
                      {**sub(4, None, None, None, "duplicate"), "duplicate_of": 1},
                      sub(5, SUP, "2548-Q1", date(2005, 1, 12), "duplicate")],  # a duplicate never counts
                     date(2005, 1, 31))
    assert got[SUP, "2548-Q1"] == ("supporting", False, None, date(2005, 1, 30), False, None, 0, 2)
    assert sum(v[-1] for v in got.values()) == 2


def test_advisory_not_expected_and_early_report_waits_for_its_period():
    # As of 15 May 2005 Q1 and Q2 are due. The advisory agency's file gives it no row. The lead's Q3 report,
    # signed 10 May before Q3 ends (30 Jun), yields no row until Q3 is due.
    subs = [sub(1, ADV, "2548-Q1", date(2005, 1, 10)), sub(2, LEAD, "2548-Q3", date(2005, 5, 10))]
    got = compliance(subs, date(2005, 5, 15))
    assert sorted(got) == sorted((a, p) for a in (LEAD, SEC, SUP) for p in ("2548-Q1", "2548-Q2"))
    # Once Q3 has ended (as of 30 Jun) the early report counts, on time (due 30 Jul).
    later = compliance(subs, date(2005, 6, 30))
    assert later[LEAD, "2548-Q3"] == ("lead", True, date(2005, 5, 10), date(2005, 7, 30), True, 0, 1, 0)
