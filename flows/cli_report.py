"""The committee report command: HTML (and PDF where Chromium is installed) from the marts."""
from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
