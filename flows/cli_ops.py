"""Operations commands: the Prefect server and served schedule, reprocessing and rebuilding."""
from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
