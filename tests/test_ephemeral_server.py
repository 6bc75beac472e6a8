"""The job's temporary Prefect server is started with Prefect's own command (flows/ephemeral.py
copies SubprocessASGIServer's, without importing Prefect's server code in the job): should a
Prefect upgrade change that command, this fails. tests/test_temporary_server.py runs a real job."""
from __future__ import annotations

import io
import subprocess
from pathlib import Path
import sys

from flows import ephemeral

NO_SUCH_PID = 4_194_305  # above Linux's pid_max: no /proc entry, so no watchdog is started


class _Started:
    pid = NO_SUCH_PID
    stdout = io.BytesIO(b"")  # the pipe of its output: ended at once


def test_the_server_is_started_with_prefects_own_command_and_environment(monkeypatch):
    from prefect.server.api import server as prefect_server

    calls = []  # both modules call the one subprocess.Popen: Prefect's call first, then ours
    monkeypatch.setattr("subprocess.Popen", lambda args, env=None, **kw: calls.append((args, env, kw)) or _Started())
    monkeypatch.setattr(ephemeral, "_free_port", lambda: 8765)
    prefect_server.SubprocessASGIServer(port=8765)._run_uvicorn_command()
    prefect_calls = calls[:]
    ephemeral.TemporaryServer().launch()
    our_calls = calls[len(prefect_calls):]

    [(prefect_args, prefect_env, prefect_kwargs)] = prefect_calls
    [(args, env, kwargs)] = our_calls  # the server only: no watchdog for a pid without /proc
    # The same uvicorn command line, its `main` run after the app's import with the collector off
    # (ephemeral.SERVER_MAIN) where Prefect runs it as `python -m uvicorn`.
    assert prefect_args[:3] == [sys.executable, "-m", "uvicorn"]
    assert args[:3] == [sys.executable, "-c", ephemeral.SERVER_MAIN] and args[3:] == prefect_args[3:]
    assert ephemeral.SERVER_MAIN.rstrip().endswith("from uvicorn.main import main\nmain()")
    assert args[args.index("--port") + 1] == "8765" and ephemeral.SERVER_APP in args
    assert {k: prefect_env[k] for k in ephemeral.SERVER_ENV} == ephemeral.SERVER_ENV == {
        "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    assert {k: env[k] for k in ephemeral.SERVER_ENV} == ephemeral.SERVER_ENV
    assert "PREFECT_API_URL" not in env  # the server serves the API; it needs none to call
    # Not Prefect's: no block type registered, nor any memo of it (pilotkpi uses no block).
    assert "PREFECT_SERVER_REGISTER_BLOCKS_ON_START" not in prefect_env
    assert env["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] == env["PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION"] == "0"
    assert prefect_kwargs == {}  # Prefect's server shares its output; ours sends it through a pipe this process reads
    # Its stdin: the pipe this process tells it to serve through (ephemeral.SERVE_GATE).
    # A session of its own where a watchdog can tie it to the job (/proc): a Ctrl-C to the job's
    # process group reaches the job only, which ends while its server still answers (verifier VC).
    assert kwargs == {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT,
                      "start_new_session": Path("/proc/self/stat").exists()}


class _FailsAtStart:
    """A uvicorn that exits with 3 at once (its app did not start: a locked database, say)."""
    pid = NO_SUCH_PID

    def __init__(self):
        self.stdout = io.BytesIO(b"")

    def poll(self):
        return 3


def test_a_server_that_keeps_failing_to_start_is_an_error_with_its_exit_code_after_a_few_tries(monkeypatch):
    launches = []
    monkeypatch.setattr("subprocess.Popen", lambda args, env=None, **kw: launches.append(args) or _FailsAtStart())
    monkeypatch.setenv("PREFECT_API_URL", "restored-after-the-test")  # _use sets it
    server = ephemeral.TemporaryServer()
    server.launch()
    try:
        server._wait_until_healthy(60, lambda: None)
    except RuntimeError as error:
        assert "exited with code 3" in str(error)
    else:
        raise AssertionError("a server that never starts was waited for")
    assert len(launches) == 1 + ephemeral.MAX_RELAUNCHES == 4  # not 60 s of relaunching


class _Answers:
    """An httpx client stand-in that answers every GET with one JSON value."""

    def __init__(self, value):
        self.value, self.asked = value, []

    def get(self, url):
        import httpx

        self.asked.append(url)
        return httpx.Response(200, json=self.value, request=httpx.Request("GET", url))


def test_the_server_is_ready_once_its_api_answers_with_this_prefects_own_version():
    from prefect import __version__

    server = ephemeral.TemporaryServer()
    server.port = 8765
    same = _Answers(__version__)
    server._answers_its_api(same)
    assert same.asked == ["http://127.0.0.1:8765/api/admin/version"]
    try:
        server._answers_its_api(_Answers("2.0.0"))
    except RuntimeError as error:
        assert str(error) == f"Prefect's temporary server runs Prefect 2.0.0, this job {__version__}"
    else:
        raise AssertionError("a server of another Prefect was taken for the job's own")


def test_on_its_own_server_the_flows_client_asks_no_version_and_no_csrf_token_unless_the_server_wants_one():
    from prefect.settings import get_current_settings, temporary_settings

    from flows.nightly import nightly_settings

    with nightly_settings(temporary_server=True):
        client = get_current_settings().client
        assert (client.server_version_check_enabled, client.csrf_support_enabled) == (False, False)
    # The server takes this process's settings (PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED, a profile).
    with temporary_settings(updates={"server.api.csrf_protection_enabled": True}), nightly_settings(True):
        client = get_current_settings().client
        assert (client.server_version_check_enabled, client.csrf_support_enabled) == (False, True)
    with nightly_settings(temporary_server=False):  # another server: Prefect's own defaults
        client = get_current_settings().client
        assert (client.server_version_check_enabled, client.csrf_support_enabled) == (True, True)


class _Running:
    pid = NO_SUCH_PID

    def poll(self):
        return None


class _StartingClient:
    """An httpx.Client stand-in for a server whose health route answers while its API still
    answers `version_codes` in turn (a 503 while it builds its routes, say), then its version."""

    def __init__(self, version_codes):
        self.codes, self.asked = list(version_codes), []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def get(self, url):
        import httpx
        from prefect import __version__

        self.asked.append(url.rsplit("/", 1)[-1])
        request = httpx.Request("GET", url)
        if url.endswith("/health"):
            return httpx.Response(200, json=True, request=request)
        code = self.codes.pop(0) if self.codes else 200
        return httpx.Response(code, json=__version__ if code == 200 else "not yet", request=request)


def _wait_with(monkeypatch, client: _StartingClient) -> None:
    import httpx

    monkeypatch.setattr(httpx, "Client", lambda: client)
    monkeypatch.setattr(ephemeral.time, "sleep", lambda s: None)
    monkeypatch.setenv("PREFECT_API_URL", "restored-after-the-test")  # _use sets it
    server = ephemeral.TemporaryServer()
    server.port, server.process = 8765, _Running()
    server._wait_until_healthy(60, lambda: None)


def test_a_server_error_from_the_api_while_it_starts_is_waited_through_and_a_client_error_is_not(monkeypatch):
    import httpx

    starting = _StartingClient([503, 500])
    _wait_with(monkeypatch, starting)
    assert starting.asked == ["health", "version", "health", "version", "health", "version"]
    refused = _StartingClient([404])
    try:
        _wait_with(monkeypatch, refused)
    except httpx.HTTPStatusError as error:
        assert error.response.status_code == 404
    else:
        raise AssertionError("a 404 from the API was waited on until the timeout")
    assert refused.asked == ["health", "version"]


def test_an_operators_own_block_registration_setting_reaches_the_server(monkeypatch):
    calls = []
    started = _Started()
    started.stdout = io.BytesIO(b"")  # its own pipe: another test's launch closed the shared one
    monkeypatch.setattr("subprocess.Popen", lambda args, env=None, **kw: calls.append(env) or started)
    monkeypatch.setenv("PREFECT_SERVER_REGISTER_BLOCKS_ON_START", "true")
    ephemeral.TemporaryServer().launch()
    [env] = calls
    assert env["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] == "true"  # theirs, not our default
    assert env["PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION"] == "0"
