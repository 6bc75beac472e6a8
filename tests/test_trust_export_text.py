"""Control, bidi and line-separator characters in an agency's note, through a night and `pilotkpi export`.

`export --format csv` (warehouse/export.py) wrote ESC, BEL, the C1 control U+009B (a terminal's CSI),
the bidi override U+202E and U+2028/U+2029 raw; `--format xlsx` made only C0 controls visible. The
web's downloads of the same rows already showed them as the pages do (web/tables.py), and
docs/security.md called the raw form a fault there (verifier V6). Both now write text through
one function, warehouse.display.cell_text: stand-ins (␛, ␇, [U+009B], [U+202E]), tab, CR and LF kept (a
quoted field and a cell hold them), and the CSV formula guard still reads the first character.

tests/test_flow.py's registry (PLT-2548-003, as of 2005-05-15), one accepted JSON report of the lead
03009 for 2548-Q1: K1 47 with a hostile note, K2 60 with a formula-like one.
"""
from __future__ import annotations

import csv
import json

import openpyxl
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import make_empty_scenario, run_cli

P = "PLT-2548-003"
NOTE = "x\x1b[2J\x07\u009b31m \u202egnp.exe\u202c\u2028y\u2029z\tt\nline 2"
SHOWN = "x\u241b[2J\u2407[U+009B]31m [U+202E]gnp.exe[U+202C][U+2028]y[U+2029]z\tt\nline 2"
FORMULA = "=1+1\u202e"


def test_export_shows_controls_and_bidi_in_a_note(tmp_path, prefect_harness):
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_lead_q1.json").write_text(json.dumps({
        "pilot_id": P, "agency_code": "03009", "period": "2548-Q1", "submitted_on": "2005-01-20",
        "lines": [{"line_type": "kpi", "item_code": "K1", "actual": 47, "note": NOTE},
                  {"line_type": "kpi", "item_code": "K2", "actual": 60, "note": FORMULA}]}), encoding="utf-8")
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 1, superseded 0, duplicates 0, quarantined 0" in out

    runner = CliRunner()
    for fmt in ("csv", "xlsx"):
        done = runner.invoke(main, ["export", str(tmp_path / fmt), "--format", fmt,
                                    "--warehouse", str(tmp_path / "wh.duckdb")])
        assert done.exit_code == 0, done.output

    raw = (tmp_path / "csv" / "core.kpi_actuals" / "fiscal_year=2548.csv").read_bytes().decode("utf-8-sig")
    for ch in ("\x1b", "\x07", "\u009b", "\u202e", "\u202c", "\u2028", "\u2029"):
        assert ch not in raw, repr(ch)  # before: each of them raw in the file
    with open(tmp_path / "csv" / "core.kpi_actuals" / "fiscal_year=2548.csv", encoding="utf-8-sig", newline="") as fh:
        notes = {r["kpi_code"]: r["note"] for r in csv.DictReader(fh)}
    assert notes == {"K1": SHOWN, "K2": "'=1+1[U+202E]"}  # the formula guard kept

    book = openpyxl.load_workbook(tmp_path / "xlsx" / "core.kpi_actuals" / "fiscal_year=2548.xlsx")
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    column = rows[0].index("note"), rows[0].index("kpi_code")
    # Before: "x␛[2J␇\x9b31m \u202egnp.exe\u202c\u2028y\u2029z…" (C0 only made visible).
    assert {r[column[1]]: r[column[0]] for r in rows[1:]} == {"K1": SHOWN, "K2": "=1+1[U+202E]"}
