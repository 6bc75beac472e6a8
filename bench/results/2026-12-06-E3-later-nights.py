"""Engineer E3 (2026-12-06): later nights' vacuum, simulated (measurement only).

On a copy of the state after the served 1%-new night (its CHECKPOINT done: /tmp/E-prof/ck), five
nights each replacing 9,438 rows of marts.budget_snapshot sampled across the table (deleted, then
inserted again at the end, as the 1%-new night replaced its changed keys), each checkpointed.
"""
import duckdb, shutil, os, time
def io():
    d = dict(l.split(": ") for l in open("/proc/self/io").read().splitlines()); return int(d["write_bytes"])
def rgs(con):
    return [n for _, n in con.execute("select row_group_id, max(count) from pragma_storage_info('marts.budget_snapshot') where column_id=0 group by all order by 1").fetchall()]
d = "/tmp/E-prof/recur"; shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
shutil.copy2("/tmp/E-prof/ck/warehouse.duckdb", d)   # the state after the 1%-new night, checkpointed
con = duckdb.connect(f"{d}/warehouse.duckdb")
print("after the 1%-new night:", rgs(con))
for night in range(2, 7):
    con.execute("BEGIN")
    # a night like the 1%-new one: 9,438 rows of older pairs replaced (deleted, inserted again at the end)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE moved AS SELECT * FROM (SELECT rowid AS rid, * FROM marts.budget_snapshot)
                    USING SAMPLE 9438 ROWS (reservoir, {night})""")
    con.execute("DELETE FROM marts.budget_snapshot WHERE rowid IN (SELECT rid FROM moved)")
    con.execute("INSERT INTO marts.budget_snapshot SELECT * EXCLUDE (rid) FROM moved")
    con.execute("COMMIT")
    b = io(); t = time.perf_counter(); c = time.process_time(); con.execute("CHECKPOINT")
    print(f"night {night}: checkpoint wall {time.perf_counter()-t:.3f} cpu {time.process_time()-c:.3f} written {(io()-b)/2**20:.2f} MiB; row groups {rgs(con)}", flush=True)
