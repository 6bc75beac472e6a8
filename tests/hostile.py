"""The clean night that ends the whole-flow hostile tests (tests/test_trust_*.py, test_hostile_*.py).

Each of them sends something hostile on night 1, then on night 2 the report as it should be: the
night must exit 0, accept every file it was given, and leave the pilot's composite scores the
hand-computed ones. That block was written out in each file; it is here once.

The scenario and its registry are tests/test_flow.py's: lead 03009; K1 percent/higher/last weight
60, thresholds [20,30,40,50,60]; K2 count/higher/sum weight 40, thresholds [100..500] (x q/4).
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from tests.test_flow import run_cli
from tests.test_hostile_sizes import query

# scoring.md, by hand: Q1 K1 47 -> 3 + 7/10 = 3.7, K2 60 (sum, Q1 thresholds [25,50,75,100,125])
# -> 2 + 10/25 = 2.4: (3.7*60 + 2.4*40)/100 = 3.18. Q2 K1 55 -> 4 + 5/10 = 4.5, K2 60 + 90 = 150
# (Q2 thresholds [50,100,150,200,250]) -> 3: (4.5*60 + 3*40)/100 = 3.9.
Q1_AND_Q2 = [("2548-Q1", Decimal("3.1800")), ("2548-Q2", Decimal("3.9000"))]


def clean_night(registry: Path, inbox: Path, root: Path, files: dict[str, bytes],
                scores: list[tuple[str, Decimal]] = Q1_AND_Q2) -> str:
    """Put `files` in the inbox and run a night: it exits 0, every file is accepted, and
    marts.pilot_scores holds `scores` (period, composite), no more. The night's output."""
    for name, data in files.items():
        (inbox / name).write_bytes(data)
    code, out = run_cli(registry, inbox, root)
    assert code == 0, out
    n = len(files)
    assert f"files seen {n}: accepted {n}, superseded 0, duplicates 0, quarantined 0" in out, out
    # Messages on each assert: this module is imported, not collected, so pytest does not rewrite
    # its asserts to show the values compared.
    found = query(root / "wh.duckdb", "SELECT period, composite_score FROM marts.pilot_scores ORDER BY period")
    assert found == scores, f"marts.pilot_scores {found}, expected {scores}\n{out}"
    return out
