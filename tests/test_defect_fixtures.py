"""One small fixture file per defect code (tests/data/defects/<CODE>.*), run through the same
path as the nightly run (`check_files`): each yields its code, and CLEAN.csv yields nothing."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pilots.defects import catalogue
from pilots.ingest import check_files
from pilots.registry import load_registry

DATA = Path(__file__).parent / "data"
AS_OF = date(2006, 8, 15)
FIXTURES = sorted(p for p in (DATA / "defects").iterdir() if p.stem != "CLEAN")
# Codes shown by tests that build their input in code: a 20 MB file or an xlsx bomb
# (test_xlsx), a formula workbook (test_xlsx), and a resubmission (test_ingest).
BUILT_IN_CODE = {"FILE_TOO_LARGE", "FORMULA_WITHOUT_VALUE", "RESUBMISSION_UNCHANGED"}


@pytest.fixture(scope="module")
def registry():
    return load_registry(DATA / "registry" / "valid")


def test_clean_file_has_no_issue(registry):
    [outcome] = check_files([DATA / "defects" / "CLEAN.csv"], registry, AS_OF)
    assert (outcome.status, outcome.issues) == ("accepted", [])


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_yields_its_code(registry, path):
    [outcome] = check_files([path], registry, AS_OF)
    code = path.stem
    assert code in {i.code for i in outcome.issues}, [i.code for i in outcome.issues]
    expected_status = "quarantined" if catalogue()[code].severity == "error" else "accepted"
    assert outcome.status == expected_status
    for issue in outcome.issues:
        assert issue.message_en and issue.message_th


def test_every_code_has_a_fixture():
    assert set(catalogue()) - {p.stem for p in FIXTURES} == BUILT_IN_CODE
