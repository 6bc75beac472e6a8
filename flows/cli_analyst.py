"""Analysts' commands: the read-only SQL shell, exports, and score lineage (`explain`)."""
from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
