"""A mart rebuilt in a job is scanned once for every digest its readers ask of it (kpis/fingerprint.py
`Digests.forget(..., together=...)`, kpis/build.py `readers_columns`): the same figures as each
digest's own query, rows without a pilot in the whole digest only, and one statement for all."""
from __future__ import annotations

import duckdb
import pytest

from kpis.build import readers_columns
from kpis.fingerprint import Digests

BUDGET = ("pilot_id", "period", "allocated_thb")


class Counting:
    """The connection, counting the statements that read the table."""

    def __init__(self, con, table):
        self.con, self.table, self.scans = con, table, 0

    def execute(self, sql, *args):
        self.scans += self.table in sql
        return self.con.execute(sql, *args)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.m (pilot_id VARCHAR, period VARCHAR, allocated_thb DECIMAL(18, 2), note VARCHAR)")
    con.execute("INSERT INTO marts.m VALUES ('PLT-1', '2549-Q1', 10.50, 'a'), ('PLT-1', '2549-Q2', 2.00, NULL), "
                "('PLT-2', '2549-Q1', 7.25, 'b'), (NULL, '2549-Q1', 1.00, 'no pilot')")
    yield con
    con.close()


def test_one_scan_gives_the_same_digests_as_their_own_queries(con):
    alone = Digests(con)
    expected = (alone.of("marts.m"), alone.by_pilot("marts.m"), alone.by_pilot("marts.m", BUDGET))
    counting = Counting(con, "marts.m")
    together = Digests(counting)
    together.forget("marts.m", together=[None, BUDGET])
    counting.scans = 0  # forget asks whether the table has pilot_id
    assert (together.of("marts.m"), together.by_pilot("marts.m"), together.by_pilot("marts.m", BUDGET)) == expected
    assert counting.scans == 1
    # Four rows in the whole digest (the one without a pilot too), two and one per pilot.
    assert expected[0].startswith("4:")
    assert {p: d.split(":")[0] for p, d in expected[1].items()} == {"PLT-1": "2", "PLT-2": "1"}


def test_the_first_digest_asked_may_be_a_pilots_one(con):
    expected = Digests(con).by_pilot("marts.m", BUDGET), Digests(con).of("marts.m")
    together = Digests(con)
    together.forget("marts.m", together=[BUDGET])
    assert (together.by_pilot("marts.m", BUDGET), together.of("marts.m")) == expected


def test_an_empty_mart_and_a_rewrite_after_the_scan(con):
    together = Digests(con)
    together.forget("marts.m", together=[None])
    first = together.of("marts.m")
    con.execute("DELETE FROM marts.m")
    assert together.of("marts.m") == first  # kept until forget(), as every digest
    together.forget("marts.m", together=[None])
    assert (together.of("marts.m"), together.by_pilot("marts.m")) == ("0:0", {})


def test_a_digest_not_noted_is_its_own_query(con):
    expected = Digests(con).by_pilot("marts.m", ("pilot_id", "note"))
    together = Digests(con)
    together.forget("marts.m", together=[BUDGET])
    assert together.by_pilot("marts.m", ("pilot_id", "note")) == expected


def test_the_readers_of_budget_snapshot_are_its_two_budget_marts():
    """budget_integration and its by-layer companion read declared columns of it; no other mart
    reads it. A mart without readers is not scanned ahead (its digest is the plain query)."""
    assert readers_columns("budget_snapshot") == [
        ("pilot_id", "period", "agency_code", "activity_code", "funding_source", "allocated_thb", "disbursed_thb",
         "is_lead", "is_integrated"),
        ("pilot_id", "period", "fiscal_year", "quarter", "layer", "funding_source", "allocated_thb", "disbursed_thb",
         "is_lead", "is_integrated")]
    assert readers_columns("kpi_outliers") == []
    assert readers_columns("kpi_scores") == [None]  # pilot_scores reads all of it
