"""Restricted pilots close, hold, approve, reject and reopen like open ones, in their own store
(data-quality.md §2, binding; issue 24 item 6).

tests/test_restricted_store.py's scenario as of 2005-05-15: the restricted pilot PLT-2548-099 (one
KPI S9, higher, weight 100, FY2548 thresholds [10, 20, 30, 40, 50]), whose 2548-Q2 is r5 (lead
20004, submitted 2005-04-25, S9 = 25): score 2 + (25 - 20)/(30 - 20) = 2.5000, composite 2.5000.
The story, one job after another:
  1 close-quarter 2548-Q2 --pilot PLT-2548-099: composite 2.5000 recorded at closing
  2 a run with u1 (lead, Q2, submitted 2005-05-01, S9 = 35) and u2 (secondary 15001, Q2, a
    budget line): both held in the restricted store, the figures unchanged
  3 approve u1: accepted, r5 superseded; S9 = 35 scores 3 + (35 - 30)/(40 - 30) = 3.5000, so the
    composite is 3.5000 (on_target: 3 or more, scoring.md) and changed since closing
  4 reject u2: rejected, nothing else changes
  5 reopen 2548-Q2: the closure ends
"""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from tests.test_flow import _csv
from tests.test_pilot_moves import cli, q
from tests.test_restricted_store import ALLOWED, SECRET, make_restricted_scenario, pilot_rows, run
from warehouse.paths import files_of
from warehouse.publish import published_path

U1 = ("u1-secret-q2-fix-Z8Q.csv", _csv(f"{SECRET},20004,2548-Q2,2005-05-01,kpi,S9,,35,,,,"))
U2 = ("u2-secret-q2-sec-Z8Q.csv", _csv(f"{SECRET},15001,2548-Q2,2005-05-02,budget,ACT-ZQ9,3,,777777.77,0,own,"))


def q2(path) -> list[tuple]:
    return q(path, "SELECT composite_score, status, closed, changed_since_closing FROM marts.pilot_scores "
                   "WHERE pilot_id = ? AND period = '2548-Q2'", [SECRET])


@pytest.fixture(scope="module")
def story(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("restricted-decisions")
    registry, inbox = make_restricted_scenario(root)
    assert run(root, registry, inbox)[0] == 0
    wh = root / "wh.duckdb"
    rs = files_of(wh).restricted
    base = ["--registry", registry, "--warehouse", wh, "--out", root / "out", "--as-of", "2005-05-15"]
    s: dict = {"wh": wh, "rs": rs, "out": root / "out"}
    s["before"] = q2(wh)
    s["close"] = cli("close-quarter", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", *base)
    s["closed"] = q2(wh)
    late = root / "inbox2"
    late.mkdir()
    for name, data in (U1, U2):
        (late / name).write_bytes(data)
    s["run"] = run(root, registry, late)
    s["held_statuses"] = q(rs, "SELECT file_name, status FROM ingest.submissions WHERE submission_id > 12 ORDER BY 1")
    s["ids"] = dict(q(rs, "SELECT file_name, submission_id FROM ingest.submissions WHERE submission_id > 12"))
    s["held_open"] = q(wh, "SELECT submission_id, pilot_id, agency_code, period, received_on "
                           "FROM approval.restricted_held ORDER BY 1")
    s["held_scores"] = q2(wh)
    s["open_tables"] = {path: {t for t, n in pilot_rows(path, SECRET).items() if n}
                        for path in (wh, published_path(wh))}
    s["held_page"] = (root / "out" / "summary.en.md").read_text(encoding="utf-8")
    s["held_page_th"] = (root / "out" / "summary.th.html").read_text(encoding="utf-8")
    u1, u2 = s["ids"][U1[0]], s["ids"][U2[0]]
    s["approve"] = cli("approve", u1, "--by", "Somchai", "--note", "typo fixed", *base)
    s["approved"] = q2(wh), q2(rs), q2(published_path(wh))
    s["approved_statuses"] = q(rs, "SELECT submission_id, status, superseded_by FROM ingest.submissions "
                                   "WHERE submission_id IN (12, ?, ?) ORDER BY 1", [u1, u2])
    s["approved_actuals"] = q(rs, "SELECT period, actual, submission_id FROM core.kpi_actuals ORDER BY 1")
    s["reject"] = cli("reject", u2, "--by", "Somchai", "--reason", "wrong activity", *base)
    s["rejected"] = q2(wh)
    s["rejected_lines"] = q(rs, "SELECT count(*) FROM core.budget_lines WHERE submission_id = ?", [u2])
    s["reopen"] = cli("reopen", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", "--reason", "ministry asked", *base)
    s["reopened"] = q2(wh)
    s["final_held_open"] = q(wh, "SELECT count(*) FROM approval.restricted_held")
    return s


def test_a_restricted_pilots_quarter_closes_with_its_composite(story):
    assert story["close"][0] == 0, story["close"][1]
    assert f"closed 2548-Q2 for {SECRET}: composite 2.5000, at_risk" in story["close"][1]
    assert story["before"] == [(D("2.5000"), "at_risk", False, False)]
    assert story["closed"] == [(D("2.5000"), "at_risk", True, False)]


def test_its_later_files_are_held_in_the_restricted_store_and_listed_without_names(story):
    assert story["run"][0] == 0, story["run"][1]
    assert story["held_statuses"] == [(U1[0], "held"), (U2[0], "held")]
    u1, u2 = story["ids"][U1[0]], story["ids"][U2[0]]
    assert [r[:4] for r in story["held_open"]] == [(u1, SECRET, "20004", "2548-Q2"), (u2, SECRET, "15001", "2548-Q2")]
    assert story["held_scores"] == story["closed"]  # a held file changes no figure
    # The open warehouse holds none of them but that list; the committee's page lists them by id
    # and agency, without their file names or figures.
    wh = story["wh"]
    assert q(wh, "SELECT count(*) FROM ingest.submissions WHERE submission_id > 12") == [(0,)]
    # Closures and the close decision (pilot, period, composite) and the held list (id, agency,
    # dates) besides the relations warehouse.md allows.
    extra = {"approval.quarter_closures", "approval.decisions", "approval.restricted_held"}
    for tables in story["open_tables"].values():
        assert "approval.restricted_held" in tables and tables <= ALLOWED | extra
    for page in (story["held_page"], story["held_page_th"]):
        assert str(u1) in page and str(u2) in page
        assert "Z8Q" not in page and "777" not in page and "35.0" not in page
    assert "20004" in story["held_page"] or "Statistical" in story["held_page"]


def test_approving_a_restricted_held_file_applies_it_in_its_store(story):
    code, output = story["approve"]
    u1 = story["ids"][U1[0]]
    assert code == 0, output
    assert f"submission {u1} ({SECRET} 20004 2548-Q2) approved: accepted, replacing submission 12" in output
    assert "Z8Q" not in output
    open_q2, restricted_q2, published_q2 = story["approved"]
    assert open_q2 == published_q2 == [(D("3.5000"), "on_target", True, True)]
    assert restricted_q2 == [(D("3.5000"), "on_target", True, True)]
    assert (12, "superseded", u1) in story["approved_statuses"]
    assert (u1, "accepted", None) in story["approved_statuses"]
    assert ("2548-Q2", D("35"), u1) in [(p, D(a), s) for p, a, s in story["approved_actuals"]]
    # The decision is a row of the restricted store, numbered after the open close decision.
    rs, wh = story["rs"], story["wh"]
    assert q(rs, "SELECT decision_id, action, pilot_id, period, submission_id, note, status_after "
                 "FROM approval.decisions ORDER BY 1") == [
        (2, "approve", SECRET, "2548-Q2", u1, "typo fixed", "accepted"),
        (3, "reject", SECRET, "2548-Q2", story["ids"][U2[0]], "wrong activity", "rejected")]
    assert q(wh, "SELECT decision_id, action, pilot_id, period, submission_id FROM approval.decisions ORDER BY 1") == [
        (1, "close", SECRET, "2548-Q2", None), (4, "reopen", SECRET, "2548-Q2", None)]
    assert q(rs, "SELECT status_before, status_after, reason, decision_id FROM ingest.status_changes "
                 "WHERE submission_id = ? ORDER BY change_id", [u1]) == [
        (None, "held", "received", None), ("held", "accepted", "approved", 2)]


def test_rejecting_a_restricted_held_file_changes_nothing_else(story):
    assert story["reject"][0] == 0, story["reject"][1]
    assert story["rejected"] == story["approved"][0]
    assert story["rejected_lines"] == [(0,)]


def test_reopening_a_restricted_pilots_quarter(story):
    assert story["reopen"][0] == 0, story["reopen"][1]
    assert story["reopened"] == [(D("3.5000"), "on_target", False, False)]
    assert story["final_held_open"] == [(0,)]
