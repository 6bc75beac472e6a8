"""The batch's columns are numbered once each (pilots/checks.py `_Codes`, by `_numbered`) as
groupby(sort=False, dropna=False) numbers its groups: in order of first appearance, every missing
value (None or NaN) one value at the place of its first row, its distinct value NaN. The numbers
below are worked out by hand; the row suite's combinations and where a defect is reported rest on
them. Then a whole check of files whose missing cells come first, between and last in a column."""
from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pilots import checks
from pilots.ingest import check_files
from pilots.registry import load_registry

NAN = float("nan")


def _numbered(*cells: object) -> tuple[list[int], list[object]]:
    column = np.empty(len(cells), dtype=object)
    column[:] = cells
    numbers, values = checks._numbered(pd.Series(column, dtype=object))
    assert numbers.dtype == np.int64 and values.dtype == object
    return numbers.tolist(), ["NaN" if isinstance(v, float) and math.isnan(v) else v for v in values]


@pytest.mark.parametrize("cells, numbers, values", [
    (("b", "a", "b"), [0, 1, 0], ["b", "a"]),                                    # nothing missing
    ((None, "a", None, "b", "a"), [0, 1, 0, 2, 1], ["NaN", "a", "b"]),           # missing first
    (("b", None, "a", "b", None, "c"), [0, 1, 2, 0, 1, 3], ["b", "NaN", "a", "c"]),  # between
    (("b", "a", "b", None), [0, 1, 0, 2], ["b", "a", "NaN"]),                    # last
    (("x", NAN, "y", None, "x"), [0, 1, 2, 1, 0], ["x", "NaN", "y"]),            # None and NaN: one value
    ((None, None), [0, 0], ["NaN"]),
    ((), [], []),
])
def test_each_value_is_numbered_at_its_first_row_and_the_missing_ones_share_one_number(cells, numbers, values):
    assert _numbered(*cells) == (numbers, values)


DATA = Path(__file__).parent / "data"
HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note\n"
KPI = "PLT-2548-003,03009,2548-Q1,2005-01-20,kpi,{item},,{actual},,,,\n"
BUDGET = "PLT-2548-003,03009,2548-Q1,2005-01-20,budget,{item},{layer},,{allocated},{disbursed},{source},\n"


def test_missing_cells_first_between_and_last_are_reported_on_their_own_rows(tmp_path):
    """Three files checked as one batch: the first begins with a budget line lacking its layer
    (the layer column's missing value numbered first), the second has it between two layers, the
    third last; and kpi lines, whose layer is empty by the contract, around them. Each file's
    defects are the rows a reader finds by hand (agency-report-v1.md: layer is required on budget
    lines, 1-5; `funding_source` one of the listed sources)."""
    files = []
    for name, lines in [
        ("a.csv", [BUDGET.format(item="ACT-1", layer="", allocated="100", disbursed="10", source="own"),
                   KPI.format(item="K1", actual="47"),
                   BUDGET.format(item="ACT-2", layer="2", allocated="100", disbursed="10", source="own")]),
        ("b.csv", [BUDGET.format(item="ACT-1", layer="2", allocated="100", disbursed="10", source="own"),
                   BUDGET.format(item="ACT-2", layer="", allocated="100", disbursed="10", source="loan"),
                   BUDGET.format(item="ACT-3", layer="9", allocated="100", disbursed="10", source="own")]),
        ("c.csv", [KPI.format(item="K1", actual="47"),
                   BUDGET.format(item="ACT-1", layer="3", allocated="100", disbursed="10", source="own"),
                   BUDGET.format(item="ACT-2", layer="", allocated="100", disbursed="10", source="own")]),
    ]:
        (tmp_path / name).write_text(HEADER + "".join(lines), encoding="utf-8")
        files.append(tmp_path / name)
    outcomes = check_files(files, load_registry(DATA / "registry" / "valid"), date(2006, 8, 15))
    found = {o.file_name: [(i.row_number, i.column_name, i.code) for i in o.issues if i.is_error] for o in outcomes}
    assert found == {
        "a.csv": [(2, "layer", "VALUE_REQUIRED")],
        "b.csv": [(3, "funding_source", "FUNDING_SOURCE_INVALID"), (3, "layer", "VALUE_REQUIRED"),
                  (4, "layer", "LAYER_INVALID")],
        "c.csv": [(4, "layer", "VALUE_REQUIRED")],
    }
