"""What makes a decision in the warm web process cheaper, without a timed test: the registry is
read again only when one of its files changed (flows/approval.py)."""
from __future__ import annotations

import shutil


def test_the_registry_is_read_again_only_when_a_file_changed(demo_run, tmp_path, prefect_harness):
    from flows import approval

    folder = tmp_path / "registry"
    shutil.copytree(demo_run[0] / "registry", folder)
    warehouse = tmp_path / "w.duckdb"  # whose published copy would tell restricted pilots' problems (none here)
    first = approval._registry(folder, warehouse)
    assert approval._registry(folder, warehouse) is first  # nothing changed: the same registry, not read again
    agencies = folder / "agencies.yaml"
    agencies.write_text(agencies.read_text(encoding="utf-8") + "# a comment added\n", encoding="utf-8")
    second = approval._registry(folder, warehouse)
    assert second is not first
    assert second.content_sha256 != first.content_sha256  # the comment is part of the registry's hash
    (folder / "pilots" / "PLT-2548-001.yaml").unlink()  # a pilot removed: read again, and it is gone
    third = approval._registry(folder, warehouse)
    assert "PLT-2548-001" in second.pilots and "PLT-2548-001" not in third.pilots
