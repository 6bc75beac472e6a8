"""The nightly's summary artifacts, as tests read them from the session's Prefect server.

The server is shared by every test of a worker: read_artifacts answers one page (200 at most),
oldest first, so a test late in a long run missed its own artifact (CI, 2026-12-07). Every page
is read here, and a run's artifacts are found by the output folder they link to.
"""
from __future__ import annotations

from pathlib import Path

PAGE = 200


def summary_artifacts_of(out_dir: Path) -> list:
    """Every `pilotkpi-summary` artifact (newest first) whose text links into `out_dir`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.cheap import SUMMARY_ARTIFACT_KEY

    link = Path(out_dir).resolve().as_uri()
    found, offset = [], 0
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[SUMMARY_ARTIFACT_KEY])),
                                         sort=ArtifactSort.CREATED_DESC, limit=PAGE, offset=offset)
            found += [a for a in page if link in str(a.data)]
            if len(page) < PAGE:
                return found
            offset += len(page)
