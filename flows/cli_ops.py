"""Operations commands: the Prefect server and served schedule, reprocessing and rebuilding."""
from __future__ import annotations

import click

from flows.serve import COMMANDS as SERVE_COMMANDS

COMMANDS: list[click.Command] = [*SERVE_COMMANDS]
