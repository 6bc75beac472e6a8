"""Control, bidi and line-separator characters in the registry's names: refused, and shown visible anyway.

The registry check accepted ESC, BEL, C1 controls, newlines and U+202E in KPI, pilot and agency names
(the committee's text); `explain` printed a KPI's name_en raw (kpis/explain.py), and reminders.csv's
`reports` cell put a pilot's names raw into its report line, where a newline started a fake report
line (verifier V6). Now the registry refuses them (exit 4, naming the file, the pilot or KPI and the
field, as its other refusals do: pilots/registry.py), and both outputs show such names through
warehouse.display.visible all the same, for a warehouse whose registry tables hold them anyway.

tests/test_flow.py's scenario (PLT-2548-003, 7 files, as of 2005-05-15).
"""
from __future__ import annotations

import csv
import io

import duckdb
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import make_scenario, run_cli

P = "PLT-2548-003"
NO_CONTROLS_TH = "ต้องไม่มีอักขระควบคุม อักขระกำหนดทิศทางข้อความ (bidi) หรืออักขระแบ่งบรรทัด"


def test_the_registry_refuses_controls_and_bidi_in_names(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    pilot = registry / "pilots" / f"{P}.yaml"
    text = pilot.read_text(encoding="utf-8")
    text = text.replace("name_en: Share of applications filed online", 'name_en: "Share\\e[2J\\a online"')
    text = text.replace("name_en: One-stop e-citizen service", 'name_en: "One-stop\\nPLT-9999 (fake) e-citizen"')
    pilot.write_text(text, encoding="utf-8")
    agencies = registry / "agencies.yaml"
    agencies.write_text(agencies.read_text(encoding="utf-8").replace(
        "name_en: National Statistical Office", 'name_en: "National \\u202eeciffO\\u202c \\x9b Statistical"'),
        encoding="utf-8")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 4, out  # EXIT_REGISTRY
    assert out == (
        "pilotkpi: broken registry (3 problems), nothing was written:\n"
        "  - agencies.yaml: 20004: name_en must not hold control, bidi or line-separator characters "
        "(got 'National \\u202eeciffO\\u202c \\x9b Statistical')\n"
        f"  - pilots/{P}.yaml: {P}: name_en must not hold control, bidi or line-separator characters "
        "(got 'One-stop\\nPLT-9999 (fake) e-citizen')\n"
        f"  - pilots/{P}.yaml: {P} / K1: name_en must not hold control, bidi or line-separator characters "
        "(got 'Share\\x1b[2J\\x07 online')\n"
        "pilotkpi: ทะเบียนโครงการไม่ถูกต้อง (3 ข้อ) จึงไม่ได้บันทึกข้อมูลใด ๆ:\n"
        f"  - agencies.yaml: 20004: name_en {NO_CONTROLS_TH} (พบ 'National \\u202eeciffO\\u202c \\x9b Statistical')\n"
        f"  - pilots/{P}.yaml: {P}: name_en {NO_CONTROLS_TH} (พบ 'One-stop\\nPLT-9999 (fake) e-citizen')\n"
        f"  - pilots/{P}.yaml: {P} / K1: name_en {NO_CONTROLS_TH} (พบ 'Share\\x1b[2J\\x07 online')\n")
    assert not (tmp_path / "wh.duckdb").exists()


def test_explain_and_reminders_show_such_names_visible(tmp_path, prefect_harness):
    registry, inbox = make_scenario(tmp_path)
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    # A warehouse whose registry tables hold such names all the same (written before the check, or by hand).
    for path in (tmp_path / "wh.duckdb", tmp_path / "wh.published.duckdb"):
        con = duckdb.connect(str(path))
        try:
            con.execute("UPDATE registry.kpis SET name_en = 'Share\x1b[2J\u202e online' WHERE kpi_code = 'K1'")
            con.execute("UPDATE registry.pilots SET name_en = 'One-stop\nPLT-9999 fake line' WHERE pilot_id = ?", [P])
        finally:
            con.close()
    runner = CliRunner()
    explained = runner.invoke(main, ["explain", P, "K1", "2548-Q2", "--warehouse", str(tmp_path / "wh.duckdb")])
    assert explained.exit_code == 0, explained.output
    # Before: "…: Share\x1b[2J\u202e online / …" sent to the terminal as it was.
    assert explained.output.splitlines()[0] == (
        f"{P} K1 2548-Q2: Share\u241b[2J[U+202E] online / ร้อยละของคำขอที่ยื่นผ่านระบบออนไลน์")

    done = runner.invoke(main, ["letters", "--warehouse", str(tmp_path / "wh.duckdb"), "--out", str(tmp_path / "l")])
    assert done.exit_code == 0, done.output
    text = (tmp_path / "l" / "reminders" / "reminders.csv").read_text(encoding="utf-8-sig")
    [row] = [r for r in csv.reader(io.StringIO(text)) if r[0] == "11002"]
    reports = row[9]
    # Two reports, two lines. Before: four, "PLT-2548-003 (… / One-stop" then "PLT-9999 fake line) 2548-Q1 …".
    assert reports.split("\n") == [
        f"{P} (ระบบบริการประชาชนแบบเบ็ดเสร็จ / One-stop\u240aPLT-9999 fake line) 2548-Q1 due 2005-01-30 "
        "105 days overdue level 3 missing",
        f"{P} (ระบบบริการประชาชนแบบเบ็ดเสร็จ / One-stop\u240aPLT-9999 fake line) 2548-Q2 due 2005-04-30 "
        "15 days overdue level 1 rejected_file file f_bad.csv"]
