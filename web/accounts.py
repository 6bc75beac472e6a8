"""Accounts of the web front door: one owner-only JSON file beside the warehouse.

`<warehouse stem>.accounts.json`, mode 0600, managed only from the shell (`pilotkpi accounts`).
Passwords are argon2id hashes (argon2-cffi, its default parameters, RFC 9106's second
recommendation); a password is never logged, shown or stored in clear. The file is rewritten
whole, atomically (a 0600 temporary file in the same folder, fsync, rename), so a reader never
sees half a file.
"""
from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from warehouse.paths import files_of

ROLES = ("agency", "analyst", "committee")
FILE_MODE = 0o600
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")
AGENCY_CODE = re.compile(r"^[0-9]{5}\Z")
_HASHER = PasswordHasher()  # argon2id
# Verifying an unknown account costs as much as a known one: the time does not tell them apart.
_DUMMY_HASH = _HASHER.hash("pilotkpi: no such account")


class AccountsError(Exception):
    """A refusal of an accounts command or of the accounts file (one line for the operator)."""


@dataclass
class Account:
    name: str
    role: str
    agencies: list[str] = field(default_factory=list)  # agency role: the codes it speaks for
    restricted: bool = False  # analyst/committee cleared for restricted pilots' line-level data
    disabled: bool = False
    password_hash: str = ""

    def speaks_for(self, agency_code: str | None) -> bool:
        return self.role == "agency" and agency_code in self.agencies

    @property
    def cleared(self) -> bool:
        """Cleared for restricted pilots' line-level data (web.md): an analyst or committee account
        marked restricted: true; an agency never is (it sees its own restricted submissions only)."""
        return self.role in ("analyst", "committee") and self.restricted


def accounts_path(warehouse_path: str | Path) -> Path:
    """`<warehouse stem>.accounts.json` beside the warehouse (the naming rule of warehouse/paths.py)."""
    published = files_of(warehouse_path).published  # <stem>.published.duckdb
    return published.with_name(published.name.removesuffix(".published.duckdb") + ".accounts.json")


def hash_password(password: str) -> str:
    if len(password) < 10:
        raise AccountsError("a password needs at least 10 characters")
    return _HASHER.hash(password)


def verify(account: Account | None, password: str) -> bool:
    """True only for an enabled account and its password; the same work for an unknown name."""
    try:
        ok = _HASHER.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok and account and not account.disabled)


def load(path: Path) -> dict[str, Account]:
    """Every account of the file ({} when it does not exist yet); refused when others may read it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise AccountsError(f"{path}: cannot be read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise AccountsError(f"{path}: not a regular file")
        if mode & 0o077:
            raise AccountsError(f"{path}: group or others may read it (mode {stat.S_IMODE(mode):o}); "
                                f"run `chmod 600 {path}`")
        try:
            rows = json.loads(fh.read().decode("utf-8"))["accounts"]
            return {row["name"]: Account(**row) for row in rows}
        except (ValueError, KeyError, TypeError) as exc:
            raise AccountsError(f"{path}: not an accounts file ({exc})") from None


def save(path: Path, accounts: dict[str, Account]) -> None:
    text = json.dumps({"accounts": [asdict(a) for a in sorted(accounts.values(), key=lambda a: a.name)]},
                      ensure_ascii=False, indent=1)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)  # whatever the umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def add(path: Path, name: str, role: str, password: str, agencies: list[str], restricted: bool = False,
        registry_agencies: Callable[[], tuple[set[str], str]] | None = None) -> Account:
    """Add an account. `registry_agencies` (the command line's): () -> (the registry's agency codes,
    where they were read), called for an agency account once its codes are well formed; a code not
    among them is refused. It raises AccountsError when there is nothing to read them from."""
    if not NAME.match(name):
        raise AccountsError(f"{name!r} is not an account name (letters, digits and . _ @ -, at most 64)")
    if role not in ROLES:
        raise AccountsError(f"role must be one of {', '.join(ROLES)}")
    if role == "agency":
        if not agencies:
            raise AccountsError("an agency account needs --agency CODE (one or more)")
        bad = [a for a in agencies if not AGENCY_CODE.match(a)]
        if bad:
            raise AccountsError(f"not a 5-digit agency code: {', '.join(map(repr, bad))}")
        if restricted:
            raise AccountsError("--restricted is for analyst and committee accounts: an agency "
                                "always sees its own restricted submissions")
        if registry_agencies is not None:
            known, source = registry_agencies()
            unknown = sorted(set(agencies) - known)
            if unknown:
                raise AccountsError(f"agency code not in the registry ({source}): {', '.join(map(repr, unknown))}")
    elif agencies:
        raise AccountsError("--agency is for agency accounts only")
    accounts = load(path)
    if name in accounts:
        raise AccountsError(f"account {name} exists already (use set-password, or disable)")
    account = Account(name, role, sorted(set(agencies)), restricted, False, hash_password(password))
    accounts[name] = account
    save(path, accounts)
    return account


def _existing(accounts: dict[str, Account], name: str) -> Account:
    if name not in accounts:
        raise AccountsError(f"no account named {name!r}")
    return accounts[name]


def set_password(path: Path, name: str, password: str) -> None:
    accounts = load(path)
    account = _existing(accounts, name)
    account.password_hash = hash_password(password)
    account.disabled = False  # a new password is how a disabled account comes back
    save(path, accounts)


def disable(path: Path, name: str) -> None:
    accounts = load(path)
    _existing(accounts, name).disabled = True
    save(path, accounts)
