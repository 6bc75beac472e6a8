"""A running pilot's registry changed between real `pilotkpi run` nights: today's registry governs
every due period (docs/registry.md, "Changing the registry of a running pilot").

Registry (agencies.yaml as below): pilot PLT-2548-001, FY 2548, lead 15001, secondary 03009,
supporting 11002 and 08001, advisory 20004; K1 percent/higher/last weight 60, K2 count/higher/sum
weight 40. 2548-Q1 budget reports, all accepted on the first night (as of 2005-02-15):
- 03009: ACT-1 layer 5 own 1,000,000 allocated / 200,000 disbursed;
- 15001 (lead): ACT-1 layer 5 own 500,000 / 100,000 and ACT-2 layer 4 lead_integrated 300,000 / 0;
- 11002: ACT-4 layer 2 own 50,000 / 0.
Each night's marts, open and restricted (the pilot is run both ways), must equal those of a
`pilotkpi rebuild` of a copy of the same folder.
"""
from __future__ import annotations

import hashlib
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from kpis.build import MART_NAMES
from tests.log_capture import every_log_record

P = "PLT-2548-001"
HEADER = ("pilot_id,agency_code,period,submitted_on,line_type,item_code,layer,actual,allocated_thb,disbursed_thb,"
          "funding_source,note")
AGENCIES = """
- {code: "03009", name_th: สำนักงาน ก.พ.ร., name_en: OPDC, ministry: PMO}
- {code: "15001", name_th: กรมการปกครอง, name_en: DOPA, ministry: MOI}
- {code: "11002", name_th: กระทรวงไอซีที, name_en: MICT, ministry: MICT}
- {code: "20004", name_th: สำนักงานสถิติแห่งชาติ, name_en: NSO, ministry: MICT}
- {code: "08001", name_th: กรมจี, name_en: "<script>alert('G')</script> G", ministry: X}
"""
K1 = ("  - {code: K1, name_th: ร้อยละ, name_en: Share, unit: percent, direction: higher, aggregation: last, "
      "weight: %s, thresholds: {2548: [20, 30, 40, 50, 60], 2549: [40, 50, 60, 70, 80]}}\n")
K2 = ("  - {code: K2, name_th: จำนวน, name_en: Count, unit: count, direction: higher, aggregation: sum, "
      "weight: %s, thresholds: {2548: [100, 200, 300, 400, 500], 2549: [100, 200, 300, 400, 500]}}\n")
K9 = ("  - {code: K9, name_th: เก้า, name_en: Nine, unit: count, direction: higher, aggregation: last, "
      "weight: 50, thresholds: {2548: [1, 2, 3, 4, 5], 2549: [1, 2, 3, 4, 5]}}\n")
FIRST = [("15001", "lead"), ("03009", "secondary"), ("11002", "supporting"), ("08001", "supporting"),
         ("20004", "advisory")]


def pilot_yaml(agencies, kpis: str, classification: str = "open", end: str = "2006-09-30") -> str:
    roles = "\n".join(f'  - {{code: "{code}", role: {role}}}' for code, role in agencies)
    return (f"pilot_id: {P}\nname_th: โครงการ\nname_en: One-stop\nlayer: 5\nstrategies: [1, 6]\n"
            f"classification: {classification}\nstart: 2004-10-01\nend: {end}\nagencies:\n{roles}\nkpis:\n{kpis}")


def csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def write(root: Path, pilot: str, files: dict[str, str]) -> None:
    (root / "registry" / "pilots").mkdir(parents=True, exist_ok=True)
    (root / "inbox").mkdir(exist_ok=True)
    (root / "registry" / "agencies.yaml").write_text(AGENCIES, encoding="utf-8")
    (root / "registry" / "pilots" / f"{P}.yaml").write_text(pilot, encoding="utf-8")
    for name, text in files.items():
        (root / "inbox" / name).write_text(text, encoding="utf-8")


def run(root: Path, as_of: str, *command: str) -> str:
    args = [*command] or ["run", "--inbox", str(root / "inbox"), "--settle-seconds", "0"]
    result = CliRunner().invoke(main, [*args, "--registry", str(root / "registry"), "--warehouse",
                                       str(root / "w.duckdb"), "--out", str(root / "out"), "--as-of", as_of])
    assert result.exit_code == 0, result.output
    return result.output


def stores(root: Path) -> list[Path]:
    return [p for p in (root / "w.duckdb", root / "w.restricted.duckdb") if p.exists()]


def checksums(root: Path) -> dict[str, str]:
    """SHA-256 of every mart's rows (ORDER BY ALL), of each store."""
    sums = {}
    for path in stores(root):
        con = duckdb.connect(str(path), read_only=True)
        try:
            sums |= {f"{path.name}:{m}": hashlib.sha256(repr(con.execute(f"SELECT * FROM marts.{m} ORDER BY ALL")
                                                              .fetchall()).encode()).hexdigest() for m in MART_NAMES}
        finally:
            con.close()
    return sums


def equals_a_rebuild(root: Path, as_of: str, tmp: Path) -> None:
    ref = tmp / f"rebuilt-{as_of}"
    shutil.copytree(root, ref)
    run(ref, as_of, "rebuild")
    assert checksums(root) == checksums(ref)


def q(root: Path, sql: str, params=(), restricted: bool = False) -> list[tuple]:
    con = duckdb.connect(str(root / ("w.restricted.duckdb" if restricted else "w.duckdb")), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


BUDGET = ("SELECT total_allocated_thb, integrated_thb, fragmented_thb, integration_ratio, lead_share, disbursed_thb, "
          "disbursement_rate, overlapping_activities, agencies_reporting, agencies_expected "
          "FROM marts.budget_integration WHERE pilot_id = ? AND period = '2548-Q1'")
LAYERS = ("SELECT layer, total_allocated_thb, integrated_thb, integration_ratio, lead_share FROM "
          "marts.budget_integration_by_layer WHERE pilot_id = ? AND period = '2548-Q1' ORDER BY layer")
SNAPSHOT_AGENCIES = "SELECT DISTINCT agency_code FROM marts.budget_snapshot WHERE pilot_id = ? ORDER BY 1"


def D(text: str) -> Decimal:
    return Decimal(text)


@pytest.mark.parametrize("classification", ["open", "restricted"])
def test_an_agency_removed_or_made_advisory_counts_in_no_budget_figure(tmp_path, prefect_harness, classification):
    """scoring.md §3 takes "for each agency" of the pilot the lines of its latest report: the
    agencies today's registry names for it as lead, secondary or supporting (kpis/budget_snapshot.sql).
    A restricted pilot's budget marts are the restricted store's."""
    root, restricted = tmp_path / "night", classification == "restricted"
    kpis = K1 % 60 + K2 % 40
    write(root, pilot_yaml(FIRST, kpis, classification), {
        "a.csv": csv(f"{P},03009,2548-Q1,2005-01-20,budget,ACT-1,5,,1000000,200000,own,"),
        "b.csv": csv(f"{P},15001,2548-Q1,2005-02-05,budget,ACT-1,5,,500000,100000,own,",
                     f"{P},15001,2548-Q1,2005-02-05,budget,ACT-2,4,,300000,0,lead_integrated,"),
        "c.csv": csv(f"{P},11002,2548-Q1,2005-02-10,budget,ACT-4,2,,50000,0,own,")})
    assert "accepted 3," in run(root, "2005-02-15")
    # Night 1: 1,850,000 in all; integrated the lead's 500,000 + 300,000 = 800,000 (800/1850 = 0.4324);
    # ACT-1 carried by two agencies, 03009's own line fragmented: one overlap; 3 of 4 expected reporting.
    assert q(root, BUDGET, [P], restricted) == [(D("1850000.00"), D("800000.00"), D("1050000.00"), D("0.4324"),
                                                 D("0.4324"), D("300000.00"), D("0.1622"), 1, 3, 4)]

    # Night 2: 11002 is removed from the pilot. Its accepted line counts no more: total 1,800,000,
    # integrated 800,000, fragmented 1,000,000, ratio and lead share 800/1800 = 0.4444, disbursed
    # 300,000 (300/1800 = 0.1667), 2 of 3 agencies reporting.
    write(root, pilot_yaml([a for a in FIRST if a[0] != "11002"], kpis, classification), {})
    run(root, "2005-02-16")
    assert q(root, BUDGET, [P], restricted) == [(D("1800000.00"), D("800000.00"), D("1000000.00"), D("0.4444"),
                                                 D("0.4444"), D("300000.00"), D("0.1667"), 1, 2, 3)]
    # By layer: layer 2 (11002's only line) is gone; layer 5 1,500,000 of which the lead's 500,000
    # (0.3333 both); layer 4 the lead's 300,000 (1.0000 both).
    assert q(root, LAYERS, [P], restricted) == [(4, D("300000.00"), D("300000.00"), D("1.0000"), D("1.0000")),
                                                (5, D("1500000.00"), D("500000.00"), D("0.3333"), D("0.3333"))]
    assert q(root, SNAPSHOT_AGENCIES, [P], restricted) == [("03009",), ("15001",)]
    equals_a_rebuild(root, "2005-02-16", tmp_path)

    # Night 3: 03009 becomes advisory (an advisory agency sends no budget; validation refuses its
    # lines): only the lead's 800,000 are left, all integrated (1.0000, lead share 1.0000), disbursed
    # 100,000 (0.1250), no overlap, 1 of 2 expected (15001 and 08001) reporting.
    third = [("15001", "lead"), ("03009", "advisory"), ("08001", "supporting"), ("20004", "advisory")]
    write(root, pilot_yaml(third, kpis, classification), {})
    run(root, "2005-02-17")
    assert q(root, BUDGET, [P], restricted) == [(D("800000.00"), D("800000.00"), D("0.00"), D("1.0000"),
                                                 D("1.0000"), D("100000.00"), D("0.1250"), 0, 1, 2)]
    assert q(root, SNAPSHOT_AGENCIES, [P], restricted) == [("15001",)]
    equals_a_rebuild(root, "2005-02-17", tmp_path)

    # Night 4: 11002 is back as a supporting agency: its accepted report counts again (50,000 own).
    write(root, pilot_yaml(third + [("11002", "supporting")], kpis, classification), {})
    run(root, "2005-02-18")
    assert q(root, BUDGET, [P], restricted) == [(D("850000.00"), D("800000.00"), D("50000.00"), D("0.9412"),
                                                 D("0.9412"), D("100000.00"), D("0.1176"), 0, 2, 3)]
    equals_a_rebuild(root, "2005-02-18", tmp_path)
    if restricted:  # no line-level row of it in the open warehouse
        assert q(root, f"SELECT count(*) FROM marts.budget_snapshot WHERE pilot_id = '{P}'") == [(0,)]


def test_a_kpi_removed_from_the_registry_keeps_no_outlier_flag(tmp_path, prefect_harness):
    """K9 is flagged in 2549-Q1 (10, 10, 11, 10, then 50: m = 10, MAD = 0, MeanAD = 0.25,
    z = 40 / (1.253314 × 0.25) = 127.6615 > 3.5); the committee then removes K9 (K1 weight 100). Its
    values are tested in no period: no outlier row, no "Figures to confirm" about it, as kpi_scores
    has no K9 row (kpis/kpi_outlier_checks.sql)."""
    root = tmp_path / "night"
    k1 = K1.replace("percent", "count")
    files = {f"f{i}.csv": csv(f"{P},15001,{period},{day},kpi,K1,,3,,,,", f"{P},15001,{period},{day},kpi,K9,,{k9},,,,")
             for i, (period, day, k9) in enumerate([("2548-Q1", "2005-01-10", 10), ("2548-Q2", "2005-04-10", 10),
                                                    ("2548-Q3", "2005-07-10", 11), ("2548-Q4", "2005-10-10", 10),
                                                    ("2549-Q1", "2006-01-10", 50)])}
    write(root, pilot_yaml(FIRST, k1 % 50 + K9), files)
    run(root, "2006-02-15")
    outliers = "SELECT kpi_code, period, modified_z, rule FROM marts.kpi_outliers ORDER BY ALL"
    assert q(root, outliers) == [("K9", "2549-Q1", D("127.6615"), "modified_z")]
    assert "K9" in (root / "out" / "summary.en.md").read_text(encoding="utf-8")

    write(root, pilot_yaml(FIRST, k1 % 100), {})
    run(root, "2006-02-16")
    assert q(root, "SELECT DISTINCT kpi_code FROM marts.kpi_scores") == [("K1",)]
    assert q(root, outliers) == []
    assert q(root, "SELECT DISTINCT kpi_code FROM marts.kpi_outlier_checks") == [("K1",)]
    assert "K9" not in (root / "out" / "summary.en.md").read_text(encoding="utf-8")
    assert q(root, "SELECT count(*) FROM core.kpi_actuals WHERE kpi_code = 'K9'") == [(5,)]  # kept
    equals_a_rebuild(root, "2006-02-16", tmp_path)


def test_a_new_lead_is_warned_of_and_scores_earlier_quarters_from_its_reports(tmp_path, prefect_harness):
    """The lead 15001 reported K1 47 and K2 150 for 2548-Q1: K1 3 + 7/10 = 3.7 on [20 .. 60], K2 5
    (150 above t5 = 500 × 1/4 = 125 of the sum KPI in Q1), composite (3.7 × 60 + 5 × 40) / 100 = 4.22.
    The committee makes 03009 the lead: the night prints and logs, in English and Thai, the pilot, the old and the new lead, and
    2548-Q1 is scored from 03009's reports, of which there are none: no_data. A later night that
    changes something else warns of nothing."""
    root = tmp_path / "night"
    kpis = K1 % 60 + K2 % 40
    write(root, pilot_yaml(FIRST, kpis), {
        "a.csv": csv(f"{P},15001,2548-Q1,2005-01-20,kpi,K1,,47,,,,", f"{P},15001,2548-Q1,2005-01-20,kpi,K2,,150,,,,")})
    first = run(root, "2005-02-15")
    assert "lead agency" not in first
    pilot_score = "SELECT period, composite_score, status FROM marts.pilot_scores ORDER BY period"
    assert q(root, pilot_score) == [("2548-Q1", D("4.2200"), "on_target")]

    swapped = [("03009", "lead"), ("15001", "secondary")] + FIRST[2:]
    write(root, pilot_yaml(swapped, kpis), {})
    with every_log_record("%(levelname)s %(message)s") as logged:
        output = run(root, "2005-02-16")
    english = (f"warning: the registry changes the lead agency of pilot {P} from 15001 to 03009: earlier quarters "
               "are now scored from the new lead's (03009) reports too")
    thai = (f"คำเตือน: ทะเบียนโครงการเปลี่ยนหน่วยงานหลักของโครงการ {P} จาก 15001 เป็น 03009 "
            "ไตรมาสก่อนหน้าทุกไตรมาสจะคิดคะแนนจากรายงานของหน่วยงานหลักใหม่ (03009)")
    for line in (english, thai):
        assert f"pilotkpi: {line}" in output
        assert [entry for entry in logged if entry.startswith(f"WARNING {line}")], line
    assert q(root, pilot_score) == [("2548-Q1", None, "no_data")]
    assert q(root, "SELECT DISTINCT status FROM marts.kpi_scores") == [("no_data",)]
    equals_a_rebuild(root, "2005-02-16", tmp_path)

    # The same lead, another weight: no warning. (The registry is rewritten: registry_check.)
    write(root, pilot_yaml(swapped, K1 % 50 + K2 % 50), {})
    assert "lead agency" not in run(root, "2005-02-17")
