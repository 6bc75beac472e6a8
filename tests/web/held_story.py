"""The held files of the web tests: the committee guide's story on a copy of the demo (as of
2006-08-15), made with the CLI jobs as the committee would.

  close-quarter 2549-Q2 and 2549-Q3 (every pilot), then one run takes five corrections, all held:
  opdc_q3    PLT-2548-003 lead 03009, 2549-Q3, dated 2006-08-14: K1 45.6 instead of 65.6 (the guide's)
  mict_q3    PLT-2548-001 lead 11002, 2549-Q3, dated 2006-08-15: G1 88.8 instead of 78.8 (the guide's)
  opdc_q2    PLT-2548-003 lead 03009, 2549-Q2, dated 2006-08-01: K3 1500 instead of 1383 (a `sum` KPI)
  mict_q2    PLT-2548-001 lead 11002, 2549-Q2, dated 2006-04-10: before the accepted one of 2006-04-18
  secret_q3  PLT-2548-006 (restricted) lead 01005, 2549-Q3, dated 2006-08-02: S1 11, S2 11

The demo's accepted files (docs/demo.md) and the registry's FY2549 thresholds give the expected
figures; each test works them out by hand from scoring.md.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from tests.test_pilot_moves import cli, q
from tests.web.conftest import AS_OF

FILES = {
    "opdc_q3": ("PLT-2548-003_03009_2549-Q3.csv", "PLT-2548-003_03009_2549-Q3_rev1.csv",
                [("2006-07-11", "2006-08-14"), (",K1,,65.6,", ",K1,,45.6,")]),
    "mict_q3": ("PLT-2548-001_11002_2549-Q3.csv", "PLT-2548-001_11002_2549-Q3_rev1.csv",
                [("2006-07-08", "2006-08-15"), (",G1,,78.8,", ",G1,,88.8,")]),
    "opdc_q2": ("PLT-2548-003_03009_2549-Q2_rev1.csv", "PLT-2548-003_03009_2549-Q2_rev2.csv",
                [("2006-05-01", "2006-08-01"), (",K3,,1383,", ",K3,,1500,"),
                 ("ฉบับแก้ไข", "<b>ฉบับแก้ไข 2</b>")]),  # agency text with markup: shown escaped
    "mict_q2": ("PLT-2548-001_11002_2549-Q2.csv", "PLT-2548-001_11002_2549-Q2_old.csv",
                [("2006-04-18", "2006-04-10"), (",G1,,81.0,", ",G1,,99,")]),
    "secret_q3": ("PLT-2548-006_01005_2549-Q3.csv", "PLT-2548-006_01005_2549-Q3_secret-fix.csv",
                  [("2006-07-08", "2006-08-02"), (",S1,,9,", ",S1,,11,"), (",S2,,13.9,", ",S2,,11,")]),
}


def base(folder: Path) -> list:
    return ["--registry", folder / "registry", "--warehouse", folder / "warehouse.duckdb", "--out", folder / "out",
            "--as-of", AS_OF.isoformat()]


def make_held_story(demo_folder: Path, target: Path) -> dict[str, int]:
    """Copy the demo to `target`, close two quarters, send the corrections; returns their ids."""
    shutil.copytree(demo_folder, target, symlinks=True)
    for period in ("2549-Q2", "2549-Q3"):
        code, out = cli("close-quarter", period, "--by", "Committee secretary", "--note", "meeting 8/2549",
                        *base(target))
        assert code == 0, out
    inbox = target / "inbox"
    for source, name, edits in FILES.values():
        text = (inbox / "processed" / source).read_bytes().decode("utf-8")
        for old, new in edits:
            assert old in text, (source, old)
            text = text.replace(old, new)
        (inbox / name).write_bytes(text.encode("utf-8"))
    code, out = cli("run", "--inbox", inbox, "--settle-seconds", "0", *base(target))
    assert code == 0 and "held 5" in out, out
    ids = {}
    for key, (_, name, _) in FILES.items():
        for store in (target / "warehouse.duckdb", target / "warehouse.restricted.duckdb"):
            found = q(store, "SELECT submission_id, status FROM ingest.submissions WHERE file_name = ?", [name])
            if found:
                assert found[0][1] == "held", (name, found)
                ids[key] = found[0][0]
    assert len(ids) == len(FILES), ids
    return ids
