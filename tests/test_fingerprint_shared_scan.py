"""The grouped digests a night's marts ask of one relation come from one scan (kpis/fingerprint.py
Digests.want), and are the digests each would have from a scan of its own: ops.mart_partitions
keeps them from night to night, so a digest that changed with the way it is computed would
recompute every pilot on the next night, and one that missed a row would leave a stale one."""
from __future__ import annotations

import duckdb

from kpis.fingerprint import Digests

# A submissions-like relation: pilot P1 has three rows (two of agency A, its lead, one of B), P2 one
# row of agency B only, P3 one row without an agency; a row without a pilot belongs to none.
ROWS = [("P1", "A", "s1", 10), ("P1", "A", "s2", 20), ("P1", "B", "s3", 30), ("P2", "B", "s4", 40),
        ("P3", None, "s5", 50), (None, "A", "s6", 60)]
LEAD = "t.agency_code = (SELECT p.lead FROM leads p WHERE p.pilot_id = t.pilot_id)"


class Counting:
    """A connection that counts the statements run through it."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con, self.statements = con, []

    def execute(self, sql, params=None):
        self.statements.append(sql)
        return self.con.execute(sql, params)


def _connection() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE subs (pilot_id VARCHAR, agency_code VARCHAR, submission_id VARCHAR, n INTEGER)")
    con.executemany("INSERT INTO subs VALUES (?, ?, ?, ?)", ROWS)
    con.execute("CREATE TABLE leads AS SELECT * FROM (VALUES ('P1', 'A'), ('P2', 'A'), ('P3', 'A')) v(pilot_id, lead)")
    return con


def _digest(con, count: int, where: str, row: str = "t") -> str:
    """A digest: the row count (by hand) and the sum of the hashes of the rows meeting `where`, by
    DuckDB alone."""
    return f"{count}:{con.execute(f'SELECT sum(hash({row})) FROM subs t WHERE {where}').fetchone()[0]}"


def test_every_wanted_digest_of_a_relation_comes_from_one_scan_and_equals_its_own_scan():
    con = _connection()
    counting = Counting(con)
    digests = Digests(counting)
    digests.want("subs", False, None, None)
    digests.want("subs", True, None, None)
    digests.want("subs", False, None, LEAD)
    digests.want("subs", False, ("pilot_id", "n"), None)

    lead_rows = digests.by_pilot("subs", None, LEAD)
    assert len(counting.statements) == 1
    whole = digests.by_pilot("subs")
    pairs = digests.by_pilot_agency("subs")
    narrowed = digests.by_pilot("subs", ("pilot_id", "n"))
    assert len(counting.statements) == 1  # the other three were computed by the first scan

    # Row counts by hand from ROWS; each hash sum is that of the same rows, summed by DuckDB alone.
    assert whole == {"P1": _digest(con, 3, "pilot_id = 'P1'"), "P2": _digest(con, 1, "pilot_id = 'P2'"),
                     "P3": _digest(con, 1, "pilot_id = 'P3'")}
    assert pairs == {("P1", "A"): _digest(con, 2, "pilot_id = 'P1' AND agency_code = 'A'"),
                     ("P1", "B"): _digest(con, 1, "pilot_id = 'P1' AND agency_code = 'B'"),
                     ("P2", "B"): _digest(con, 1, "pilot_id = 'P2'"),
                     ("P3", None): _digest(con, 1, "pilot_id = 'P3'")}
    # Only P1 has a row of its lead (A): P2's lead sent nothing, P3's row has no agency.
    assert lead_rows == {"P1": _digest(con, 2, "pilot_id = 'P1' AND agency_code = 'A'")}
    assert narrowed == {p: _digest(con, n, f"pilot_id = '{p}'", "t.pilot_id, t.n") for p, n in (("P1", 3), ("P2", 1), ("P3", 1))}

    # The same digests as a Digests that wanted nothing, which scans once for each.
    alone = Digests(con)
    assert (alone.by_pilot("subs"), alone.by_pilot_agency("subs"), alone.by_pilot("subs", None, LEAD),
            alone.by_pilot("subs", ("pilot_id", "n"))) == (whole, pairs, lead_rows, narrowed)


def test_a_relation_rewritten_is_scanned_again_for_every_digest_wanted():
    con = _connection()
    counting = Counting(con)
    digests = Digests(counting)
    digests.want("subs", False, None, None)
    digests.want("subs", False, None, LEAD)
    assert digests.by_pilot("subs")["P2"].startswith("1:")
    con.execute("INSERT INTO subs VALUES ('P2', 'A', 's7', 70)")
    digests.forget("subs")
    assert digests.by_pilot("subs", None, LEAD) == {
        "P1": _digest(con, 2, "pilot_id = 'P1' AND agency_code = 'A'"),
        "P2": _digest(con, 1, "submission_id = 's7'")}
    assert digests.by_pilot("subs")["P2"] == _digest(con, 2, "pilot_id = 'P2'")
    assert len(counting.statements) == 2
