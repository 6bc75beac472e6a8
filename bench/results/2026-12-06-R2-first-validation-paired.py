"""Paired: the first validation of a served night's batch (196 files of the 1%-new increment) in a
process forked from flows.warm_preload, as `serve`'s forkserver forks a night; base tree against branch."""
import json, os, subprocess, sys, statistics
CHILD = r'''
import os, sys, time, json, hashlib
from pathlib import Path
from datetime import date
import flows.warm_preload
from pilots.registry import load_registry
from pilots.reading import ToRead, read_files
from pilots.ingest import validate_read
reg = load_registry(Path("/tmp/W400/registry"))
inc = sorted(Path("/tmp/R-prof/w/increment").iterdir())
items = [ToRead(p.name, hashlib.sha256(p.read_bytes()).hexdigest(), path=p) for p in inc]
recs = read_files(items, reg.kpi_units())
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    t = time.process_time(); validate_read(recs, reg, date(2026, 12, 7)); cpu = time.process_time() - t
    os.write(w, json.dumps(cpu).encode()); os._exit(0)
os.waitpid(pid, 0); print(os.read(r, 100).decode())
'''
trees = {"base 1a31452": "/tmp/R-base1", "branch": "/work/wt/R"}
out = {k: [] for k in trees}
for rnd in range(int(sys.argv[1])):
    for name in (list(trees) if rnd % 2 == 0 else list(trees)[::-1]):
        env = {**os.environ, "PYTHONPATH": trees[name], "GX_ANALYTICS_ENABLED": "false"}
        res = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, cwd=trees[name])
        out[name].append(round(float(res.stdout.strip().splitlines()[-1]), 4))
print(json.dumps(out))
print({k: statistics.median(v) for k, v in out.items()})
