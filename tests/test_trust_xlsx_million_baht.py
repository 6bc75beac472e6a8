"""Excel amounts shown in million baht, through two nights.

agency-report-v1.md reads `1.25 ล้านบาท` (million baht) as 1,250,000 where a unit of baht may
stand, and a percentage cell as what it shows (82.5% stored as 0.825 is 82.5). Thai budget sheets
often type amounts in millions under a number format with the unit as literal text,
`#,##0.00 "ล้านบาท"`: the cell shows `1.25 ล้านบาท` and stores 1.25. The reader gave the stored
1.25: an allocation of 1.25 baht, accepted without a word, and every budget figure of the pilot
wrong by a factor of a million. Now such a cell is read as what it shows, in baht (xlsx_reader
`_as_shown` gives the text `1250000 บาท`), so the normaliser applies the spec's rule: 1,250,000 on
an amount; on a percent KPI's actual, not a number. The units of baht a format may show are a
fixed table of whole words, บาท to ล้านล้านบาท (10^0 .. 10^12): `#,##0 "พันบาท"` with 1,250 stored
is 1,250,000; `#,##0,"พันบาท"` (each trailing comma divides by 1,000) with 1,250,000 stored shows
1,250 พันบาท, 1,250,000. A word that merely holds พัน or ล้าน (พันธุ์, varieties, a count) is no
unit: the stored number. (T3's first reading took any literal holding พัน, หมื่น, แสน or ล้าน as
a scale, NOT_A_NUMBER unless it held ล้านบาท, and so quarantined an honest count shown `90 พันธุ์`
and read พันล้านบาท as million baht; the review's findings H1-H3, M1, M2, L1 are tested below.)

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest

from pilots.normalise import parse_number
from pilots.readers import read_report, xlsx_reader
from tests.hostile import clean_night
from tests.test_flow import HEADER, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query

D = Decimal
P = "PLT-2548-003"
IN_MILLIONS = '#,##0.00 "ล้านบาท"'
SCALED_TO_MILLIONS = '#,##0.00,, "ล้านบาท"'
COLUMNS = HEADER.split(",")


def report(period: str, submitted: str, lines: list[tuple[str, str, int | None, dict]], agency: str = "03009") -> bytes:
    """An agency's report (the lead's by default): per line its type, item code, layer, and
    {column: value or (value, number format)}."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "report"
    sheet.append(COLUMNS)
    for line_type, code, layer, cells in lines:
        sheet.append([P, agency, period, submitted, line_type, code, layer])
        for column, cell in cells.items():
            value, number_format = cell if isinstance(cell, tuple) else (cell, None)
            target = sheet.cell(row=sheet.max_row, column=COLUMNS.index(column) + 1, value=value)
            if number_format:
                target.number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


Q1 = report("2548-Q1", "2005-01-20", [
    ("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 60}),
    ("budget", "ACT-1", 3, {"allocated_thb": (1.25, IN_MILLIONS), "disbursed_thb": (0.3, IN_MILLIONS),
                            "funding_source": "lead_integrated"}),
    ("budget", "ACT-2", 3, {"allocated_thb": 250_000, "disbursed_thb": 100_000, "funding_source": "own"}),
    ("budget", "ACT-3", 3, {"allocated_thb": (500_000, SCALED_TO_MILLIONS), "disbursed_thb": 0,
                            "funding_source": "own"})])


def test_amounts_shown_in_million_baht_are_read_as_shown(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"

    # Night 1: the lead's Q1 with amounts in million baht; and its Q2 whose K1 actual (a percent
    # KPI) sits in a cell shown as 55 ล้านบาท, with a budget line allocated 1,250 พันบาท.
    (inbox / "a_lead_q1.xlsx").write_bytes(Q1)
    (inbox / "b_lead_q2.xlsx").write_bytes(report("2548-Q2", "2005-04-20", [
        ("kpi", "K1", None, {"actual": (55, '0 "ล้านบาท"')}), ("kpi", "K2", None, {"actual": 90}),
        ("budget", "ACT-4", 3, {"allocated_thb": (1_250, '#,##0 "พันบาท"'), "disbursed_thb": 0,
                                "funding_source": "own"})]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: both accepted.
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out
    assert query(wh, "SELECT activity_code, allocated_thb, disbursed_thb FROM core.budget_lines ORDER BY 1") == [
        # Before: ACT-1 1.25 and 0.30 baht.
        ("ACT-1", D("1250000.00"), D("300000.00")), ("ACT-2", D("250000.00"), D("100000.00")),
        ("ACT-3", D("500000.00"), D("0.00"))]
    # scoring.md: total 1,250,000 + 250,000 + 500,000 = 2,000,000, all the lead's (integrated);
    # disbursed 300,000 + 100,000 = 400,000; rate 400,000 / 2,000,000 = 0.2. Before: 750,001.25
    # and 100,000.30 (0.1333).
    assert query(wh, "SELECT total_allocated_thb, integrated_thb, integration_ratio, disbursed_thb, disbursement_rate "
                     "FROM marts.budget_integration WHERE period = '2548-Q1'") == [
        (D("2000000.00"), D("2000000.00"), D("1.0000"), D("400000.00"), D("0.2000"))]
    # "55 ล้านบาท" on a percent KPI: a unit of baht stands only on amounts and baht KPIs (Units).
    # ACT-4's "1,250 พันบาท" is 1,250,000 baht, no defect (T3: NOT_A_NUMBER). Before: K1 55 and
    # ACT-4 1,250 baht, accepted.
    assert [issue[:3] for issue in issues_of(wh, "b_lead_q2.xlsx")] == [(2, "actual", "NOT_A_NUMBER")]
    # Q1: K1 47 -> 3.7, K2 60 (Q1 [25..125]) -> 2.4: 3.18. Q2: no accepted file. Before: 3.9.
    assert query(wh, "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period") == [
        ("2548-Q1", D("3.1800")), ("2548-Q2", None)]

    # Night 2: the lead's Q2 with its K1 actual a plain number; K2's 90 shown as "90 พันธุ์"
    # (varieties: a count, no unit of baht), read 90 (Q2 3.9; T3: NOT_A_NUMBER, quarantined); its
    # amounts in other units of baht: ACT-4 1,250 พันบาท and, stored 1,000,000 under #,##0,"พันบาท",
    # 1,000 พันบาท; ACT-5 0.0025 พันล้านบาท (thousand million) and 0.5 ล้านบาท. Q1's figures kept.
    clean_night(registry, inbox, tmp_path, {"c_lead_q2.xlsx": report("2548-Q2", "2005-04-21", [
        ("kpi", "K1", None, {"actual": 55}), ("kpi", "K2", None, {"actual": (90, '#,##0 "พันธุ์"')}),
        ("budget", "ACT-4", 3, {"allocated_thb": (1_250, '#,##0 "พันบาท"'),
                                "disbursed_thb": (1_000_000, '#,##0,"พันบาท"'), "funding_source": "own"}),
        ("budget", "ACT-5", 3, {"allocated_thb": (0.0025, '0.0000 "พันล้านบาท"'),
                                "disbursed_thb": (0.5, '0.0 "ล้านบาท"'), "funding_source": "own"})])})
    assert query(wh, "SELECT activity_code, allocated_thb, disbursed_thb FROM core.budget_lines "
                     "WHERE period = '2548-Q2' ORDER BY 1") == [
        ("ACT-4", D("1250000.00"), D("1000000.00")), ("ACT-5", D("2500000.00"), D("500000.00"))]
    # Q2: total 1,250,000 + 2,500,000 = 3,750,000, all the lead's; disbursed 1,000,000 + 500,000 =
    # 1,500,000; rate 1,500,000 / 3,750,000 = 0.4.
    assert query(wh, "SELECT period, total_allocated_thb, integrated_thb, integration_ratio, disbursed_thb, "
                     "disbursement_rate FROM marts.budget_integration ORDER BY period") == [
        ("2548-Q1", D("2000000.00"), D("2000000.00"), D("1.0000"), D("400000.00"), D("0.2000")),
        ("2548-Q2", D("3750000.00"), D("3750000.00"), D("1.0000"), D("1500000.00"), D("0.4000"))]


# --- one cell at a time: what the reader gives for a number under a format -------------------
# Each expected amount is the cell as Excel shows it, in baht: stored x 1000^-(trailing commas) x
# the word's power of ten, by hand. A format that shows no Thai unit of baht gives the stored
# number, as before (main).

def read_cells(cells: list[tuple[object, str]]) -> list[str]:
    """What the xlsx reader gives for each (stored value, number format) cell, in order."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "report"
    sheet.append(["pilot_id", "actual"])
    for value, number_format in cells:
        sheet.append([P, value])
        sheet.cell(row=sheet.max_row, column=2).number_format = number_format
    out = io.BytesIO()
    book.save(out)
    return [row[1] for _, row in read_report("cells.xlsx", out.getvalue()).rows]


def as_amount(text: str) -> Decimal | str:
    """A cell's text as the normaliser reads it on an amount, as a number (else the text: a
    defect)."""
    read = parse_number(text, allow_percent=False, allow_baht=True)
    return text if read is None else D(read)


@pytest.mark.parametrize("stored, number_format, baht", [
    (1.25, IN_MILLIONS, D("1250000")),                          # shows 1.25 ล้านบาท
    (500_000, SCALED_TO_MILLIONS, D("500000")),                 # shows 0.50 ล้านบาท
    # M1: shows 1,250 พันบาท, i.e. 1,250,000 baht (T3: NOT_A_NUMBER; main 1250000).
    (1_250_000, '#,##0,"พันบาท"', D("1250000")),
    (1_250, '#,##0 "พันบาท"', D("1250000")),                    # shows 1,250 พันบาท
    # H2: พันล้านบาท is a thousand million (T3: read as ล้านบาท, 2,500,000, accepted).
    (2.5, '#,##0.00 "พันล้านบาท"', D("2500000000")),
    (2_500_000_000, '#,##0.0,,,"พันล้านบาท"', D("2500000000")),  # shows 2.5 พันล้านบาท
    (3, '0 "หมื่นบาท"', D("30000")),
    (4, '0 "แสนบาท"', D("400000")),
    (1.5, '0.0 "สิบล้านบาท"', D("15000000")),
    (2, '0 "ร้อยล้านบาท"', D("200000000")),
    (7, '0 "หมื่นล้านบาท"', D("70000000000")),
    (0.5, '0.0 "แสนล้านบาท"', D("50000000000")),
    (1.2, '0.0 "ล้านล้านบาท"', D("1200000000000")),
    (1_250_000, '#,##0.00 "บาท"', D("1250000")),
    (0.1, '0.0 "พันบาท"', D("100")),
    (1.234567, '0.000000 "บาท"', D("1.234567")),
    (-1.5, '#,##0.00" ล้านบาท";(#,##0.00)" ล้านบาท"', D("-1500000")),
    # The word with spaces and brackets around it, escaped, or as bare Thai letters.
    (1.25, '0.00 "(ล้านบาท)"', D("1250000")),
    (1.25, '0.00" [ ล้านบาท ]"', D("1250000")),
    (1.25, '\\ล\\้\\า\\น\\บ\\า\\ท 0.00', D("1250000")),
    (1.25, '0.00 ล้านบาท', D("1250000")),
    (1.25, '[Red]0.00 "ล้านบาท"', D("1250000")),
    # A condition chooses the section: 2,500,000 shows 2.50 ล้านบาท, 500 shows 500 บาท.
    (2_500_000, '[>=1000000]#,##0.00,, "ล้านบาท";#,##0 "บาท"', D("2500000")),
    (500, '[>=1000000]#,##0.00,, "ล้านบาท";#,##0 "บาท"', D("500")),
    # H3: a word that merely holds พัน, ล้าน, แสน or หมื่น is no unit of baht: read as stored
    # (T3: '12 พันธุ์', NOT_A_NUMBER, an honest count KPI quarantined).
    (12, '#,##0 "พันธุ์"', D("12")),
    (12, '0 "สายพันธุ์"', D("12")),
    (3, '0 "พันธมิตร"', D("3")),
    (5, '0 "ผูกพัน"', D("5")),
    (6, '0 "สัมพันธ์"', D("6")),
    (7, '0 "พันธกิจ"', D("7")),
    (8, '0 "คน"', D("8")),
    (9, '0 "บาท/คน"', D("9")),
    # Two words: no whole unit of baht, but ล้านบาท among the words after the number is a word of
    # scale (no rate's `/`, ต่อ or per before it): shown as the text it shows, a defect as that
    # text typed is (before FX5: the stored 10, i.e. 10 baht for ten million).
    (10, '0 "ประมาณ ล้านบาท"', "10 ประมาณ ล้านบาท"),
    (1_250_000, '฿#,##0.00', D("1250000")),
    # M2: a last section with @ is Excel's text section. Alone, numbers show as General (T3:
    # 1,250,000 x 10^6); after others, negatives take the first (T3: -5, the stored number).
    (1_250_000, '@" ล้านบาท"', D("1250000")),
    (-5, '0.00 "ล้านบาท";@', D("-5000000")),
    (1_250_000, '#,##0;(#,##0);"-";"ล้านบาท "@', D("1250000")),
    # H1: more than 4 trailing commas is no format Excel writes (4 divide by 10^12): stored.
    (1_250_000_000_000, '0.00,,,, "ล้านล้านบาท"', D("1250000000000")),
    (1_250_000, '0,,,,, "ล้านบาท"', D("1250000")),
])
def test_a_number_is_read_in_baht_only_under_a_thai_unit_of_baht(stored, number_format, baht):
    """The cell read as an amount is, where a unit of baht may stand (the reader gives the text
    it shows, `<baht> บาท`; a cell shown with no unit of baht, the stored number)."""
    assert [as_amount(text) for text in read_cells([(stored, number_format)])] == [baht]


def test_a_format_excel_cannot_hold_is_read_as_stored():
    """H1: Excel keeps a format code to 255 characters. A code one longer is read as stored, and
    so is one of 100,000 trailing commas, which T3 turned into 1000^100000 (59 s for a 5 KB
    workbook, or a value that underflowed to 0): read here at once, as main reads it."""
    at_bound = '0.00"' + " " * (255 - 13) + 'ล้านบาท"'
    assert len(at_bound) == 255
    over = at_bound[:5] + " " + at_bound[5:]
    cells = [(1.25, at_bound), (1.25, over), (1.25, "0" + "," * 100_000 + ' "ล้านบาท"')]
    assert [as_amount(text) for text in read_cells(cells)] == [D(1_250_000), D("1.25"), D("1.25")]


def test_baht_are_exact_at_any_length():
    """L1: the exponent is moved, with no Decimal context: 31 digits stay 31 (the default context
    would round to 28). A cell holds a double, so this is the reader's own step, on an int."""
    digits = 1234567890123456789012345678901
    assert as_amount(xlsx_reader._as_shown(digits, '#,##0,, "ล้านบาท"')) == D(digits)
    assert as_amount(xlsx_reader._as_shown(digits, '#,##0 "พันบาท"')) == D(digits * 1000)
