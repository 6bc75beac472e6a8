"""The nightly flow end to end on a tiny hand-computed scenario (see the expected values' comments).

Registry: pilot PLT-2548-003, FY 2548 only; lead 03009, secondary 15001, supporting 11002,
advisory 20004. K1 percent/higher/last weight 60, thresholds [20,30,40,50,60];
K2 count/higher/sum weight 40, thresholds [100,200,300,400,500]. As of 2005-05-15 the due
periods are 2548-Q1 (ends 2004-12-31, due 2005-01-30) and 2548-Q2 (ends 2005-03-31, due 2005-04-30).
"""
from __future__ import annotations

import csv
import io
import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main

AS_OF = "2005-05-15"
HEADER = "pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,funding_source,note"

AGENCIES = """
- {code: "03009", name_th: สำนักงาน ก.พ.ร., name_en: Office of the Public Sector Development Commission, ministry: Office of the Prime Minister}
- {code: "15001", name_th: กรมการปกครอง, name_en: Department of Provincial Administration, ministry: Ministry of Interior}
- {code: "11002", name_th: กระทรวงเทคโนโลยีสารสนเทศและการสื่อสาร, name_en: Ministry of Information and Communication Technology, ministry: MICT}
- {code: "20004", name_th: สำนักงานสถิติแห่งชาติ, name_en: National Statistical Office, ministry: MICT}
"""
PILOT = """
pilot_id: PLT-2548-003
name_th: ระบบบริการประชาชนแบบเบ็ดเสร็จ
name_en: One-stop e-citizen service
layer: 5
strategies: [1, 6]
classification: open
start: 2004-10-01
end: 2005-09-30
agencies:
  - {code: "03009", role: lead}
  - {code: "15001", role: secondary}
  - {code: "11002", role: supporting}
  - {code: "20004", role: advisory}
kpis:
  - code: K1
    name_th: ร้อยละของคำขอที่ยื่นผ่านระบบออนไลน์
    name_en: Share of applications filed online
    unit: percent
    direction: higher
    aggregation: last
    weight: 60
    thresholds:
      2548: [20, 30, 40, 50, 60]
  - code: K2
    name_th: จำนวนคำขอที่ดำเนินการเสร็จ
    name_en: Applications completed
    unit: count
    direction: higher
    aggregation: sum
    weight: 40
    thresholds:
      2548: [100, 200, 300, 400, 500]
"""


def _csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def make_scenario(root: Path) -> tuple[Path, Path]:
    registry = root / "registry"
    (registry / "pilots").mkdir(parents=True)
    (registry / "agencies.yaml").write_text(AGENCIES, encoding="utf-8")
    (registry / "pilots" / "PLT-2548-003.yaml").write_text(PILOT, encoding="utf-8")
    inbox = root / "inbox"
    inbox.mkdir()
    p = "PLT-2548-003"
    a = _csv(f"{p},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
             f"{p},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,",
             f"{p},03009,2548-Q1,2005-01-20,budget,ACT-1,5,,1000000,200000,own,")
    (inbox / "a_lead_q1.csv").write_bytes(a)
    # Secondary, 16 days late, Thai headers, cp874, semicolons.
    thai_header = "รหัสโครงการ;รหัสหน่วยงาน;งวดรายงาน;วันที่ส่ง;ประเภทรายการ;รหัสรายการ;ชั้น;งบจัดสรร;เบิกจ่าย;แหล่งงบประมาณ"
    (inbox / "b_sec_q1.csv").write_bytes("\n".join([
        thai_header,
        f"{p};15001;2548-Q1;2005-02-15;งบประมาณ;ACT-1;5;500000;100000;งบของหน่วยงาน",
        f"{p};15001;2548-Q1;2005-02-15;งบประมาณ;ACT-2;4;300000;0;งบบูรณาการ",
    ]).encode("cp874"))
    (inbox / "c_lead_q2.json").write_text(json.dumps({
        "pilot_id": p, "agency_code": "03009", "period": "2548-Q2", "submitted_on": "2005-04-20",
        "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 55},
                  {"line_type": "budget", "item_code": "ACT-1", "layer": 5, "allocated_thb": 1000000,
                   "disbursed_thb": 450000, "funding_source": "own"}]}), encoding="utf-8")
    (inbox / "d_lead_q2_fix.csv").write_bytes(_csv(
        f"{p},03009,2548-Q2,2005-04-25,kpi,K1,,55,,,,",
        f"{p},03009,2548-Q2,2005-04-25,kpi,K2,,90,,,,",
        f"{p},03009,2548-Q2,2005-04-25,budget,ACT-1,5,,1000000,450000,own,"))
    (inbox / "e_dup.csv").write_bytes(a)
    (inbox / "f_bad.csv").write_bytes(_csv(
        f"{p},11002,2548-Q2,2005-04-10,budget,ACT-9,3,,100000,150000,support_contribution,"))
    return registry, inbox


def make_empty_scenario(root: Path) -> tuple[Path, Path]:
    """make_scenario's registry with an empty inbox: a test writes its own files."""
    registry, inbox = make_scenario(root)
    for p in inbox.iterdir():
        p.unlink()
    return registry, inbox


def run_cli(registry: Path, inbox: Path, root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF])
    return result.exit_code, result.output


def figures(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in (
            "marts.kpi_scores", "marts.pilot_scores", "marts.budget_integration",
            "marts.budget_integration_by_layer", "marts.reporting_compliance", "core.kpi_actuals",
            "core.budget_lines")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("flow")
    registry, inbox = make_scenario(root)
    first = run_cli(registry, inbox, root)
    after_first = figures(root / "wh.duckdb")
    # The run filed every file away; the agencies send the very same files again.
    moved = sorted((inbox / "processed").iterdir()) + sorted((inbox / "quarantine").iterdir())
    assert [p.name for p in moved] == ["a_lead_q1.csv", "b_sec_q1.csv", "c_lead_q2.json", "d_lead_q2_fix.csv",
                                       "e_dup.csv", "f_bad.csv"]
    assert [p.name for p in (inbox / "quarantine").iterdir()] == ["f_bad.csv"]
    for path in moved:
        path.rename(inbox / path.name)
    second = run_cli(registry, inbox, root)
    return root, first, second, after_first


def q(con, sql):
    return con.execute(sql).fetchall()


def test_run_prints_a_summary_and_exits_0(scenario):
    root, (code, out), _, _ = scenario
    assert code == 0, out
    assert "files seen 6: accepted 3, superseded 1, duplicates 1, quarantined 1" in out
    assert "pilots by status: on_target 1, at_risk 0, off_track 0, no_data 0" in out
    assert (root / "out" / "summary.th.md").exists() and (root / "out" / "summary.en.md").exists()


def test_statuses_follow_receipt_order(scenario):
    root, *_ = scenario
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    rows = q(con, "SELECT submission_id, file_name, status, superseded_by, duplicate_of, encoding "
                  "FROM ingest.submissions WHERE run_id = (SELECT min(run_id) FROM ops.runs) ORDER BY 1")
    assert rows == [
        (1, "a_lead_q1.csv", "accepted", None, None, "utf-8"),
        (2, "b_sec_q1.csv", "accepted", None, None, "cp874"),
        (3, "c_lead_q2.json", "superseded", 4, None, "utf-8"),
        (4, "d_lead_q2_fix.csv", "accepted", None, None, "utf-8"),
        (5, "e_dup.csv", "duplicate", None, 1, None),
        (6, "f_bad.csv", "quarantined", None, None, "utf-8"),
    ]
    # The quarantined file lists its defect with row, column and both languages.
    issue = q(con, "SELECT row_number, column_name, code, severity, message_en, message_th FROM ingest.issues "
                   "WHERE submission_id = 6")
    assert [(r[0], r[1], r[2], r[3]) for r in issue] == [(2, "disbursed_thb", "DISBURSED_OVER_ALLOCATED", "error")]
    assert "150000" in issue[0][4] and "เบิกจ่าย" in issue[0][5]
    # The superseded version's lines left core.*; evidence keeps every distinct file's bytes.
    assert q(con, "SELECT DISTINCT submission_id FROM core.kpi_actuals ORDER BY 1") == [(1,), (4,)]
    assert len(list((root / "wh.evidence").rglob("*"))) - len(list((root / "wh.evidence").glob("*"))) == 5
    con.close()


def test_kpi_scores_hand_computed(scenario):
    root, *_ = scenario
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    rows = q(con, "SELECT kpi_code, period, actual, t1, t5, score, weighted_score, is_missing, status "
                  "FROM marts.kpi_scores ORDER BY period, kpi_code")
    D = Decimal
    assert [(r[0], r[1], D(r[2]), D(r[3]), D(r[4]), D(r[5]), D(r[6]), r[7], r[8]) for r in rows] == [
        # Q1: K1 a=47 between t3=40 and t4=50: 3 + 7/10.
        ("K1", "2548-Q1", D(47), D(20), D(60), D("3.7000"), D("2.2200"), False, "on_target"),
        # Q1: K2 sum, thresholds x 1/4 = [25..125]; a=60 between t2=50 and t3=75: 2 + 10/25.
        ("K2", "2548-Q1", D(60), D(25), D(125), D("2.4000"), D("0.9600"), False, "at_risk"),
        # Q2 (the resubmission): K1 a=55 between 50 and 60: 4 + 5/10.
        ("K1", "2548-Q2", D(55), D(20), D(60), D("4.5000"), D("2.7000"), False, "on_target"),
        # Q2: K2 = 60 + 90 = 150, thresholds x 2/4 = [50..250]; exactly t3 = 150.
        ("K2", "2548-Q2", D(150), D(50), D(250), D("3.0000"), D("1.2000"), False, "on_target"),
    ]
    # composite Q1 = (3.7*60 + 2.4*40)/100 = 3.18; Q2 = (4.5*60 + 3*40)/100 = 3.9.
    assert q(con, "SELECT period, composite_score, status, kpis_reported, kpis_expected FROM marts.pilot_scores "
                  "ORDER BY period") == [("2548-Q1", D("3.1800"), "on_target", 2, 2),
                                        ("2548-Q2", D("3.9000"), "on_target", 2, 2)]
    con.close()


def test_budget_integration_hand_computed(scenario):
    root, *_ = scenario
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    rows = q(con, "SELECT period, total_allocated_thb, integrated_thb, fragmented_thb, integration_ratio, lead_share, "
                  "support_thb, disbursed_thb, disbursement_rate, overlapping_activities, agencies_reporting, "
                  "agencies_expected FROM marts.budget_integration ORDER BY period")
    D = Decimal
    # Lines Q1: lead ACT-1 own 1,000,000/200,000 (integrated: lead); secondary ACT-1 own 500,000/100,000
    # (fragmented); secondary ACT-2 lead_integrated 300,000/0. 1.3M/1.8M = 0.7222; 1.0M/1.8M = 0.5556.
    # ACT-1 carried by two agencies, one line fragmented: 1 overlap. Q2: the lead's Q2 lines replace its
    # Q1 lines (disbursed 450,000); the secondary's Q1 lines still count (no Q2 report).
    assert [tuple(D(v) if isinstance(v, (Decimal, float)) else v for v in r) for r in rows] == [
        ("2548-Q1", D("1800000.00"), D("1300000.00"), D("500000.00"), D("0.7222"), D("0.5556"), D("0.00"),
         D("300000.00"), D("0.1667"), 1, 2, 3),
        ("2548-Q2", D("1800000.00"), D("1300000.00"), D("500000.00"), D("0.7222"), D("0.5556"), D("0.00"),
         D("550000.00"), D("0.3056"), 1, 2, 3),
    ]
    con.close()


def test_reporting_compliance_hand_computed(scenario):
    root, *_ = scenario
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    rows = q(con, "SELECT period, agency_code, role, submitted, first_submitted_on, due_date, on_time, days_late, "
                  "versions, quarantined FROM marts.reporting_compliance ORDER BY period, agency_code")
    assert rows == [
        ("2548-Q1", "03009", "lead", True, date(2005, 1, 20), date(2005, 1, 30), True, 0, 1, 0),
        ("2548-Q1", "11002", "supporting", False, None, date(2005, 1, 30), False, None, 0, 0),
        ("2548-Q1", "15001", "secondary", True, date(2005, 2, 15), date(2005, 1, 30), False, 16, 1, 0),
        # The lead's two Q2 versions: the first (20 Apr) sets first_submitted_on.
        ("2548-Q2", "03009", "lead", True, date(2005, 4, 20), date(2005, 4, 30), True, 0, 2, 0),
        ("2548-Q2", "11002", "supporting", False, None, date(2005, 4, 30), False, None, 0, 1),
        ("2548-Q2", "15001", "secondary", False, None, date(2005, 4, 30), False, None, 0, 0),
    ]
    con.close()


def test_second_run_changes_no_figure(scenario):
    root, _, (code, out), after_first = scenario
    assert code == 0, out
    assert "files seen 6: accepted 0, superseded 0, duplicates 6, quarantined 0" in out
    assert figures(root / "wh.duckdb") == after_first


def test_summary_markdown_in_both_languages(scenario):
    root, *_ = scenario
    th = (root / "out" / "summary.th.md").read_text(encoding="utf-8")
    en = (root / "out" / "summary.en.md").read_text(encoding="utf-8")
    assert "ไตรมาส 2/2548" in th and "3.9000" in th and "15 พ.ค. 2548" in th
    # A file name is agency text: its "." escaped in Markdown (warehouse/display.py md_text).
    assert "FY2005 Q2" in en and "3.9000" in en and "f_bad\\.csv" in en and "DISBURSED_OVER_ALLOCATED" in en
    assert "กรมการปกครอง" in th and "Department of Provincial Administration" in en


def test_broken_registry_stops_before_writing(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    text = (registry / "pilots" / "PLT-2548-003.yaml").read_text(encoding="utf-8")
    (registry / "pilots" / "PLT-2548-003.yaml").write_text(text.replace("weight: 40", "weight: 30"), encoding="utf-8")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 4  # EXIT_REGISTRY
    assert "PLT-2548-003.yaml" in out and "100" in out
    assert not (tmp_path / "wh.duckdb").exists()


def test_a_crash_leaves_the_warehouse_as_it_was(tmp_path, prefect_harness, monkeypatch):
    registry, inbox = make_scenario(tmp_path)
    # A first good run with only the first file.
    only_first = tmp_path / "inbox1"
    only_first.mkdir()
    shutil.copy(inbox / "a_lead_q1.csv", only_first)
    assert run_cli(registry, only_first, tmp_path)[0] == 0
    before = figures(tmp_path / "wh.duckdb")

    import flows.nightly

    def boom(con, as_of, **kwargs):
        raise RuntimeError("disk full while building marts")

    monkeypatch.setattr(flows.nightly, "build_marts", boom)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 1 and "disk full" in out
    assert figures(tmp_path / "wh.duckdb") == before
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    assert q(con, "SELECT count(*) FROM ingest.submissions") == [(1,)]
    assert q(con, "SELECT status, error FROM ops.runs ORDER BY started_at") == [
        ("succeeded", None), ("failed", "RuntimeError: disk full while building marts")]
    con.close()


def test_reminder_letters_hand_computed(scenario):
    """follow-up.md after a run, as of 2005-05-15 (Q1 due 2005-01-30, Q2 due 2005-04-30):
    - 11002 (supporting) sent nothing for Q1: 1 + 28 + 31 + 30 + 15 = 105 days overdue, level 3,
      missing; its only Q2 file f_bad.csv (submission 6) was quarantined: 15 days, level 1,
      rejected_file;
    - 15001 (secondary) reported Q1 but not Q2: 15 days, level 1, missing;
    - the lead reported both quarters; 20004 is advisory: no letter."""
    root, *_ = scenario
    con = duckdb.connect(str(root / "wh.duckdb"), read_only=True)
    assert q(con, "SELECT agency_code, period, due_date, days_overdue, level, reason, latest_quarantined_submission_id "
                  "FROM marts.reminders ORDER BY ALL") == [
        ("11002", "2548-Q1", date(2005, 1, 30), 105, 3, "missing", None),
        ("11002", "2548-Q2", date(2005, 4, 30), 15, 1, "rejected_file", 6),
        ("15001", "2548-Q2", date(2005, 4, 30), 15, 1, "missing", None),
    ]
    con.close()
    folder = root / "out" / "reminders"
    assert sorted(p.name for p in folder.iterdir()) == [
        "11002.en.html", "11002.th.html", "15001.en.html", "15001.th.html", "register.csv", "reminders.csv"]
    th = (folder / "11002.th.html").read_text(encoding="utf-8")
    # One letter lists both periods; the rejected file is named with its defect (row 2, disbursed_thb).
    assert th.count('data-pilot="PLT-2548-003"') == 2 and 'data-days="105"' in th and 'data-days="15"' in th
    assert "f_bad.csv" in th and "แถว ๒" in th and "disbursed_thb" in th and "DISBURSED_OVER_ALLOCATED" in th
    assert "๑๕ พฤษภาคม ๒๕๔๘" in th  # the as-of date in BE with Thai digits
    # One mail-merge row per letter: 11002's two reports in one cell, the rejected file named.
    rows = list(csv.DictReader(io.StringIO((folder / "reminders.csv").read_text(encoding="utf-8-sig"))))
    assert [(r["agency_code"], r["report_count"]) for r in rows] == [("11002", "2"), ("15001", "1")]
    assert rows[0]["reports"].splitlines()[1].endswith("rejected_file file f_bad.csv")
