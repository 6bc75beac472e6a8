"""`pilotkpi server` and `pilotkpi serve`: the nightly flow as a scheduled Prefect deployment.

Schedules need a real Prefect server (the ephemeral one runs no scheduler), so `server` starts
one and `serve` registers the deployment with it and runs the scheduled runs in its own process.
prefect.yaml at the repository root holds the same deployment for operators who use `prefect deploy`.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from flows.settings import QUIET_DEFAULTS, apply_defaults

DEFAULT_NAME = "nightly"
DEFAULT_CRON = "0 2 * * *"  # 02:00, after the agencies' evening uploads
DEFAULT_TIMEZONE = "Asia/Bangkok"  # the committee's clock, whatever the host's TZ is
DEFAULT_HOST = "127.0.0.1"  # not exposed beyond the host unless the operator asks
DEFAULT_PORT = 4200
API_URL_HINT = "run `pilotkpi server` and export PREFECT_API_URL=http://127.0.0.1:4200/api"


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address the Prefect server listens on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port of the Prefect server.")
def server(host: str, port: int) -> None:
    """Run a Prefect server in the foreground (schedules need one; Ctrl-C stops it).

    Any address but loopback needs API auth (PREFECT_SERVER_API_AUTH_STRING): the API can start
    runs and read every flow run's parameters and logs.
    """
    env = {**QUIET_DEFAULTS, **os.environ}  # the operator's own settings win over the quiet defaults
    if not is_loopback(host) and not _server_auth_string():
        raise click.UsageError(refusal(host, port))
    click.echo(f"pilotkpi: starting the Prefect server; then {api_url_hint(host, port)}", err=True)
    # exec, not a child: signals (Ctrl-C, systemd's SIGTERM) reach the server itself.
    os.execve(sys.executable, [sys.executable, "-m", "prefect", "server", "start", "--host", host,
                               "--port", str(port)], env)


def api_url_hint(host: str, port: int) -> str:
    """What a client exports to reach a server bound to `host`. A wildcard bind (0.0.0.0, ::) is
    no address a client can connect to: clients on this host use loopback, others this host's
    name. An IPv6 literal is bracketed, as URLs need."""
    def url(address: str) -> str:
        try:
            literal = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return f"http://{address}:{port}/api"
        shown = f"[{literal}]" if literal.version == 6 else str(literal)
        return f"http://{shown}:{port}/api"

    try:
        wildcard = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        wildcard = False
    if not wildcard:
        return f"export PREFECT_API_URL={url(host)}"
    local = "::1" if ":" in host else "127.0.0.1"
    return (f"export PREFECT_API_URL={url(local)} on this host, or "
            f"PREFECT_API_URL={url(socket.gethostname())} from another machine")


def is_loopback(host: str) -> bool:
    """True when every address `host` names is a loopback one (127.0.0.0/8, ::1).

    A name is resolved, as the server would; one that does not resolve counts as not loopback,
    so the refusal errs on the safe side. 0.0.0.0 and :: (every interface) are not loopback.
    """
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


def _server_auth_string() -> str | None:
    """The auth string the server will use, read by Prefect's own settings (environment, profile,
    .env) as the exec'd server will read them; blank counts as none."""
    from prefect.settings.models.root import Settings

    secret = Settings().server.api.auth_string
    value = secret.get_secret_value() if secret is not None else None
    return value if value and value.strip() else None


def refusal(host: str, port: int) -> str:
    """The operator's message when a non-loopback bind has no API auth (English: operators' CLI)."""
    return (f"refusing to start the Prefect server on {host}:{port} without API auth: anyone who can reach "
            f"that address could read every run's parameters and logs and start runs. Either set "
            f"PREFECT_SERVER_API_AUTH_STRING='user:password' for the server and the same value as "
            f"PREFECT_API_AUTH_STRING for every client (pilotkpi serve, prefect CLI), or keep the default "
            f"--host {DEFAULT_HOST} (reach it through an SSH tunnel).")


def wait_for_health(api_url: str, timeout: float) -> None:
    """Return once `api_url`/health answers; raise ClickException after `timeout` seconds."""
    # Imported here, not with this module: every `pilotkpi` command imports it (flows/cli_ops.py),
    # and urllib.request's import (http.client, ssl) delayed `pilotkpi run`'s server launch.
    import urllib.error
    import urllib.request

    url = api_url.rstrip("/") + "/health"
    deadline = time.monotonic() + timeout
    last_error: object = None
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:  # not listening yet, or still starting
            last_error = exc
        if time.monotonic() >= deadline:
            raise click.ClickException(f"the Prefect server at {api_url} did not answer {url} within "
                                       f"{timeout:g} s (last error: {last_error}); is it running? {API_URL_HINT}")
        time.sleep(0.5)


def _dir(exists: bool = True) -> click.Path:
    return click.Path(exists=exists, file_okay=False, path_type=Path)


@click.command()
@click.option("--registry", "registry_dir", required=True, type=_dir(), help="Registry folder.")
@click.option("--inbox", required=True, type=_dir(), help="Folder of received report files.")
@click.option("--warehouse", "warehouse_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="DuckDB warehouse file (created if missing).")
@click.option("--out", "out_dir", required=True, type=_dir(exists=False), help="Folder for the committee summaries.")
@click.option("--cron", default=DEFAULT_CRON, show_default=True, help="When the nightly run starts (cron syntax).")
@click.option("--timezone", "tz", default=DEFAULT_TIMEZONE, show_default=True, help="Time zone of --cron.")
@click.option("--name", default=DEFAULT_NAME, show_default=True, help="Deployment name.")
@click.option("--health-timeout", default=90.0, show_default=True, type=float,
              help="Seconds to wait for the Prefect server's /api/health before giving up.")
@click.option("--warm/--cold", default=True, show_default=True,
              help="Fork each night from a process that imported the flow once (warm), or start each "
                   "as a new `python -m prefect.engine` (cold, Prefect's default).")
def serve(registry_dir: Path, inbox: Path, warehouse_path: Path, out_dir: Path, cron: str, tz: str, name: str,
          health_timeout: float, warm: bool) -> None:
    """Serve the nightly flow on a schedule, against the Prefect server at PREFECT_API_URL."""
    api_url = os.environ.get("PREFECT_API_URL")
    if not api_url:  # without it Prefect would use an ephemeral server, which never runs schedules
        raise click.ClickException(f"PREFECT_API_URL is not set: {API_URL_HINT}")
    try:
        ZoneInfo(tz)  # Prefect accepts any string here and fails only on the server
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{tz!r} is not an IANA time zone", param_hint="--timezone") from None
    apply_defaults()
    if warm:  # the nights' process imports beside this one's imports and the server's health check
        from flows import warm as warm_nights

        warm_nights.start_forkserver(registry_dir)
    from prefect.schedules import Cron

    try:
        schedule = Cron(cron, timezone=tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--cron") from None
    # Register nothing until the server answers: a served deployment that fails to register exits.
    wait_for_health(api_url, health_timeout)
    from prefect.types.entrypoint import EntrypointType

    from flows.nightly import nightly

    # Absolute paths: the runs execute in child processes that need not share this working directory.
    parameters = {"registry_dir": str(registry_dir.resolve()), "inbox": str(inbox.resolve()),
                  "warehouse_path": str(warehouse_path.resolve()), "out_dir": str(out_dir.resolve())}
    # Not `nightly.serve(...)`: that runs each run from a cloudpickled copy of the function, whose
    # globals lose the names used only in (postponed) annotations, so parameter validation fails
    # ("`NightlyModel` is not fully defined; define `date`"). A module-path entrypoint makes each
    # run import flows.nightly afresh, as `python -m prefect.engine`, like a worker would.
    deployment = nightly.to_deployment(name=name, schedules=[schedule], parameters=parameters,
                                       entrypoint_type=EntrypointType.MODULE_PATH)
    how = "warm: forked from a pre-imported process" if warm else "cold: a new process"
    click.echo(f"pilotkpi: serving deployment nightly/{name} on {cron!r} ({tz}) at {api_url}; "
               f"each night {how}", err=True)
    _serve_until_stopped(deployment, warm)
    click.echo("pilotkpi: stopped serving", err=True)


def _serve_until_stopped(deployment, warm: bool = True) -> None:
    """prefect.serve, with a clean stop on SIGTERM or Ctrl-C; warm: each night forked from a
    pre-imported process (flows/warm.py), started now so the first night is warm too."""
    from contextlib import nullcontext

    from flows import warm as warm_nights

    if warm:  # before the deployment is registered: no night can come before the process is ready
        seconds = warm_nights.wait_until_ready()
        click.echo(f"pilotkpi: the nights' process is ready ({seconds:.1f} s after it was started)", err=True)
    entrypoints = {deployment.name: deployment.entrypoint} if deployment.entrypoint else {}
    # What a night's reader reads ahead before its engine starts (flows/warm.py run_engine).
    folders = {deployment.name: (deployment.parameters["registry_dir"], deployment.parameters["inbox"])}
    run_until_stopped(deployment, warm_nights.warm_engine_runs(entrypoints, folders) if warm else nullcontext())


def run_until_stopped(deployment, around) -> None:
    """A Prefect Runner serving `deployment` inside the context manager `around` until SIGTERM or
    Ctrl-C, then a clean stop: its loops and child runs stopped by the runner's own `async with` exit.

    Prefect 3.8.8's Runner.handle_sigterm calls the sync-dispatched `stop()` from inside the event
    loop, which only creates the `astop` coroutine and never awaits it ("RuntimeWarning: coroutine
    'Runner.astop' was never awaited"). Raising an exception from the handler is no better: the
    signal lands in whatever frame runs, and in a finalizer (a multiprocessing Finalize during
    garbage collection) Python prints "Exception ignored" and goes on serving. So the handler does
    what asyncio.run does on Ctrl-C: it cancels the main task and wakes the loop, and the runner
    unwinds from its await point.
    """
    import asyncio

    runner = stoppable_runner()
    runner.add_deployment(deployment)
    try:
        with around:
            asyncio.run(runner.start())
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass


def stoppable_runner():
    """A Prefect Runner whose SIGTERM handler cancels the task that runs its `start()`."""
    import asyncio

    from prefect.runner import Runner

    class StoppableRunner(Runner):
        main_task: asyncio.Task | None = None

        async def start(self, *args, **kwargs) -> None:
            self.main_task = asyncio.current_task()  # before start() sets the SIGTERM handler
            await super().start(*args, **kwargs)

        def handle_sigterm(self, *args, **kwargs) -> None:
            task = self.main_task
            if task is not None and not task.done():
                task.cancel()
                task.get_loop().call_soon_threadsafe(lambda: None)  # wake the loop, as asyncio.run's Ctrl-C

    return StoppableRunner(pause_on_shutdown=True)


COMMANDS: list[click.Command] = [server, serve]
