"""The held files (each beside the file it would replace, with the figures as they are and as they
would be if approved) and the page to close or reopen a quarter.
"""
from __future__ import annotations

ROUTES: list = []
