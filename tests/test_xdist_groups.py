"""`make test` keeps a file's tests on one xdist worker (`--dist loadgroup`): xdist reads a test's
group from the end of its node id ("path::test@group"), and pytest 9.2 ignores the id xdist writes,
so tests/conftest.py writes it. Without it each test is a unit of its own, and a file's module
fixtures (a first night, a bench run, a cluster) are built once on each worker."""
from __future__ import annotations

import pytest

from tests.support import LONG_GROUPS_APART, SERIAL

FILE = "tests/test_xdist_groups.py"


def _under_loadgroup(request) -> None:
    if not getattr(request.config.option, "loadgroup", False):  # set on xdist workers under --dist loadgroup
        pytest.skip("only on an xdist worker under --dist loadgroup (make test)")


def test_a_test_carries_its_files_group(request):
    _under_loadgroup(request)
    assert request.node.nodeid == f"{FILE}::test_a_test_carries_its_files_group@{FILE}"


@SERIAL
def test_a_serial_test_carries_its_files_group_unless_they_are_kept_apart(request):
    _under_loadgroup(request)
    group = "serial" if LONG_GROUPS_APART else FILE
    assert request.node.nodeid == f"{FILE}::test_a_serial_test_carries_its_files_group_unless_they_are_kept_apart@{group}"


@pytest.mark.parametrize("cell", ["@SUM(A1:A9)"])
def test_a_parameter_with_an_at_sign_still_carries_its_files_group(request, cell):
    """An "@" inside the parameters' brackets is not a group (tests/test_export.py's formula cells)."""
    _under_loadgroup(request)
    assert request.node.nodeid == f"{FILE}::test_a_parameter_with_an_at_sign_still_carries_its_files_group[{cell}]@{FILE}"
