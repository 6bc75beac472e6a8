"""Analysts' commands: score lineage (`explain`), exports, and the read-only SQL shell."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from flows.cli_common import EXIT_FAILED, EXIT_LOCKED, printable

WAREHOUSE_HELP = "The warehouse file (its published copy is read) or a published copy; opened read-only."


def _published(command: str, warehouse_path: Path) -> Path:
    """The published copy to read: the analysts' tools never open the working file, which a run
    holds locked (DuckDB refuses even readers while it does)."""
    from warehouse.shell import resolve

    path = resolve(warehouse_path)
    if not path.exists():
        click.echo(f"pilotkpi {command}: {path} does not exist yet: it is published after the first successful run",
                   err=True)
        sys.exit(EXIT_FAILED)
    return path


def _working_file(warehouse_path: Path) -> Path:
    """The working file, for `sql --working`: a failed run does not publish, so its own row in
    ops.runs is only there (docs/operations.md, "Reading a failed run")."""
    from warehouse.paths import PUBLISHED_SUFFIX

    if warehouse_path.name.endswith(PUBLISHED_SUFFIX):
        click.echo(f"pilotkpi sql --working: {warehouse_path} is a published copy: give the working file "
                   "(the --warehouse of `pilotkpi run`)", err=True)
        sys.exit(EXIT_FAILED)
    if not warehouse_path.exists():
        click.echo(f"pilotkpi sql --working: {warehouse_path} does not exist", err=True)
        sys.exit(EXIT_FAILED)
    return warehouse_path


@click.command()
@click.argument("pilot_id")
@click.argument("kpi_code")
@click.argument("period")
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help=WAREHOUSE_HELP)
@click.option("--restricted-store", "restricted_store", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Read a restricted pilot's lineage from this restricted store (operator only).")
def explain(pilot_id: str, kpi_code: str, period: str, warehouse_path: Path, restricted_store: Path | None) -> None:
    """How the score of PILOT_ID's KPI_CODE for PERIOD (e.g. 2548-Q2) was reached.

    PERIOD and KPI_CODE may be spelt as report files spell them: `ไตรมาส 3/2549`, `Q3/49`, `FY2006-Q3`;
    `k1`. Reads the published copy, so it works while a nightly run is writing. Times are Bangkok time.
    """
    from kpis.explain import NotFound, explain as explain_score
    from pilots.normalise import clean_text, parse_period
    from warehouse.db import connect

    # The readers' own parsers (pilots/normalise.py): one spelling rule for files and commands.
    canonical = parse_period(clean_text(period) or "")
    if canonical is None:
        click.echo(f"pilotkpi explain: {printable(repr(period))} is not a period: write it like 2549-Q3, "
                   f"ไตรมาส 3/2549 or FY2006-Q3", err=True)
        sys.exit(EXIT_FAILED)
    period, kpi_code, pilot_id = canonical, clean_text(kpi_code) or kpi_code, clean_text(pilot_id) or pilot_id

    if restricted_store is not None:  # owner-only, never published: read the store itself
        from warehouse import restricted

        restricted.check_permissions(restricted.files_for(warehouse_path, restricted_store))
        con = connect(restricted_store, read_only=True)
    else:
        con = connect(_published("explain", warehouse_path), read_only=True)
    try:
        click.echo(explain_score(con, pilot_id, kpi_code, period, restricted_store is not None), nl=False)
    except NotFound as exc:
        click.echo(f"pilotkpi explain: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        con.close()


COMMANDS: list[click.Command] = [explain]


@click.command()
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The warehouse file (its published copy is opened) or a published copy.")
@click.option("-c", "--command", "sql", default=None, help="Run these statements and exit.")
@click.option("--working", is_flag=True,
              help="Operators: read the working file itself (a failed run's rows in ops.runs, which no published "
                   "copy holds), read-only, under the run lock: refused while a run holds it (exit 3), and no run "
                   "starts while it is open.")
def sql(warehouse_path: Path, sql: str | None, working: bool) -> None:
    """A read-only SQL shell on the published copy: no file access, settings locked.

    End statements with `;`; `.tables`, `.schema NAME`, `.help`; `.quit` or Ctrl-D leaves.
    Works while a nightly run is writing.
    """
    if working:
        # The run lock held meanwhile (reviewer RV8 F5): a run lets go of the file for a moment
        # (publishing afresh, its final record after a failed checkpoint), and a shell opened then
        # would fail that step; so the shell waits for no run, and no run starts while it is open.
        from warehouse.lock import RunLocked, run_lock

        try:
            # shell: its note names it, so a night refused meanwhile says so; sql has no --wait.
            with run_lock(_working_file(warehouse_path), shell=True, can_wait=False):
                _shell(warehouse_path, sql)
        except RunLocked as exc:
            click.echo(f"pilotkpi sql --working: {printable(str(exc))}", err=True)
            sys.exit(EXIT_LOCKED)
        return
    _shell(_published("sql", warehouse_path), sql)


def _shell(path: Path, sql: str | None) -> None:
    from warehouse.shell import interactive_lines, open_sandboxed, run_statement, statements

    con = open_sandboxed(path)
    try:
        if sql is not None:
            ok = all([run_statement(con, s, sys.stdout) for s in statements(sql.splitlines())])
            sys.exit(0 if ok else 1)
        if sys.stdin.isatty():
            import readline  # noqa: F401 - line editing and history for input()

            click.echo(f"pilotkpi sql on {path} (read-only). End statements with ';'; .help for commands, .quit to leave.")
            lines = interactive_lines(input)
        else:
            lines = (line.rstrip("\n") for line in sys.stdin)
        for statement in statements(lines):
            run_statement(con, statement, sys.stdout)
    finally:
        con.close()


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "xlsx"]), required=True,
              help="parquet for BI tools; xlsx for Excel (codes stay text); csv for other tools.")
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The warehouse file (its published copy is read) or a published copy.")
def export(out_dir: Path, fmt: str, warehouse_path: Path) -> None:
    """Export the registry, core and marts relations to OUT_DIR as Parquet, CSV or Excel (xlsx)."""
    from warehouse.export import export as export_relations
    from warehouse.shell import resolve

    path = resolve(warehouse_path)
    if not path.exists():
        click.echo(f"pilotkpi export: {path} does not exist yet", err=True)
        sys.exit(EXIT_FAILED)
    from warehouse.db import connect

    con = connect(path, read_only=True)
    try:
        for written in export_relations(con, out_dir, fmt):
            click.echo(f"wrote {written}")
    finally:
        con.close()


COMMANDS = [explain, sql, export]
