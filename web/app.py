"""The ASGI application of `pilotkpi web` (Starlette), its security layer and the agency's routes.

Every request passes through `route`: the session from the signed cookie, the account (an
ended or disabled account, or one given a new password since the session signed in, is signed
out), the role the route allows, and for every POST the CSRF token, all before the route's code
runs. Every response carries the security headers.
"""
from __future__ import annotations

import contextlib
import hmac
import logging
import os
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Awaitable, Callable

import anyio
import anyio.to_thread
import jinja2
from anyio.lowlevel import RunVar
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from flows.clock import today_in_bangkok
from warehouse.display import html_text
from warehouse.personal import masked, printable
from pilots.readers.limits import LIMITS
from pilots.registry import Registry, RegistryError, load_registry
from warehouse.publish import published_path
from warehouse.restricted import files_for
from warehouse.times import bangkok_time
from web import accounts as accounts_file
from web.accounts import Account
from web.agency import AgencyData, Checked, KeptFiles, check_upload, display_name, fix_hint
from web.audit import AuditTrail, audit_path
from web.auth import COOKIE, IDLE_SECONDS, Session, Sessions, Throttle, credential_of, csrf_ok
from web.labels import LANGS, WORDS, add_words, day, moment, period
from web.published import StoreUnavailable
from web.tables import XLSX_TYPE, download_response, wanted

HERE = Path(__file__).parent
LOGGER = logging.getLogger("pilotkpi.web")
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
# An upload's form: the file part and a few small fields. The engine's size limit is applied to
# the bytes as they arrive; this allowance covers the multipart framing around the file.
FORM_OVERHEAD = 64 * 1024
# Password checks (argon2id, 64 MiB each) running at once, whatever the accounts tried: more wait
# their turn. The throttle bounds the checks per account name; this bounds their memory in all.
# The turn is waited for in the event loop (_password_limiter, an anyio CapacityLimiter of the
# running loop, which the check's thread holds instead of one of anyio's default 40 thread
# tokens), so that a burst of sign-ins over many names holds no thread and no token that uploads
# and page reads need. _PASSWORD_CHECKS bounds the checks of the whole process too, should it run
# more than one loop (a TestClient runs one per request); in the served app, whose one loop lets
# no more than MAX_PASSWORD_CHECKS threads in, it never makes a thread wait.
MAX_PASSWORD_CHECKS = 4
_PASSWORD_CHECKS = threading.BoundedSemaphore(MAX_PASSWORD_CHECKS)
_PASSWORD_LIMITER: RunVar[anyio.CapacityLimiter] = RunVar("pilotkpi_password_checks")


class UploadTooLarge(Exception):
    pass


@dataclass
class SiteConfig:
    registry_dir: Path
    inbox: Path
    warehouse: Path
    restricted_store: Path | None = None
    as_of: date | None = None  # the day pages and checks are about; None: today in Bangkok
    secure_cookies: bool = False  # served over TLS (directly or behind the proxy)
    out_dir: Path | None = None  # where decisions write the summaries; None: `out` beside the warehouse
    warm_decisions: bool = False  # decisions: Prefect connected at start (`pilotkpi web`), not at the first one


class Site:
    """What the routes share: configuration, sessions, accounts, stores, templates."""

    def __init__(self, config: SiteConfig):
        self.config = config
        self.kept = KeptFiles()  # checked files waiting to be sent, bounded (web/agency.py)
        self.sessions = Sessions(on_end=lambda session: self.kept.release(session.checked))
        self.throttle = Throttle()
        self.accounts_path = accounts_file.accounts_path(config.warehouse)
        self.audit = AuditTrail(audit_path(self.accounts_path))
        from warehouse.shell import open_sandboxed
        from web.published import ReadOnlyStore
        self.data = AgencyData(ReadOnlyStore(published_path(config.warehouse), open_sandboxed, required=True),
                               ReadOnlyStore(files_for(config.warehouse, config.restricted_store).store,
                                             name="restricted"),
                               self.audit, config.inbox)
        self._keep_dir: Path | None = None  # made at the first upload (keep_dir)
        self._keep_lock = threading.Lock()
        self._accounts: tuple[object, dict[str, Account]] = (None, {})
        self._registry: tuple[object, Registry | None] = (None, None)
        self.templates = _environment()

    @property
    def keep_dir(self) -> Path:
        """The folder (mkdtemp: 0700) where checked files wait until sent. Made at the first upload,
        not with the Site, and removed by close() (the app's lifespan) or else when the Site is
        collected or the process ends (weakref.finalize): an app whose lifespan never runs (a
        test's) leaves nothing in the temp folder."""
        with self._keep_lock:
            if self._keep_dir is None:
                self._keep_dir = Path(tempfile.mkdtemp(prefix="pilotkpi-web-"))
                self._forget_keep_dir = weakref.finalize(self, shutil.rmtree, self._keep_dir, ignore_errors=True)
            return self._keep_dir

    def close(self) -> None:
        with self._keep_lock:
            if self._keep_dir is not None:
                self.kept.forget_all()
                self._forget_keep_dir()  # the rmtree, once
                self._keep_dir = None  # a later lifespan of the same Site makes a new one

    def warm(self) -> None:
        """One check of the format guide's CSV example, its result dropped."""
        from pilots.guide import CSV_EXAMPLE, example_text

        try:
            data = example_text(CSV_EXAMPLE).encode("utf-8")
            check_upload(CSV_EXAMPLE, data, len(data), self.registry(), self.as_of(), None)
        except Exception:  # noqa: BLE001 - warming is an optimisation; the real check reports its own errors
            pass

    def as_of(self) -> date:
        return self.config.as_of or today_in_bangkok()

    def account(self, name: str | None) -> Account | None:
        """The account as the file says now (a disabled or removed one is gone at its next request).
        When the file has changed, every session no longer `signed_in` ends at once (its checked
        file deleted), not only those that come back."""
        if not name:
            return None
        try:
            st = os.stat(self.accounts_path)
            key = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            key = None
        if key != self._accounts[0]:
            accounts = accounts_file.load(self.accounts_path)
            self._accounts = (key, accounts)
            self.sessions.end_where(lambda s: s.account is not None and not signed_in(s, accounts.get(s.account)))
        return self._accounts[1].get(name)

    def registry(self) -> Registry:
        """The registry as its folder says now (read again when a file changes). A broken one
        raises RegistryError, as `pilotkpi check` and `run` refuse it (exit 4): each page that needs
        it answers 503 naming the file and the rule (`registry_broken`), until the file is fixed."""
        files = sorted(self.config.registry_dir.rglob("*.yaml"))
        key = tuple((str(p), p.stat().st_mtime_ns) for p in files)
        if key != self._registry[0]:
            try:
                self._registry = (key, load_registry(self.config.registry_dir))
            except RegistryError as exc:  # kept: read again only once a file changes
                self._registry = (key, exc)
        if isinstance(self._registry[1], RegistryError):
            raise self._registry[1]
        return self._registry[1]


def signed_in(session: Session, account: Account | None) -> bool:
    """The session's sign-in still holds: its account exists, is enabled, and has the password
    it signed in with (`pilotkpi accounts set-password` ends the sessions of the old one: the
    remedy for a leaked password must shut out whoever used it)."""
    return (account is not None and not account.disabled
            and hmac.compare_digest(session.credential, credential_of(account.password_hash)))


def check_password(account: Account | None, password: str) -> bool:
    """accounts.verify, at most MAX_PASSWORD_CHECKS at once in the process (in a thread: see
    checked_password)."""
    with _PASSWORD_CHECKS:
        return accounts_file.verify(account, password)


def _password_limiter() -> anyio.CapacityLimiter:
    """The running loop's limiter of password checks, made on its first use in that loop (an
    anyio limiter belongs to the loop it is used in)."""
    try:
        return _PASSWORD_LIMITER.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(MAX_PASSWORD_CHECKS)
        _PASSWORD_LIMITER.set(limiter)
        return limiter


async def checked_password(account: Account | None, password: str) -> bool:
    """check_password in a worker thread, once one of the loop's MAX_PASSWORD_CHECKS turns is free:
    the wait is in the event loop, and the thread holds that turn, not a default thread token."""
    return await anyio.to_thread.run_sync(check_password, account, password, limiter=_password_limiter())


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, finalize=html_text, undefined=jinja2.StrictUndefined)
    env.filters["masked"] = masked
    return env


# --- the security layer ---------------------------------------------------------------------------

class SecurityHeaders:
    """Pure ASGI middleware: the headers of web.md on every response (pages, static, errors). A
    response may carry a policy of its own only if it loads nothing (`default-src 'none'`: a night's
    letter with its inline CSS, web/reminders.py LETTER_CSP); any other is replaced by the site's."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                own = [h for h in message["headers"] if h[0].lower() == b"content-security-policy"
                       and h[1].startswith(b"default-src 'none';")]  # a stricter policy of its own: kept
                message["headers"] = [h for h in message["headers"] if h[0].lower() not in dict(SECURITY_HEADERS)]
                message["headers"] += [h for h in SECURITY_HEADERS if not (own and h[0] == b"content-security-policy")]
                message["headers"] += own[:1]
            await send(message)

        return await self.app(scope, receive, with_headers)


Handler = Callable[[Request, "Page"], Awaitable[Response]]


class Page:
    """One request's session, account and language, and how to answer it."""

    def __init__(self, request: Request, site: Site, session: Session, account: Account | None, fresh: bool):
        self.request, self.site, self.session, self.account, self.fresh = request, site, session, account, fresh

    @property
    def lang(self) -> str:
        return self.session.lang

    @property
    def address(self) -> str | None:
        return self.request.client.host if self.request.client else None

    def finish(self, response: Response) -> Response:
        if self.fresh:
            response.set_cookie(COOKIE, self.site.sessions.cookie(self.session), max_age=IDLE_SECONDS, path="/",
                                httponly=True, samesite="strict", secure=self.site.config.secure_cookies)
        return response

    def render(self, template: str, status: int = 200, **context) -> Response:
        words = WORDS[self.lang]
        html = self.site.templates.get_template(template).render(
            W=words, lang=self.lang, account=self.account, csrf=self.session.csrf, path=self.request.url.path,
            day=lambda v: day(v, self.lang), moment=lambda v: moment(bangkok_time(v), self.lang),
            period=lambda v: period(v, self.lang), **context)
        return self.finish(HTMLResponse(html, status_code=status))

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def error(self, status: int, key: str) -> Response:
        return self.render("error.html", status=status, message=WORDS[self.lang][key])


def page_of(request: Request, session: Session | None) -> Page:
    """The request's page: its live session (a new one where there is none) and the account signed
    in with it; a disabled, removed or re-passworded account's session ends: signed out."""
    site: Site = request.app.state.site
    fresh = session is None
    if fresh:
        session = site.sessions.new()
    account = site.account(session.account)
    if session.account and not signed_in(session, account):
        site.sessions.end(session)
        session, account, fresh = site.sessions.new(session.lang), None, True
    return Page(request, site, session, account, fresh)


def route(*roles: str, csrf_from_query: bool = False):
    """A route for signed-in accounts of these roles (none: anyone, signed in or not)."""

    def wrap(handler: Handler):
        async def endpoint(request: Request) -> Response:
            site: Site = request.app.state.site
            session = site.sessions.from_cookie(request.cookies.get(COOKIE))
            if request.method == "POST":
                if session is None:  # expired, or dropped for room by a flood (web/auth.py): said in the site's words,
                    # on a page with a new session, so that going back and sending again works
                    return Page(request, site, site.sessions.new(), None, True).error(403, "csrf")
                if csrf_from_query:  # the upload: checked before its body is read
                    token = request.query_params.get("csrf")
                else:  # small forms only: no file part, a few fields (cached for the handler)
                    try:
                        token = (await request.form(max_files=0, max_fields=8, max_part_size=64 * 1024)).get("csrf")
                    except MultiPartException:
                        return page_of(request, session).error(400, "bad_form")
                if not csrf_ok(session, token):
                    return page_of(request, session).error(403, "csrf")
            page = page_of(request, session)
            if roles:
                if page.account is None:
                    if request.method == "POST":
                        return page.error(403, "signed_out")
                    return page.redirect("/signin")
                if page.account.role not in roles:
                    return page.error(403, "forbidden")
            try:
                return await handler(request, page)
            except StoreUnavailable as exc:
                return unavailable(page, exc)
            except RegistryError as exc:
                return await run_in_threadpool(registry_broken, page, exc)

        return endpoint

    return wrap


add_words(
    th={
        "unavailable_title": "ขณะนี้แสดงข้อมูลไม่ได้",
        "unavailable_published_missing": "ไม่พบสำเนาเผยแพร่ของคลังข้อมูล ({file}) ยังไม่มีรอบการประมวลผลใดเผยแพร่สำเนานี้ หรือไฟล์ถูกย้ายออกไป",
        "unavailable_published_unreadable": "อ่านสำเนาเผยแพร่ของคลังข้อมูล ({file}) ไม่ได้ ไฟล์เสียหาย ไม่ครบ หรือไม่ใช่ไฟล์ DuckDB",
        "unavailable_published_todo": "ข้อมูลในคลังข้อมูลหลักไม่สูญหาย กรุณาแจ้งผู้ดูแลระบบ ซึ่งเผยแพร่สำเนาใหม่ได้ด้วยคำสั่ง pilotkpi publish แล้วหน้านี้จะใช้ได้ทันทีโดยไม่ต้องเริ่มระบบใหม่",
        "unavailable_restricted_missing": "ไม่พบคลังข้อมูลชั้นความลับ ({file})",
        "unavailable_restricted_unreadable": "อ่านคลังข้อมูลชั้นความลับ ({file}) ไม่ได้ ไฟล์เสียหาย ไม่ครบ หรือไม่ใช่ไฟล์ DuckDB",
        "unavailable_restricted_todo": "กรุณาแจ้งผู้ดูแลระบบให้นำไฟล์นี้กลับคืนจากสำรองข้อมูล หน้าที่ไม่ใช้ข้อมูลชั้นความลับยังใช้ได้ตามปกติ",
        "unavailable_published_replacing": "กำลังเปลี่ยนไปใช้สำเนาเผยแพร่ฉบับใหม่ ({file}) ซึ่งเพิ่งเผยแพร่ และรอให้คำสั่งที่ยังอ่านฉบับเดิมอยู่ทำงานเสร็จ",
        "unavailable_published_replacing_todo": "กรุณาโหลดหน้านี้ใหม่ในอีกสักครู่ ข้อมูลไม่สูญหาย",
        "unavailable_restricted_replacing": "กำลังเปลี่ยนไปใช้คลังข้อมูลชั้นความลับฉบับใหม่ ({file}) และรอให้คำสั่งที่ยังอ่านฉบับเดิมอยู่ทำงานเสร็จ",
        "unavailable_restricted_replacing_todo": "กรุณาโหลดหน้านี้ใหม่ในอีกสักครู่ ข้อมูลไม่สูญหาย",
    },
    en={
        "unavailable_title": "The figures cannot be shown right now",
        "unavailable_published_missing": "The published copy of the warehouse ({file}) does not exist: no run has published it yet, or it was moved away.",
        "unavailable_published_unreadable": "The published copy of the warehouse ({file}) cannot be read: it is damaged, cut short, or not a DuckDB file.",
        "unavailable_published_todo": "Nothing in the warehouse itself is lost. Tell the operator, who can publish the copy again with pilotkpi publish; this page then works again at once, without a restart.",
        "unavailable_restricted_missing": "The restricted store ({file}) does not exist.",
        "unavailable_restricted_unreadable": "The restricted store ({file}) cannot be read: it is damaged, cut short, or not a DuckDB file.",
        "unavailable_restricted_todo": "Tell the operator, who restores the file from its backup. Pages without restricted data work as usual.",
        "unavailable_published_replacing": "A new published copy of the warehouse ({file}) has just been published; it is opened once the queries still reading the copy before it have ended.",
        "unavailable_published_replacing_todo": "Load this page again in a moment. Nothing is lost.",
        "unavailable_restricted_replacing": "A new restricted store ({file}) has just been written; it is opened once the queries still reading the one before it have ended.",
        "unavailable_restricted_replacing_todo": "Load this page again in a moment. Nothing is lost.",
    },
)


def unavailable(page: Page, exc: StoreUnavailable) -> Response:
    """A store that cannot be read (web/published.py): a 503 naming the file and what is wrong, in
    both languages whatever the session's (whoever reads it may pass it on to the operator), and
    the full path and DuckDB's reason in the log, not on the page."""
    LOGGER.error("%s %s: the %s store %s is %s%s", page.request.method, page.request.url.path, exc.store,
                 exc.path, exc.problem, f": {exc.detail}" if exc.detail else "")
    todo = f"{exc.store}_{exc.problem}_todo"  # a problem of its own advice, else the store's
    said = [(lang, *(WORDS[lang][f"unavailable_{key}"].format(file=exc.path.name)
                     for key in ("title", f"{exc.store}_{exc.problem}",
                                 todo if f"unavailable_{todo}" in WORDS[lang] else f"{exc.store}_todo")))
            for lang in LANGS]
    return page.render("unavailable.html", status=503, said=said, store=exc.store, problem=exc.problem)


add_words(
    th={
        "registry_title": "ขณะนี้ใช้ทะเบียนโครงการไม่ได้",
        "registry_problem": "ทะเบียนโครงการ (registry) บนดิสก์ผิดกฎของทะเบียน จึงใช้ไม่ได้ หน้านี้ต้องใช้ทะเบียนจึงแสดงไม่ได้ ข้อผิดพลาดเป็นข้อความเดียวกับที่คำสั่ง pilotkpi check และ pilotkpi run แจ้ง (ชื่อไฟล์: รายการ: กฎที่ผิด):",
        "registry_todo": "ไม่มีข้อมูลใดถูกเขียนหรือสูญหาย กรุณาแจ้งผู้ดูแลระบบให้แก้ไฟล์ที่ระบุไว้ข้างต้น แล้วหน้านี้จะใช้ได้ทันทีโดยไม่ต้องเริ่มระบบใหม่ หน้าที่ไม่ใช้ทะเบียนยังใช้ได้ตามปกติ",
    },
    en={
        "registry_title": "The pilot registry cannot be used right now",
        "registry_problem": "The pilot registry on disk breaks the registry's rules, so it cannot be used, and this page needs it. The problems, as pilotkpi check and pilotkpi run give them (file: subject: rule):",
        "registry_todo": "Nothing was written and nothing is lost. Tell the operator, who fixes the file named above; this page then works again at once, without a restart. Pages that do not need the registry work as usual.",
    },
)


def registry_broken(page: Page, exc: RegistryError) -> Response:
    """A broken registry (pilots/registry.py RegistryError, exit 4 of `pilotkpi check` and `run`): a
    503 in both languages whatever the session's, naming each file and rule as the command line
    does (flows/cli_common.py registry_refusal: one line a problem), never a traceback. A restricted
    pilot's problems quote its KPI codes, names and values: an account not cleared for restricted
    pilots reads only their file and a neutral sentence (web/registry_problems.py), and the log,
    which the open side keeps, has only the files and the number of problems, never their texts.
    Run in a worker thread (the published copy is read)."""
    from web import registry_problems as shown

    files = sorted({p.file for p in exc.problems})
    LOGGER.error("%s %s: broken registry: %d problem(s) in %s (pilotkpi check names them)", page.request.method,
                 page.request.url.path, len(exc.problems), ", ".join(printable(f) for f in files))
    hidden = set() if page.account is not None and page.account.cleared else shown.restricted_files(
        exc.problems, page.site.config.registry_dir, shown.published_classes(page.site.data))
    said = [(lang, WORDS[lang]["registry_title"], WORDS[lang]["registry_problem"], WORDS[lang]["registry_todo"])
            for lang in LANGS]
    return page.render("unavailable.html", status=503, said=said, store="registry", problem="broken",
                       problems={lang: shown.said(exc.problems, hidden, lang) for lang in LANGS})


# --- sign-in, sign-out, language ------------------------------------------------------------------

@route()
async def sign_in_form(request: Request, page: Page) -> Response:
    if page.account:
        return page.redirect("/")
    return page.render("signin.html", message=None, name="")


@route()
async def sign_in(request: Request, page: Page) -> Response:
    form = await request.form()
    name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))[:1024]
    site = page.site
    account = site.account(name)
    wait = site.throttle.reserve(name)  # the try counts from here, before its (slow) check
    if wait:
        site.audit.record("sign_in_throttled", name, page.address)
        message = WORDS[page.lang]["throttled"].format(minutes=(wait + 59) // 60)
        return page.render("signin.html", status=429, message=message, name=name)
    ok = False
    try:
        ok = await checked_password(account, password)
    finally:
        site.throttle.settle(name, ok)  # a check that never finished counts as a failure
    if not ok:
        site.audit.record("sign_in_failed", name, page.address)
        return page.render("signin.html", status=401, message=WORDS[page.lang]["bad_sign_in"], name=name)
    site.audit.record("sign_in", account.name, page.address, role=account.role)
    page.session = site.sessions.renew(page.session, account.name, credential_of(account.password_hash))
    page.account, page.fresh = account, True
    return page.redirect("/")


@route()
async def sign_out(request: Request, page: Page) -> Response:
    if page.account:
        page.site.audit.record("sign_out", page.account.name, page.address)
    page.site.sessions.end(page.session)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@route()
async def switch_language(request: Request, page: Page) -> Response:
    form = await request.form()
    page.session.lang = form.get("lang") if form.get("lang") in LANGS else "th"
    back = str(form.get("back", "/"))
    return page.redirect(back if back.startswith("/") and not back.startswith("//") else "/")


# --- pages ----------------------------------------------------------------------------------------

@route("agency", "analyst", "committee")
async def home(request: Request, page: Page) -> Response:
    account = page.account
    if account.role != "agency":
        from web.reminders import staff_home

        return await staff_home(page)
    site = page.site
    due = await run_in_threadpool(site.data.due_reports, site.registry(), account.agencies, site.as_of())
    reminders = await run_in_threadpool(site.data.reminders, account.agencies)
    registry = site.registry()
    return page.render("home.html", due=due, reminders=reminders, registry=registry)


@route("agency")
async def upload_form(request: Request, page: Page) -> Response:
    return page.render("upload.html", checked=None, verdict=None, limit=LIMITS.max_file_bytes)


async def _bounded(stream, limit: int):
    """The request body as it arrives, stopped as soon as it passes `limit` bytes."""
    total = 0
    async for chunk in stream:
        total += len(chunk)
        if total > limit:
            raise UploadTooLarge()
        yield chunk


@route("agency", csrf_from_query=True)
async def upload(request: Request, page: Page) -> Response:
    site, lang = page.site, page.lang
    limit = LIMITS.max_file_bytes + FORM_OVERHEAD
    def too_large() -> Response:
        response = page.render("error.html", status=413,
                               message=WORDS[lang]["too_large"].format(limit=f"{LIMITS.max_file_bytes:,}"))
        response.headers["connection"] = "close"  # the server drops the rest of the body, unread
        return response

    declared = request.headers.get("content-length")
    if declared and declared.isdecimal() and int(declared) > limit:
        site.audit.record("upload_refused", page.account.name, page.address, declared_bytes=int(declared))
        return too_large()
    parser = MultiPartParser(request.headers, _bounded(request.stream(), limit), max_files=1, max_fields=4)
    try:
        form = await parser.parse()
    except UploadTooLarge:
        site.audit.record("upload_refused", page.account.name, page.address, over_bytes=limit)
        return too_large()
    except MultiPartException:
        return page.error(400, "bad_form")
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return page.render("upload.html", checked=None, verdict=None, limit=LIMITS.max_file_bytes)
        name = display_name(upload.filename)
        upload.file.seek(0, os.SEEK_END)
        size = upload.file.tell()
        upload.file.seek(0)
        data = upload.file.read() if size <= LIMITS.max_file_bytes else None
    finally:
        await form.close()
    checked = await run_in_threadpool(check_upload, name, data, size, site.registry(), site.as_of(), site.keep_dir)
    site.kept.keep(page.session, page.account.name, checked)  # one per session; bounded in all
    verdict = await run_in_threadpool(site.data.verdict, page.account, checked)
    site.audit.record("upload", page.account.name, page.address, file_name=checked.name_in_trail, size=size,
                      sha256=checked.sha256,
                      errors=len(checked.errors), verdict=verdict[0])
    return page.render("upload.html", checked=checked, verdict=verdict, limit=LIMITS.max_file_bytes,
                       hint=lambda i: fix_hint(i, lang))


@route("agency")
async def send(request: Request, page: Page) -> Response:
    form = await request.form()
    # Taken out of the session (and of the bounds) before it is read: never dropped while sent.
    checked: Checked | None = page.site.kept.claim(page.session.checked, str(form.get("token", "")))
    if checked is None:
        return page.error(409, "expired")
    try:
        receipt = await run_in_threadpool(page.site.data.send, page.account, checked, page.address)
    finally:
        if checked.kept_at is not None:  # sent, or not to be sent: either way no longer kept
            checked.kept_at.unlink(missing_ok=True)
    if receipt is None:  # changed since the check (sent meanwhile from another session)
        verdict = await run_in_threadpool(page.site.data.verdict, page.account, checked)
        return page.render("upload.html", status=409, checked=checked, verdict=verdict,
                           limit=LIMITS.max_file_bytes, hint=lambda i: fix_hint(i, page.lang))
    return page.redirect(f"/receipts/{receipt['receipt']}")


@route("agency")
async def receipt(request: Request, page: Page) -> Response:
    found = page.site.data.receipt(page.account.agencies, request.path_params["receipt"])
    if found is None:
        return page.error(404, "not_found")
    return page.render("receipt.html", r=found)


def _files_of(page: Page) -> list[dict]:
    """The files an account may see: its agencies' own, or (analyst, committee) all of them."""
    if page.account.role == "agency":
        return page.site.data.submissions(page.account.agencies)
    return page.site.data.all_submissions(cleared=page.account.restricted)


@route("agency", "analyst", "committee")
async def submissions(request: Request, page: Page) -> Response:
    from web import drilldown

    rows = await run_in_threadpool(_files_of, page)
    table = drilldown.submissions_table(rows, WORDS[page.lang])
    if asked := wanted(request.query_params, [table]):
        return page.finish(download_response(*asked))
    return page.render("submissions.html", rows=rows, registry=page.site.registry(), table=table)


@route("agency", "analyst", "committee")
async def submission(request: Request, page: Page) -> Response:
    """A stored file: its rows, defects and lines (web/drilldown.py: whose it is, its lines)."""
    from web import drilldown

    sha = request.path_params["sha256"]
    rows = [r for r in await run_in_threadpool(drilldown.visible_files, page, sha) if r["submission_id"] is not None]
    if not rows:
        return page.error(404, "not_found")
    if "download" in request.query_params:
        download = await run_in_threadpool(drilldown.submission_download, page, rows, request.query_params)
        if download is not None:
            return page.finish(download)
    number = request.query_params.get("page", "1")
    # isdigit() is true for "²" and "①", which int() refuses, and a 5,000-digit
    # number is past int()'s limit: each was a 500. Any other text is page 1.
    wanted_page = int(number) if number.isdecimal() and len(number) <= 9 else 1
    details = await run_in_threadpool(drilldown.submission_details, page, rows, wanted_page)
    return page.render("submission.html", sha=sha, details=details)


@route("agency", "analyst", "committee")
async def guide(request: Request, page: Page) -> Response:
    """The format guide (docs/report-format*.md, generated from the code) as a page; raw HTML
    in the Markdown is not rendered, so the only markup is markdown-it's own."""
    from markdown_it import MarkdownIt

    from pilots.guide import guide_markdown

    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(guide_markdown(page.lang))
    return page.render("guide.html", body=Markup(html))


@route("agency", "analyst", "committee")
async def example(request: Request, page: Page) -> Response:
    from pilots.guide import CSV_EXAMPLE, JSON_EXAMPLE, XLSX_EXAMPLE, example_text, example_workbook

    name = request.path_params["name"]
    if name not in (CSV_EXAMPLE, JSON_EXAMPLE, XLSX_EXAMPLE):
        return page.error(404, "not_found")
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    if name == XLSX_EXAMPLE:  # the format guide's Excel example (agency-report-v1.md: .xlsx), as a workbook
        data = await run_in_threadpool(example_workbook)
        return page.finish(Response(data, media_type=XLSX_TYPE, headers=headers))
    return page.finish(Response(example_text(name).encode("utf-8"), media_type="text/plain; charset=utf-8",
                                headers=headers))


def _summary_css() -> bytes:
    """The committee summary's own CSS (kpis/summary/templates/_styles.html.j2), served as a file:
    one look for the summaries and the site, and no inline style for the CSP to allow."""
    import kpis.summary

    source = (Path(kpis.summary.__file__).parent / "templates" / "_styles.html.j2").read_text(encoding="utf-8")
    css = jinja2.Environment().from_string(source).render(L={"page": ""})
    return css.replace("<style>", "").replace("</style>", "").strip().encode("utf-8")


async def summary_css(request: Request) -> Response:
    return Response(_summary_css(), media_type="text/css")


async def not_found(request: Request, exc: Exception) -> Response:
    """An unknown address: the site's page (its frame, the session's language, the account's name
    and role, or the sign-in link), never a bare text (web.md Every page). Nothing else is said."""
    return page_of(request, request.app.state.site.sessions.from_cookie(request.cookies.get(COOKIE))).error(
        404, "not_found")


async def not_allowed(request: Request, exc: HTTPException) -> Response:
    """A method the address does not take (POST to a page, PUT anywhere): the site's page, with
    the methods it takes (Allow), as not_found."""
    response = page_of(request, request.app.state.site.sessions.from_cookie(request.cookies.get(COOKIE))).error(
        405, "not_allowed")
    response.headers.update(exc.headers or {})
    return response


def _part_two_routes() -> list:
    """The routes of issue 21's modules, each owning its pages: the committee's pilot pages, the
    held files and quarters, the decisions, and the drill-down with the SQL page. Imported here,
    after this module is whole, because they build on its `route` and `Page`."""
    from web import committee, decisions, drilldown, held, reminders

    return [*committee.ROUTES, *held.ROUTES, *decisions.ROUTES, *drilldown.ROUTES, *reminders.ROUTES]


def create_app(config: SiteConfig) -> Starlette:
    site = Site(config)
    routes = [
        Route("/signin", sign_in_form, methods=["GET"]),
        Route("/signin", sign_in, methods=["POST"]),
        Route("/signout", sign_out, methods=["POST"]),
        Route("/language", switch_language, methods=["POST"]),
        Route("/", home, methods=["GET"]),
        Route("/upload", upload_form, methods=["GET"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/send", send, methods=["POST"]),
        Route("/receipts/{receipt}", receipt, methods=["GET"]),
        Route("/submissions", submissions, methods=["GET"]),
        Route("/submissions/{sha256}", submission, methods=["GET"]),
        Route("/guide", guide, methods=["GET"]),
        Route("/examples/{name}", example, methods=["GET"]),
        Route("/static/summary.css", summary_css, methods=["GET"]),
    ]
    routes += _part_two_routes()
    routes.append(Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"))
    @contextlib.asynccontextmanager
    async def lifespan(app):
        # Warm the check (imports, Great Expectations' first validation: ~10 s cold) before the
        # first agency waits for it; the server answers meanwhile.
        threading.Thread(target=site.warm, name="warm-check", daemon=True).start()
        yield
        site.decisions.stop()
        site.close()

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed}, lifespan=lifespan)
    app.state.site = site
    # The decisions engine (web/decisions.py) starts with the app: it settles what a stopped web
    # left undecided and connects to Prefect before the first decision is asked for.
    from web.decisions import DecisionEngine

    site.decisions = DecisionEngine(site)
    site.decisions.start()
    app.add_middleware(SecurityHeaders)
    return app
