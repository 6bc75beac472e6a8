"""Measurement only: budget_snapshot's rows written again on one thread in a prepared state (same rows, same order)."""
import duckdb, sys, hashlib
p = sys.argv[1]
con = duckdb.connect(p)
def rgs():
    return [n for _, n in con.execute("select row_group_id, max(count) from pragma_storage_info('marts.budget_snapshot') where column_id=0 group by all order by 1").fetchall()]
def digest():
    return con.execute("select count(*), sum(hash(t)) from marts.budget_snapshot t").fetchone()
print("before", rgs(), digest())
con.execute("SET threads=1")
con.execute("BEGIN")
con.execute("CREATE TEMP TABLE keep AS SELECT * FROM marts.budget_snapshot ORDER BY rowid")
con.execute("DELETE FROM marts.budget_snapshot")
con.execute("INSERT INTO marts.budget_snapshot SELECT * FROM keep")
con.execute("COMMIT")
con.execute("CHECKPOINT")
print("after", rgs(), digest())
con.close()
