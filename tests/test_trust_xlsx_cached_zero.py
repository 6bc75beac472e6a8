"""A workbook whose saved formula values are placeholders (XlsxWriter, pandas' xlsx engine), through
two nights.

XlsxWriter writes `<v>0</v>` as every formula's saved value and sets `<calcPr fullCalcOnLoad="1"/>`
in xl/workbook.xml (ECMA-376 Part 1, 18.2.2: the application shall fully calculate the workbook
when it opens it): Excel shows 40.4 for `=404/10`, the file holds 0. The reader took the 0: K1
read 0, scored 1, and the file accepted with composite 1.5670 instead of 2.8010. Now a workbook
that asks to be recalculated on opening has no trustworthy saved values: each formula cell of its
data rows is FORMULA_WITHOUT_VALUE (xlsx_reader._recalculated_on_load), the file quarantined. Its
honest counterpart (the values Excel saved, no fullCalcOnLoad) is read as before, and a workbook
with fullCalcOnLoad but no formula (openpyxl sets it on every workbook) is accepted.

The registry is the demo's pilot PLT-2548-003 (the verifier's reproduction), FY 2548 only: lead
03009; K1 percent/higher/last weight 40, thresholds [20,30,40,50,60]; K2 days/lower/last weight
35, [30,25,20,15,10]; K3 count/higher/sum weight 25, [1000,2000,3000,4000,5000] (x q/4). As of
2005-05-15 (tests/test_flow.py's run).
"""
from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pytest

from pilots.readers import read_report
from tests.test_flow import PILOT, make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import report
from tests.test_xlsx import rewrite_members

D = Decimal
THREE_KPIS = PILOT[:PILOT.index("kpis:")] + """kpis:
  - {code: K1, name_th: ร้อยละของคำขอที่ยื่นผ่านระบบออนไลน์, name_en: Share of applications filed online,
     unit: percent, direction: higher, aggregation: last, weight: 40, thresholds: {2548: [20, 30, 40, 50, 60]}}
  - {code: K2, name_th: ระยะเวลาเฉลี่ยในการออกใบอนุญาต, name_en: Average days to issue a licence,
     unit: days, direction: lower, aggregation: last, weight: 35, thresholds: {2548: [30, 25, 20, 15, 10]}}
  - {code: K3, name_th: จำนวนคำขอที่ดำเนินการเสร็จ, name_en: Applications completed,
     unit: count, direction: higher, aggregation: sum, weight: 25, thresholds: {2548: [1000, 2000, 3000, 4000, 5000]}}
"""
# The verifier's workbook (/tmp/V-xw/mkxw.py): K1 and K3 and a disbursement typed as formulas.
LINES = [("kpi", "K1", None, {"actual": "=404/10", "note": "K1 = applications online / all applications"}),
         ("kpi", "K2", None, {"actual": 21.9}),
         ("kpi", "K3", None, {"actual": "=300+368"}),
         ("budget", "ACT-L5-01", 5, {"allocated_thb": 10_000_000, "disbursed_thb": "=2500000+2500000",
                                     "funding_source": "lead_integrated"})]
# Where openpyxl puts those formulas (row 1 the header), and what Excel computes for each.
COMPUTED = {"H2": "40.4", "H4": "668", "J5": "5000000"}


def saved_as(data: bytes, values: dict[str, str], recalculate_on_load: bool) -> bytes:
    """An openpyxl workbook (formulas saved with an empty `<v />`, calcPr fullCalcOnLoad="1") with
    each formula cell's saved value set, and fullCalcOnLoad kept (as XlsxWriter writes) or dropped
    (as Excel saves what it calculated)."""
    def edit(name: str, content: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            for ref, value in values.items():
                content, n = re.subn(rb'(<c r="%s"[^>]*><f>[^<]*</f>)<v\s*/>' % ref.encode(),
                                     rb"\g<1><v>%s</v>" % value.encode(), content)
                assert n == 1, (ref, content)
        if name == "xl/workbook.xml" and not recalculate_on_load:
            content, n = re.subn(rb'\s*fullCalcOnLoad="1"', b"", content)
            assert n == 1, content
        return content
    return rewrite_members(data, edit)


def calc_pr(data: bytes) -> str:
    return re.search(r"<calcPr[^>]*>", zipfile.ZipFile(io.BytesIO(data)).read("xl/workbook.xml").decode()).group(0)


def test_saved_zeros_of_a_workbook_recalculated_on_opening_are_not_read(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (registry / "pilots" / "PLT-2548-003.yaml").write_text(THREE_KPIS, encoding="utf-8")
    wh = tmp_path / "wh.duckdb"
    placeholders = saved_as(report("2548-Q1", "2005-01-22", LINES), dict.fromkeys(COMPUTED, "0"), True)
    assert calc_pr(placeholders) == '<calcPr calcId="124519" fullCalcOnLoad="1" />'
    assert b'<c r="H2"><f>404/10</f><v>0</v></c>' in zipfile.ZipFile(io.BytesIO(placeholders)).read(
        "xl/worksheets/sheet1.xml")
    # The secondary's budget, written by openpyxl without a formula: fullCalcOnLoad too, nothing to recalculate.
    secondary = report("2548-Q1", "2005-02-15", [("budget", "ACT-L5-01", 5, {
        "allocated_thb": 500_000, "disbursed_thb": 100_000, "funding_source": "own"})], agency="15001")
    assert 'fullCalcOnLoad="1"' in calc_pr(secondary)

    # Night 1: before, both accepted, K1 and K3 read 0 (scores 1): composite
    # (1*40 + 2.62*35 + 1*25)/100 = 1.5670, and 0 disbursed of the lead's 10,000,000.
    (inbox / "a_lead_q1_pandas.xlsx").write_bytes(placeholders)
    (inbox / "b_sec_q1.xlsx").write_bytes(secondary)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out, out
    assert [r[:3] for r in issues_of(wh, "a_lead_q1_pandas.xlsx")] == [
        (2, "actual", "FORMULA_WITHOUT_VALUE"), (4, "actual", "FORMULA_WITHOUT_VALUE"),
        (5, "disbursed_thb", "FORMULA_WITHOUT_VALUE")]
    messages = [r[3] for r in issues_of(wh, "a_lead_q1_pandas.xlsx")]
    assert [m.split(" has ")[0] for m in messages] == ["Formula =404/10", "Formula =300+368",
                                                       "Formula =2500000+2500000"]
    assert "recalculated when opened" in messages[0]
    assert "ค่าชั่วคราว" in issues_of(wh, "a_lead_q1_pandas.xlsx")[0][4]
    # No lead report accepted: every KPI missing, composite empty (scoring.md section 2).
    assert query(wh, "SELECT composite_score, status FROM marts.pilot_scores WHERE period = '2548-Q1'") == [
        (None, "no_data")]
    assert query(wh, "SELECT agency_code, allocated_thb, disbursed_thb FROM core.budget_lines") == [
        ("15001", D("500000.00"), D("100000.00"))]

    # Night 2: the same workbook as Excel saves it once calculated: read as before.
    (inbox / "c_lead_q1_excel.xlsx").write_bytes(saved_as(report("2548-Q1", "2005-01-22", LINES), COMPUTED, False))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    # scoring.md: K1 40.4 higher -> 3 + 0.4/10 = 3.04; K2 21.9 lower -> 2 + (25 - 21.9)/5 = 2.62;
    # K3 668 summed, thresholds x 1/4 = [250,500,750,1000,1250] -> 2 + 168/250 = 2.672.
    # Composite (3.04*40 + 2.62*35 + 2.672*25)/100 = (121.6 + 91.7 + 66.8)/100 = 2.8010.
    assert query(wh, "SELECT kpi_code, actual, score FROM marts.kpi_scores WHERE period = '2548-Q1' ORDER BY 1") == [
        ("K1", D("40.4"), D("3.0400")), ("K2", D("21.9"), D("2.6200")), ("K3", D("668"), D("2.6720"))]
    assert query(wh, "SELECT composite_score, status FROM marts.pilot_scores WHERE period = '2548-Q1'") == [
        (D("2.8010"), "at_risk")]
    assert query(wh, "SELECT agency_code, allocated_thb, disbursed_thb FROM core.budget_lines ORDER BY 1") == [
        ("03009", D("10000000.00"), D("5000000.00")), ("15001", D("500000.00"), D("100000.00"))]


def with_calc_pr(data: bytes, attributes: str) -> bytes:
    """The workbook with its calcPr element's attributes replaced."""
    def edit(name: str, content: bytes) -> bytes:
        if name != "xl/workbook.xml":
            return content
        content, n = re.subn(rb"<calcPr[^>]*/>", b"<calcPr %s/>" % attributes.encode(), content)
        assert n == 1, content
        return content
    return rewrite_members(data, edit)


@pytest.mark.parametrize("attributes, trusted", [
    ('calcId="191029"', True),                          # Excel's own
    ('calcId="191029" fullCalcOnLoad="0"', True),
    ('calcId="191029" fullCalcOnLoad="false"', True),
    ('calcId="124519" fullCalcOnLoad="1"', False),      # XlsxWriter, openpyxl
    ('calcId="124519" fullCalcOnLoad="true"', False),   # xsd:boolean's other spelling
    ('calcId="124519" fullCalcOnLoad=" 1 "', False),    # xsd:boolean collapses white space
])
def test_fullcalconload_is_read_as_ecma_376_says(attributes, trusted):
    """ECMA-376 Part 1, 18.2.2: fullCalcOnLoad is an xsd:boolean, false when absent (openpyxl's own
    CalcProperties takes it true when absent: it could not be used to tell)."""
    data = with_calc_pr(saved_as(report("2548-Q1", "2005-01-22", LINES[:1]), {"H2": "40.4"}, True), attributes)
    table = read_report("r.xlsx", data)
    assert table.rows[0][1][7] == "40.4"  # the saved value is read either way; the defect decides
    assert [(i.code, i.row_number, i.column_name) for i in table.issues] == (
        [] if trusted else [("FORMULA_WITHOUT_VALUE", 2, "actual")])


def test_an_array_formula_saved_as_a_placeholder_is_named():
    """XlsxWriter's write_array_formula: `<f t="array" ref="H2">404/10</f><v>0</v>` (openpyxl reads
    it as an ArrayFormula, no str: it was not looked at at all)."""
    data = saved_as(report("2548-Q1", "2005-01-22", LINES[:1]), {"H2": "0"}, True)

    array = rewrite_members(data, lambda name, content: content.replace(
        b'<c r="H2"><f>', b'<c r="H2"><f t="array" ref="H2">') if name == "xl/worksheets/sheet1.xml" else content)
    assert b'<f t="array" ref="H2">404/10</f><v>0</v>' in zipfile.ZipFile(io.BytesIO(array)).read("xl/worksheets/sheet1.xml")
    [issue] = read_report("r.xlsx", array).issues
    assert (issue.code, issue.row_number, issue.column_name) == ("FORMULA_WITHOUT_VALUE", 2, "actual")
    assert issue.message_en.startswith("Formula {=404/10} has no saved value")


@pytest.mark.parametrize("recalculate_on_load", [True, False])
def test_a_workbook_part_in_utf_16_is_read_for_fullcalconload(recalculate_on_load):
    """OPC lets a part be UTF-16 (with its byte order mark), and openpyxl reads one: a bytes search
    for the attribute's name finds nothing there, so such a part is parsed (a review found the
    placeholder zero read 0 and accepted through this door)."""
    data = saved_as(report("2548-Q1", "2005-01-22", LINES[:1]), {"H2": "0"}, recalculate_on_load)

    def utf16(name: str, content: bytes) -> bytes:
        if name != "xl/workbook.xml":
            return content
        text = content.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
        return b"\xff\xfe" + text.encode("utf-16-le")
    table = read_report("r.xlsx", rewrite_members(data, utf16))
    assert [(i.code, i.row_number, i.column_name) for i in table.issues] == (
        [("FORMULA_WITHOUT_VALUE", 2, "actual")] if recalculate_on_load else [])
