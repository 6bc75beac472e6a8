"""Sessions, CSRF tokens and the sign-in throttle (spec web.md, "Security").

- A session is server-side state under a random id (secrets.token_urlsafe, 256 bits). The
  browser holds only that id, signed with itsdangerous (HMAC-SHA1 over a per-process secret key)
  in an HttpOnly, SameSite=Strict cookie, Secure when served over TLS. A new id is issued at
  sign-in (the old one ends), sign-out ends it, and it ends after 8 hours without a request.
  Sessions live in the web process's memory: a restart signs everyone out, which is the safe way
  round (docs/web.md).
- Every request without a cookie makes a session (the sign-in form needs its CSRF token), so
  anyone who can reach the site could make millions: sessions not signed in are capped at
  MAX_ANONYMOUS, the least recently seen dropped first (its sign-in form then says it has
  expired, and a reload gives a new one); signed-in sessions are never dropped for room. Idle
  sessions are looked for at most once every PRUNE_SECONDS, not at every new session (that walk
  of the whole table, under the lock every request takes, made each request cost more the more
  sessions there were).
- CSRF: the synchronizer-token pattern. Each session has a random token, put in every form as a
  hidden field; a POST without the session's token is refused (403) before anything is done.
- A session signed in remembers a digest of the account's password hash (`credential`): a new
  password (`pilotkpi accounts set-password`, which makes a new salt even for the same password)
  ends every session signed in with the old one at its next request (web/app.py `route`).
- A session's end (sign-out, idle, pruned, its account disabled or its password changed) is told
  to `on_end` (the site's: its checked file waiting to be sent is deleted), outside the lock.
- Throttle: 5 failed sign-ins for one account name (known or not) within 15 minutes make
  further tries wait until the oldest of them is 15 minutes old; the password is then not even
  checked. The message never says whether the account exists. A try is reserved before its
  password is checked (`reserve`) and settled after (`settle`): failures and checks under way
  together never pass 5, so a burst of parallel tries gets 5 checks, not one per request.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable

from itsdangerous import BadSignature, Signer

COOKIE = "pilotkpi_session"
IDLE_SECONDS = 8 * 3600
MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60
MAX_ANONYMOUS = 10_000  # sessions not signed in (about 4 MB); the oldest is dropped beyond it
PRUNE_SECONDS = 60  # how often idle sessions are looked for


@dataclass
class Session:
    id: str
    csrf: str
    last_seen: float
    account: str | None = None
    lang: str = "th"
    checked: dict = field(default_factory=dict)  # upload token -> a checked file waiting to be sent
    credential: str = ""  # signed in: credential_of(the account's password hash) at sign-in
    ended: bool = False  # set before `on_end` is told (a request still running for it may check a file)


def credential_of(password_hash: str) -> str:
    """What a session keeps of the password hash it was signed in with (a digest, not the hash)."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()


class Sessions:
    """The server-side session table."""

    def __init__(self, secret: bytes | None = None, clock: Callable[[], float] = time.monotonic,
                 max_anonymous: int | None = None, on_end: Callable[[Session], None] | None = None):
        self._signer = Signer(secret or secrets.token_bytes(32), salt="pilotkpi-session")
        self._clock = clock
        self._table: dict[str, Session] = {}
        self._anonymous: OrderedDict[str, None] = OrderedDict()  # not signed in, least recently seen first
        self._max_anonymous = MAX_ANONYMOUS if max_anonymous is None else max_anonymous
        self._pruned = clock()
        self._lock = threading.Lock()
        self._on_end = on_end

    def new(self, lang: str = "th", account: str | None = None, credential: str = "") -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), self._clock(), account, lang,
                          credential=credential)
        with self._lock:
            ended = self._prune()
            self._table[session.id] = session
            if account is None:
                self._anonymous[session.id] = None
                while len(self._anonymous) > self._max_anonymous:
                    dropped = self._table.pop(self._anonymous.popitem(last=False)[0], None)
                    if dropped is not None:
                        ended.append(dropped)
        self._ended(ended)
        return session

    def from_cookie(self, value: str | None) -> Session | None:
        """The live session a cookie names, or None (unsigned, forged, ended or idle too long)."""
        if not value:
            return None
        try:
            sid = self._signer.unsign(value).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return None
        now = self._clock()
        with self._lock:
            ended = self._prune()  # not only at a new session: a quiet site's idle ones end too
            session = self._table.get(sid)
            if session is not None and now - session.last_seen > IDLE_SECONDS:
                ended.append(self._forget(sid))
                session = None
            if session is not None:
                session.last_seen = now
                if sid in self._anonymous:
                    self._anonymous.move_to_end(sid)
        self._ended(ended)
        return session

    def cookie(self, session: Session) -> str:
        return self._signer.sign(session.id.encode("ascii")).decode("ascii")

    def renew(self, old: Session | None, account: str, credential: str = "") -> Session:
        """Sign-in: a new id and CSRF token (a fixed or stolen pre-sign-in id is worth nothing)."""
        session = self.new(old.lang if old else "th", account, credential)
        if old is not None:
            self.end(old)
        return session

    def end(self, session: Session) -> None:
        with self._lock:
            ended = [self._forget(session.id)]
        self._ended(ended)

    def end_where(self, ends: Callable[[Session], bool]) -> int:
        """End every session for which `ends` is true (an account disabled or given a new
        password: all its sessions, not only those that come back); how many ended."""
        with self._lock:
            ended = [self._forget(sid) for sid, s in list(self._table.items()) if ends(s)]
        self._ended(ended)
        return len(ended)

    def _forget(self, sid: str) -> Session | None:
        self._anonymous.pop(sid, None)
        session = self._table.pop(sid, None)
        if session is not None:
            session.ended = True
        return session

    def _prune(self) -> list[Session | None]:
        now = self._clock()
        if now - self._pruned < PRUNE_SECONDS:
            return []
        self._pruned = now
        return [self._forget(sid) for sid in [s for s, v in self._table.items() if now - v.last_seen > IDLE_SECONDS]]

    def _ended(self, sessions: list[Session | None]) -> None:
        if self._on_end is not None:
            for session in sessions:
                if session is not None:
                    self._on_end(session)


def csrf_ok(session: Session | None, token: object) -> bool:
    return session is not None and isinstance(token, str) and hmac.compare_digest(session.csrf, token)


class Throttle:
    """Failed sign-ins per account name within the window, and the checks under way.

    `reserve` and `settle` bracket one password check: a try is let through only while the
    failures in the window and the checks under way for that name are fewer than MAX_FAILURES,
    both counted under one lock. Reading the failures before the (slow, argon2) check and
    writing them after let a burst of parallel tries all through: each read 0 failures."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._checking: dict[str, int] = {}  # name -> checks under way
        self._lock = threading.Lock()

    def reserve(self, name: str) -> int:
        """0: the try may check its password (call `settle` after, whatever happens); else the
        seconds to wait (at least 1 when only checks under way fill the allowance)."""
        key, now = name.casefold(), self._clock()
        with self._lock:
            times = self._failures.get(key)
            while times and now - times[0] >= FAILURE_WINDOW:
                times.popleft()
            failures, checking = len(times or ()), self._checking.get(key, 0)
            if failures + checking < MAX_FAILURES:
                self._checking[key] = checking + 1
                return 0
            if failures >= MAX_FAILURES:
                return max(1, int(FAILURE_WINDOW - (now - times[0])) + 1)
            return 1  # the checks under way may fail: their outcome decides

    def settle(self, name: str, ok: bool) -> None:
        """The reserved check's outcome: a success clears the name's failures, anything else
        (a wrong password, or the check never finished) counts as a failure."""
        key = name.casefold()
        with self._lock:
            left = self._checking.get(key, 0) - 1
            if left > 0:
                self._checking[key] = left
            else:
                self._checking.pop(key, None)
            if ok:
                self._failures.pop(key, None)
            else:
                self._failures.setdefault(key, deque(maxlen=MAX_FAILURES)).append(self._clock())
