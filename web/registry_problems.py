"""A broken registry's problems as the web may say them (web/app.py `registry_broken`, the 503 page;
web/decisions.py, a decision whose job met a broken registry).

The rule and its sentences are the jobs' too, in pilots/registry_problems.py (which says which files
are a restricted pilot's, and why): an account not cleared for restricted pilots reads their files
as the file and a neutral sentence, and the log has none of their text. Here only the published
copy is read through the web's own reader.
"""
from __future__ import annotations

from pilots.registry_problems import restricted_files, said  # noqa: F401 - the web's names (web/app.py, web/decisions.py)


def published_classes(data) -> dict[str, str] | None:
    """pilot_id -> classification in the published copy's registry.pilots (web/agency.py
    AgencyData), None when it cannot be read."""
    try:
        return {str(r["pilot_id"]): str(r["classification"])
                for r in data.published.rows("SELECT pilot_id, classification FROM registry.pilots")}
    except Exception:  # noqa: BLE001 - unreadable: the files decide, else restricted
        return None
