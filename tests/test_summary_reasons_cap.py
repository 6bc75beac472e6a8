"""A quarantined file's errors in the committee summary: the first 50 by row, then how many more
(kpis/summary/model.py REASONS_SHOWN). A fill-down gone wrong (100,000 rows, three defects each)
listed 300,000 messages in the summary and its query failed at the job's memory limit (verifier
V4, 2026-12-07). ingest.issues keeps every defect, and the night's validation report lists them.

The registry is tests/test_flow.py's: secondary 15001 on a layer-5 pilot; layer 9 is LAYER_INVALID.
"""
from __future__ import annotations

import inspect

from kpis.summary import model
from tests.test_flow import _csv, make_empty_scenario, run_cli
from tests.test_hostile_sizes import query

P = "PLT-2548-003"


def test_a_file_with_sixty_errors_lists_fifty_in_the_summary_and_counts_the_rest(tmp_path, prefect_harness):
    # Both reasons queries write the number in (constant SQL, for tests/test_steps.py).
    assert model.REASONS_SHOWN == 50 and inspect.getsource(model).count(") <= 50)\n") == 2
    registry, inbox = make_empty_scenario(tmp_path)
    (inbox / "a_filldown.csv").write_bytes(_csv(*(f"{P},15001,2548-Q2,2005-04-20,budget,ACT-{i:02d},9,,100,90,own,"
                                                  for i in range(60))))
    code, out = run_cli(registry, inbox, tmp_path)
    assert code == 0, out
    assert "files seen 1: accepted 0, superseded 0, duplicates 0, quarantined 1" in out, out
    assert query(tmp_path / "wh.duckdb", "SELECT count(*) FROM ingest.issues WHERE code = 'LAYER_INVALID'") == [(60,)]
    for lang, more in (("en", "and 10 more defect(s) in this file"), ("th", "และข้อบกพร่องอื่นในไฟล์นี้อีก 10 รายการ")):
        md = (tmp_path / "out" / f"summary.{lang}.md").read_text(encoding="utf-8")
        listed = [line for line in md.splitlines() if "(`LAYER_INVALID`)" in line]
        # Rows 2..51 (the header is row 1), in row order; rows 52..61 counted.
        assert len(listed) == 50 and listed[0].startswith(("  - row 2,", "  - แถว 2,")), listed[:2]
        assert listed[-1].startswith(("  - row 51,", "  - แถว 51,")), listed[-1]
        assert f"  - {more}" in md
        html = (tmp_path / "out" / f"summary.{lang}.html").read_text(encoding="utf-8")
        assert html.count("(LAYER_INVALID)") == 50 and more in html
    # The night's validation report lists every one, for the agency.
    assert (tmp_path / "out" / "validation.html").read_text(encoding="utf-8").count("LAYER_INVALID") >= 60
    # On a copy of the same night's warehouse: the same 50 under any number of DuckDB threads.
    the_fifty_listed_are_the_same_whatever_duckdbs_threads(tmp_path)


def the_fifty_listed_are_the_same_whatever_duckdbs_threads(tmp_path) -> None:
    """Errors without a row or column tie on every sort key but their record order (rowid): the
    same 50, in the order recorded, under 1 thread or 8 (a kept section is compared byte for byte,
    kpis/summary/render.py SectionCache). Sorting by code as well listed them in another order, and
    DuckDB's parallel sort picked another 50 from run to run (reviewer RV3)."""
    import shutil
    from datetime import date

    import duckdb

    copy = tmp_path / "copy.duckdb"
    shutil.copy(tmp_path / "wh.duckdb", copy)
    con = duckdb.connect(str(copy))
    try:
        [(sid,)] = con.execute("SELECT submission_id FROM ingest.submissions").fetchall()
        # 70 file-level errors recorded in an order that is not their codes' (Z99 first).
        codes = [f"Z{99 - i:02d}" for i in range(70)]
        con.executemany("INSERT INTO ingest.issues VALUES (?, NULL, NULL, ?, 'error', ?, ?)",
                        [[sid, c, f"e {c}", f"t {c}"] for c in codes])
        listed = []
        for threads in (1, 8, 1, 8):
            con.execute(f"SET threads = {threads}")
            [section] = [s for s in model.build_model(con, date(2005, 5, 15)).pilots if s.quarantined]
            [q] = section.quarantined
            listed.append(([r[2] for r in q.reasons], q.more_reasons))
    finally:
        con.close()
    assert listed == [(codes[:50], 80)] * 4
