"""The decision commands take `--restricted-store` as `run` does (issue 22's known gaps, W item 3).

tests/test_restricted_decisions.py's story, with the restricted store away from the warehouse
(`vault/secret.duckdb`, not the default `wh.restricted.duckdb` beside it), every job told where
it is: close-quarter, approve, reject and reopen find the restricted pilot PLT-2548-099's figures
and held files there, and nothing is ever written beside the warehouse. Figures by hand
(test_restricted_decisions.py): r5's S9 = 25 scores 2 + (25 - 20)/(30 - 20) = 2.5000 (at_risk);
u1's S9 = 35 scores 3 + (35 - 30)/(40 - 30) = 3.5000 (on_target, 3 or more).
Without the option, approving u1 is refused before anything is written: the warehouse records a
restricted store and none is beside it, and no store is made there.
"""
from __future__ import annotations

from decimal import Decimal as D

from tests.test_pilot_moves import cli, q
from tests.test_restricted_decisions import U1, U2, q2
from tests.test_restricted_store import SECRET, make_restricted_scenario, run
from warehouse.paths import files_of, restricted_evidence_of
from warehouse.publish import published_path


def test_every_decision_command_uses_the_restricted_store_it_is_given(tmp_path, prefect_harness):
    root = tmp_path
    registry, inbox = make_restricted_scenario(root)
    rs = root / "vault" / "secret.duckdb"
    wh, default = root / "wh.duckdb", files_of(root / "wh.duckdb").restricted
    option = ["--restricted-store", rs]
    assert run(root, registry, inbox, *map(str, option))[0] == 0
    base = ["--registry", registry, "--warehouse", wh, "--out", root / "out", "--as-of", "2005-05-15"]

    code, output = cli("close-quarter", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", *base, *option)
    assert code == 0, output
    assert f"closed 2548-Q2 for {SECRET}: composite 2.5000, at_risk" in output
    assert q2(wh) == q2(rs) == [(D("2.5000"), "at_risk", True, False)]

    late = root / "inbox2"
    late.mkdir()
    for name, data in (U1, U2):
        (late / name).write_bytes(data)
    assert run(root, registry, late, *map(str, option))[0] == 0
    ids = dict(q(rs, "SELECT file_name, status FROM ingest.submissions WHERE submission_id > 12"))
    assert ids == {U1[0]: "held", U2[0]: "held"}
    u1, u2 = (q(rs, "SELECT submission_id FROM ingest.submissions WHERE file_name = ?", [n])[0][0] for n, _ in (U1, U2))

    # Not told where the store is: refused in one line, nothing written, no store made beside it.
    # The warehouse records a store, so the job says that none is at the default place (verifier
    # VI, F1: tests/test_restricted_store_identity.py) before looking for the submission.
    code, output = cli("approve", u1, "--by", "Somchai", *base)
    assert code == 1 and f"pilotkpi: {default}: no restricted store here, yet this warehouse's jobs wrote one" in output
    assert not default.exists()

    code, output = cli("approve", u1, "--by", "Somchai", "--note", "typo fixed", *base, *option)
    assert code == 0, output
    assert f"submission {u1} ({SECRET} 20004 2548-Q2) approved: accepted, replacing submission 12" in output
    assert q2(wh) == q2(rs) == q2(published_path(wh)) == [(D("3.5000"), "on_target", True, True)]
    code, output = cli("reject", u2, "--by", "Somchai", "--reason", "wrong activity", *base, *option)
    assert code == 0, output
    assert f"submission {u2} ({SECRET} 15001 2548-Q2) rejected: rejected" in output
    code, output = cli("reopen", "2548-Q2", "--pilot", SECRET, "--by", "Somchai", "--reason", "asked", *base, *option)
    assert code == 0, output
    assert q2(wh) == [(D("3.5000"), "on_target", False, False)]

    assert q(rs, "SELECT action, submission_id, status_after FROM approval.decisions ORDER BY decision_id") == [
        ("approve", u1, "accepted"), ("reject", u2, "rejected")]
    assert q(wh, "SELECT action, pilot_id FROM approval.decisions ORDER BY decision_id") == [
        ("close", SECRET), ("reopen", SECRET)]
    assert not default.exists() and not restricted_evidence_of(default).exists()
