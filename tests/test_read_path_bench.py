"""bench.read_path's sample of a workload: evenly spaced files of each format, as links, beside
the workload's registry; the workload itself is not written to."""
from __future__ import annotations

from bench.read_path import _counts, sample_of


def test_a_sample_takes_evenly_spaced_files_of_each_format_as_links(tmp_path):
    workload = tmp_path / "W"
    (workload / "registry").mkdir(parents=True)
    (workload / "inbox").mkdir()
    for k in range(10):
        (workload / "inbox" / f"f{k:02d}.csv").write_text(f"{k}")
    for k in range(3):
        (workload / "inbox" / f"g{k}.XLSX").write_bytes(b"x")
    before = sorted(p.name for p in (workload / "inbox").iterdir())

    sample = sample_of(workload, _counts("csv=4, xlsx=5,json=2"), tmp_path / "S")

    names = sorted(p.name for p in (sample / "inbox").iterdir())
    # 10 CSV, 4 wanted: every 2.5th in name order (0, 2.5, 5, 7.5 -> 0, 2, 5, 7); all 3 workbooks; no JSON
    assert names == ["f00.csv", "f02.csv", "f05.csv", "f07.csv", "g0.XLSX", "g1.XLSX", "g2.XLSX"]
    assert all((sample / "inbox" / n).is_symlink() for n in names)
    assert (sample / "inbox" / "f05.csv").read_text() == "5"
    assert (sample / "registry").resolve() == (workload / "registry").resolve()
    assert sorted(p.name for p in (workload / "inbox").iterdir()) == before


def test_counts_are_read_per_format():
    assert _counts("csv=3000,XLSX=1000, json = 500") == {"csv": 3000, "xlsx": 1000, "json": 500}
