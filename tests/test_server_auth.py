"""`pilotkpi server` least privilege (issue 14 item 5): loopback by default, and any other address
only with API auth (PREFECT_SERVER_API_AUTH_STRING on the server, PREFECT_API_AUTH_STRING on clients)."""
from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from flows import serve
from tests.support import SERIAL, child_env

AUTH = "pilotkpi-ops:correct-horse-battery-staple"


@pytest.fixture
def no_auth(monkeypatch, tmp_path):
    """No auth string from the environment or a Prefect profile (a fresh PREFECT_HOME)."""
    for key in ("PREFECT_SERVER_API_AUTH_STRING", "PREFECT_API_AUTH_STRING", "PREFECT_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))


@pytest.fixture
def execs(monkeypatch):
    """Record os.execve instead of replacing the test process with a server."""
    calls: list[tuple] = []
    monkeypatch.setattr(serve.os, "execve", lambda *args: calls.append(args))
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_a_non_loopback_bind_without_auth_is_refused_and_starts_nothing(no_auth, execs, host):
    result = CliRunner().invoke(serve.server, ["--host", host, "--port", "4210"])
    assert result.exit_code == 2, result.output  # usage error (flows/cli_common.py)
    assert f"refusing to start the Prefect server on {host}:4210 without API auth" in result.output
    assert "PREFECT_SERVER_API_AUTH_STRING" in result.output and "PREFECT_API_AUTH_STRING" in result.output
    assert execs == []  # no server was started


def test_a_blank_auth_string_counts_as_none(no_auth, execs, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "   ")
    result = CliRunner().invoke(serve.server, ["--host", "0.0.0.0"])
    assert result.exit_code == 2 and execs == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1"])
def test_loopback_needs_no_auth(no_auth, execs, host):
    result = CliRunner().invoke(serve.server, ["--host", host, "--port", "4211"])
    assert result.exit_code == 0, result.output
    (_, argv, env), = execs
    assert argv[-4:] == ["--host", host, "--port", "4211"]
    assert "PREFECT_SERVER_API_AUTH_STRING" not in env


def test_the_default_host_is_loopback(no_auth, execs):
    result = CliRunner().invoke(serve.server, [])
    assert result.exit_code == 0, result.output
    assert execs[0][1][-4:] == ["--host", "127.0.0.1", "--port", "4200"]


def test_a_non_loopback_bind_with_auth_starts_the_server_with_it(no_auth, execs, monkeypatch):
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", AUTH)
    result = CliRunner().invoke(serve.server, ["--host", "0.0.0.0", "--port", "4212"])
    assert result.exit_code == 0, result.output
    (_, argv, env), = execs
    assert argv[-4:] == ["--host", "0.0.0.0", "--port", "4212"]
    assert env["PREFECT_SERVER_API_AUTH_STRING"] == AUTH


def _own_address() -> str:
    """A non-loopback IPv4 address of this machine if it has one (the server binds 0.0.0.0, so a
    client reaching it there is what an outside client would do); else loopback, still 0.0.0.0's."""
    candidates = []
    try:
        candidates += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            candidates.append(s.getsockname()[0])
    except OSError:
        pass
    for address in candidates:
        if not address.startswith("127.") and address != "0.0.0.0":
            return address
    return "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def _post(url: str, authorization: str | None) -> int:
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


CLIENT = """
import sys
from prefect.client.orchestration import get_client
try:
    with get_client(sync_client=True) as client:
        print("flows", len(client.read_flows()))
except Exception as exc:
    print("refused", type(exc).__name__, getattr(getattr(exc, "response", None), "status_code", None))
"""


def _prefect_client(api_url: str, home: Path, auth: str | None) -> str:
    env = child_env(PREFECT_API_URL=api_url, PREFECT_HOME=str(home))
    env.pop("PREFECT_API_AUTH_STRING", None)
    if auth is not None:
        env["PREFECT_API_AUTH_STRING"] = auth
    done = subprocess.run([sys.executable, "-c", CLIENT], env=env, capture_output=True, text=True, timeout=120)
    return done.stdout.strip() + done.stderr[-500:]


@SERIAL
@pytest.mark.server
def test_a_server_on_all_interfaces_rejects_clients_without_the_auth_string(tmp_path):
    address, port = _own_address(), _free_port()
    api = f"http://{address}:{port}/api"
    env = child_env(PREFECT_HOME=str(tmp_path / "server-home"), PREFECT_SERVER_API_AUTH_STRING=AUTH,
                    PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING")
    env = {k: v for k, v in env.items() if not k.startswith(("PREFECT_API_", "PREFECT_PROFILE"))}
    log = tmp_path / "server.log"
    with open(log, "wb") as out:  # own session: teardown signals the server and its uvicorn together
        process = subprocess.Popen([sys.executable, "-m", "flows.cli", "server", "--host", "0.0.0.0",
                                    "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        serve.wait_for_health(api, 120)  # /health answers without auth (Prefect's probe exemption)
        basic = "Basic " + base64.b64encode(AUTH.encode()).decode()
        wrong = "Basic " + base64.b64encode(b"pilotkpi-ops:guess").decode()
        assert _post(f"{api}/flows/filter", None) == 401
        assert _post(f"{api}/flows/filter", wrong) == 401
        assert _post(f"{api}/flows/filter", basic) == 200
        # Prefect's own client, configured only by the environment variable the docs name (one child
        # process: each costs seconds of imports; the refusal without auth is the 401 above).
        assert _prefect_client(api, tmp_path / "client-home", AUTH).startswith("flows 0")
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, sig)
                    process.wait(15)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # anything the server left in its group
        except ProcessLookupError:
            pass
    assert process.poll() is not None


@pytest.mark.parametrize("host, local", [("0.0.0.0", "http://127.0.0.1:4391/api"), ("::", "http://[::1]:4391/api")])
def test_a_wildcard_bind_suggests_reachable_addresses(no_auth, execs, monkeypatch, host, local):
    """Issue 24 item 8d: 0.0.0.0 (or ::) is where the server listens, not an address a client can
    connect to; the hint names loopback for this host and the host's name for others."""
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", AUTH)
    result = CliRunner().invoke(serve.server, ["--host", host, "--port", "4391"])
    assert result.exit_code == 0, result.output
    assert f"export PREFECT_API_URL={local} on this host" in result.output
    assert f"PREFECT_API_URL=http://{socket.gethostname()}:4391/api from another machine" in result.output
    assert "//0.0.0.0" not in result.output and "//::" not in result.output and "[::]" not in result.output


@pytest.mark.parametrize("host, url", [("127.0.0.1", "http://127.0.0.1:4392/api"), ("::1", "http://[::1]:4392/api")])
def test_a_specific_bind_suggests_that_address(no_auth, execs, host, url):
    result = CliRunner().invoke(serve.server, ["--host", host, "--port", "4392"])
    assert result.exit_code == 0, result.output
    assert f"then export PREFECT_API_URL={url}\n" in result.output
