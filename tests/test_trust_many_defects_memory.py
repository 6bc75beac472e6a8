"""A night whose files hold many defects finishes: a fill-down gone wrong (every row with three
defects) once ended the night with exit 5 at 100,000 rows (verifier V4), and the next night too
while it wrote that night's report again: the validation report's query of every defect and the
summaries' model, read beside it, needed more than the job's DuckDB memory limit together
(warehouse/db.py). Now the model's query ranks the errors on narrow columns and reads only the 50
listed whole (kpis/summary/model.py), and a night of more than BESIDE_MAX_ISSUES defects reads the
model after its report (flows/cheap.py). Reproduced small: 8,000 rows under a limit of 20 MB
(the old code: the summaries failed, exit 5).

The registry is tests/test_flow.py's: secondary 15001 on a layer-5 pilot. Each fill-down row has
layer 9 (LAYER_INVALID), funding source `xx` (FUNDING_SOURCE_INVALID) and 200 disbursed of 100
allocated (DISBURSED_OVER_ALLOCATED): three errors a row.
"""
from __future__ import annotations

from flows import cheap
from tests.test_flow import _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

P = "PLT-2548-003"
ROWS = 8_000


def test_a_night_of_24000_defects_under_a_small_memory_limit_writes_its_report_and_summaries(
        tmp_path, prefect_harness, monkeypatch):
    monkeypatch.setenv("PILOTKPI_DUCKDB_MEMORY_LIMIT", "20MB")
    monkeypatch.setenv("PILOTKPI_DUCKDB_INGEST_MEMORY_LIMIT", "20MB")
    assert getattr(cheap, "BESIDE_MAX_ISSUES", 0) < 3 * ROWS  # this night reads the model after its report
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_filldown.csv").write_bytes(_csv(*(f"{P},15001,2548-Q1,2005-01-25,budget,ACT-{i},9,,100,200,xx,"
                                                  for i in range(ROWS))))
    (inbox / "b_good.csv").write_bytes(_csv(f"{P},03009,2548-Q1,2005-01-20,kpi,K1,,47,,,,",
                                            f"{P},03009,2548-Q1,2005-01-20,kpi,K2,,60,,,,"))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 2: accepted 1, superseded 0, duplicates 0, quarantined 1" in out, out
    warehouse = tmp_path / "wh.duckdb"
    assert query(warehouse, "SELECT status, failed_steps, error FROM ops.runs") == [("succeeded", None, None)]
    assert query(warehouse, "SELECT code, count(*) FROM ingest.issues GROUP BY ALL ORDER BY ALL") == [
        ("DISBURSED_OVER_ALLOCATED", ROWS), ("FUNDING_SOURCE_INVALID", ROWS), ("LAYER_INVALID", ROWS)]
    # The validation report lists every defect (a table row each), for the agency.
    report = (tmp_path / "out" / "validation.html").read_text(encoding="utf-8")
    for defect in ("LAYER_INVALID", "FUNDING_SOURCE_INVALID", "DISBURSED_OVER_ALLOCATED"):
        assert report.count(f"<td><code>{defect}</code> (") == ROWS, defect
    # The summaries list the file's first 50 errors and count the other 23,950.
    for lang, more in (("en", "and 23,950 more defect(s) in this file"),
                       ("th", "และข้อบกพร่องอื่นในไฟล์นี้อีก 23,950 รายการ")):
        md = (tmp_path / "out" / f"summary.{lang}.md").read_text(encoding="utf-8")
        assert f"  - {more}" in md
        assert sum(1 for line in md.splitlines() if line.startswith(("  - row ", "  - แถว "))) == 50
