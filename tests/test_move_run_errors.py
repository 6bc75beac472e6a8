"""A pilot moved to the restricted store leaves nothing in the open ops.runs.error (verifier VI F3;
warehouse.md, "A pilot whose rows are in the wrong store": nothing of it stays behind, in
ops.runs.error included).

tests/test_flow.py's scenario (PLT-2548-003 open, KPIs K1 "Share of applications filed online" and
K2, no restricted pilot, so no restricted store and no masking of errors). Three rebuilds fail (test
point marts) with errors written while the pilot was open:
  a  quoting a value beside K1's English name;
  b  quoting a value beside the pilot id in lower case and the code K2;
  c  naming nothing of the pilot (K12 is not the code K1 or K2).
Then PLT-2548-003 is classified restricted and the next run moves it. Expected: a's and b's texts
replaced whole by the neutral text of warehouse/moves.py (error class kept, both languages, the
moving run named), in the working file and the published copy; c unchanged; the originals in the
restricted store's error log (0600).
"""
from __future__ import annotations

import os
import re
import stat

import pytest

from tests.test_flow import AS_OF, make_scenario
from tests.test_pilot_moves import cli
from tests.test_pilot_moves import q, reclassify
from warehouse.publish import published_path

PILOT = "PLT-2548-003"
FAILURES = {
    "a": "Conversion Error: actual 731.0042 of 'Share of applications filed online' row 2 does not fit",
    "b": f"Invalid Input Error: {PILOT.lower()} K2 = 918273.5 is out of range",
    "c": "IO Error: disk full writing K12.parquet",
}


def _neutral(run_id: str) -> str:
    return ("RuntimeError: [detail removed: it named data of a pilot that became restricted, moved to the "
            f"restricted store by run {run_id} / ลบรายละเอียดแล้ว: ข้อความอ้างถึงข้อมูลของโครงการที่ถูกจัดเป็น"
            f"โครงการชั้นความลับ ซึ่งย้ายไปคลังข้อมูลชั้นความลับโดยการประมวลผล {run_id}]")


def failed_rebuilds(failures: dict[str, str], base: list[str], wh) -> dict[str, str]:
    """key -> the run id of a `rebuild` made to fail at the marts (test point) with that message."""
    failed = {}
    for key, message in failures.items():
        os.environ.update(PILOTKPI_FAIL_AT="marts", PILOTKPI_FAIL_MESSAGE=message)
        try:
            code, output = cli("rebuild", *base)
        finally:
            for name in ("PILOTKPI_FAIL_AT", "PILOTKPI_FAIL_MESSAGE"):
                os.environ.pop(name, None)
        assert code != 0 and message in output, output
        failed[key] = q(wh, "SELECT run_id FROM ops.runs WHERE status = 'failed' ORDER BY started_at DESC LIMIT 1")[0][0]
    return failed


@pytest.fixture(scope="module")
def moved(tmp_path_factory, prefect_harness):
    root = tmp_path_factory.mktemp("move-errors")
    registry, inbox = make_scenario(root)
    wh = root / "wh.duckdb"
    base = ["--registry", str(registry), "--warehouse", str(wh), "--out", str(root / "out"), "--as-of", AS_OF]
    code, output = cli("run", "--inbox", inbox, *base)
    assert code == 0, output
    failed = failed_rebuilds(FAILURES, base, wh)
    assert not (root / "wh.restricted.duckdb").exists()
    reclassify(registry, PILOT, "restricted")
    code, output = cli("run", "--inbox", inbox, "--settle-seconds", "0", *base)
    assert code == 0, output
    assert f"moved pilot {PILOT} from the open warehouse to the restricted store" in output
    mover = re.search(r"^run (\S+) as of", output, re.M).group(1)
    return root, wh, failed, mover


def test_errors_naming_the_moved_pilot_are_replaced_whole(moved):
    root, wh, failed, mover = moved
    for path in (wh, published_path(wh)):
        errors = dict(q(path, "SELECT run_id, error FROM ops.runs WHERE list_contains(?, run_id)",
                        [list(failed.values())]))
        assert errors == {failed["a"]: _neutral(mover), failed["b"]: _neutral(mover),
                          failed["c"]: f"RuntimeError: {FAILURES['c']}"}, path
    published = published_path(wh).read_bytes()  # written afresh after the move: no freed bytes either
    for value in (b"731.0042", b"918273.5", b"Share of applications filed online' row"):
        assert value not in published


def test_the_originals_are_in_the_restricted_error_log(moved):
    root, _, failed, mover = moved
    log = root / "wh.restricted.duckdb.errors.log"
    text = log.read_text(encoding="utf-8")
    for key in ("a", "b"):
        assert (f"ops.runs.error of run {failed[key]}, removed from the open warehouse by run {mover}:\n"
                f"RuntimeError: {FAILURES[key]}") in text
    assert FAILURES["c"] not in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
