"""`pilotkpi web` (the web front door) and `pilotkpi accounts` (its accounts, from the shell only).

The web package is imported inside the commands: the CLI starts the site, it does not build on it.
"""
from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

from flows.cli_common import EXIT_FAILED, _as_of

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@click.command()
@click.option("--registry", "registry_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Registry folder (agencies.yaml, pilots/*.yaml).")
@click.option("--inbox", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The inbox the nightly run reads: sent reports are written here.")
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="DuckDB warehouse file: its published copy is read, never the file itself.")
@click.option("--restricted-store", "restricted_store", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Restricted pilots' store (default: beside the warehouse).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; another than loopback needs --tls-cert/--tls-key or --behind-proxy.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
@click.option("--behind-proxy", is_flag=True,
              help="A reverse proxy terminates TLS in front of this server (docs/web.md): cookies are marked Secure.")
@click.option("--as-of", "as_of", default=None, help="Judge dates as of this day (YYYY-MM-DD); default today in Bangkok.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="The nightly run's --out: the reminder letters are read from OUT/reminders, and the summaries "
                   "the committee's decisions rewrite are written there (default: out beside the warehouse).")
@click.option("--prefect-api", "prefect_api", default=None,
              help="The running Prefect server decisions run against (default: PREFECT_API_URL; without either, "
                   "a temporary server started with the web and kept while it runs).")
def web(registry_dir: Path, inbox: Path, warehouse_path: Path, restricted_store: Path | None, host: str, port: int,
        tls_cert: Path | None, tls_key: Path | None, behind_proxy: bool, as_of: str | None, out_dir: Path | None,
        prefect_api: str | None) -> None:
    """Serve the web pages (agencies send and check their reports, the committee decides) with uvicorn."""
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("give --tls-cert and --tls-key together")
    if host not in LOOPBACK and not (tls_cert or behind_proxy):
        raise click.UsageError(f"serving on {host} needs --tls-cert and --tls-key, or --behind-proxy "
                               "with a TLS reverse proxy in front (docs/web.md)")
    if prefect_api:  # before Prefect is imported: its settings are read once
        import os

        os.environ["PREFECT_API_URL"] = prefect_api
    import uvicorn

    from web.accounts import AccountsError, accounts_path, load
    from web.app import SiteConfig, create_app

    try:  # an accounts file others may read, or not an accounts file: refused before serving
        load(accounts_path(warehouse_path))
    except AccountsError as exc:
        click.echo(f"pilotkpi: {exc}", err=True)
        sys.exit(EXIT_FAILED)

    app = create_app(SiteConfig(registry_dir, inbox, warehouse_path, restricted_store, _as_of(as_of),
                                secure_cookies=bool(tls_cert) or behind_proxy, out_dir=out_dir,
                                warm_decisions=True))
    scheme = "https" if tls_cert else "http"
    click.echo(f"pilotkpi web: {scheme}://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, ssl_certfile=tls_cert and str(tls_cert),
                ssl_keyfile=tls_key and str(tls_key), proxy_headers=behind_proxy,
                forwarded_allow_ips="127.0.0.1" if behind_proxy else None, log_level="warning",
                server_header=False)


@click.group()
def accounts() -> None:
    """Manage the web's accounts (the owner-only file beside the warehouse)."""


_WAREHOUSE = click.option("--warehouse", "warehouse_path", required=True,
                          type=click.Path(dir_okay=False, path_type=Path), help="The warehouse the site serves.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("password", hide_input=True, confirmation_prompt=True)


def _refused(call, *args) -> None:
    from web.accounts import AccountsError

    try:
        call(*args)
    except AccountsError as exc:
        click.echo(f"pilotkpi: {exc}", err=True)
        sys.exit(EXIT_FAILED)


def registry_agencies(registry_dir: Path | None, warehouse_path: Path):
    """() -> (the agency codes an agency account may speak for, where they were read): the
    registry folder given (--registry), else the published copy's registry.agencies (what the site
    serves). Neither: refused, as a code could not be checked."""
    def read() -> tuple[set[str], str]:
        from web.accounts import AccountsError

        if registry_dir is not None:
            from flows.cli_common import check_registry, registry_refusal
            from pilots.registry import RegistryError

            try:  # its problems as the open side may print them (a restricted pilot's file masked)
                return set(check_registry(registry_dir, warehouse_path).agencies), str(registry_dir)
            except RegistryError as exc:
                raise AccountsError(registry_refusal(exc).removeprefix("pilotkpi: ")) from None
        import duckdb

        from warehouse.publish import published_path

        published = published_path(warehouse_path)
        if not published.exists():
            raise AccountsError(f"cannot check the agency codes: no published copy of the warehouse ({published}) "
                                "yet; give --registry DIR")
        try:
            with duckdb.connect(str(published), read_only=True) as con:
                codes = {r[0] for r in con.execute("SELECT agency_code FROM registry.agencies").fetchall()}
        except duckdb.Error as exc:
            raise AccountsError(f"cannot check the agency codes: the published copy {published} cannot be read "
                                f"({type(exc).__name__}); give --registry DIR") from None
        return codes, str(published)
    return read


@accounts.command("add")
@click.argument("name")
@_WAREHOUSE
@click.option("--role", required=True, type=click.Choice(["agency", "analyst", "committee"]))
@click.option("--agency", "agencies", multiple=True, help="An agency code the account speaks for (repeatable).")
@click.option("--registry", "registry_dir", default=None, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Registry folder the agency codes are checked against (default: the published copy's registry).")
@click.option("--restricted", is_flag=True, help="Analyst/committee: cleared for restricted pilots' line-level data.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def accounts_add(name: str, warehouse_path: Path, role: str, agencies: tuple[str, ...], registry_dir: Path | None,
                 restricted: bool, password_stdin: bool) -> None:
    """Add an account NAME. An agency account's codes must be in the registry (--registry, else the
    published copy's)."""
    from web.accounts import accounts_path, add

    path = accounts_path(warehouse_path)
    _refused(add, path, name, role, _password(password_stdin), list(agencies), restricted,
             registry_agencies(registry_dir, warehouse_path))
    click.echo(f"added {name} ({role}) to {path}")


@accounts.command("set-password")
@click.argument("name")
@_WAREHOUSE
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
def accounts_set_password(name: str, warehouse_path: Path, password_stdin: bool) -> None:
    """Give account NAME a new password (and enable it again if it was disabled): its sessions end."""
    from web.accounts import accounts_path, set_password

    _refused(set_password, accounts_path(warehouse_path), name, _password(password_stdin))
    click.echo(f"new password set for {name}")


@accounts.command("disable")
@click.argument("name")
@_WAREHOUSE
def accounts_disable(name: str, warehouse_path: Path) -> None:
    """Disable account NAME: its sessions end at their next request."""
    from web.accounts import accounts_path, disable

    _refused(disable, accounts_path(warehouse_path), name)
    click.echo(f"disabled {name}")


@accounts.command("list")
@_WAREHOUSE
def accounts_list(warehouse_path: Path) -> None:
    """List the accounts (never their passwords)."""
    from web.accounts import AccountsError, accounts_path, load

    try:
        rows = load(accounts_path(warehouse_path))
    except AccountsError as exc:
        click.echo(f"pilotkpi: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    for a in rows.values():
        extra = ", ".join(filter(None, [" ".join(a.agencies), "restricted" if a.restricted else "",
                                        "DISABLED" if a.disabled else ""]))
        click.echo(f"{a.name}\t{a.role}\t{extra}")


# The demo's accounts: one per role (demo-agency is the Department of Business Development, which
# owes the 2549-Q3 report of PLT-2548-004), and an agency of the restricted pilot (PLT-2548-006's lead).
DEMO_ACCOUNTS = (("demo-agency", "agency", ["10004"], False), ("demo-restricted-agency", "agency", ["01005"], False),
                 ("demo-analyst", "analyst", [], False), ("demo-committee", "committee", [], True))


def write_demo_accounts(folder: Path, warehouse_path: Path) -> Path:
    """Create the demo accounts with generated passwords, written to an owner-only file in FOLDER
    (returned); accounts that exist already keep theirs."""
    import os

    from web.accounts import accounts_path, add, load

    path = accounts_path(warehouse_path)
    existing = load(path)
    lines = []
    for name, role, agencies, restricted in DEMO_ACCOUNTS:
        if name in existing:
            continue
        password = secrets.token_urlsafe(12)
        add(path, name, role, password, agencies, restricted)
        lines.append(f"{name}\t{role}\t{' '.join(agencies)}\t{password}\n")
    secrets_file = folder / "demo-passwords.txt"
    if lines:
        fd = os.open(secrets_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.writelines(lines)
    return secrets_file


COMMANDS = (web, accounts)
