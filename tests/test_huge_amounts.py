"""Issue 24 item 3b: every value validation accepts passes through every mart without overflow.

The limits (pilots/checks.py, docs/defects.md):
- a budget line's amount has at most 16 digits before the point (core.budget_lines is DECIMAL(18,2));
- one report's allocated (and so disbursed) amounts add up to less than 10^14 baht
  (BUDGET_TOTAL_TOO_LARGE), and a pilot has at most 100 agencies (the registry), so a pilot's
  period total is below 100 × 10^14 = 10^16 and fits the marts' DECIMAL(18,2);
- a KPI actual has at most 25 digits before the point, so a year's sum of four quarters fits
  DECIMAL(38,10) and compares with the thresholds (12 decimals) without overflow.

Scenario: pilot PLT-2548-777 with 100 agencies (A00 lead, A01..A99 secondary). In 2548-Q1 every
agency sends one budget line of the largest report total, 99,999,999,999,999.99, disbursed in
full; A00 on layer 5 (own), A01..A50 on layer (i mod 5) + 1 with lead_integrated, A51..A99 on
layer (i mod 5) + 1 with own. The lead sends K1 (count, sum) = the largest actual every quarter of
2548 and 2549-Q1, and K2 (count, last, lower) alternately +max / -max.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import HEADER

PILOT = "PLT-2548-777"
AGENCIES = [f"{90000 + i:05d}" for i in range(100)]
LINE = Decimal("99999999999999.99")  # the largest report total, on one line
ACTUAL = Decimal("9999999999999999999999999.9999999999")  # 25 digits, 10 decimals
AS_OF = "2006-02-15"
PERIODS = ["2548-Q1", "2548-Q2", "2548-Q3", "2548-Q4", "2549-Q1"]
SUBMITTED = {"2548-Q1": "2005-01-10", "2548-Q2": "2005-04-10", "2548-Q3": "2005-07-10",
             "2548-Q4": "2005-10-10", "2549-Q1": "2006-01-10"}


def registry_text() -> tuple[str, str]:
    agencies = "\n".join(f'- {{code: "{c}", name_th: หน่วยงาน {c}, name_en: Agency {c}, ministry: M}}'
                         for c in AGENCIES)
    members = "\n".join(f'  - {{code: "{c}", role: {"lead" if i == 0 else "secondary"}}}'
                        for i, c in enumerate(AGENCIES))
    pilot = f"""pilot_id: {PILOT}
name_th: โครงการงบประมาณสูงสุด
name_en: Largest budget pilot
layer: 5
strategies: [1]
classification: open
start: 2004-10-01
end: 2006-09-30
agencies:
{members}
kpis:
  - code: K1
    name_th: จำนวนรวม
    name_en: Count summed
    unit: count
    direction: higher
    aggregation: sum
    weight: 50
    thresholds:
      2548: [1, 2, 3, 4, 5]
      2549: [1, 2, 3, 4, 5]
  - code: K2
    name_th: จำนวนล่าสุด
    name_en: Count last
    unit: count
    direction: lower
    aggregation: last
    weight: 50
    thresholds:
      2548: [50, 40, 30, 20, 10]
      2549: [50, 40, 30, 20, 10]
"""
    return agencies, pilot


def layer_of(i: int) -> int:
    return 5 if i == 0 else i % 5 + 1


def source_of(i: int) -> str:
    return "own" if i == 0 or i > 50 else "lead_integrated"


def write_scenario(root: Path) -> tuple[Path, Path]:
    registry, inbox = root / "registry", root / "inbox"
    (registry / "pilots").mkdir(parents=True)
    inbox.mkdir()
    agencies, pilot = registry_text()
    (registry / "agencies.yaml").write_text(agencies + "\n", encoding="utf-8")
    (registry / "pilots" / f"{PILOT}.yaml").write_text(pilot, encoding="utf-8")
    budget = {agency: f"{PILOT},{agency},2548-Q1,2005-01-10,budget,ACT-{i:02d},{layer_of(i)},,{LINE},{LINE},"
                      f"{source_of(i)}," for i, agency in enumerate(AGENCIES)}
    for agency in AGENCIES[1:]:  # the lead's line is in its 2548-Q1 report below (one report per quarter)
        (inbox / f"budget-{agency}.csv").write_text("\n".join([HEADER, budget[agency]]) + "\n", encoding="utf-8")
    for n, period in enumerate(PERIODS):
        k2 = ACTUAL if n % 2 == 0 else f"-{ACTUAL}"  # not -ACTUAL: Decimal's negation rounds to 28 digits
        rows = [f"{PILOT},{AGENCIES[0]},{period},{SUBMITTED[period]},kpi,K1,,{ACTUAL},,,,",
                f"{PILOT},{AGENCIES[0]},{period},{SUBMITTED[period]},kpi,K2,,{k2},,,,"]
        if period == "2548-Q1":
            rows.append(budget[AGENCIES[0]])
        (inbox / f"kpi-{period}.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    # One cent over the report limit: quarantined, the rest of the inbox goes on.
    over = [f"{PILOT},{AGENCIES[1]},2549-Q1,2006-01-10,budget,ACT-X1,1,,50000000000000.00,0,own,",
            f"{PILOT},{AGENCIES[1]},2549-Q1,2006-01-10,budget,ACT-X2,1,,50000000000000.00,0,own,"]
    (inbox / "over-limit.csv").write_text("\n".join([HEADER, *over]) + "\n", encoding="utf-8")
    return registry, inbox


@pytest.fixture(scope="module")
def night(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("huge")
    registry, inbox = write_scenario(root)
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox),
                                       "--warehouse", str(root / "wh.duckdb"), "--out", str(root / "out"),
                                       "--as-of", AS_OF])
    return root, registry, result


def query(root: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "wh.published.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_the_run_carries_the_largest_values_and_exits_0(night):
    root, _, result = night
    assert result.exit_code == 0, result.output
    # 99 budget files + the lead's 5 reports accepted, the one over the limit quarantined.
    assert "files seen 105: accepted 104, superseded 0, duplicates 0, quarantined 1" in result.output


def test_the_budget_totals_are_exact(night):
    root, _, _ = night
    # 100 lines of 99,999,999,999,999.99 = 9,999,999,999,999,999.00; A00 and A01..A50 integrated (51 lines).
    assert query(root, f"""SELECT total_allocated_thb, integrated_thb, fragmented_thb, integration_ratio, lead_share,
                                  support_thb, disbursed_thb, disbursement_rate, agencies_reporting, agencies_expected
                           FROM marts.budget_integration WHERE pilot_id = '{PILOT}' AND period = '2548-Q1'""") == [
        (Decimal("9999999999999999.00"), Decimal("5099999999999999.49"), Decimal("4899999999999999.51"),
         Decimal("0.5100"), Decimal("0.0100"), Decimal("0.00"), Decimal("9999999999999999.00"), Decimal("1.0000"),
         100, 100)]
    # Q2..Q4 carry Q1's lines (the latest report of the fiscal year); 2549-Q1 has none (the one
    # report sent for it was quarantined).
    assert query(root, f"""SELECT period, total_allocated_thb FROM marts.budget_integration
                           WHERE pilot_id = '{PILOT}' ORDER BY period""") == [
        (p, Decimal("9999999999999999.00")) for p in PERIODS[:4]] + [("2549-Q1", Decimal("0.00"))]


def test_the_layer_totals_are_exact(night):
    root, _, _ = night
    # Layer of A(i) = i mod 5 + 1 (A00: 5); A00..A50 integrated. Layer 1 = A05, A10, ..., A95:
    # 19 lines, 10 of them (A05..A50) integrated; layers 2-4: 20 lines each; layer 5 = A00 and
    # A04, A09, ..., A99: 21 lines.
    expected = {}
    for layer in range(1, 6):
        lines = [i for i in range(100) if layer_of(i) == layer]
        integrated = [i for i in lines if i == 0 or 1 <= i <= 50]
        expected[layer] = (LINE * len(lines), LINE * len(integrated), LINE * (len(lines) - len(integrated)))
    assert [len([i for i in range(100) if layer_of(i) == layer]) for layer in range(1, 6)] == [19, 20, 20, 20, 21]
    got = query(root, f"""SELECT layer, total_allocated_thb, integrated_thb, fragmented_thb, disbursement_rate
                          FROM marts.budget_integration_by_layer WHERE pilot_id = '{PILOT}' AND period = '2548-Q1'
                          ORDER BY layer""")
    assert got == [(layer, *expected[layer], Decimal("1.0000")) for layer in range(1, 6)]
    assert expected[1] == (Decimal("1899999999999999.81"), Decimal("999999999999999.90"),
                           Decimal("899999999999999.91"))


def test_the_kpis_score_and_the_outlier_test_runs(night):
    root, _, _ = night
    rows = query(root, f"""SELECT kpi_code, period, actual, score FROM marts.kpi_scores
                           WHERE pilot_id = '{PILOT}' ORDER BY kpi_code, period""")
    k1 = [r for r in rows if r[0] == "K1"]
    # sum aggregation: year to date, 1..4 quarters of the largest actual; 2549 starts again
    assert [r[2] for r in k1] == [Decimal("9999999999999999999999999.9999999999"),
                                  Decimal("19999999999999999999999999.9999999998"),
                                  Decimal("29999999999999999999999999.9999999997"),
                                  Decimal("39999999999999999999999999.9999999996"), ACTUAL]
    assert {r[3] for r in k1} == {Decimal("5.0000")}
    k2 = [r for r in rows if r[0] == "K2"]
    # lower is better: +max scores 1, -max scores 5
    low = Decimal(f"-{ACTUAL}")
    assert [(r[2], r[3]) for r in k2] == [(ACTUAL, 1), (low, 5), (ACTUAL, 1), (low, 5), (ACTUAL, 1)]
    # K2 in 2549-Q1: history +max, -max, +max, -max: median 0, MAD = max, z = 0.6745 (not flagged);
    # the test ran on values of 10^25 without overflow.
    assert query(root, f"""SELECT count(*) FROM marts.kpi_outliers WHERE pilot_id = '{PILOT}'""") == [(0,)]


def test_the_report_over_the_limit_is_quarantined_by_check_and_run(night, tmp_path):
    root, registry, _ = night
    assert query(root, "SELECT i.code, i.column_name, i.row_number FROM ingest.issues i "
                       "JOIN ingest.submissions s USING (submission_id) WHERE s.file_name = 'over-limit.csv'") == [
        ("BUDGET_TOTAL_TOO_LARGE", "allocated_thb", 3)]  # row 3: its second line reaches 10^14
    checked = CliRunner().invoke(main, ["check", str(root / "inbox" / "quarantine" / "over-limit.csv"),
                                        "--registry", str(registry), "--as-of", AS_OF])
    assert checked.exit_code == 6, checked.output
    assert "BUDGET_TOTAL_TOO_LARGE" in checked.output and "100,000,000,000,000.00" in checked.output


def test_a_pilot_of_more_than_100_agencies_is_refused(tmp_path):
    from pilots.registry import RegistryError, load_registry

    registry, _ = write_scenario(tmp_path)
    path = registry / "pilots" / f"{PILOT}.yaml"
    extra = '- {code: "90100", name_th: หน่วยงาน 90100, name_en: Agency 90100, ministry: M}\n'
    (registry / "agencies.yaml").write_text((registry / "agencies.yaml").read_text(encoding="utf-8") + extra,
                                            encoding="utf-8")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "kpis:", '  - {code: "90100", role: secondary}\nkpis:'), encoding="utf-8")
    with pytest.raises(RegistryError, match="a pilot may have at most 100 agencies \\(found 101\\)"):
        load_registry(registry)
