"""The later nights' fixed costs (issue 22 items 3 and 5): what a night after the first does once
instead of twice. The nights themselves are in tests/test_incremental.py."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pilots.registry import RegistryError, load_registry

VALID = Path(__file__).parent / "data" / "registry" / "valid"
P1 = "pilots/PLT-2548-001.yaml"


def test_the_registry_is_parsed_once_for_the_same_bytes_and_again_when_a_byte_changes(tmp_path):
    """`pilotkpi run` checks the registry before Prefect starts and the job loads it again: the
    second load of the same bytes is the first one's registry; any change of a file is read."""
    folder = tmp_path / "registry"
    shutil.copytree(VALID, folder)
    first = load_registry(folder)
    assert load_registry(folder) is first
    assert first.pilots["PLT-2548-001"].report_due_days == 45

    path = folder / P1
    path.write_text(path.read_text(encoding="utf-8").replace("report_due_days: 45", "report_due_days: 46"),
                    encoding="utf-8")
    edited = load_registry(folder)
    assert edited is not first and edited.pilots["PLT-2548-001"].report_due_days == 46
    assert edited.content_sha256 != first.content_sha256

    (folder / "secretariat.yml").write_text("name_th: x\n", encoding="utf-8")  # misnamed: refused, never cached
    for _ in range(2):
        with pytest.raises(RegistryError, match="secretariat.yaml"):
            load_registry(folder)
    (folder / "secretariat.yml").unlink()
    assert load_registry(folder).pilots["PLT-2548-001"].report_due_days == 46
