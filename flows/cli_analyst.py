"""Analysts' commands: score lineage (`explain`), exports, and the read-only SQL shell."""
from __future__ import annotations

import sys
from pathlib import Path

import click

WAREHOUSE_HELP = "The published read-only copy (default) or any warehouse file; opened read-only."




@click.command()
@click.argument("pilot_id")
@click.argument("kpi_code")
@click.argument("period")
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=WAREHOUSE_HELP)
def explain(pilot_id: str, kpi_code: str, period: str, warehouse_path: Path) -> None:
    """How the score of PILOT_ID's KPI_CODE for PERIOD (e.g. 2548-Q2) was reached."""
    from kpis.explain import NotFound, explain as explain_score
    from warehouse.db import connect

    con = connect(warehouse_path, read_only=True)
    try:
        click.echo(explain_score(con, pilot_id, kpi_code, period), nl=False)
    except NotFound as exc:
        click.echo(f"pilotkpi explain: {exc}", err=True)
        sys.exit(1)
    finally:
        con.close()


COMMANDS: list[click.Command] = [explain]
