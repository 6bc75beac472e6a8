"""The drill-down (pilot -> KPI score with its formula -> submission -> lines -> original file),
and the analysts' read-only SQL page.
"""
from __future__ import annotations

ROUTES: list = []
