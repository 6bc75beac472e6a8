"""The row suite validates the distinct combinations of its rules' columns, not the rows
(pilots/checks.py, RULE_GROUPS): through the same path as the nightly run (`check_files`, one
batch of files), a combination shared by several rows and files is reported on every row that
holds it, and values that differ only slightly are not merged. Every expected defect below is
worked out by hand from agency-report-v1.md and tests/data/registry/valid."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pilots import checks
from pilots.ingest import check_files
from pilots.registry import load_registry

DATA = Path(__file__).parent / "data"
AS_OF = date(2006, 8, 15)
HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note\n"
KPI = "PLT-2548-003,{agency},2548-Q1,2005-01-20,kpi,{item},,{actual},,,,\n"
BUDGET = "PLT-2548-003,03009,2548-Q1,2005-01-20,budget,{item},{layer},,{allocated},{disbursed},own,\n"


@pytest.fixture(scope="module")
def registry():
    return load_registry(DATA / "registry" / "valid")


def _write(folder: Path, name: str, *lines: str) -> Path:
    path = folder / name
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def test_a_shared_bad_combination_is_reported_on_every_row_of_every_file(tmp_path, registry):
    bad_agency = [KPI.format(agency="AB123", item="K1", actual="47"), KPI.format(agency="AB123", item="K2", actual="22")]
    files = [
        _write(tmp_path, "a.csv", *bad_agency),
        _write(tmp_path, "b.csv", *bad_agency),
        # The same over-disbursed amounts on two lines; a line without a layer beside the same
        # line with one (a missing value is its own combination, not merged with "5").
        _write(tmp_path, "c.csv", BUDGET.format(item="ACT-1", layer="5", allocated="100", disbursed="150"),
               BUDGET.format(item="ACT-2", layer="5", allocated="100", disbursed="150"),
               BUDGET.format(item="ACT-3", layer="", allocated="100", disbursed="100"),
               BUDGET.format(item="ACT-4", layer="5", allocated="100", disbursed="100")),
        # 150 against 150.0 and 100.00: equal numbers written differently, each judged as written.
        _write(tmp_path, "d.csv", BUDGET.format(item="ACT-1", layer="5", allocated="150.0", disbursed="150"),
               BUDGET.format(item="ACT-2", layer="5", allocated="100.00", disbursed="100.01")),
        _write(tmp_path, "e.csv", KPI.format(agency="03009", item="K1", actual="47"),
               KPI.format(agency="03009", item="K2", actual="22")),
    ]
    found = {o.file_name: [(i.row_number, i.column_name, i.code) for i in o.issues]
             for o in check_files(files, registry, AS_OF)}
    assert found == {
        "a.csv": [(2, "agency_code", "AGENCY_CODE_INVALID"), (3, "agency_code", "AGENCY_CODE_INVALID")],
        "b.csv": [(2, "agency_code", "AGENCY_CODE_INVALID"), (3, "agency_code", "AGENCY_CODE_INVALID")],
        "c.csv": [(2, "disbursed_thb", "DISBURSED_OVER_ALLOCATED"), (3, "disbursed_thb", "DISBURSED_OVER_ALLOCATED"),
                  (4, "layer", "VALUE_REQUIRED")],
        "d.csv": [(3, "disbursed_thb", "DISBURSED_OVER_ALLOCATED")],
        "e.csv": [],
    }


def test_a_rule_that_cannot_run_is_an_error_naming_it():
    """GE reports a rule it could not run as failed, with no failures listed: that is an error of
    the run, never a clean verdict (here the frame lacks the column the rule reads)."""
    import pandas as pd

    definition, suites = checks._gx()
    suite, read = suites["identity"]
    frame = pd.DataFrame({checks.DISTINCT: [0], **{c: ["x"] for c in read if c != "period"}}, dtype=object)
    with pytest.raises(RuntimeError, match="row rule .* on period could not run"):
        checks._failures(definition, suite, frame)


@pytest.mark.parametrize("odd_amount, in_satang", [
    ("7", True),                    # every amount a whole number of satang: the float64 satang columns
    ("0.001", False),               # a tenth of a satang: the whole part stays in Decimals
    ("90071992547409.92", False),   # 2^53 satang: no longer exact in a float
    ("90071992547409.91", True),    # the largest amount still exact
])
def test_amount_rules_give_the_same_verdicts_in_satang_and_in_decimals(odd_amount, in_satang):
    """The amount rules read the amounts in satang when every amount of the batch converts exactly,
    else as Decimals; the defects are the same either way. Lines (allocated, disbursed), each with
    the verdict worked out by hand: 100 >= 100.00 passes; 100.00 < 100.01 fails; -0 is not
    negative; -0.01 is; 0.001 < 1 fails, 7 and the largest amounts do not; 0.10 >= 0.10 passes."""
    from tests.test_checks import REGISTRY, budget, frame

    lines = [budget("A1", "100", "100.00"), budget("A2", "100.00", "100.01"), budget("A3", "-0", "0"),
             budget("A4", "5", "-0.01"), budget("A5", odd_amount, "1"), budget("A6", "0.10", "0.10")]
    batch = frame(lines)
    df = checks._with_kpi_units(batch, REGISTRY)
    codes = checks._Codes(df)
    distinct, _, first = checks._distinct(df, checks.RULE_GROUPS["amounts"], codes)
    derived = checks._derive(distinct, first, codes, *checks._parse_numbers(df, codes))
    assert (derived[checks.NUM["allocated_thb"]].dtype == "float64") is in_satang
    found = [(i.row_number, i.column_name, i.code) for _, i in checks.row_defects(batch, REGISTRY)]
    over_for_odd = [] if odd_amount != "0.001" else [(6, "disbursed_thb", "DISBURSED_OVER_ALLOCATED")]
    assert found == sorted([(3, "disbursed_thb", "DISBURSED_OVER_ALLOCATED"), (5, "disbursed_thb", "AMOUNT_NEGATIVE"),
                            *over_for_odd], key=lambda f: (f[0], checks._COLUMN_ORDER[f[1]]))


def test_an_amount_past_28_significant_digits_is_compared_exactly(tmp_path, registry):
    """Decimal's default context keeps 28 significant digits: 1.0000000000000000000000000001 baht
    in satang would round to a whole 100 and compare equal to 1 baht. By hand, 1.000…0001 > 1, so
    the line disburses more than it allocates. The other line of the batch is whole satang (the
    batch would otherwise be read in float satang)."""
    path = _write(tmp_path, "f.csv", BUDGET.format(item="ACT-1", layer="5", allocated="100", disbursed="100"),
                  BUDGET.format(item="ACT-2", layer="5", allocated="1", disbursed="1.0000000000000000000000000001"))
    found = [(o.file_name, [(i.row_number, i.column_name, i.code) for i in o.issues])
             for o in check_files([path], registry, AS_OF)]
    assert found == [("f.csv", [(3, "disbursed_thb", "DISBURSED_OVER_ALLOCATED")])]


def test_combinations_are_numbered_as_pandas_groups_them():
    """_distinct numbers the combinations from each column's factorised values: the same numbers,
    in order of first appearance, as groupby(sort=False, dropna=False).ngroup(), with None and NaN
    one missing value (rows 1 and 4, 3 and 6 below are one combination each)."""
    import numpy as np
    import pandas as pd

    nan = float("nan")
    frame = pd.DataFrame({"a": ["x", None, "y", "x", nan, "y", "x", "x"],
                          "b": ["1", "2", "1", None, "2", "1", None, "2"],
                          "c": ["p", "p", "p", "q", "p", "p", "q", "p"]}, dtype=object)
    distinct, of_row, first = checks._distinct(frame, ("a", "b", "c"))
    assert list(of_row) == [0, 1, 2, 3, 1, 2, 3, 4]  # by hand
    assert list(of_row) == list(frame.groupby(["a", "b", "c"], sort=False, dropna=False).ngroup())
    assert list(first) == [0, 1, 2, 3, 7]
    assert list(distinct[checks.DISTINCT]) == [0, 1, 2, 3, 4]
    assert distinct[["a", "b", "c"]].to_numpy().tolist() == [["x", "1", "p"], [None, "2", "p"], ["y", "1", "p"],
                                                            ["x", None, "q"], ["x", "2", "p"]]
    _, of_a, _ = checks._distinct(frame, ("a",))
    assert np.array_equal(of_a, [0, 1, 2, 0, 1, 2, 0, 0])


@pytest.mark.parametrize("text, expected", [
    ("0", (True, 0.0, True)),
    ("12.5", (True, 1250.0, True)),
    ("12.05", (True, 1205.0, True)),
    ("1234567890123.45", (True, 123456789012345.0, True)),  # 13 digits: the longest plain amount
    ("12345678901234", None),  # 14 digits: read through its Decimal
    ("1.230", None), ("-1", None), ("1.", None), (".5", None), ("๑๒", None), (" 1", None), ("1e3", None), (None, None),
])
def test_a_plain_amount_is_read_from_its_digits_as_its_decimal_reads_it(text, expected):
    """(fits, satang, >= 0), satang worked out by hand; any other shape goes the Decimal way, which
    gives the same for the shapes both read."""
    assert checks._plain_amount(text) == expected
    if expected is not None:
        assert checks._amount(text, "allocated_thb") == expected


def test_an_amount_of_another_shape_is_read_through_its_decimal():
    # (fits, satang, >= 0), by hand: 14 digits still fit DECIMAL(18,2); 1.230 is 123 satang exactly.
    assert checks._amount("12345678901234", "disbursed_thb") == (True, 1234567890123400.0, True)
    assert checks._amount("1.230", "disbursed_thb") == (True, 123.0, True)
    assert checks._amount("-1", "disbursed_thb") == (True, -100.0, False)
    assert checks._amount("0.001", "disbursed_thb") == (True, None, True)  # a tenth of a satang: not exact
    assert checks._amount("12345678901234567", "disbursed_thb") == (False, None, True)  # 17 digits: too large
    fits, satang, comparable = checks._amount("1.", "disbursed_thb")  # not a number
    assert fits is None and satang != satang and comparable is False  # NaN satang


@pytest.mark.parametrize("text, satang", [
    ("0", 0), ("0.5", 50), ("0.05", 5), ("007", 700), ("12.3", 1230), ("0.29", 29), ("1.15", 115),
    ("9999999999999.99", 999999999999999),  # the largest plain amount: 10^15 - 1 satang
    ("9999999999999.95", 999999999999995), ("4503599627370.49", 450359962737049),  # 2^52 / 1,000 baht
    ("1234567890123.45", 123456789012345),
])
def test_a_plain_amount_in_satang_from_its_float_is_the_whole_number_its_digits_say(text, satang):
    """Satang worked out from the digits by hand; float(text) * 100 is off by a fraction (0.29 * 100
    is 28.999999999999996) that round() takes back."""
    assert checks._plain_satang(text) == satang
    assert checks._plain_amount(text) == (True, float(satang), True)


def test_every_plain_amount_of_up_to_13_digits_and_2_decimals_converts_exactly():
    """The bound in _plain_satang's docstring, tried: whole parts at every magnitude and near its
    top, each with every two-digit cents value; the expected satang is integer arithmetic on the
    digits, not the code under test."""
    wholes = [0, 1, 9, 10 ** 6 + 7, *(10 ** k - 1 for k in range(1, 14)), *(10 ** 13 - 1 - k for k in range(200))]
    texts, expected = [], []
    for whole in wholes:
        for cents in range(100):
            assert checks._plain_satang(f"{whole}.{cents:02d}") == whole * 100 + cents
            texts.append(f"{whole}.{cents:02d}")
            expected.append(whole * 100 + cents)
        assert checks._plain_satang(f"{whole}.5") == whole * 100 + 50
        texts += [f"{whole}.5", str(whole)]
        expected += [whole * 100 + 50, whole * 100]
    # The same texts as one column, as a batch reads them (in bulk, through numpy): Python floats.
    fits, satang, comparable = checks._parse_amounts(checks._objects(texts), "allocated_thb")
    assert list(satang) == [float(n) for n in expected] and {type(n) for n in satang} == {float}
    assert set(fits) == {True} and comparable.all()


def test_an_amount_columns_texts_parse_as_each_text_alone_would():
    """_parse_amounts reads plain texts in bulk and others by their Decimal: (fits, satang, >= 0),
    by hand, for each shape, in the given order; a missing amount is no number."""
    import numpy as np

    texts = checks._objects(["100", "-1", "1.230", None, "0.001", "12345678901234567", "5.5", "1e3"])
    fits, satang, comparable = checks._parse_amounts(texts, "allocated_thb")
    assert list(fits) == [True, True, True, None, True, False, True, None]
    assert [s if s is None or not np.isnan(s) else "nan" for s in satang] == [
        10000.0, -100.0, 123.0, "nan", None, None, 550.0, "nan"]
    assert list(comparable) == [True, False, True, False, True, True, True, False]


def test_a_one_rule_part_that_cannot_run_is_an_error_naming_it():
    """The amounts' part holds one rule, asked for its failures at once: a rule GE could not run
    (its frame lacks a column) is still an error of the run, not a clean verdict."""
    import pandas as pd

    definition, suites = checks._gx()
    suite, read = suites["amounts"]
    assert len(suite.expectations) == 1
    frame = pd.DataFrame({checks.DISTINCT: [0], **{c: [1.0] for c in read if c != checks.NUM["disbursed_thb"]}})
    with pytest.raises(RuntimeError, match="row rule DISBURSED_OVER_ALLOCATED on disbursed_thb could not run"):
        checks._failures(definition, suite, frame)


NO_DISBURSED = HEADER.replace(",disbursed_thb", "")
BUDGET_NO_DISBURSED = "PLT-2548-003,03009,2548-Q1,2005-01-20,budget,{item},{layer},,{allocated},own,\n"


def test_a_file_lacking_a_column_gets_no_row_defect_in_it_and_every_other_row_defect(tmp_path, registry, monkeypatch):
    """A file without its disbursed_thb column: the column is reported once (COLUMN_MISSING), no
    row of it is reported again in that column, and its other cells are judged as in any file. A
    part whose every rule reports on disbursed_thb leaves that file's rows out (GE is not asked
    about rows whose defects would all be dropped); the same part still judges the other file."""
    lacking = tmp_path / "f.csv"
    lacking.write_text(NO_DISBURSED + BUDGET_NO_DISBURSED.format(item="ACT-1", layer="9", allocated="-5")
                       + BUDGET_NO_DISBURSED.format(item="ACT-2", layer="5", allocated="100")
                       + "PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,K1,,47,,,\n", encoding="utf-8")
    whole = _write(tmp_path, "g.csv", BUDGET.format(item="ACT-1", layer="5", allocated="100", disbursed=""),
                   BUDGET.format(item="ACT-2", layer="5", allocated="100", disbursed="-1"))
    asked: dict[str, int] = {}
    failures = checks._failures

    def counted(definition, suite, frame):
        asked[suite.name] = asked.get(suite.name, 0) + len(frame)
        return failures(definition, suite, frame)

    monkeypatch.setattr(checks, "_failures", counted)
    found = {o.file_name: [(i.row_number, i.column_name, i.code) for i in o.issues]
             for o in check_files([lacking, whole], registry, AS_OF)}
    assert found == {
        "f.csv": [(None, "disbursed_thb", "COLUMN_MISSING"), (2, "allocated_thb", "AMOUNT_NEGATIVE"),
                  (2, "layer", "LAYER_INVALID")],
        "g.csv": [(2, "disbursed_thb", "VALUE_REQUIRED"), (3, "disbursed_thb", "AMOUNT_NEGATIVE")],
    }
    # The disbursed part saw g.csv's two (line type, disbursed) combinations, (budget, none) and
    # (budget, -1), and not f.csv's (kpi, none); the allocated part, whose rules report on
    # allocated_thb, saw both files: (budget, -5), (budget, 100) and (kpi, none).
    assert asked["report_rows_disbursed"] == 2
    assert asked["report_rows_allocated"] == 3


def test_a_part_keeps_the_rows_of_a_file_lacking_only_some_of_the_columns_it_reports_on(tmp_path, registry):
    """A file without its submitted_on column: the identity part's rules report on four columns,
    so its rows stay in that part; the agency code it got wrong is reported on every row, and
    nothing is reported per row in the missing date column."""
    no_date = HEADER.replace("submitted_on,", "")
    path = tmp_path / "h.csv"
    path.write_text(no_date + "PLT-2548-003,AB123,2548-Q1,kpi,K1,,47,,,,\n"
                    + "PLT-2548-003,AB123,2548-Q1,kpi,K2,,22,,,,\n", encoding="utf-8")
    (outcome,) = check_files([path], registry, AS_OF)
    assert [(i.row_number, i.column_name, i.code) for i in outcome.issues] == [
        (None, "submitted_on", "COLUMN_MISSING"),
        (2, "agency_code", "AGENCY_CODE_INVALID"), (3, "agency_code", "AGENCY_CODE_INVALID")]
