"""GE's bookkeeping remembered within a run (pilots/ge_memo.py) loses no expectation and no defect.

Every one of the suite's 28 expectations has a row below that it alone fails (the two date rules
too: a date of the wrong shape that strptime reads, and one of the right shape that does not
exist), so dropping any expectation, or answering one rule with another's remembered filter or
configuration, loses or moves a defect. The expected defects are worked out by hand from
agency-report-v1.md ("Defects") and tests/test_checks.py's registry (K1 percent, K2 count).
The whole-flow case runs `pilotkpi run` on a file whose rules share row conditions."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import duckdb
import pytest

from pilots import checks, ge_memo
from tests.test_checks import REGISTRY, budget, frame, kpi

TOO_LARGE_AMOUNT = "1" + "0" * 17  # 10^17 baht: past DECIMAL(18,2)
TOO_LARGE_ACTUAL = "1" + "0" * 25  # 10^25: past the 25 digits an actual keeps

# (line, the defects of its row: (column, code)), row numbers from 2 in this order.
EVERY_RULE = [
    (kpi(pilot_id=None), [("pilot_id", "VALUE_REQUIRED")]),
    (kpi(agency_code=None), [("agency_code", "VALUE_REQUIRED")]),
    (kpi(period=None), [("period", "VALUE_REQUIRED")]),
    (kpi(submitted_on=None), [("submitted_on", "VALUE_REQUIRED")]),
    (kpi(agency_code="AB123"), [("agency_code", "AGENCY_CODE_INVALID")]),
    (kpi(period="2005-Q1"), [("period", "PERIOD_INVALID")]),
    (kpi(submitted_on="2005-4-20"), [("submitted_on", "DATE_INVALID")]),   # the regex rule alone: strptime reads it
    (kpi(submitted_on="2005-02-30"), [("submitted_on", "DATE_INVALID")]),  # the strftime rule alone: ISO shape
    (kpi(line_type=None), [("line_type", "VALUE_REQUIRED")]),
    (kpi(item_code=None), [("item_code", "VALUE_REQUIRED")]),
    (budget(layer=None), [("layer", "VALUE_REQUIRED")]),                    # required on budget lines
    (kpi(actual=None), [("actual", "VALUE_REQUIRED")]),                     # required on kpi lines
    (budget(source=None), [("funding_source", "VALUE_REQUIRED")]),          # required on budget lines
    (kpi(line_type="expense"), [("line_type", "LINE_TYPE_INVALID")]),
    (budget(layer="7"), [("layer", "LAYER_INVALID")]),
    (budget(source="loan"), [("funding_source", "FUNDING_SOURCE_INVALID")]),
    (kpi("K2", "abc"), [("actual", "NOT_A_NUMBER")]),
    (kpi("K2", TOO_LARGE_ACTUAL), [("actual", "NUMBER_TOO_LARGE")]),
    (kpi("K1", "120"), [("actual", "PERCENT_OUT_OF_RANGE")]),               # K1 is a percent
    (budget(allocated=None), [("allocated_thb", "VALUE_REQUIRED")]),
    (budget(allocated="abc"), [("allocated_thb", "NOT_A_NUMBER")]),
    (budget(allocated=TOO_LARGE_AMOUNT), [("allocated_thb", "NUMBER_TOO_LARGE")]),  # >= 200000 disbursed
    (budget(allocated="-5000"), [("allocated_thb", "AMOUNT_NEGATIVE")]),   # not comparable: no pair rule
    (budget(disbursed=None), [("disbursed_thb", "VALUE_REQUIRED")]),
    (budget(disbursed="abc"), [("disbursed_thb", "NOT_A_NUMBER")]),
    # 10^17 disbursed against 1,000,000 allocated: too large, and over the allocation.
    (budget(disbursed=TOO_LARGE_AMOUNT), [("disbursed_thb", "DISBURSED_OVER_ALLOCATED"),
                                          ("disbursed_thb", "NUMBER_TOO_LARGE")]),
    (budget(disbursed="-1"), [("disbursed_thb", "AMOUNT_NEGATIVE")]),
    (budget(allocated="100", disbursed="150"), [("disbursed_thb", "DISBURSED_OVER_ALLOCATED")]),
    # Clean lines of both kinds between them: nothing.
    (kpi("K1", "100"), []),
    (budget("ACT-2", "0", "0", "lead_integrated", layer="5"), []),
]
EXPECTED = [(0, n, column, code) for n, (_, found) in enumerate(EVERY_RULE, 2) for column, code in found]


def found(batch) -> list[tuple[int, int, str, str]]:
    return [(key, i.row_number, i.column_name, i.code) for key, i in checks.row_defects(batch, REGISTRY)]


@contextmanager
def _not_remembering():
    yield False


def test_the_memos_are_on_for_the_locked_ge():
    with ge_memo.remembering() as on:
        assert on


def test_every_expectation_finds_its_row_with_the_memos_and_without(monkeypatch):
    batch = frame([line for line, _ in EVERY_RULE])
    with_memos = found(batch)
    monkeypatch.setattr(ge_memo, "remembering", _not_remembering)  # GE's own path, everything built afresh
    assert with_memos == EXPECTED
    assert found(batch) == EXPECTED


def test_a_remembered_run_leaves_out_the_frames_fingerprint_and_finds_the_same_defects(monkeypatch):
    """GE's load of a part fingerprints the whole frame (pandas' hash of every cell) for a marker
    of the result's meta, which nothing reads: inside a remembered run it is not computed, on GE's
    own path it still is; the defects are the hand-made list's either way."""
    import pandas as pd

    hashed = []
    hash_object = pd.util.hash_pandas_object

    def counting(obj, *args, **kwargs):
        hashed.append(len(obj))
        return hash_object(obj, *args, **kwargs)

    monkeypatch.setattr(pd.util, "hash_pandas_object", counting)
    batch = frame([line for line, _ in EVERY_RULE])
    assert found(batch) == EXPECTED
    assert hashed == []
    monkeypatch.setattr(ge_memo, "remembering", _not_remembering)  # GE's own path: one fingerprint a load
    assert found(batch) == EXPECTED
    assert len(hashed) >= len(checks.prepare_ge()[1])  # each of the five parts loaded, and hashed, at least once


def test_every_expectation_fails_on_its_row_inside_one_remembered_run():
    """Each part's rules judged together in one remembered run (checks._failures): every one of
    the 28 expectations fails, each on the rows the hand-made list gives it."""
    batch = frame([line for line, _ in EVERY_RULE])
    definition, suites = checks.prepare_ge()
    df = checks._with_kpi_units(batch, REGISTRY)
    codes = checks._Codes(df)
    parsed, in_satang = checks._parse_numbers(df, codes)
    failed = set()
    for name, (suite, read) in suites.items():
        distinct, of_row, first = checks._distinct(df, checks.RULE_GROUPS[name], codes)
        part = checks._derive(distinct, first, codes, parsed, in_satang)[[checks.DISTINCT, *read]]
        for expectation, hits in checks._failures(definition, suite, part):
            rows = tuple(int(df["row_number"][at]) for at, combination in enumerate(of_row) if combination in hits)
            failed.add((type(expectation).__name__, expectation.meta["column"], expectation.meta["code"], rows))
    by_rule: dict[tuple[str, str], tuple[int, ...]] = {}
    for row, (_, defects) in enumerate(EVERY_RULE, 2):
        for column, code in defects:
            by_rule[(column, code)] = (*by_rule.get((column, code), ()), row)
    # The two date rules each fail on their own row; every other rule on the rows of its defect.
    assert {(kind, column, code, rows) for kind, column, code, rows in failed if code == "DATE_INVALID"} == {
        ("ExpectColumnValuesToMatchRegex", "submitted_on", "DATE_INVALID", (8,)),
        ("ExpectColumnValuesToMatchStrftimeFormat", "submitted_on", "DATE_INVALID", (9,)),
    }
    assert sorted((column, code, rows) for _, column, code, rows in failed if code != "DATE_INVALID") == sorted(
        (column, code, rows) for (column, code), rows in by_rule.items() if code != "DATE_INVALID")
    assert len(failed) == 28 == sum(len(suite.expectations) for suite, _ in suites.values())


def test_a_row_condition_filter_is_remembered_per_condition():
    """Three rules on budget lines and two on kpi lines share their part's frame: each condition
    keeps its own rows (a kpi line lacking actual is not judged by the budget rules, nor the
    reverse), in one batch of both kinds."""
    batch = frame([kpi("K1", None), budget(layer=None, source=None), kpi("K2", None),
                   budget("ACT-2", layer=None), kpi("K1", "101")])
    assert found(batch) == [(0, 2, "actual", "VALUE_REQUIRED"), (0, 3, "layer", "VALUE_REQUIRED"),
                            (0, 3, "funding_source", "VALUE_REQUIRED"), (0, 4, "actual", "VALUE_REQUIRED"),
                            (0, 5, "layer", "VALUE_REQUIRED"), (0, 6, "actual", "PERCENT_OUT_OF_RANGE")]


def test_the_memos_hold_in_the_validating_thread_only_and_end_with_the_run():
    expectation = checks.prepare_ge()[1]["identity"][0].expectations[0]
    assert expectation.configuration is not expectation.configuration  # GE's own: built at every read
    inside, elsewhere = threading.Event(), threading.Event()
    seen = {}

    def other_thread():
        inside.wait(10)
        seen["other"] = expectation.configuration is expectation.configuration
        elsewhere.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with ge_memo.remembering():
        seen["inside"] = expectation.configuration is expectation.configuration
        inside.set()
        elsewhere.wait(10)
    thread.join()
    assert seen == {"inside": True, "other": False}
    assert expectation.configuration is not expectation.configuration
    # The remembered configuration says what GE's own says.
    with ge_memo.remembering():
        assert expectation.configuration.to_json_dict() == type(expectation).configuration.fget(expectation).to_json_dict()


# --- the whole flow ---------------------------------------------------------------------------

P = "PLT-2548-003"
# The lead's 2548-Q3 report (April to June 2005, sent 2005-04-20; the night is as of 2005-05-15):
# its rules share row conditions (kpi lines, budget lines, percent KPIs, comparable amounts).
SHARED_CONDITIONS = [
    f"{P},03009,2548-Q3,2005-04-20,kpi,K1,,120,,,,",                  # 2: percent over 100
    f"{P},03009,2548-Q3,2005-04-20,kpi,K2,,,,,,",                     # 3: actual missing on a kpi line
    f"{P},03009,2548-Q3,2005-04-20,budget,ACT-1,,,1000,200,,",        # 4: layer and funding source missing
    f"{P},03009,2548-Q3,2005-04-20,budget,ACT-2,5,,,,own,",           # 5: both amounts missing
    f"{P},03009,2548-Q3,2005-04-20,budget,ACT-3,5,,100,150,own,",     # 6: disbursed over allocated
    f"{P},03009,2548-Q3,2005-04-20,budget,ACT-4,4,,500,500,own,",     # 7: clean
]
SHARED_CONDITIONS_DEFECTS = [
    (2, "actual", "PERCENT_OUT_OF_RANGE", "Percent value 120 is outside 0-100."),
    (3, "actual", "VALUE_REQUIRED", "A value for 'actual' is required on this row."),
    (4, "funding_source", "VALUE_REQUIRED", "A value for 'funding_source' is required on this row."),
    (4, "layer", "VALUE_REQUIRED", "A value for 'layer' is required on this row."),
    (5, "allocated_thb", "VALUE_REQUIRED", "A value for 'allocated_thb' is required on this row."),
    (5, "disbursed_thb", "VALUE_REQUIRED", "A value for 'disbursed_thb' is required on this row."),
    (6, "disbursed_thb", "DISBURSED_OVER_ALLOCATED", "Disbursed 150 is greater than allocated 100."),
]


@pytest.fixture(scope="module")
def shared_conditions_run(tmp_path_factory, prefect_harness):
    from tests.test_flow import HEADER, make_scenario, run_cli

    root = tmp_path_factory.mktemp("memo")
    registry, inbox = make_scenario(root)
    (inbox / "g_lead_q3.csv").write_bytes(("\n".join([HEADER, *SHARED_CONDITIONS]) + "\n").encode("utf-8"))
    code, out = run_cli(registry, inbox, root)
    return root, code, out


def test_a_file_whose_rules_share_conditions_keeps_every_defect_through_the_flow(shared_conditions_run):
    root, code, out = shared_conditions_run
    assert code == 0, out
    # tests/test_flow's six files and this one: f_bad.csv and this one quarantined.
    assert "files seen 7: accepted 3, superseded 1, duplicates 1, quarantined 2" in out
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    try:
        status = con.execute("SELECT status, error_count FROM ingest.submissions WHERE file_name = 'g_lead_q3.csv'").fetchall()
        issues = con.execute(
            "SELECT row_number, column_name, code, message_en FROM ingest.issues JOIN ingest.submissions USING "
            "(submission_id) WHERE file_name = 'g_lead_q3.csv' ORDER BY row_number, column_name, code").fetchall()
    finally:
        con.close()
    assert status == [("quarantined", 7)]
    assert issues == sorted(SHARED_CONDITIONS_DEFECTS)
