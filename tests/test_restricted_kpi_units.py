"""A restricted pilot's KPI units are judged for its lead agency only (warehouse.md, "Restricted
pilots": its KPIs are in the restricted store alone; pilots/kpi_units.py).

A KPI's unit decides three judgements of its lines: the normaliser lets `%` pass on a percent KPI
and `บาท` on a baht KPI only (NOT_A_NUMBER otherwise), and the checks keep a percent KPI's actual
within 0-100 (PERCENT_OUT_OF_RANGE). Judged for any agency, a value of 150 or "82.5%" on a code
told a stranger that the code exists and is a percentage. Now an agency that does not lead the
pilot gets the same defects whatever its values: AGENCY_NOT_PARTICIPANT (a stranger, 03009) or
KPI_NOT_LEAD on each KPI line (the secondary, 15001); the lead (20004) is judged as before.

tests/test_restricted_store.py's scenario, its restricted pilot PLT-2548-099 given a percent KPI
S9 and a baht KPI B7 (lead 20004, secondary 15001). `pilotkpi check` (the web's upload check runs
the same pilots.ingest.check_files) and a night whose quarantine is read from the restricted store.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import _csv
from tests.test_pilot_moves import q
from tests.test_restricted_store import SECRET, make_restricted_scenario
from warehouse.paths import files_of

PILOT = f"""
pilot_id: {SECRET}
name_th: ระบบแยกส่วนเพื่อความมั่นคง
name_en: Segregated security exchange
layer: 3
strategies: [6]
classification: restricted
start: 2004-10-01
end: 2005-09-30
agencies:
  - {{code: "20004", role: lead}}
  - {{code: "15001", role: secondary}}
kpis:
  - code: S9
    name_th: ร้อยละของหน่วยงานที่เชื่อมโยง
    name_en: Share of agencies linked
    unit: percent
    direction: higher
    aggregation: last
    weight: 60
    thresholds:
      2548: [10, 20, 30, 40, 50]
  - code: B7
    name_th: ค่าใช้จ่ายต่อราย
    name_en: Cost per case
    unit: baht
    direction: lower
    aggregation: last
    weight: 40
    thresholds:
      2548: [5000, 4000, 3000, 2000, 1000]
"""
AS_OF = "2005-05-15"
# Each file: S9 (percent) and B7 (baht) lines; the harmless values first, then each KPI-dependent one.
VALUES = {"harmless": ("50", "1000"), "150": ("150", "1000"), "percent sign": ("82.5%", "1000"),
          "baht sign": ("50", "1000 บาท"), "signs swapped": ("1000 บาท", "82.5%")}


def _file(agency: str, s9: str, b7: str) -> bytes:
    return _csv(f'{SECRET},{agency},2548-Q2,2005-05-01,kpi,S9,,"{s9}",,,,',
                f'{SECRET},{agency},2548-Q2,2005-05-01,kpi,B7,,"{b7}",,,,')


def _json(declared: str, lines: str, s9: str) -> bytes:
    """A JSON report whose top level names `declared` and whose lines name `lines` as their agency."""
    return json.dumps({"pilot_id": SECRET, "agency_code": declared, "period": "2548-Q2", "submitted_on": "2005-05-01",
                       "lines": [{"agency_code": lines, "line_type": "kpi", "item_code": "S9", "actual": s9},
                                 {"agency_code": lines, "line_type": "kpi", "item_code": "B7", "actual": "1000"}]},
                      ensure_ascii=False).encode("utf-8")


def _mixed(s9: str) -> bytes:
    """A stranger's file, one of whose three lines claims the lead agency."""
    return _csv(f"{SECRET},03009,2548-Q2,2005-05-01,kpi,B7,,1000,,,,",
                f'{SECRET},20004,2548-Q2,2005-05-01,kpi,S9,,"{s9}",,,,',
                f"{SECRET},03009,2548-Q2,2005-05-02,budget,ACT-1,3,,100,0,own,")


def _files() -> dict[str, bytes]:
    files = {f"{who}-{case.replace(' ', '-')}.csv": _file(agency, *values)
             for who, agency in (("stranger", "03009"), ("secondary", "15001"), ("lead", "20004"))
             for case, values in VALUES.items()}
    for case, s9 in (("harmless", "50"), ("150", "150"), ("percent-sign", "82.5%")):
        files[f"json-stranger-{case}.json"] = _json("03009", "20004", s9)  # the document's agency wins
        files[f"mixed-stranger-{case}.csv"] = _mixed(s9)
    return files


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("restricted-units")
    registry, inbox = make_restricted_scenario(root)
    (registry / "pilots" / f"{SECRET}.yaml").write_text(PILOT, encoding="utf-8")
    folder = root / "files"
    folder.mkdir()
    for name, data in _files().items():
        (folder / name).write_bytes(data)
    return root, registry, inbox, folder


@pytest.fixture(scope="module")
def checked(site):
    """`pilotkpi check --format json` on every file: {file: [(row, column, code)]}."""
    _, registry, _, folder = site
    paths = sorted(str(p) for p in folder.iterdir())
    result = CliRunner().invoke(main, ["check", *paths, "--registry", str(registry), "--as-of", AS_OF,
                                       "--format", "json"])
    assert result.exit_code == 6, result.output  # some files are quarantined
    start = result.output.index("[")
    return {o["file"]: sorted((i["row"], i["column"], i["code"]) for i in o["issues"] if i["severity"] == "error")
            for o in json.loads(result.output[start:])}


def _expected_stranger() -> list[tuple]:
    return [(2, "agency_code", "AGENCY_NOT_PARTICIPANT")]


def test_a_stranger_gets_the_same_single_defect_whatever_its_values(checked):
    for case in VALUES:
        assert checked[f"stranger-{case.replace(' ', '-')}.csv"] == _expected_stranger(), case


def test_a_participant_that_does_not_lead_gets_kpi_not_lead_only(checked):
    expected = [(2, "line_type", "KPI_NOT_LEAD"), (3, "line_type", "KPI_NOT_LEAD")]
    for case in VALUES:
        assert checked[f"secondary-{case.replace(' ', '-')}.csv"] == expected, case


def test_a_documents_own_agency_decides_not_its_lines(checked):
    """A JSON document of the stranger whose lines claim the lead: its lines disagree with it, and
    no unit of the pilot is judged (the same defects with 150 or 82.5% as with 50)."""
    harmless = checked["json-stranger-harmless.json"]
    assert ("agency_code", "AGENCY_NOT_PARTICIPANT") in [(c, k) for _, c, k in harmless]
    assert not any(code in ("PERCENT_OUT_OF_RANGE", "NOT_A_NUMBER") for *_, code in harmless)
    assert checked["json-stranger-150.json"] == checked["json-stranger-percent-sign.json"] == harmless


def test_a_stranger_line_claiming_the_lead_is_judged_as_the_strangers(checked):
    harmless = checked["mixed-stranger-harmless.csv"]
    assert (3, "agency_code", "ROWS_DISAGREE") in harmless and (2, "agency_code", "AGENCY_NOT_PARTICIPANT") in harmless
    assert checked["mixed-stranger-150.csv"] == checked["mixed-stranger-percent-sign.csv"] == harmless


def test_the_lead_is_judged_by_its_kpis_units(checked):
    """The same values in the lead's files: 150 is out of range, `%` passes on the percent KPI
    and `บาท` on the baht one, not the other way round."""
    assert checked["lead-harmless.csv"] == []
    assert checked["lead-150.csv"] == [(2, "actual", "PERCENT_OUT_OF_RANGE")]
    assert checked["lead-percent-sign.csv"] == []
    assert checked["lead-baht-sign.csv"] == []
    assert [code for *_, code in checked["lead-signs-swapped.csv"]] == ["NOT_A_NUMBER", "NOT_A_NUMBER"]


def test_the_nights_quarantine_says_the_same(site, prefect_harness):
    """The night routes these files to the restricted store and quarantines the strangers' and
    the secondary's with the same defects as `check`."""
    root, registry, inbox, folder = site
    for path in folder.iterdir():
        if path.name.startswith(("stranger-", "secondary-")):
            (inbox / path.name).write_bytes(path.read_bytes())
    result = CliRunner().invoke(main, ["run", "--inbox", str(inbox), "--registry", str(registry), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF,
                                       "--settle-seconds", "0"])
    assert result.exit_code == 0, result.output
    rows = q(files_of(root / "wh.duckdb").restricted, """
        SELECT s.file_name, s.status, list((i.row_number, i.column_name, i.code) ORDER BY i.row_number, i.code)
        FROM ingest.submissions s JOIN ingest.issues i USING (submission_id)
        WHERE (s.file_name LIKE 'stranger-%' OR s.file_name LIKE 'secondary-%') AND i.severity = 'error'
        GROUP BY ALL ORDER BY 1""")
    got = {name: (status, [tuple(x.values()) if isinstance(x, dict) else tuple(x) for x in issues])
           for name, status, issues in rows}
    expected = {}
    for case in VALUES:
        name = case.replace(" ", "-")
        expected[f"stranger-{name}.csv"] = ("quarantined", [(2, "agency_code", "AGENCY_NOT_PARTICIPANT")])
        expected[f"secondary-{name}.csv"] = ("quarantined", [(2, "line_type", "KPI_NOT_LEAD"),
                                                             (3, "line_type", "KPI_NOT_LEAD")])
    assert got == expected
