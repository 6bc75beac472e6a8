"""The dependency lock (issue 24 item 11): `make` installs requirements.lock, with hashes, and then
pilotkpi with --no-deps, so the lock must hold every distribution that pyproject.toml's
dependencies pull in, at a version inside pyproject's ranges; and every package the code imports
must be declared in pyproject.toml, not only arrive through another package.
"""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import ROOT

PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s*--hash=sha256:[0-9a-f]{64})+)", re.M)
FIRST_PARTY = {"flows", "kpis", "pilots", "warehouse", "web", "bench", "tests"}
# Code of the installed package imports only the runtime dependencies; tests and bench may use dev's too.
RUNTIME_CODE = ("flows", "kpis", "pilots", "warehouse", "web")
DEV_CODE = ("bench", "tests")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _declared(extras: tuple[str, ...] = ()) -> list[Requirement]:
    project = _project()
    specs = list(project["dependencies"])
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return [Requirement(s) for s in specs]


def _lock() -> dict[str, str]:
    text = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pins = {canonicalize_name(name): version for name, version, _ in PINNED.findall(text)}
    named = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)[=<>~!]", text, re.M)
    assert len(pins) == len(named), "every line of the lock is an exact pin with at least one sha256 hash"
    return pins


def _closure(requirements: list[Requirement]) -> dict[str, Requirement]:
    """Every distribution the requirements pull in, through the installed distributions' metadata
    (markers evaluated for this Python; an extra's requirements only where it was asked for)."""
    seen: dict[str, Requirement] = {}
    todo = [(r, frozenset(r.extras)) for r in requirements]
    while todo:
        requirement, extras = todo.pop()
        name = canonicalize_name(requirement.name)
        key = f"{name}[{','.join(sorted(extras))}]"
        if key in seen:
            continue
        seen[key] = requirement
        for spec in metadata.requires(requirement.name) or []:
            sub = Requirement(spec)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras or {""}):
                todo.append((sub, frozenset(sub.extras)))
    return {canonicalize_name(r.name): r for r in seen.values()}


def test_the_lock_pins_every_distribution_the_declared_dependencies_pull_in():
    lock = _lock()
    closure = _closure(_declared(("dev",)))
    assert {"rich", "dask", "distributed", "pydantic", "numpy", "prefect", "duckdb"} <= closure.keys()
    missing = sorted(set(closure) - set(lock))
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    outside = {name: lock[name] for name, r in closure.items() if not r.specifier.contains(lock[name], prereleases=True)}
    assert not outside, f"locked versions outside the declared ranges (run `make lock`): {outside}"


def test_the_installed_environment_is_the_locked_one():
    """What the tests run on is what the lock says (an install from the lock, then --no-deps -e .)."""
    lock = _lock()
    closure = _closure(_declared(("dev",)))
    drift = {name: (metadata.version(name), lock[name]) for name in closure if metadata.version(name) != lock[name]}
    assert not drift, f"installed (left) differs from requirements.lock (right); reinstall with make: {drift}"


def _imports(folder: str) -> dict[str, str]:
    """Top-level module -> a file importing it, for every absolute import in the folder."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def _undeclared(folders: tuple[str, ...], extras: tuple[str, ...]) -> dict[str, str]:
    declared = {canonicalize_name(r.name) for r in _declared(extras)}
    distributions = metadata.packages_distributions()
    undeclared = {}
    for folder in folders:
        for module, where in _imports(folder).items():
            if not {canonicalize_name(d) for d in distributions.get(module, [])} & declared:
                undeclared[module] = where
    return undeclared


def test_every_package_the_code_imports_is_declared():
    assert _undeclared(RUNTIME_CODE, ()) == {}, "imported by pilotkpi, not in pyproject's dependencies"
    assert _undeclared(DEV_CODE, ("dev",)) == {}, "imported by tests or bench, not in pyproject.toml"

