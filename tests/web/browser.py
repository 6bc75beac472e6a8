"""What every browser test in tests/web/ shares: Debian's Chromium driven by Playwright for Python
(script off, as an agency's locked-down browser may be), and the waits that keep a test from
reading a page before the browser has loaded it.

Why the waits: a click on a link or a form button only *starts* a navigation. Playwright's click
returns once the new page has committed, before it has loaded (test_web_browser_waits.py shows
it), so `page.content()`, `locator.count()` or a screenshot right after a click can read half of
the new page, or the old one. `follow` clicks and returns only when the page it opened has fired
`load`; `sign_in` does the same and checks the account shown. A decision's page reloads itself every second (its Refresh header) until
the decision is done: `without_refresh` serves it without that header, so reading or photographing
it cannot be cut short by the reload.

Skipped where Chromium or Playwright is absent, except under CI=true, where CI installs Chromium
(.ci/run): there a missing browser fails the run rather than skipping silently.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kpis.summary.browser import OFFLINE_FLAGS, BrowserMissing, find_chromium

TIMEOUT_MS = 120_000  # Playwright's 30 s default x 4: a check or a night under CI's load can take a minute


def _missing() -> str | None:
    try:
        find_chromium()  # the report's own search: PILOTKPI_CHROMIUM, else Debian's chromium on PATH
    except BrowserMissing:
        return "Debian's chromium is not installed"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed"
    return None


MISSING = _missing()
if MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI must install chromium and playwright for the web browser tests: {MISSING}")
needs_chromium = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@contextmanager
def chromium():
    """Debian's Chromium, headless, closed on the way out. The report's flags: --no-sandbox (CI and
    these containers run as root, where the sandbox refuses to start) and the ones that keep it
    off the network (Playwright adds --headless itself)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(),
                                    args=[flag for flag in OFFLINE_FLAGS if flag != "--headless"])
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, *, height: int = 900, downloads: bool = False):
    """A page in a fresh context (its own cookies, so its own session), 1100 px wide, script off."""
    context = browser.new_context(viewport={"width": 1100, "height": height}, java_script_enabled=False,
                                  accept_downloads=downloads)
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def shots_dir(tmp_path: Path) -> Path:
    """Where the screenshots go: $WEB_SCREENSHOTS (docs/screenshots for the committed ones), else a
    temporary folder."""
    shots = Path(os.environ.get("WEB_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    return shots


def follow(page, what) -> None:
    """Click what opens a page (a link or a form's button: a selector or a locator) and return once
    that page has loaded. Only for clicks that navigate: one that does not fails at the timeout."""
    with page.expect_navigation(wait_until="load"):
        page.click(what) if isinstance(what, str) else what.click()


def path_of(page) -> str:
    return urlsplit(page.url).path


def sign_in(page, base: str, name: str, password: str) -> None:
    """Sign in through the form and wait until the signed-in page has loaded and names the account."""
    page.goto(base + "/signin")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    follow(page, "#sign-in")
    if path_of(page) == "/signin":
        message = page.locator("#message")
        pytest.fail(f"{name} could not sign in: {message.inner_text() if message.count() else page.url}")
    assert page.get_attribute(".account", "data-account") == name


def switch_language(page, lang: str) -> None:
    """The language switch (a form on every page), clicked only when the page is not in `lang` yet."""
    if page.get_attribute("html", "lang") != lang:
        follow(page, "#switch-language")
    assert page.get_attribute("html", "lang") == lang


def csrf_of(page) -> str:
    """The session's CSRF token, as every form of the loaded page carries it."""
    return page.locator("input[name=csrf]").first.get_attribute("value")


@contextmanager
def without_refresh(page, url: str):
    """Load `url` in `page` without its Refresh header while inside: the page then stays put while a
    test reads it, clicks on it or takes its picture. What the page shows is unchanged."""
    def drop_refresh(route) -> None:
        response = route.fetch()
        route.fulfill(response=response,
                      headers={k: v for k, v in response.headers.items() if k.lower() != "refresh"})

    page.route(url, drop_refresh)
    try:
        yield
    finally:
        page.unroute(url, drop_refresh)
