"""Engineer E3 (2026-12-06): why the 1%-new night's CHECKPOINT is large (measurement only).

On a copy of the served bench's prepared state (the full night of main 1df4e16): marts.budget_snapshot
inserted again into a table of its own with DuckDB's 2 threads and with 1, then 3,542 rows of row
group 1 deleted in each and checkpointed. Usage: python bench/results/2026-12-06-E3-row-groups.py
(paths below are this run's: /tmp/E-sp/state-work/after-full from bench.served_paired --rounds 0).
"""
import duckdb, shutil, os, time
def io():
    d = dict(l.split(": ") for l in open("/proc/self/io").read().splitlines()); return int(d["write_bytes"])
def rgs(con, t):
    return [n for _, n in con.execute(f"select row_group_id, max(count) from pragma_storage_info('{t}') where column_id=0 group by all order by 1").fetchall()]
d = "/tmp/E-prof/rgmake"; shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
shutil.copy2("/tmp/E-sp/state-work/after-full/warehouse.duckdb", d)
con = duckdb.connect(f"{d}/warehouse.duckdb")
print("threads", con.execute("select current_setting('threads')").fetchone())
for threads in (2, 1):
    con.execute(f"SET threads={threads}")
    con.execute(f"CREATE TABLE marts.copy{threads} AS SELECT * FROM marts.budget_snapshot WHERE false")
    con.execute(f"INSERT INTO marts.copy{threads} SELECT * FROM marts.budget_snapshot")
    con.execute("CHECKPOINT")
    print(f"insert with threads={threads}: row groups {rgs(con, f'marts.copy{threads}')}")
con.execute("SET threads=2")
for threads in (2, 1):
    t = f"marts.copy{threads}"
    con.execute(f"DELETE FROM {t} WHERE rowid >= 122880 AND rowid < 122880 + 3542")
    b = io(); w = time.perf_counter(); c = time.process_time(); con.execute("CHECKPOINT")
    print(f"{t}: 3,542 rows deleted in row group 1, checkpoint wall {time.perf_counter()-w:.3f} cpu {time.process_time()-c:.3f} written {(io()-b)/2**20:.2f} MiB; row groups {rgs(con, t)}")
