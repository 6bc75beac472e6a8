"""Excel numbers shown with a word of scale that is no unit of baht, through two nights.

agency-report-v1.md lists `ล้านบาท` and `บาท` as the only units of amounts ("Anything else is a
defect"): `1.50 ล้าน` typed in a CSV is NOT_A_NUMBER. The same figure typed in Excel as 1.5 under
the number format `0.00" ล้าน"` shows `1.50 ล้าน`, and the reader gave the stored 1.5: a baht KPI
of 1.5 baht and an allocation of 2 baht, accepted without a word, wrong by a factor of a million
(verifier V7). Now a number format whose literal text holds a word of scale that is no unit of
baht (ล้าน, แสน, หมื่น, พัน, ลบ., K, M, mn, million ...) gives the cell as what it shows (`1.5 ล้าน`),
which the normaliser refuses as it refuses the text typed: NOT_A_NUMBER on that row and column.
Unless the format divides the number by scale commas (`#,##0.00,, "ล้าน"` shows 2.50 ล้าน for a
stored 2,500,000): the stored value is then the amount itself, read as before. A whole unit of
baht (`0.00 "ล้านบาท"`) is read as it shows, in baht, as before.

A word of scale counts only as the first word shown after the number (spaces and brackets before
it allowed), never after `/`, `ต่อ` or `per`, and mm is none (RV4): a rate per 100,000 shown
`12.5 ราย/แสน` or `12.5 ต่อ แสน ประชากร` is a count KPI's plain number, and rainfall shown
`850.0 mm` is 850; they were read as the text, a defect, by the first reading of the rule.

Registry: tests/test_flow.py's pilot with a third KPI: lead 03009; K1 percent/higher/last weight
50, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 30, [100..500] (x q/4); K3
baht/higher/last weight 20, [1,000,000 .. 5,000,000]. As of 2005-05-15 (Q1 and Q2 of 2548 due).
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from pilots.readers import xlsx_reader
from tests.test_flow import HEADER, PILOT, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import as_amount, read_cells, report

D = Decimal
P = "PLT-2548-003"
WITH_BAHT_KPI = PILOT.replace("weight: 60", "weight: 50").replace("weight: 40", "weight: 30") + """  - code: K3
    name_th: มูลค่าที่ประหยัดได้
    name_en: Money saved
    unit: baht
    direction: higher
    aggregation: last
    weight: 20
    thresholds:
      2548: [1000000, 2000000, 3000000, 4000000, 5000000]
"""
IN_MILLIONS = '0.00" ล้าน"'                  # shows 1.50 ล้าน for 1.5
SCALED_TO_MILLIONS = '#,##0.00,, "ล้าน"'     # shows 2.50 ล้าน for 2,500,000


def test_a_number_shown_with_a_word_of_scale_is_read_as_it_shows(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (registry / "pilots" / f"{P}.yaml").write_text(WITH_BAHT_KPI, encoding="utf-8")
    wh = tmp_path / "wh.duckdb"

    # Night 1. The lead's Q1: K3 1.5 under 0.00" ล้าน" (shows 1.50 ล้าน) and ACT-1 allocated 2
    # under #,##0.0" ล้าน" (shows 2.0 ล้าน). The lead's Q2: K3 2,500,000 and ACT-1 allocated
    # 3,000,000 under formats that divide by scale commas (2.50 ล้าน; 3,000K), disbursed 1.2 under
    # 0.0 "ล้านบาท" (1,200,000 baht). Control: the Q1 figure typed `1.50 ล้าน` in a CSV.
    (inbox / "a_lead_q1.xlsx").write_bytes(report("2548-Q1", "2005-01-20", [
        ("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 60}),
        ("kpi", "K3", None, {"actual": (1.5, IN_MILLIONS)}),
        ("budget", "ACT-1", 5, {"allocated_thb": (2, '#,##0.0" ล้าน"'), "disbursed_thb": 0, "funding_source": "own"})]))
    (inbox / "b_lead_q2.xlsx").write_bytes(report("2548-Q2", "2005-04-20", [
        ("kpi", "K1", None, {"actual": 55}), ("kpi", "K2", None, {"actual": 90}),
        ("kpi", "K3", None, {"actual": (2_500_000, SCALED_TO_MILLIONS)}),
        ("budget", "ACT-1", 5, {"allocated_thb": (3_000_000, '#,##0,"K"'), "disbursed_thb": (1.2, '0.0 "ล้านบาท"'),
                                "funding_source": "own"})]))
    (inbox / "c_lead_q1_typed.csv").write_bytes("\n".join([
        HEADER, f"{P},03009,2548-Q1,2005-01-21,kpi,K1,,47,,,,", f"{P},03009,2548-Q1,2005-01-21,kpi,K2,,60,,,,",
        f"{P},03009,2548-Q1,2005-01-21,kpi,K3,,1.50 ล้าน,,,,"]).encode("utf-8"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # Before: a_lead_q1.xlsx accepted (K3 1.5 baht, ACT-1 2 baht); now quarantined as the CSV is.
    assert "files seen 3: accepted 1, superseded 0, duplicates 0, quarantined 2" in out, out
    assert query(wh, "SELECT file_name, status FROM ingest.submissions ORDER BY 1") == [
        ("a_lead_q1.xlsx", "quarantined"), ("b_lead_q2.xlsx", "accepted"), ("c_lead_q1_typed.csv", "quarantined")]
    assert [r[:4] for r in issues_of(wh, "a_lead_q1.xlsx")] == [
        (4, "actual", "NOT_A_NUMBER", "'1.5 ล้าน' in 'actual' is not a number."),
        (5, "allocated_thb", "NOT_A_NUMBER", "'2 ล้าน' in 'allocated_thb' is not a number.")]
    assert [r[:4] for r in issues_of(wh, "c_lead_q1_typed.csv")] == [
        (4, "actual", "NOT_A_NUMBER", "'1.50 ล้าน' in 'actual' is not a number.")]
    # Q2's figures: K3 the stored 2,500,000; ACT-1 3,000,000 allocated, 1,200,000 disbursed.
    assert query(wh, "SELECT period, kpi_code, actual FROM core.kpi_actuals ORDER BY 1, 2") == [
        ("2548-Q2", "K1", D("55")), ("2548-Q2", "K2", D("90")), ("2548-Q2", "K3", D("2500000"))]
    assert query(wh, "SELECT period, activity_code, allocated_thb, disbursed_thb FROM core.budget_lines") == [
        ("2548-Q2", "ACT-1", D("3000000.00"), D("1200000.00"))]
    # scoring.md. Q1: no accepted lead report, composite empty (before: K1 47 -> 3.7, K2 60 -> 2.4,
    # K3 1.5 baht -> 1: (3.7*50 + 2.4*30 + 1*20)/100 = 2.77, at_risk). Q2: K1 55 -> 4 + 5/10 =
    # 4.5; K2 summed over Q1..Q2 = 90 (Q1 none accepted) against [100..500] x 2/4 =
    # [50,100,150,200,250] -> 1 + 40/50 = 1.8; K3 2,500,000 -> 2 + 500,000/1,000,000 = 2.5;
    # composite (4.5*50 + 1.8*30 + 2.5*20)/100 = (225 + 54 + 50)/100 = 3.29, on_target.
    assert query(wh, "SELECT period, kpi_code, actual, score FROM marts.kpi_scores ORDER BY 1, 2") == [
        ("2548-Q1", "K1", None, D("1.0000")), ("2548-Q1", "K2", None, D("1.0000")),
        ("2548-Q1", "K3", None, D("1.0000")),
        ("2548-Q2", "K1", D("55"), D("4.5000")), ("2548-Q2", "K2", D("90"), D("1.8000")),
        ("2548-Q2", "K3", D("2500000"), D("2.5000"))]
    assert query(wh, "SELECT period, composite_score, status FROM marts.pilot_scores ORDER BY 1") == [
        ("2548-Q1", None, "no_data"), ("2548-Q2", D("3.2900"), "on_target")]
    # Budget, scoring.md section 3: Q2 the lead's line: total 3,000,000, all integrated (the
    # lead's), disbursed 1,200,000, rate 1,200,000 / 3,000,000 = 0.4.
    assert query(wh, "SELECT period, total_allocated_thb, integration_ratio, disbursed_thb, disbursement_rate "
                     "FROM marts.budget_integration ORDER BY 1") == [
        ("2548-Q1", D("0.00"), None, D("0.00"), None),
        ("2548-Q2", D("3000000.00"), D("1.0000"), D("1200000.00"), D("0.4000"))]

    # Night 2: the lead's Q1 again, K3 1.5 under 0.00 "ล้านบาท" (1,500,000 baht) and ACT-1's
    # 2,000,000 under #,##0.0,," ล้าน" (shows 2.0 ล้าน).
    (inbox / "d_lead_q1.xlsx").write_bytes(report("2548-Q1", "2005-01-22", [
        ("kpi", "K1", None, {"actual": 47}), ("kpi", "K2", None, {"actual": 60}),
        ("kpi", "K3", None, {"actual": (1.5, '0.00 "ล้านบาท"')}),
        ("budget", "ACT-1", 5, {"allocated_thb": (2_000_000, '#,##0.0,," ล้าน"'), "disbursed_thb": 0,
                                "funding_source": "own"})]))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    assert query(wh, "SELECT period, kpi_code, actual FROM core.kpi_actuals WHERE kpi_code = 'K3' ORDER BY 1") == [
        ("2548-Q1", "K3", D("1500000")), ("2548-Q2", "K3", D("2500000"))]
    assert query(wh, "SELECT period, activity_code, allocated_thb FROM core.budget_lines ORDER BY 1") == [
        ("2548-Q1", "ACT-1", D("2000000.00")), ("2548-Q2", "ACT-1", D("3000000.00"))]
    # Q1: K1 47 -> 3.7; K2 60 against x 1/4 = [25,50,75,100,125] -> 2 + 10/25 = 2.4; K3 1,500,000
    # -> 1 + 500,000/1,000,000 = 1.5; composite (3.7*50 + 2.4*30 + 1.5*20)/100 = (185 + 72 + 30)/100
    # = 2.87, at_risk. Q2: K2 now 60 + 90 = 150 -> 3 + 0/50 = 3.0; composite (4.5*50 + 3*30 +
    # 2.5*20)/100 = (225 + 90 + 50)/100 = 3.65, on_target.
    assert query(wh, "SELECT period, kpi_code, actual, score FROM marts.kpi_scores ORDER BY 1, 2") == [
        ("2548-Q1", "K1", D("47"), D("3.7000")), ("2548-Q1", "K2", D("60"), D("2.4000")),
        ("2548-Q1", "K3", D("1500000"), D("1.5000")),
        ("2548-Q2", "K1", D("55"), D("4.5000")), ("2548-Q2", "K2", D("150"), D("3.0000")),
        ("2548-Q2", "K3", D("2500000"), D("2.5000"))]
    assert query(wh, "SELECT period, composite_score, status FROM marts.pilot_scores ORDER BY 1") == [
        ("2548-Q1", D("2.8700"), "at_risk"), ("2548-Q2", D("3.6500"), "on_target")]


# --- one cell at a time: what the reader gives, read as an amount -----------------------------
# The text a cell shows is a defect (as_amount gives it back); a number is read.

@pytest.mark.parametrize("stored, number_format, amount", [
    # Thai words of scale, alone or with a unit, quoted, escaped or bare; the abbreviations of ล้านบาท.
    (1.5, IN_MILLIONS, "1.5 ล้าน"),
    (3, '0 "แสน"', "3 แสน"),
    (4, '#,##0 "หมื่น"', "4 หมื่น"),
    (250, '#,##0" พัน"', "250 พัน"),
    (2.5, '0.0 "พันล้าน"', "2.5 พันล้าน"),
    (1.2, '0.0 "ลบ."', "1.2 ลบ."),
    (1.2, '0.0 "ล.บ."', "1.2 ล.บ."),
    (1.2, '0.0 "ล้านบ."', "1.2 ล้านบ."),
    (1.2, '0.0 ล้าน', "1.2 ล้าน"),
    (1.2, '0.0\\ \\ล\\้\\า\\น', "1.2 ล้าน"),
    (2, '0 "ล้านคน"', "2 ล้านคน"),
    (2, '0 "(ล้าน)"', "2 (ล้าน)"),
    (2, '0 "ล้านบาท/ปี"', "2 ล้านบาท/ปี"),       # million baht a year: no whole unit of baht
    (-1.5, '#,##0.0" ล้าน";(#,##0.0)" ล้าน"', "-1.5 ล้าน"),
    # English ones: K, k, M as written; mn, bn, million, thousand in any case; with THB.
    (1.5, '#,##0.0"K"', "1.5 K"),
    (1.5, '0.0"k"', "1.5 k"),
    (1.5, '0.0\\M', "1.5 M"),
    (4, '0.0" mn"', "4 mn"),
    (4, '0.0" bn"', "4 bn"),
    (7, '0 "Million"', "7 Million"),
    (7, '0 "thousand"', "7 thousand"),
    (4, '0.0 "MTHB"', "4 MTHB"),
    (4, '0.0 "THBm"', "4 THBm"),
    # Any word shown after the number (spaces or brackets before it allowed), up to a rate's `/`,
    # ต่อ or per.
    (1.5, '0.0" K"', "1.5 K"),
    (1.5, '0.0"M"', "1.5 M"),
    (2, '0" million"', "2 million"),
    (2, '0" ล้านคน"', "2 ล้านคน"),
    (1.2, '0.0" ลบ."', "1.2 ลบ."),
    (1.2, '0.0" ล้าน/ปี"', "1.2 ล้าน/ปี"),
    (1.5, '"หน่วย "0.0" ล้าน"', "1.5 หน่วย  ล้าน"),  # the word after the number counts
    (1.5, '0.0 "(หน่วย: ล้าน)"', "1.5 (หน่วย: ล้าน)"),  # a later word too: it scales what is shown
    (1.5, '0.0 "ประมาณล้านบาท"', "1.5 ประมาณล้านบาท"),  # Thai without spaces (RV5)
    (1.5, '0.0 "หน่วยล้านบาท"', "1.5 หน่วยล้านบาท"),
    (1.5, '"ล้าน "0.0', "1.5 ล้าน"),            # before the number too
    (4, '0 "กองพัน"', D("4")),                  # battalions: no word of scale
    (1.5, 'General" ล้าน"', "1.5 ล้าน"),
    # Divided by scale commas: the stored value is the amount, read as before.
    (1_500_000, '0.00,, "ล้าน"', D("1500000")),
    (3_000_000, '#,##0,"K"', D("3000000")),
    (2_000_000, '[>=1000000]#,##0.0,,"M";#,##0', D("2000000")),
    (500, '[>=1000000]#,##0.0,,"M";#,##0', D("500")),
    # No word of scale: the stored number, as before (a word that merely holds one is no scale).
    (12, '#,##0 "พันธุ์"', D("12")),
    (3, '0 "พันธมิตร"', D("3")),
    (3, '0 "ล้านนา"', D("3")),
    (8, '0 "คน"', D("8")),
    (9, '0 "บาท/คน"', D("9")),
    (5, '0 "m"', D("5")),                     # metres or minutes, not million
    (5, '0 "THB"', D("5")),
    (7, '@" ล้าน"', D("7")),                  # a text section alone: numbers shown as General
    # RV4: a rate's denominator (after `/`, ต่อ or per) is no word of scale, nor is mm (rainfall):
    # the stored number, as before d16ec2b (which read the first six as the text).
    (12.5, '0.0 "ราย/แสน"', D("12.5")),
    (3.2, '0.0 "ครั้ง/ล้านคน"', D("3.2")),
    (4.1, '0.0 "per thousand"', D("4.1")),
    (12.5, '0.0 "ต่อ แสน ประชากร"', D("12.5")),
    (850, '#,##0.0 "mm"', D("850")),
    (850, '#,##0.0 "MM"', D("850")),
    (12.5, '0.0/"แสน"', D("12.5")),

    # ... and these were read, and still are.
    (12.5, '0.0 "ต่อแสนประชากร"', D("12.5")),
    (12.5, '0.0 "ราย/แสนประชากร"', D("12.5")),
    (4.1, '0.0 "per 1,000"', D("4.1")),
    (850, '#,##0.0 "มม."', D("850")),
    # A whole unit of baht, as before.
    (1.5, '0.00 "ล้านบาท"', D("1500000")),
    (1_250, '#,##0 "พันบาท"', D("1250000")),
])
def test_a_word_of_scale_makes_a_number_read_as_it_shows(stored, number_format, amount):
    assert [as_amount(text) for text in read_cells([(stored, number_format)])] == [amount]


def test_workbooks_without_such_formats_are_read_as_fast_as_before():
    """Number formats are looked at (the slower _cell_rows) only when the workbook's styles hold a
    format that shows a percentage, a unit of baht or a word of scale."""
    shown = {'0.00" ล้าน"', '0.0"K"', "0.0%", '0.00 "ล้านบาท"'}
    plain = {"General", "#,##0.00", '#,##0 "คน"', '0.00,, "ล้าน"', '#,##0,"K"', '0 "พันธุ์"',
             '0.0 "ราย/แสน"', '0.0 "per thousand"', '#,##0.0 "mm"'}
    assert {f for f in shown | plain if xlsx_reader._shown_sections(f)} == shown
