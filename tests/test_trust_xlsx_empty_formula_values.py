"""A formula whose saved value is the empty string, through two nights.

Excel and LibreOffice save a formula that gives "" (`=IF(H2>0,"","check")`, a check column
agencies keep beside their figures) as `<c t="str"><f>IF(H2>0,"","check")</f><v></v></c>`: a
string cell whose saved value is the empty `<v>` element. openpyxl reads that `<v>` as None, as it
reads a formula with no `<v>` at all, and the reader took both for "no saved value": the whole file
was quarantined with FORMULA_WITHOUT_VALUE, which the agency cannot fix (Excel saves `<v></v>`
again; verifier V7). Now only a formula with no `<v>` element (a file a program wrote, never
calculated), or any formula of a workbook asking to be recalculated on opening, has no saved
value; an empty `<v>` of a string formula is the saved value "", an empty cell: nothing in an
optional column (note), VALUE_REQUIRED in a required one (a KPI line's actual), as an empty cell
typed there.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4); as
of 2005-05-15 (Q1 and Q2 of 2548 due).
"""
from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pytest

from pilots.readers import read_report
from tests.test_flow import make_empty_scenario, run_cli
from tests.test_hostile_json_top_level import issues_of
from tests.test_hostile_sizes import query
from tests.test_trust_xlsx_million_baht import report
from tests.test_xlsx import rewrite_members

D = Decimal
CHECK = '=IF(H2>0,"","check")'  # "" when the actual is there, else "check"


def saved_by_excel(data: bytes, cells: dict[str, str | None], recalculate_on_load: bool = False) -> bytes:
    """openpyxl's workbook (each formula saved with an empty `<v />`, no type, and calcPr
    fullCalcOnLoad="1") with each formula cell of `cells` saved as Excel saves a formula that gave
    text: `t="str"` and `<v>text</v>` (`<v></v>` for ""); None: with no `<v>` at all, as a program
    writes it. fullCalcOnLoad dropped, as Excel saves a workbook it calculated, unless kept."""
    def edit(name: str, content: bytes) -> bytes:
        if name == "xl/worksheets/sheet1.xml":
            for ref, text in cells.items():
                saved = b"" if text is None else b"<v>%s</v>" % text.encode()
                content, n = re.subn(rb'<c r="%s"([^>]*)><f>([^<]*)</f><v\s*/>' % ref.encode(),
                                     rb'<c r="%s"\1 t="str"><f>\2</f>%s' % (ref.encode(), saved), content)
                assert n == 1, (ref, content)
        if name == "xl/workbook.xml" and not recalculate_on_load:
            content, n = re.subn(rb'\s*fullCalcOnLoad="1"', b"", content)
            assert n == 1, content
        return content
    return rewrite_members(data, edit)


def sheet_xml(data: bytes) -> bytes:
    return zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")


def test_a_formula_saved_as_the_empty_string_is_an_empty_cell(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    wh = tmp_path / "wh.duckdb"
    # The lead's Q1: each KPI line's note (column L) a check formula, "" for K1 (saved <v></v>) and
    # "check" for K2, and the K2 actual itself a formula whose saved value is 60.
    q1 = report("2548-Q1", "2005-01-20", [
        ("kpi", "K1", None, {"actual": 47, "note": CHECK}),
        ("kpi", "K2", None, {"actual": "=50+10", "note": CHECK.replace("H2", "H3")}),
        ("budget", "ACT-1", 5, {"allocated_thb": 1_000_000, "disbursed_thb": 200_000, "funding_source": "own"})])
    q1 = saved_by_excel(q1, {"L2": "", "L3": "check"})
    q1 = rewrite_members(q1, lambda name, content: content.replace(b"<f>50+10</f><v />", b"<f>50+10</f><v>60</v>")
                         if name == "xl/worksheets/sheet1.xml" else content)
    xml = sheet_xml(q1)
    assert b'<c r="L2" t="str"><f>IF(H2&gt;0,"","check")</f><v></v></c>' in xml, xml
    assert b'<c r="H3"><f>50+10</f><v>60</v></c>' in xml, xml
    # The lead's Q2 whose K1 actual is a formula saved as "" (the figure left out): a required value.
    q2_empty_actual = saved_by_excel(report("2548-Q2", "2005-04-20", [
        ("kpi", "K1", None, {"actual": '=IF(I2>0,I2,"")'}), ("kpi", "K2", None, {"actual": 90})]), {"H2": ""})
    # Control: the same report with its K1 note a formula with no <v> element: no saved value.
    q2_never_calculated = saved_by_excel(report("2548-Q2", "2005-04-21", [
        ("kpi", "K1", None, {"actual": 55, "note": CHECK}), ("kpi", "K2", None, {"actual": 90})]), {"L2": None})
    assert b'<c r="L2" t="str"><f>IF(H2&gt;0,"","check")</f></c>' in sheet_xml(q2_never_calculated)

    # Night 1. Before: all three quarantined, FORMULA_WITHOUT_VALUE at row 2 (note, actual, note).
    (inbox / "a_lead_q1.xlsx").write_bytes(q1)
    (inbox / "b_lead_q2_empty_actual.xlsx").write_bytes(q2_empty_actual)
    (inbox / "c_lead_q2_never_calculated.xlsx").write_bytes(q2_never_calculated)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 3: accepted 1, superseded 0, duplicates 0, quarantined 2" in out, out
    assert query(wh, "SELECT file_name, status FROM ingest.submissions ORDER BY 1") == [
        ("a_lead_q1.xlsx", "accepted"), ("b_lead_q2_empty_actual.xlsx", "quarantined"),
        ("c_lead_q2_never_calculated.xlsx", "quarantined")]
    assert [r[:3] for r in issues_of(wh, "b_lead_q2_empty_actual.xlsx")] == [(2, "actual", "VALUE_REQUIRED")]
    assert [r[:3] for r in issues_of(wh, "c_lead_q2_never_calculated.xlsx")] == [(2, "note", "FORMULA_WITHOUT_VALUE")]
    # The saved values stored: K1's note "" (nothing), K2's "check", K2's actual 60.
    assert query(wh, "SELECT period, kpi_code, actual, note FROM core.kpi_actuals ORDER BY 1, 2") == [
        ("2548-Q1", "K1", D("47"), None), ("2548-Q1", "K2", D("60"), "check")]
    assert query(wh, "SELECT activity_code, allocated_thb, disbursed_thb FROM core.budget_lines") == [
        ("ACT-1", D("1000000.00"), D("200000.00"))]
    # scoring.md: Q1 K1 47 -> 3 + 7/10 = 3.7; K2 60 against [100..500] x 1/4 = [25,50,75,100,125]
    # -> 2 + 10/25 = 2.4; composite (3.7*60 + 2.4*40)/100 = (222 + 96)/100 = 3.18, on_target.
    # Q2: no accepted lead report: every KPI missing, composite empty, no_data. Before: Q1 empty too.
    assert query(wh, "SELECT period, kpi_code, actual, score, is_missing FROM marts.kpi_scores ORDER BY 1, 2") == [
        ("2548-Q1", "K1", D("47"), D("3.7000"), False), ("2548-Q1", "K2", D("60"), D("2.4000"), False),
        ("2548-Q2", "K1", None, D("1.0000"), True), ("2548-Q2", "K2", None, D("1.0000"), True)]
    assert query(wh, "SELECT period, composite_score, status FROM marts.pilot_scores ORDER BY 1") == [
        ("2548-Q1", D("3.1800"), "on_target"), ("2548-Q2", None, "no_data")]

    # Night 2: the lead's Q2 with both notes check formulas saved "" and the K1 actual 55.
    (inbox / "d_lead_q2.xlsx").write_bytes(saved_by_excel(report("2548-Q2", "2005-04-25", [
        ("kpi", "K1", None, {"actual": 55, "note": CHECK}),
        ("kpi", "K2", None, {"actual": 90, "note": CHECK.replace("H2", "H3")})]), {"L2": "", "L3": ""}))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out, out
    assert query(wh, "SELECT period, kpi_code, actual, note FROM core.kpi_actuals WHERE period = '2548-Q2' "
                     "ORDER BY 2") == [("2548-Q2", "K1", D("55"), None), ("2548-Q2", "K2", D("90"), None)]
    # Q2: K1 55 -> 4 + 5/10 = 4.5; K2 summed 60 + 90 = 150 against x 2/4 = [50,100,150,200,250]
    # -> 3 + 0/50 = 3.0; composite (4.5*60 + 3*40)/100 = (270 + 120)/100 = 3.9, on_target.
    assert query(wh, "SELECT period, kpi_code, actual, score FROM marts.kpi_scores WHERE period = '2548-Q2' "
                     "ORDER BY 2") == [("2548-Q2", "K1", D("55"), D("4.5000")),
                                       ("2548-Q2", "K2", D("150"), D("3.0000"))]
    assert query(wh, "SELECT period, composite_score, status FROM marts.pilot_scores ORDER BY 1") == [
        ("2548-Q1", D("3.1800"), "on_target"), ("2548-Q2", D("3.9000"), "on_target")]


@pytest.mark.parametrize("cell, shown, defect", [
    # A string formula saved as "": an empty <v>, or <v/>.
    ('<c r="L2" t="str"><f>IF(H2&gt;0,"","check")</f><v></v></c>', None, False),
    ('<c r="L2" t="str"><f>IF(H2&gt;0,"","check")</f><v/></c>', None, False),
    # Saved "" as a shared string (entry 0 of the table is "") or an inline string: read "" already.
    ('<c r="L2" t="s"><f>IF(H2&gt;0,"","check")</f><v>0</v></c>', "", False),
    ('<c r="L2" t="inlineStr"><f>IF(H2&gt;0,"","check")</f><is><t></t></is></c>', "", False),
    # No saved value: no <v> element; or an empty <v> where no "" can be (a number, a string index).
    ('<c r="L2" t="str"><f>IF(H2&gt;0,"","check")</f></c>', None, True),
    ('<c r="L2"><f>H2*2</f><v/></c>', None, True),
    ('<c r="L2" t="s"><f>IF(H2&gt;0,"","check")</f><v></v></c>', None, True),
    ('<c r="L2" t="inlineStr"><f>IF(H2&gt;0,"","check")</f></c>', None, True),
    ('<c r="L2" t="str"><f>IF(H2&gt;0,"","check")</f><v>check</v></c>', "check", False),
])
def test_only_a_formula_with_no_saved_value_is_a_defect(cell, shown, defect):
    """Each way a formula's saved value may be written (the reader alone; ECMA-376 Part 1,
    18.3.1.4 c and 18.3.1.96 v): the note read, and whether FORMULA_WITHOUT_VALUE is raised."""
    base = report("2548-Q1", "2005-01-20", [("kpi", "K1", None, {"actual": 47, "note": "x"})])


    def edit(name: str, content: bytes) -> bytes:
        """L2 replaced by `cell`; a shared-strings table of one empty entry added (openpyxl writes
        inline strings); calcPr's fullCalcOnLoad dropped, as Excel saves a calculated workbook."""
        edits = {"xl/worksheets/sheet1.xml": (rb'<c r="L2"[^>]*>.*?</c>', cell.encode()),
                 "xl/workbook.xml": (rb'\s*fullCalcOnLoad="1"', b""),
                 "[Content_Types].xml": (rb"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="'
                                         b'application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings'
                                         b'+xml" /></Types>'),
                 "xl/_rels/workbook.xml.rels": (rb"</Relationships>", b'<Relationship Id="rIdSST" Type="http://'
                                                b'schemas.openxmlformats.org/officeDocument/2006/relationships/'
                                                b'sharedStrings" Target="sharedStrings.xml" /></Relationships>')}
        if name in edits:
            content, n = re.subn(*edits[name], content)
            assert n == 1, (name, content)
        return content
    strings = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><si><t></t></si></sst>'
    table = read_report("r.xlsx", rewrite_members(base, edit, {"xl/sharedStrings.xml": strings}))
    assert table.rows[0][1][11] == shown
    assert [(i.code, i.row_number, i.column_name) for i in table.issues] == (
        [("FORMULA_WITHOUT_VALUE", 2, "note")] if defect else [])


def test_an_empty_saved_string_is_no_value_when_the_workbook_asks_to_be_recalculated():
    """fullCalcOnLoad: every saved value is a placeholder, "" as much as 0 (as before)."""
    data = saved_by_excel(report("2548-Q1", "2005-01-20", [("kpi", "K1", None, {"actual": 47, "note": CHECK})]),
                          {"L2": ""}, recalculate_on_load=True)
    assert [(i.code, i.row_number, i.column_name) for i in read_report("r.xlsx", data).issues] == [
        ("FORMULA_WITHOUT_VALUE", 2, "note")]
