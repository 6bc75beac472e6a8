"""A registry the loader used to take without a word stops `pilotkpi run` and `check` (exit 4) with
one line naming the file, the entry and the rule, and the warehouse is left as it was
(shared/spec/pilot-registry.md: "a broken registry stops the run with a clear message and changes
nothing"). The cases a verifier found taken: a key written twice (YAML keeps the last one), a code
with a space at an end (report cells are read trimmed, so every lead file was quarantined), a
pilot_id YAML reads as a number (no hint to quote it), a name of 40,000 characters (past Excel's
cell in reminders.csv). Every rule itself, one case each: tests/test_registry.py."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows.cli import main
from tests.test_flow import AS_OF, make_scenario
from tests.test_registry import replace  # an edit of the registry's text, its old text there exactly once

P = "PLT-2548-003"
PILOT_FILE = f"pilots/{P}.yaml"
CLEAN = Path(__file__).parent / "data" / "defects" / "CLEAN.csv"
ONCE = "a key may be given only once in a mapping (YAML would silently keep the last one)"


# (id, the change, the one problem printed: file: subject: rule)
CASES = [
    ("fiscal-year-twice", replace(PILOT_FILE, "      2548: [20, 30, 40, 50, 60]\n",
                               "      2548: [20, 30, 40, 50, 60]\n      2548: [2, 3, 4, 5, 6]\n"),
     f"{PILOT_FILE}: {P} / K1: the key 2548 in thresholds is written 2 times (lines 24 and 25): {ONCE}"),
    ("weight-twice", replace(PILOT_FILE, "    weight: 60\n", "    weight: 60\n    weight: 60\n"),
     f"{PILOT_FILE}: {P} / K1: the key 'weight' is written 2 times (lines 22 and 23): {ONCE}"),
    ("agencies-twice", replace(PILOT_FILE, "      2548: [100, 200, 300, 400, 500]\n",
                            '      2548: [100, 200, 300, 400, 500]\nagencies:\n  - {code: "03009", role: lead}\n'),
     f"{PILOT_FILE}: {P}: the key 'agencies' is written 2 times (lines 10 and 34): {ONCE}"),
    ("agency-key-twice", replace("agencies.yaml", 'name_en: National Statistical Office, ',
                              'name_en: National Statistical Office, name_en: NSO, '),
     f"agencies.yaml: 20004: the key 'name_en' is written 2 times (line 5): {ONCE}"),
    ("kpi-code-space", replace(PILOT_FILE, "code: K1", 'code: "K1 "'),
     f"{PILOT_FILE}: {P} / K1 : code must not begin or end with a space (got 'K1 '): report cells are read "
     f"trimmed, as 'K1'"),
    ("pilot-id-number", replace(PILOT_FILE, f"pilot_id: {P}", "pilot_id: 0042"),
     f'{PILOT_FILE}: {P}: pilot_id must be non-empty text (read as the number 34): quote it, e.g. "PLT-2548-003"'),
    ("kpi-code-number", replace(PILOT_FILE, "code: K2", "code: 2"),
     f'{PILOT_FILE}: {P} / KPI #2: code must be non-empty text (read as the number 2): quote it, e.g. "K1"'),
    ("name-40000", replace("agencies.yaml", "name_th: กรมการปกครอง", "name_th: " + "ก" * 40000),
     "agencies.yaml: 15001: name_th must be at most 500 characters (got 40,000)"),
]


def tree(root: Path) -> dict[str, str]:
    """Every file under root (the warehouse, its files, the inbox, out/) and its bytes' hash."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "registry" not in p.relative_to(root).parts}


@pytest.mark.parametrize("change, line", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_run_stops_and_the_warehouse_is_unchanged(scenario_copy, change, line):
    registry, inbox = scenario_copy
    root = registry.parent
    # A file waiting in the inbox, as on a real night: it must not be read, filed away or quarantined.
    (inbox / "late.csv").write_bytes((inbox / "processed" / "a_lead_q1.csv").read_bytes())
    change(registry)
    before = tree(root)
    assert (root / "wh.duckdb").is_file()
    result = CliRunner().invoke(main, ["run", "--registry", str(registry), "--inbox", str(inbox), "--warehouse",
                                       str(root / "wh.duckdb"), "--out", str(root / "out"), "--as-of", AS_OF])
    assert result.exit_code == 4, result.output
    assert result.stderr == f"pilotkpi: broken registry, nothing was written: {line}\n"
    assert result.stdout == ""
    assert tree(root) == before


@pytest.mark.parametrize("change, line", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_check_stops(tmp_path, change, line):
    registry, _ = make_scenario(tmp_path)
    change(registry)
    result = CliRunner().invoke(main, ["check", str(CLEAN), "--registry", str(registry), "--as-of", AS_OF])
    assert result.exit_code == 4, result.output
    assert (result.stdout, result.stderr) == ("", f"pilotkpi: broken registry, nothing was written: {line}\n")
