"""Validation of normalised report rows (agency-report-v1.md, "Defects").

- `row_defects`: the per-row rules (required values by line type, formats, allowed values, ranges)
  as ONE Great Expectations suite, run once per batch of files on a pandas frame.
- `file_defects`: the cross-row and registry-aware rules of ONE file, in plain Python.

The normaliser has already turned every readable variant into canonical text; whatever it could
not read is left as cleaned raw text, so here a value is valid only in its canonical form.
"""
from __future__ import annotations

from collections import Counter

import importlib.util
import os
import re
import sys
import threading
import warnings
from datetime import date
from decimal import MAX_PREC, ROUND_HALF_UP, Context, Decimal, localcontext
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any, Collection, Iterable, Mapping, NamedTuple

import numpy as np
import pandas as pd

from warehouse.stages import stage
from pilots.contract import COLUMN_NAMES, COLUMNS, FUNDING_SOURCES, HEADER_FIELDS, LINE_TYPES
from pilots import ge_memo
from pilots.defects import Issue, catalogue, detail, make_issue
from pilots.fiscal import PERIOD, period_bounds
from pilots.kpi_units import NOT_JUDGED, file_agency, kpi_unit
from pilots.registry import Registry

# GE must never try the network (the nightly run is offline). Set before GE is first imported;
# setdefault, so that flows.settings (which sets the same default) stays the one place to change it.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# Canonical forms written by the normaliser. ASCII digits only: `\d` would also accept Thai or
# other Unicode digits, which the normaliser translates, so any left over mean "not read".
AGENCY_CODE = re.compile(r"^[0-9]{5}\Z")
# A canonical date is CE: the normaliser writes a BE year (>= 2400, agency-report-v1.md "Dates") as
# CE, and leaves the text as written when that CE day does not exist. So an ISO-shaped text with a
# year >= 2400 is such a day: `2548-02-29` is CE 2005-02-29, DATE_INVALID, not a day in 2548. The
# one other way to such a text, a BE year of 2943 or later (CE 2400 or later, nine centuries
# ahead), is DATE_INVALID too rather than SUBMITTED_IN_FUTURE: quarantined either way.
ISO_DATE = re.compile(r"^(?:[01][0-9]{3}|2[0-3][0-9]{2})-[0-9]{2}-[0-9]{2}\Z")
NUMBER = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?\Z")  # (?:) : GE warns on capture groups
LAYERS = ("1", "2", "3", "4", "5")
NUMERIC = ("actual", "allocated_thb", "disbursed_thb")
INDEX = ["file_key", "row_number"]
# (digits before the point, decimals) that the warehouse keeps: core.budget_lines amounts are
# DECIMAL(18,2), core.kpi_actuals.actual is DECIMAL(38,10). A number that does not fit, once rounded
# to those decimals as DuckDB's cast does, is a defect of the file here, not a cast error that
# would fail the whole run at the insert (found by the whole-flow fuzz, tests/test_fuzz_flow.py).
# Every accepted value must also pass through every mart (issue 24): an actual keeps 25 digits, not
# the column's 28, so a `sum` KPI's year to date (four quarters) stays below 10^26, which fits both
# DECIMAL(38,10) and the thresholds' DECIMAL(38,12) it is compared with (kpis/kpi_scores.sql).
STORED = {"actual": (25, 10), "allocated_thb": (16, 2), "disbursed_thb": (16, 2)}
# A pilot's budget totals are DECIMAL(18,2) (warehouse.md: money is DECIMAL(18,2)): below 10^16.
# They add the lines of one report per agency (the budget snapshot), and a pilot has at most
# MAX_AGENCIES_PER_PILOT agencies (pilots/registry.py), so one report's allocated amounts must add up
# to less than 10^16 / 100 = 10^14 baht (100 trillion: a hundred times the state's whole annual
# budget of 2004). Disbursed never exceeds allocated on a line, so its total is bounded too.
REPORT_TOTAL_LIMIT = Decimal(10) ** 14

# Columns the suite adds to the frames it validates.
KPI_UNIT = "kpi_unit"                    # the KPI's unit from the registry, on kpi rows only
NUM = {c: f"{c}_num" for c in NUMERIC}   # Decimal value (amounts: see _parse_numbers), or None when not a number
COMPARABLE = "amounts_comparable"        # both amounts are numbers >= 0
FITS = {c: f"{c}_fits" for c in NUMERIC}  # the number fits its warehouse column (None: not a number)
# The batch column (or KPI_UNIT) each derived column is computed from.
DERIVED_FROM = {**{num: (c,) for c, num in NUM.items()}, **{fits: (c,) for c, fits in FITS.items()},
                COMPARABLE: ("allocated_thb", "disbursed_thb")}

_COLUMN_ORDER = {name: i for i, name in enumerate(COLUMN_NAMES)}

# Every row rule reads one row's values only (a map rule, a pair rule, a row condition), so a rule
# gives the same verdict on two rows that agree on the columns it reads. The suite is split by the
# columns its rules read, and each part validates the DISTINCT combinations of its columns in the
# batch, not its rows; a failure is spread back to every row holding that combination. A file
# repeats its identity on every line and a pilot its KPI and activity codes, so the identity and
# line parts see a few thousand combinations where the batch has 50,000 rows; only the amounts
# (disbursed differs on nearly every line) stay row for row, with the few columns their rules read.
# Each rule goes to the first part whose columns hold every column it reads
# (tests/test_checks.py checks that every rule has a part).
RULE_GROUPS: dict[str, tuple[str, ...]] = {
    "identity": ("pilot_id", "agency_code", "period", "submitted_on"),
    "line": ("line_type", "item_code", "layer", "funding_source", "actual", KPI_UNIT),
    "allocated": ("line_type", "allocated_thb"),
    "disbursed": ("line_type", "disbursed_thb"),
    "amounts": ("allocated_thb", "disbursed_thb"),
}
# The batch columns some row rule reads: every canonical column but the free-text note.
SUITE_COLUMNS = frozenset(INDEX) | frozenset(COLUMN_NAMES) - {"note"}
# The column that numbers a part's distinct combinations; GE reports failures by it.
DISTINCT = "distinct_row"
# What GE is asked for. First, for the whole suite, only each rule's verdict (BOOLEAN_ONLY: the
# count of failing rows, none of the lists COMPLETE builds for every rule, failing or not). Then,
# for the rules that failed only, their failures: the list of DISTINCT numbers, which is all
# row_defects reads; not the pandas query that would select those rows, nor a sample of values.
VERDICT_FORMAT = {"result_format": "BOOLEAN_ONLY"}
FAILURES_FORMAT = {"result_format": "COMPLETE", "unexpected_index_column_names": [DISTINCT],
                   "return_unexpected_index_query": False, "partial_unexpected_count": 0}


def _iso_date(text: object) -> date | None:
    """The date of a canonical `YYYY-MM-DD` text, or None (missing, other shape, or no such day)."""
    if not isinstance(text, str) or not ISO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:  # 2005-02-30
        return None


def _fits(value: Decimal | None, column: str) -> bool | None:
    """Whether a number fits its warehouse column after rounding to the column's decimals."""
    if value is None:
        return None
    digits, decimals = STORED[column]
    if value.adjusted() < digits - 1:  # |value| < 10^(digits-1): no rounding carries it to 10^digits
        return True
    limit = Decimal(10) ** digits
    # abs() rounds to the context's precision (28 digits by default): compare in one wide enough.
    with localcontext(prec=max(digits + decimals + 2, len(value.as_tuple().digits) + 2)):
        if abs(value) >= limit:
            return False
        return abs(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP) < limit


# Wide enough that a report's total is exact when shown (Decimal's default context keeps 28 digits).
_WIDE = Context(prec=60)
# REPORT_TOTAL_LIMIT in satang: a report's total is added in whole satang (ints, exact), not Decimals.
_REPORT_TOTAL_LIMIT_SATANG = int(REPORT_TOTAL_LIMIT * 100)


@lru_cache(maxsize=65536)
def _stored_satang(text: str) -> int | None:
    """An amount's text as the warehouse stores it (rounded to 2 decimals, half up), in whole
    satang; None when it is not a number, negative or too large for its column. Cached: a batch
    repeats amounts."""
    value = _number(text)
    if value is None or value < 0 or not _fits(value, "allocated_thb"):
        return None
    return int(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP, context=_WIDE).scaleb(2, context=_WIDE))


def _baht(satang: int) -> Decimal:
    """Whole satang as the Decimal amount in baht with its 2 decimals (as a DECIMAL(18,2) sum shows it)."""
    return Decimal(satang).scaleb(-2, context=_WIDE)


def _number(text: object) -> Decimal | None:
    # Decimal, not float: "disbursed <= allocated" and "<= 100" must hold exactly as written.
    return Decimal(text) if isinstance(text, str) and NUMBER.match(text) else None


# --- the row suite ---------------------------------------------------------------------------

def _expectations() -> list:
    """Every per-row rule as a GE expectation; meta names the defect code and the column reported.

    No double reports, by construction: map expectations skip null cells, so a missing value gets
    only VALUE_REQUIRED; range rules read the derived *_num columns, which are null for a value
    that is not a number, so that one gets only NOT_A_NUMBER.
    """
    gx = _import_gx()
    from great_expectations.expectations.row_conditions import Column

    E = gx.expectations
    out: list = []

    def rule(expectation_class: type, /, *, code: str, report: str, **kwargs: Any) -> None:
        out.append(expectation_class(meta={"code": code, "column": report}, **kwargs))

    # Condition objects, which GE runs as DataFrame.query: a string row_condition with
    # condition_parser="pandas" still works but is deprecated since GX 1.9 and warns.
    of_type = {t: Column("line_type") == t for t in LINE_TYPES}
    for col in COLUMNS:
        if col.required == "always":
            rule(E.ExpectColumnValuesToNotBeNull, code="VALUE_REQUIRED", report=col.name, column=col.name)
        elif col.required in of_type:
            rule(E.ExpectColumnValuesToNotBeNull, code="VALUE_REQUIRED", report=col.name, column=col.name,
                 row_condition=of_type[col.required])

    rule(E.ExpectColumnValuesToMatchRegex, code="AGENCY_CODE_INVALID", report="agency_code",
         column="agency_code", regex=AGENCY_CODE.pattern)
    rule(E.ExpectColumnValuesToMatchRegex, code="PERIOD_INVALID", report="period",
         column="period", regex=PERIOD.pattern)
    # A date must have the ISO shape (ASCII digits) and exist: strptime rejects 2005-02-30.
    # Both rules fail on most bad dates; row_defects reports the cell once.
    rule(E.ExpectColumnValuesToMatchRegex, code="DATE_INVALID", report="submitted_on",
         column="submitted_on", regex=ISO_DATE.pattern)
    rule(E.ExpectColumnValuesToMatchStrftimeFormat, code="DATE_INVALID", report="submitted_on",
         column="submitted_on", strftime_format="%Y-%m-%d")
    rule(E.ExpectColumnValuesToBeInSet, code="LINE_TYPE_INVALID", report="line_type",
         column="line_type", value_set=list(LINE_TYPES))
    rule(E.ExpectColumnValuesToBeInSet, code="LAYER_INVALID", report="layer",
         column="layer", value_set=list(LAYERS))
    rule(E.ExpectColumnValuesToBeInSet, code="FUNDING_SOURCE_INVALID", report="funding_source",
         column="funding_source", value_set=list(FUNDING_SOURCES))
    for name in NUMERIC:
        rule(E.ExpectColumnValuesToMatchRegex, code="NOT_A_NUMBER", report=name, column=name, regex=NUMBER.pattern)
    for name in NUMERIC:  # a flag column: GE turns between-bounds into floats, too coarse at 1e16
        rule(E.ExpectColumnValuesToBeInSet, code="NUMBER_TOO_LARGE", report=name, column=FITS[name], value_set=[True])
    for name in ("allocated_thb", "disbursed_thb"):
        rule(E.ExpectColumnValuesToBeBetween, code="AMOUNT_NEGATIVE", report=name, column=NUM[name], min_value=0)
    # Compared only when both amounts are valid: a negative amount is already its own defect.
    rule(E.ExpectColumnPairValuesAToBeGreaterThanB, code="DISBURSED_OVER_ALLOCATED", report="disbursed_thb",
         column_A=NUM["allocated_thb"], column_B=NUM["disbursed_thb"], or_equal=True,
         row_condition=Column(COMPARABLE) == True)  # noqa: E712 (a Condition, not a comparison)
    rule(E.ExpectColumnValuesToBeBetween, code="PERCENT_OUT_OF_RANGE", report="actual",
         column=NUM["actual"], min_value=0, max_value=100, row_condition=Column(KPI_UNIT) == "percent")
    return out


# What GE imports on start-up only for expectations this suite does not hold: scipy.stats (for
# the KL-divergence and distribution expectations, bound at module level as `from scipy import
# stats`) is a third of GE's import (~0.7 of 2.1 CPU s, measured with -X importtime). It is loaded
# lazily: the module exists, and its code runs at its first attribute access, if any (nothing in
# a run makes one; Python 3.11's LazyLoader does not lock that first access against other threads).
DEFERRED_FOR_GE = ("scipy.stats",)


def _defer(name: str) -> None:
    """Put a lazily loaded `name` in sys.modules (importlib.util.LazyLoader, the stdlib's recipe
    for lazy imports), unless it is already imported or not installed."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)  # as an import binds a submodule on its package


def _import_gx() -> Any:
    """GE, imported quietly: its import trips Python's own DeprecationWarnings (sre_constants),
    which Prefect would otherwise log as WARNING lines in every run's output. Modules GE loads
    only for expectations outside the suite are deferred (DEFERRED_FOR_GE)."""
    if "great_expectations" not in sys.modules:
        for name in DEFERRED_FOR_GE:
            _defer(name)
    # A narrow filter, kept: catch_warnings() would save and restore the whole process's filter
    # list, which is not safe while another thread runs (flows/early.py builds GE in one).
    warnings.filterwarnings("ignore", message=_GE_IMPORT_WARNINGS, category=DeprecationWarning)
    import great_expectations as gx
    return gx


# What GE's import trips (its data connectors import the stdlib's deprecated regex internals).
_GE_IMPORT_WARNINGS = r"module 'sre_(constants|parse)' is deprecated"


def _columns_read(expectation: Any) -> set[str]:
    """The frame columns one expectation reads: its column or pair, and its row condition's column."""
    read = {getattr(expectation, name) for name in ("column", "column_A", "column_B") if getattr(expectation, name, None)}
    condition = getattr(expectation, "row_condition", None)
    if condition is not None:
        read.add(str(condition.column.name))
    return read


def rule_group(expectation: Any) -> str:
    """The RULE_GROUPS part that validates this expectation: the first whose columns (with the
    columns derived from them) hold every column the expectation reads."""
    for name, columns in RULE_GROUPS.items():
        held = {*columns, *(d for d, sources in DERIVED_FROM.items() if set(sources) <= set(columns))}
        if _columns_read(expectation) <= held:
            return name
    raise LookupError(f"no rule group holds the columns of {expectation!r}")


@cache
def _gx() -> tuple[Any, dict[str, tuple[Any, list[str]]]]:
    """(batch definition, {rule group: (its suite, the columns its rules read)}), built once per
    process: importing and setting up GE costs seconds.

    Ephemeral, in-memory stores and no data-docs site: nothing is written to disk (the default
    ephemeral config reserves a temporary docs directory). Analytics off, and the "Calculating
    Metrics" tqdm bars off through the context's progress_bars setting (TQDM_DISABLE is ignored).
    """
    gx = _import_gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig,
    )

    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    ))
    definition = (context.data_sources.add_pandas("report_rows")
                  .add_dataframe_asset("batch")
                  .add_batch_definition_whole_dataframe("whole_batch"))
    by_group: dict[str, list] = {name: [] for name in RULE_GROUPS}
    for expectation in _expectations():
        by_group[rule_group(expectation)].append(expectation)
    suites = {name: context.suites.add(gx.ExpectationSuite(name=f"report_rows_{name}", expectations=rules))
              for name, rules in by_group.items() if rules}
    read = {name: sorted(set().union(*map(_columns_read, rules))) for name, rules in by_group.items() if rules}
    return definition, {name: (suite, read[name]) for name, suite in suites.items()}


_gx_lock = threading.Lock()


def warm_ge() -> None:
    """Build `_gx()` under its lock: `pilotkpi run` does it in a background thread while Prefect's
    server starts (flows/early.py, timed there as `ge_warm`), and `serve`'s forkserver once for all
    its nights (flows/warm_preload.py)."""
    with _gx_lock:
        _gx()


def ge_built() -> bool:
    """Whether this process has `_gx()` built already (a served night's forkserver built it)."""
    return bool(_gx.cache_info().currsize)


def prepare_ge() -> tuple[Any, dict[str, tuple[Any, list[str]]]]:
    """`_gx()` for a batch's validation, never built twice. Built here, its time is GE's (`ge`);
    still being built by the warm-up thread, the wait is `ge_wait` (the build is its `ge_warm`:
    GE's seconds are not counted twice)."""
    if _gx.cache_info().currsize:
        return _gx()
    if _gx_lock.acquire(blocking=False):
        try:
            with stage("ge"):
                return _gx()
        finally:
            _gx_lock.release()
    with stage("ge_wait"), _gx_lock:
        return _gx()


def _failures(definition: Any, suite: Any, df: pd.DataFrame) -> list[tuple[Any, list[int]]]:
    """(expectation, the DISTINCT numbers of the rows it fails on) for each rule of the suite that
    fails on the frame. A rule that could not run is an error (GE puts it in exception_info).

    By GE's own validator: what `Batch.validate` runs, without first loading the batch itself
    (`definition.get_batch`), which the validator loads again; each load fingerprints the whole
    frame (pandas' hash of every cell). One validator, so one load, for both questions: the
    suite's verdicts, then each failing rule's failures (a suite of one rule: both at once, in
    one pass; the amounts' pair rule fails in most national batches). Nothing is stored: not a
    ValidationDefinition, whose run also keeps every result in the context's results store."""
    from great_expectations.validator.v1_validator import Validator

    with ge_memo.remembering():  # GE's bookkeeping once per object within the run (pilots/ge_memo.py)
        return _validate_part(Validator, definition, suite, df)


def _validate_part(Validator: type, definition: Any, suite: Any, df: pd.DataFrame) -> list[tuple[Any, list[int]]]:
    # A part of one rule is asked for its failures at once: its verdict would only say whether to ask.
    single = len(suite.expectations) == 1
    validator = Validator(batch_definition=definition, batch_parameters={"dataframe": df},
                          result_format=FAILURES_FORMAT if single else VERDICT_FORMAT)
    verdicts = validator.validate_expectation_suite(suite)
    if verdicts.success:
        return []
    if single:
        return [(suite.expectations[0], _hits(suite.expectations[0], verdicts.results[0]))]
    failed_ids = {res.expectation_config.id for res in verdicts.results if not res.success}
    validator.result_format = FAILURES_FORMAT
    return [(expectation, _hits(expectation, validator.validate_expectation(expectation)))
            for expectation in suite.expectations if expectation.id in failed_ids]


def _hits(expectation: Any, result: Any) -> list[int]:
    """The DISTINCT numbers of the rows a rule failed on, from its result in FAILURES_FORMAT."""
    hits = result.result.get("unexpected_index_list")
    if hits is None:
        raise RuntimeError(f"row rule {expectation.meta['code']} on {expectation.meta['column']} "
                           f"could not run: {result.exception_info}")
    return [int(hit[DISTINCT]) for hit in hits]


class _Codes:
    """The batch's columns factorised, each once however many parts read it: for every row the
    number of its value (numbered in order of first appearance, every missing value one value, as
    groupby(sort=False, dropna=False) numbers its groups), and the distinct values. Hashing a
    column once in C replaces a Python look-up per row or per combination (a batch of 1,000 files
    has 50,000 rows, nearly all with their own disbursed amount)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self._of: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(each row's number, the distinct values in number order; a missing one as NaN)."""
        if column not in self._of:
            self._of[column] = _numbered(self.frame[column])
        return self._of[column]


def _numbered(cells: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize(cells, use_na_sentinel=False), as _Codes gives it, in one pass: factorize's own
    way first looks for missing values in a pass of its own (isna, then a copy with NaN for them),
    a third of its time on a batch's columns. Here the hash table skips them (-1), and they are
    numbered after: the one number the missing values share is the count of distinct values
    before the first of them, and every value first seen after it is numbered one more."""
    numbers, values = pd.factorize(cells, use_na_sentinel=True)
    numbers = numbers.astype(np.int64, copy=False)
    missing = numbers < 0
    if not missing.any():
        return numbers, _objects(values)
    first = int(missing.argmax())
    at = int(numbers[:first].max()) + 1 if first else 0  # numbers go up by one at each new value
    numbers = numbers + (numbers >= at)  # the -1s are below `at`: left as they are
    numbers[missing] = at
    return numbers, _objects([*values[:at], np.nan, *values[at:]])


def _objects(values: Iterable[object]) -> np.ndarray:
    """A 1-d object array of the values as they are (numpy would unpack a value that is a sequence)."""
    values = list(values)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _rows_of(keys: np.ndarray, files: list[int]) -> np.ndarray | None:
    """Which rows of the batch belong to these files (None: no file)."""
    return np.isin(keys, files) if files else None


def _distinct(frame: pd.DataFrame, columns: tuple[str, ...], codes: _Codes | None = None,
              left_out: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The distinct combinations of `columns` in the frame (numbered 0.. by DISTINCT, in order of
    first appearance, each with the values of its first row), for each row of the frame the number
    of its combination, and the first row of each combination (in number order). Rows `left_out`
    (a mask) are in no combination: their number is the count of combinations, one past the last."""
    codes = codes or _Codes(frame)
    of_row = codes(columns[0])[0]
    for column in columns[1:]:  # one column more at a time: a number below rows² fits in an int64
        of_value = codes(column)[0]
        of_row = pd.factorize(of_row * (int(of_value.max()) + 1) + of_value)[0]
    if left_out is not None:
        kept = np.flatnonzero(~left_out)
        numbers, uniques = pd.factorize(of_row[kept])
        of_row = np.full(len(of_row), len(uniques), dtype=np.int64)
        of_row[kept] = numbers
        first = kept[np.unique(numbers, return_index=True)[1]]
    else:
        first = np.unique(of_row, return_index=True)[1]  # the first row of each number, in number order
    distinct = frame[list(columns)].iloc[first].reset_index(drop=True)
    distinct.insert(0, DISTINCT, pd.RangeIndex(len(first)))
    return distinct, of_row, first


AMOUNTS = ("allocated_thb", "disbursed_thb")


class _Parsed(NamedTuple):
    """One number column's distinct texts (in _Codes' order), each parsed once."""
    value: np.ndarray | None  # Decimal, or None when not a number (amounts read in satang: not made)
    fits: np.ndarray          # whether it fits its warehouse column (None: not a number)
    satang: np.ndarray | None  # amounts: in satang (_satang: NaN for no number), None where not exact
    comparable: np.ndarray | None  # amounts: a number >= 0


def _parse_numbers(df: pd.DataFrame, codes: _Codes | None = None) -> tuple[dict[str, _Parsed], bool]:
    """Each distinct text of the batch's number columns, parsed once: {column: _Parsed}; and
    whether the amount rules read the amounts in satang (_satang): only when every amount of the
    batch converts exactly, so that the pair rule compares the two in one unit.

    The amount rules (>= 0; allocated >= disbursed) give the same verdict on exact satang as on
    the Decimals, and GE runs them vectorised on a float column instead of one Python comparison
    per value on objects (its fingerprint of the frame, too, hashes floats, not Decimals' texts):
    a batch's amounts are nearly all distinct, so these rules see nearly every row. Their usual
    shape (PLAIN_AMOUNT) is read in satang straight from the digits; their Decimals are made only
    when the batch is not read in satang."""
    codes = codes or _Codes(df)
    parsed = {}
    for name in NUMERIC:
        texts = codes(name)[1]
        if name in AMOUNTS:
            parsed[name] = _Parsed(None, *_parse_amounts(texts, name))
        else:
            values = [_number(text) for text in texts]
            parsed[name] = _Parsed(_objects(values), _objects(_fits(value, name) for value in values), None, None)
    in_satang = not any(np.equal(parsed[name].satang, None).any() for name in AMOUNTS)
    if not in_satang:  # the amounts as Decimals after all
        for name in AMOUNTS:
            parsed[name] = parsed[name]._replace(value=_objects(_number(text) for text in codes(name)[1]))
    return parsed, in_satang


# An amount as agencies nearly always write it: up to 13 digits, up to 2 decimals, no sign. Such an
# amount is below 10^13 baht, so it fits DECIMAL(18,2) (_fits), is >= 0, and is a whole number of
# satang below 10^15 < 2^53 (_satang): exact in a float.
PLAIN_AMOUNT = re.compile(r"^([0-9]{1,13})(?:\.([0-9]{1,2}))?\Z")


def _parse_amounts(texts: np.ndarray, column: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fits, satang, comparable) of each of an amount column's distinct texts, as _amount gives
    them: a PLAIN_AMOUNT text in bulk, from its float (exact, see _plain_satang), any other by its
    Decimal. A batch's amounts are nearly all distinct and nearly all plain."""
    plain = PLAIN_AMOUNT.match
    is_plain = np.fromiter((text.__class__ is str and plain(text) is not None for text in texts), dtype=bool,
                           count=len(texts))
    satang = np.full(len(texts), None, dtype=object)
    # _plain_satang in bulk: numpy casts each text to float64 by Python's own float(text)
    # (PyNumber_Float), and rint rounds half to even as round() does; the cells are Python floats.
    satang[is_plain] = np.rint(texts[is_plain].astype(np.float64) * 100)
    fits = np.full(len(texts), True, dtype=object)
    comparable = np.ones(len(texts), dtype=bool)
    for at in np.flatnonzero(~is_plain):  # not plain: by its Decimal
        fits[at], satang[at], comparable[at] = _amount(texts[at], column)
    return fits, satang, comparable


def _plain_satang(text: str) -> float:
    """A PLAIN_AMOUNT text in satang, from its float: exact. The text's value x is below 10^13
    with at most 2 decimals; float(text) is within x * 2^-53 of it and the product with 100 within
    as much again, so float(text) * 100 is within 10^15 * 2^-52 < 0.25 of the whole number 100x
    (below 2^53, so exact in a float), and round() gives that number."""
    return float(round(float(text) * 100))


def _plain_amount(text: object) -> tuple[bool, float, bool] | None:
    """(fits, satang, comparable) of a PLAIN_AMOUNT text, as _amount gives them, without a
    Decimal (_parse_amounts' way); None for any other text."""
    if not isinstance(text, str) or PLAIN_AMOUNT.match(text) is None:
        return None
    return True, _plain_satang(text), True


def _amount(text: object, column: str) -> tuple[bool | None, float | None, bool]:
    """(fits, satang, comparable: a number >= 0) of any amount's text, by its Decimal."""
    value = _number(text)
    return _fits(value, column), _satang(value), value is not None and value >= 0


# Below 2^53 a whole number is exact in a float64.
_EXACT_IN_FLOAT = Decimal(2) ** 53
# A context that never rounds: in the default one (28 significant digits), scaleb would turn
# 1.0000000000000000000000000001 baht into a whole 100 satang.
_UNROUNDED = Context(prec=MAX_PREC)


def _satang(value: Decimal | None) -> float | None:
    """An amount in satang (hundredths of a baht) as a float when that is exact: a whole number of
    satang below 2^53 (90 trillion baht); NaN for no number; None when not exact."""
    if value is None:
        return np.nan
    satang = value.scaleb(2, context=_UNROUNDED)
    if satang != satang.to_integral_value(context=_UNROUNDED) or abs(satang) >= _EXACT_IN_FLOAT:
        return None
    return float(satang)


def _derive(distinct: pd.DataFrame, first: np.ndarray, codes: _Codes, parsed: dict[str, _Parsed],
            in_satang: bool) -> pd.DataFrame:
    """The derived columns the suite reads, added to a part's distinct combinations (`first`: the
    batch row of each), from the batch's parsed numbers (_parse_numbers): each number (amounts in
    satang when `in_satang`), whether it fits its warehouse column, and whether the two amounts
    are comparable. Taken by the numbers of the texts (numpy indexing), not looked up per row."""
    at: dict[str, np.ndarray] = {}
    for name, num in NUM.items():
        if name in distinct:
            at[name] = codes(name)[0][first]  # each combination's text, by its number
            known = parsed[name]
            if in_satang and name in AMOUNTS:
                distinct[num] = pd.Series(known.satang[at[name]].astype("float64"), dtype="float64")
            else:
                distinct[num] = pd.Series(known.value[at[name]], dtype=object)
            distinct[FITS[name]] = pd.Series(known.fits[at[name]], dtype=object)
    if all(name in at for name in AMOUNTS):
        distinct[COMPARABLE] = pd.Series(np.logical_and(*(parsed[name].comparable[at[name]] for name in AMOUNTS)),
                                         dtype=bool)
    return distinct


def _with_kpi_units(frame: pd.DataFrame, registry: Registry,
                    agencies: Mapping[int, str | None] | None = None) -> pd.DataFrame:
    """The batch frame (a clean index) with each kpi row's unit from the registry (KPI_UNIT): a
    restricted pilot's for its lead agency's files only (pilots/kpi_units.py), so that its percent
    KPIs' range rule judges no other agency's lines. agencies: each file's agency by file_key
    (file_agency; without it, from the frame's rows)."""
    df = frame.reset_index(drop=True)
    units = registry.kpi_units()
    unit = np.full(len(df), None, dtype=object)
    at = np.flatnonzero(df["line_type"].to_numpy() == "kpi")  # a few lines in a hundred: looked up alone
    pilots, items = df["pilot_id"].to_numpy()[at], df["item_code"].to_numpy()[at]
    found = [units.get((p, i)) for p, i in zip(pilots, items)]  # an open pilot's (a restricted one's: none)
    restricted = {key[0] for key in units if len(key) == 1}
    if restricted:  # a restricted pilot's lines: whose file they are in matters (its agency, once a file)
        keys = df["file_key"].to_numpy()[at]
        of_file: dict[int, str | None] = {}
        for j in (j for j, p in enumerate(pilots) if p in restricted):
            key = int(keys[j])
            if key not in of_file:
                of_file[key] = (agencies.get(key) if agencies is not None
                                else file_agency(df.loc[df["file_key"] == key, "agency_code"]))
            u = kpi_unit(units, pilots[j], items[j], of_file[key])
            found[j] = None if u == NOT_JUDGED else u
    unit[at] = _objects(found)
    return df.assign(**{KPI_UNIT: pd.Series(unit, dtype=object)})


def row_defects(frame: pd.DataFrame, registry: Registry,
                missing: Mapping[int, Collection[str]] | None = None,
                agencies: Mapping[int, str | None] | None = None) -> list[tuple[int, Issue]]:
    """Per-row defects of a batch frame (file_key, row_number and the canonical columns).

    Returns (file_key, Issue) pairs, ordered by file, row, column (contract order) and code.
    (file_key, row_number) must identify a row. Each RULE_GROUPS part of the suite validates the
    distinct combinations of its columns; a failing combination is reported on every row holding it.

    `missing`: {file_key: the canonical columns that file lacks}. A missing column is reported
    once for the whole file by the reader, so no row defect is reported in it here; and a part
    leaves out the rows of a file lacking every column its rules report on, since nothing it could
    find there would be reported (the national files that lack `disbursed_thb` made the disbursed
    part fail VALUE_REQUIRED in nearly every batch, and pay GE a second pass for its failures).

    `agencies`: {file_key: the file's agency} (pilots/kpi_units.file_agency, with a JSON document's
    top-level agency): a restricted pilot's KPI units apply to its lead agency's files only.
    Without it, each file's agency is the one most of its rows in the frame hold.
    """
    if frame.empty:
        return []
    definition, suites = prepare_ge()  # GE's setup, timed as GE's own share (issue 12)
    df = _with_kpi_units(frame, registry, agencies)
    codes = _Codes(df)
    parsed, in_satang = _parse_numbers(df, codes)
    keys, numbers = df["file_key"].to_numpy(), df["row_number"].to_numpy()
    lacking = {key: frozenset(columns) for key, columns in (missing or {}).items() if columns}
    parts = {}
    for name, (suite, read) in suites.items():
        reported = {expectation.meta["column"] for expectation in suite.expectations}
        left_out = _rows_of(keys, [key for key, columns in lacking.items() if reported <= columns])
        distinct, of_row, first = _distinct(df, RULE_GROUPS[name], codes, left_out)
        # Each part's frame holds only the columns its rules read: GE hashes and filters every column.
        parts[name] = (_derive(distinct, first, codes, parsed, in_satang)[[DISTINCT, *read]], of_row)
    with stage("ge"):
        failures = {name: _failures(definition, suite, parts[name][0]) if len(parts[name][0]) else []
                    for name, (suite, read) in suites.items()}

    failed: list[tuple[int, int, int, str, str, int]] = []  # (file_key, row_number, column order, code, column, row)
    for name, found_in_part in failures.items():
        distinct, of_row = parts[name]
        for expectation, hits in found_in_part:
            code, column = expectation.meta["code"], expectation.meta["column"]
            failing = np.zeros(len(distinct) + 1, dtype=bool)  # + 1: the number of the rows left out
            failing[hits] = True
            failed.extend((int(keys[at]), int(numbers[at]), _COLUMN_ORDER[column], code, column, int(at))
                          for at in np.flatnonzero(failing[of_row])
                          if column not in lacking.get(int(keys[at]), ()))
    # The values as given, for messages: only the failing rows are turned into dicts.
    at = sorted({row for *_, row in failed})
    records = dict(zip(at, frame.reset_index(drop=True).iloc[at].to_dict("records")))
    found: dict[tuple[int, int, int, str], Issue] = {}
    for file_key, row_number, order, code, column, row in failed:
        key = (file_key, row_number, order, code)
        if key not in found:  # two rules for one defect (dates) report the cell once
            found[key] = make_issue(code, row_number, column, **_params(code, column, records[row]))
    return [(key[0], found[key]) for key in sorted(found)]


def _params(code: str, column: str, row: dict[str, Any]) -> dict[str, object]:
    """Message parameters, from the row's values as the agency wrote them (after normalising)."""
    values = {"column": column, "value": row[column], "digits": STORED.get(column, (None,))[0],
              "disbursed": row["disbursed_thb"], "allocated": row["allocated_thb"]}
    return {name: values[name] for name in catalogue()[code].params}


# --- the file rules --------------------------------------------------------------------------

def _majority(counts: Counter, column: str) -> str | None:
    """The valid value most rows hold in `column` (`counts`: how many rows hold each value, in
    the order of the rows); the earliest row breaks a tie.

    Counted over every value, then judged once per distinct value: a Counter keeps its keys in
    the order first seen, so the first valid top value is the one the earliest row holds."""
    valid = {value: n for value, n in counts.items() if _valid(column, value)}
    if not valid:
        return None
    top = max(valid.values())
    return next(value for value, n in valid.items() if n == top)


def _valid(column: str, value: object) -> bool:
    """Whether a header field holds a value the row suite accepts (so file rules may use it)."""
    if value is None:
        return False
    if column == "agency_code":
        return bool(AGENCY_CODE.match(value))
    if column == "period":
        return bool(PERIOD.match(value))
    if column == "submitted_on":
        return _iso_date(value) is not None
    return True


# The value columns a line type does not use (agency-report-v1.md's column table: layer, the
# amounts and the funding source are for budget lines, actual for kpi lines). A value there was
# dropped without a word (verifier V7): an amount typed on a kpi line, or a line typed as the
# wrong kind, looked accepted. Reading: the spec lists no defect for it and the rest of the line
# is sound, so a warning (VALUE_NOT_USED) names the row, the column and the value; the file is
# accepted as before, and nothing of its figures changes.
UNUSED_COLUMNS = {"kpi": ("layer", "allocated_thb", "disbursed_thb", "funding_source"), "budget": ("actual",)}


def _value_not_used(row: dict, n: int, line_type: str, column: str) -> Issue:
    return make_issue("VALUE_NOT_USED", n, column, column=column, value=row[column],
                      line_type=detail("VALUE_NOT_USED", line_type))


def file_defects(rows: pd.DataFrame | list[dict], registry: Registry, as_of: date,
                 declared: dict[str, str] | None = None) -> list[Issue]:
    """Cross-row and registry-aware defects of ONE file (its rows of the batch frame, or the same
    rows as dicts: the batch's files need no frame of their own here).

    The file's identity (pilot, agency, period, submitted_on) is the value most of its rows hold
    (ties go to the earliest row): when one row's agency differs from four others, that one row
    is blamed with ROWS_DISAGREE, not the four correct ones. A rule whose input is missing or
    invalid is skipped (the row suite has reported that input). Identity defects are located on
    the first row holding the identity; line defects on the line concerned.

    `declared`: the identity a JSON document states at its top level (NormalisedFile.declared,
    canonical and valid fields only). It is the submission's identity (scoring.md §6), so it is
    the expected value, however many lines say otherwise: a line that carries its own, different
    pilot, agency, period or date is JSON_LINE_DISAGREES (the reader let the line's own field win,
    and a document whose every line said 2548-Q2 under a top-level 2548-Q1 was accepted as Q2).
    """
    records = (rows.sort_values("row_number").to_dict("records") if isinstance(rows, pd.DataFrame)
               else sorted(rows, key=itemgetter("row_number")))
    if not records:
        return []
    issues: list[Issue] = []
    counts = {column: Counter(map(itemgetter(column), records)) for column in HEADER_FIELDS}
    declared = declared or {}
    first = {column: declared.get(column) or _majority(counts[column], column) for column in HEADER_FIELDS}
    first_row = int(records[0]["row_number"])

    # One file = one report: every row repeats the identity the document states, else the one
    # that most rows hold.
    for column in HEADER_FIELDS:
        expected = first[column]
        if column in declared:
            issues.extend(make_issue("JSON_LINE_DISAGREES", int(r["row_number"]), column, column=column,
                                     value=r[column], expected=expected)
                          for r in records if r[column] != expected and _valid(column, r[column]))
            continue
        if expected is None or len(counts[column]) == 1:  # one value in every row: the expected one
            continue
        for r in records:
            if r[column] != expected and _valid(column, r[column]):
                issues.append(make_issue("ROWS_DISAGREE", int(r["row_number"]), column,
                                         column=column, value=r[column], expected=expected))
    if first["pilot_id"] is not None:
        first_row = next((int(r["row_number"]) for r in records if r["pilot_id"] == first["pilot_id"]), first_row)

    pilot_id = first["pilot_id"]
    agency = first["agency_code"] if _valid("agency_code", first["agency_code"]) else None
    period = first["period"] if _valid("period", first["period"]) else None
    submitted = _iso_date(first["submitted_on"])
    period_start, period_end = period_bounds(period) if period else (None, None)

    # Dates need no registry.
    if submitted and period_start and submitted < period_start:
        issues.append(make_issue("SUBMITTED_BEFORE_PERIOD", first_row, "submitted_on",
                                 submitted_on=submitted.isoformat(), period_start=period_start.isoformat()))
    if submitted and submitted > as_of:
        issues.append(make_issue("SUBMITTED_IN_FUTURE", first_row, "submitted_on",
                                 submitted_on=submitted.isoformat(), as_of=as_of.isoformat()))

    pilot = registry.pilots.get(pilot_id) if pilot_id is not None else None
    if pilot_id is not None and pilot is None:
        issues.append(make_issue("PILOT_UNKNOWN", first_row, "pilot_id", value=pilot_id))
    role = pilot.role_of(agency) if pilot and agency else None
    if pilot and period_start and (period_end < pilot.start or period_start > pilot.end):
        issues.append(make_issue("PERIOD_OUTSIDE_PILOT", first_row, "period", period=period,
                                 start=pilot.start.isoformat(), end=pilot.end.isoformat()))
    if pilot and agency and role is None:
        issues.append(make_issue("AGENCY_NOT_PARTICIPANT", first_row, "agency_code",
                                 agency=agency, pilot=pilot_id))

    # Line rules. Role rules need a known role (a non-participant is already reported above);
    # repetition rules need no registry. The role's verdicts are the same on every line: judged once.
    kpi_not_lead = role is not None and role != "lead"
    # A restricted pilot's KPI codes are judged for its lead agency only: they are in the
    # restricted store alone (warehouse.md), and KPI_UNKNOWN for one code and nothing for another
    # would tell any other agency which exist. Its file is quarantined all the same, for
    # AGENCY_NOT_PARTICIPANT (a stranger) or KPI_NOT_LEAD (a participant that does not lead).
    # Its KPIs' units likewise (pilots/kpi_units.py): the normaliser's `%` and `บาท` and the
    # percent range rule of row_defects judge its lead's files only.
    judge_kpi_codes = pilot is not None and (pilot.classification != "restricted" or role == "lead")
    from_advisory = role == "advisory"
    support_not_supporting = role is not None and role != "supporting"
    first_kpi: dict[str, int] = {}
    first_budget: dict[tuple[str, str], int] = {}
    # The report's allocated amounts so far, in whole satang as stored (None once one is missing,
    # not a number, negative or too large for its column: the row suite reports those, and no
    # total is judged then, so one cell gets one defect).
    total: int | None = 0
    over_limit = False
    for r in records:
        n, item, line_type = int(r["row_number"]), r["item_code"], r["line_type"]
        for column in UNUSED_COLUMNS.get(line_type, ()):  # inline: every line of the night passes here
            if r.get(column) is not None and r[column] != "":
                issues.append(_value_not_used(r, n, line_type, column))
        if line_type == "kpi":
            if kpi_not_lead:
                issues.append(make_issue("KPI_NOT_LEAD", n, "line_type", agency=agency, pilot=pilot_id))
            if item is None:
                continue
            if judge_kpi_codes and pilot.kpi(item) is None:
                issues.append(make_issue("KPI_UNKNOWN", n, "item_code", value=item, pilot=pilot_id))
            if item in first_kpi:
                issues.append(make_issue("KPI_REPEATED", n, "item_code", value=item, first_row=first_kpi[item]))
            else:
                first_kpi[item] = n
        elif line_type == "budget":
            source = r["funding_source"]
            if from_advisory:
                issues.append(make_issue("BUDGET_FROM_ADVISORY", n, "line_type", agency=agency))
            if source == "support_contribution" and support_not_supporting:
                issues.append(make_issue("SUPPORT_NOT_SUPPORTING", n, "funding_source", agency=agency,
                                          role=detail("SUPPORT_NOT_SUPPORTING", role)))
            if total is not None:
                allocated = r["allocated_thb"]
                amount = _stored_satang(allocated) if isinstance(allocated, str) else None
                total = None if amount is None else total + amount
                if total is not None and total >= _REPORT_TOTAL_LIMIT_SATANG and not over_limit:
                    over_limit = True  # reported once, on the line that reaches the limit
                    issues.append(make_issue("BUDGET_TOTAL_TOO_LARGE", n, "allocated_thb",
                                             total=f"{_baht(total):,.2f}",
                                             maximum=f"{REPORT_TOTAL_LIMIT - Decimal('0.01'):,.2f}"))
            if item is None or source not in FUNDING_SOURCES:
                continue
            if (item, source) in first_budget:
                issues.append(make_issue("BUDGET_LINE_REPEATED", n, "item_code", value=item,
                                         funding_source=source, first_row=first_budget[(item, source)]))
            else:
                first_budget[(item, source)] = n
    return issues
