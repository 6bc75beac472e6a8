"""The committee's decisions from the browser: recorded before they are applied, run as the same
jobs as the CLI under the run lock, queued behind a nightly run.
"""
from __future__ import annotations

ROUTES: list = []
