"""The committee's and everyone's pilot pages: the overview of every pilot (filterable) and one
page per pilot, read live from the published copy.
"""
from __future__ import annotations

ROUTES: list = []
