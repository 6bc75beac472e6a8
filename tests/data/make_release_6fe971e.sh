#!/bin/sh
# How tests/data/release_6fe971e.tar.gz was made: release 6fe971e (the last before the restricted
# store) runs its own demo, and its warehouse is exported as parquet (tests/test_pilot_moves.py
# rebuilds it with migrations 0001-0003 and these rows). Run from a full clone, with the venv's python.
set -eu
work=$(mktemp -d)
git archive 6fe971e | tar -x -C "$work/"
(cd "$work" && PREFECT_HOME="$work/.prefect" python -m flows.cli demo "$work/demo")
mkdir -p "$work/out/release_6fe971e"
(cd "$work/out/release_6fe971e" && python -c "import duckdb; duckdb.connect('$work/demo/warehouse.duckdb', read_only=True).execute(\"EXPORT DATABASE 'exp' (FORMAT parquet)\")" && mv exp warehouse-export)
cp -a "$work/demo/registry" "$work/demo/warehouse.evidence" "$work/out/release_6fe971e/"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-12-04 00:00Z' -czf release_6fe971e.tar.gz -C "$work/out" release_6fe971e
