"""The sign-in throttle holds against parallel tries (web.md Security: after 5 failures for an
account within 15 minutes, further tries wait). Main read the failures before the slow argon2
check and wrote them after it, so a burst of wrong passwords sent at once was all checked (40
tries: 40 x 401, no 429) and as many 64 MiB checks ran at once (verifier V5, r09)."""
from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import anyio
import anyio.to_thread
import httpx

from tests.web.conftest import Client
from tests.web.test_web_security import audit
from web import accounts as accounts_file
from web import app as web_app
from web.auth import FAILURE_WINDOW, MAX_FAILURES, Throttle


class HeldChecks:
    """accounts.verify, the real one, each check held until `release` (so that every try of a
    burst is under way at once): how many checks ran, and the most at once."""

    def __init__(self):
        self.real, self.lock, self.release = accounts_file.verify, threading.Lock(), threading.Event()
        self.now = self.most = self.calls = 0

    def __call__(self, account, password):
        with self.lock:
            self.now, self.calls = self.now + 1, self.calls + 1
            self.most = max(self.most, self.now)
        try:
            self.release.wait(timeout=30)
            return self.real(account, password)
        finally:
            with self.lock:
                self.now -= 1


def burst(app, tries: list[tuple[str, str]], checks: HeldChecks, release_when) -> list[int]:
    """Every (name, password) posted at once, each from a client of its own; the held checks are
    released once `release_when(checks under way, answers back)` says so."""
    clients = [Client(app) for _ in tries]
    forms = [{"csrf": c.csrf("/signin"), "name": n, "password": p} for c, (n, p) in zip(clients, tries)]
    with ThreadPoolExecutor(len(tries)) as pool:
        futures = [pool.submit(c.post, "/signin", data=f) for c, f in zip(clients, forms)]
        deadline = time.monotonic() + 60
        while not release_when(checks.now, sum(f.done() for f in futures)) and time.monotonic() < deadline:
            time.sleep(0.01)
        checks.release.set()
        codes = [f.result().status_code for f in futures]
    for c in clients:
        c.close()
    return codes


def test_a_burst_of_wrong_passwords_gets_five_checks_not_one_each(client_for, passwords, site_dir, monkeypatch):
    checks = HeldChecks()
    monkeypatch.setattr(accounts_file, "verify", checks)
    app = client_for.app
    n = 12
    tries = [("demo-agency", f"wrong-guess-{i:04d}") for i in range(n)]
    # Released when every try is being checked, answered, or waiting for one of the process's
    # MAX_PASSWORD_CHECKS turns (web/app.py): the MAX_FAILURES tries let through hold the 4 turns and
    # the fifth waits for one outside HeldChecks, so it is never counted as checking (waiting for
    # `checking + answered >= n` held every run for HeldChecks' 30 s timeout). Main let all 12
    # through: 4 in the check, 8 waiting, none answered, so it still ran to that timeout and failed.
    waiting = max(0, MAX_FAILURES - web_app.MAX_PASSWORD_CHECKS)
    codes = burst(app, tries, checks, lambda checking, answered: checking + answered >= n - waiting)
    assert sorted(codes) == [401] * MAX_FAILURES + [429] * (n - MAX_FAILURES)
    assert checks.calls == MAX_FAILURES
    events = [(e["event"], e["who"]) for e in audit(site_dir)]
    assert events.count(("sign_in_failed", "demo-agency")) == MAX_FAILURES
    assert events.count(("sign_in_throttled", "demo-agency")) == n - MAX_FAILURES

    # The right password now waits too, unchecked; 15 minutes after the failures it signs in.
    client = client_for()
    assert client.sign_in("demo-agency", passwords["demo-agency"]).status_code == 429
    assert checks.calls == MAX_FAILURES
    site = app.state.site
    real = site.throttle._clock
    site.throttle._clock = lambda: real() + FAILURE_WINDOW + 1
    assert client.sign_in("demo-agency", passwords["demo-agency"]).status_code == 303


def test_password_checks_at_once_are_bounded_whatever_the_names(client_for, site_dir, monkeypatch):
    # A burst spread over many names passes the throttle (5 each), but not the bound on checks
    # running at once (argon2id: 64 MiB each).
    checks = HeldChecks()
    monkeypatch.setattr(accounts_file, "verify", checks)
    n = 2 * web_app.MAX_PASSWORD_CHECKS
    tries = [(f"nobody-{i}", "wrong password!") for i in range(n)]
    seen = {}

    def release_when(checking, answered):
        # Once the bound is reached, give the others 0.3 s to start a check of their own (main
        # started all of them at once), then let every check finish.
        if checking >= web_app.MAX_PASSWORD_CHECKS:
            seen.setdefault("full", time.monotonic())
        return "full" in seen and time.monotonic() - seen["full"] > 0.3

    codes = burst(client_for.app, tries, checks, release_when)
    assert codes == [401] * n  # all checked, in turn
    assert checks.calls == n and checks.most == web_app.MAX_PASSWORD_CHECKS


def test_a_reserved_try_counts_until_settled_and_a_check_that_never_finished_is_a_failure():
    now = [1000.0]
    throttle = Throttle(clock=lambda: now[0])
    assert [throttle.reserve("Somchai") for _ in range(MAX_FAILURES)] == [0] * MAX_FAILURES
    assert throttle.reserve("somchai") == 1  # the same name (casefolded): 5 checks under way
    assert throttle.reserve("other") == 0
    throttle.settle("other", True)
    throttle.settle("somchai", True)  # one right: the failures are cleared, one slot free again
    assert throttle.reserve("somchai") == 0
    for _ in range(MAX_FAILURES):
        throttle.settle("somchai", False)  # wrong, or cancelled (the browser went away)
    now[0] += 60
    assert throttle.reserve("somchai") == FAILURE_WINDOW - 60 + 1
    now[0] += FAILURE_WINDOW - 60
    assert throttle.reserve("somchai") == 0


def test_sign_ins_waiting_for_a_check_hold_no_thread_that_page_reads_need(client_for, passwords, monkeypatch):
    """A burst of sign-ins over many names, with MAX_PASSWORD_CHECKS checks held: a signed-in page
    read (its data read in the thread pool, no password check) still answers at once. Before, each
    waiting sign-in held a thread and one of anyio's default thread tokens (40) while it waited for
    its turn; here the loop's default limiter is cut to MAX_PASSWORD_CHECKS + 2 tokens so that a
    burst of 3 x MAX_PASSWORD_CHECKS shows it (the page read then waited for the checks to end).
    One event loop for every request, as under `pilotkpi web` (a TestClient runs one per request)."""
    app = client_for.app
    n = 3 * web_app.MAX_PASSWORD_CHECKS
    checks = HeldChecks()

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")

    async def csrf(c: httpx.AsyncClient, path: str = "/signin") -> str:
        return re.search(r'name="csrf" value="([^"]+)"', (await c.get(path)).text).group(1)

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = web_app.MAX_PASSWORD_CHECKS + 2
        reader = client()
        signed = await reader.post("/signin", data={"csrf": await csrf(reader), "name": "demo-agency",
                                                     "password": passwords["demo-agency"]})
        assert signed.status_code == 303
        assert (await reader.get("/")).status_code == 200
        monkeypatch.setattr(accounts_file, "verify", checks)
        tries = [client() for _ in range(n)]
        forms = [{"csrf": await csrf(c), "name": f"nobody-{i}", "password": "wrong password!"}
                 for i, c in enumerate(tries)]
        codes: list[int] = []

        async def try_one(c, form):
            codes.append((await c.post("/signin", data=form)).status_code)

        try:
            async with anyio.create_task_group() as tasks:
                for c, form in zip(tries, forms):
                    tasks.start_soon(try_one, c, form)
                with anyio.fail_after(30):
                    while checks.now < web_app.MAX_PASSWORD_CHECKS:
                        await anyio.sleep(0.01)
                await anyio.sleep(0.3)  # the other sign-ins waiting their turn
                started = time.monotonic()
                with anyio.fail_after(5):
                    page = await reader.get("/")
                answered = time.monotonic() - started
                held = checks.now
                checks.release.set()
        finally:
            checks.release.set()
            for c in [reader, *tries]:
                await c.aclose()
        assert page.status_code == 200 and held == web_app.MAX_PASSWORD_CHECKS, (page.status_code, held)
        assert answered < 5
        assert sorted(codes) == [401] * n
        assert checks.calls == n and checks.most == web_app.MAX_PASSWORD_CHECKS

    anyio.run(main)
