"""Engineer E3 (2026-12-06), measurement only: budget_snapshot's whole-build CREATE TABLE AS on 2 DuckDB threads
against 1, 2 rounds, on a copy of the prepared state (its time and its row groups)."""
import duckdb, shutil, os, time, sys
from datetime import date
sys.path.insert(0, "/work/wt/E")
from kpis.build import read_sql
d = "/tmp/E-prof/ctas"; shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
shutil.copy2("/tmp/E-sp/state-work/after-full/warehouse.duckdb", d)
con = duckdb.connect(f"{d}/warehouse.duckdb")
sql = read_sql("budget_snapshot")
params = {"as_of": date(2006, 8, 15)} if "$as_of" in sql else None
con.execute("SET memory_limit='96MB'")
for rnd in range(2):
    for threads in (2, 1):
        con.execute(f"SET threads={threads}")
        con.execute("BEGIN")
        t = time.perf_counter(); c = time.process_time()
        con.execute(f"CREATE OR REPLACE TABLE marts.bs_t{threads} AS\n{sql}", params)
        w, cp = time.perf_counter() - t, time.process_time() - c
        con.execute("COMMIT")
        t2 = time.perf_counter(); con.execute("CHECKPOINT"); ck = time.perf_counter() - t2
        g = [n for _, n in con.execute(f"select row_group_id, max(count) from pragma_storage_info('marts.bs_t{threads}') where column_id=0 group by all order by 1").fetchall()]
        print(f"threads={threads}: CTAS wall {w:.3f} cpu {cp:.3f}; checkpoint {ck:.3f}; row groups {g}", flush=True)
        con.execute(f"DROP TABLE marts.bs_t{threads}"); con.execute("CHECKPOINT")
