"""The authorisation matrix is complete: every route the app mounts (walked from `app.routes`) is
reached by at least one row of some matrix, so a new route without rows fails here.

The matrices live in several files, each in its owner's shape (a module-level MATRIX, a `_matrix(o)`
function, a list inside a `test_*matrix*` function). They are read as source, not run: a row is a
tuple `("GET" | "POST", path, ...)` inside a top-level definition whose name says "matrix", in any
tests/web/test_web_*.py. An f-string path gets a placeholder for each value (`/held/{ids[...]}`
becomes `/held/X0`); a path held in a variable cannot be read and is left out. Each row's path is
then resolved by Starlette's own matching, in the app's order, to the route that would answer it.

Every test holding matrix rows asks them through test_web_matrix.walk (own_loops checks it), so
how a cell is asked is written once.

This file also carries the rows of part 1's routes that no matrix had: sign-in, sign-out and the
static files, checked for every role.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from starlette.routing import Match, Mount, Route

from tests.web.test_web_matrix import ROLES, _client

HERE = Path(__file__).parent
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
SIGNED_IN = ("agency", "restricted_agency", "analyst", "committee")
ANYONE = {r: 200 for r in ROLES}

# Part 1's routes without rows elsewhere: (method, path, {role: expected}); "home" is 303 to /, "redirect" to /signin.
MATRIX = [
    ("GET", "/signin", {"anonymous": 200, "disabled": 200, **{r: "home" for r in SIGNED_IN}}),
    ("POST", "/signin", {r: 401 for r in ROLES}),  # a wrong password, whoever is signed in
    ("POST", "/signout", {r: "redirect" for r in ROLES}),
    ("GET", "/static/summary.css", ANYONE),  # the sign-in page needs its styles
    ("GET", "/static/web.css", ANYONE),
    ("GET", "/static/no-such.css", {r: 404 for r in ROLES}),
    ("GET", "/static/..%2Fapp.py", {r: 404 for r in ROLES}),  # nothing outside web/static
]


def _path_of(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else "X0" for part in node.values)
    return None  # a variable: unreadable here


def matrix_rows(folder: Path = HERE) -> dict[str, list[tuple[str, str]]]:
    """{file name: [(method, path without query)]} of every matrix row in the web tests."""
    found: dict[str, list[tuple[str, str]]] = {}
    for file in sorted(folder.glob("test_web_*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for top in tree.body:
            names = ([top.name] if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)) else
                     [t.id for t in getattr(top, "targets", [getattr(top, "target", None)]) if isinstance(t, ast.Name)])
            if not any("matrix" in n.lower() for n in names):
                continue
            for node in ast.walk(top):
                if (isinstance(node, ast.Tuple) and len(node.elts) >= 3 and isinstance(node.elts[0], ast.Constant)
                        and node.elts[0].value in METHODS):
                    path = _path_of(node.elts[1])
                    if path is not None:
                        found.setdefault(file.name, []).append((node.elts[0].value, path.split("?")[0]))
    return found


def mounted(routes) -> list[tuple[str, str]]:
    """(method, path template) of every route the app answers (HEAD goes with GET)."""
    out = []
    for r in routes:
        if isinstance(r, Mount):
            out.append(("GET", r.path + "/{path}"))
        elif isinstance(r, Route):
            out += [(m, r.path) for m in sorted(r.methods - {"HEAD"})]
    return out


def answering(routes, method: str, path: str) -> tuple[str, str] | None:
    """The route that answers `method path`, in the app's order (Starlette's own matching)."""
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for r in routes:
        match, _ = r.matches(scope)
        if match == Match.FULL:
            return ("GET", r.path + "/{path}") if isinstance(r, Mount) else (method, r.path)
    return None


def uncovered(routes, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    reached = {answering(routes, m, p) for m, p in rows}
    return [r for r in mounted(routes) if r not in reached]


def test_every_mounted_route_has_a_matrix_row(client_for):
    routes = client_for.app.routes
    rows = matrix_rows()
    # Each part's matrix is read (a file renamed or reshaped would otherwise drop its rows silently).
    for name in ("test_web_matrix.py", "test_web_pilots_matrix.py", "test_web_held.py", "test_web_decisions.py",
                 "test_web_drill_matrix.py", "test_web_reminders.py", "test_web_matrix_complete.py"):
        assert rows.get(name), f"no matrix rows read from {name}"
    missing = uncovered(routes, [row for file_rows in rows.values() for row in file_rows])
    assert not missing, f"routes without a row in any authorisation matrix: {missing}"
    assert len(mounted(routes)) >= 26  # part 1: 14 routes and the static files; part 2: 11


def test_a_route_without_rows_is_caught(client_for):
    """The check can fail: a page mounted without any matrix row is reported, and only it."""
    async def page(request):  # pragma: no cover - never called
        raise AssertionError

    rows = [row for file_rows in matrix_rows().values() for row in file_rows]
    routes = [*client_for.app.routes[:-1], Route("/held/{submission_id}/notes", page, methods=["GET", "POST"]),
              client_for.app.routes[-1]]
    assert uncovered(routes, rows) == [("GET", "/held/{submission_id}/notes"), ("POST", "/held/{submission_id}/notes")]


def _is_row(node: ast.AST) -> bool:
    return (isinstance(node, ast.Tuple) and len(node.elts) >= 3 and isinstance(node.elts[0], ast.Constant)
            and node.elts[0].value in METHODS)


def own_loops(folder: Path = HERE) -> list[str]:
    """Tests that hold matrix rows (or a module's MATRIX / _matrix) but do not ask them through
    test_web_matrix.walk: one loop over the roles for every matrix, so a fix to how a cell is asked
    reaches them all. This file's sign-in rows post their own forms and are left out."""
    found = []
    for file in sorted(folder.glob("test_web_*.py")):
        if file.name == Path(__file__).name:
            continue
        for top in ast.parse(file.read_text(encoding="utf-8")).body:
            if not (isinstance(top, ast.FunctionDef) and top.name.startswith("test_")):
                continue
            nodes = list(ast.walk(top))
            has_rows = any(_is_row(n) or (isinstance(n, ast.Name) and "matrix" in n.id.lower()) for n in nodes)
            walks = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "walk" for n in nodes)
            if has_rows and not walks:
                found.append(f"{file.name}::{top.name}")
    return found


def test_every_matrix_is_asked_through_walk(tmp_path):
    assert own_loops() == []
    # The check can fail: a matrix asked by a loop of its own is reported, one asked by walk is not.
    (tmp_path / "test_web_sample.py").write_text(
        "def test_own(c):\n    for m, p, e in [('GET', '/held', {})]:\n        c.get(p)\n\n"
        "def test_walked(c):\n    walk(c, {}, None, [('GET', '/held', '-', {})])\n\n"
        "def test_module_matrix(c):\n    for row in MATRIX:\n        c.get(row[1])\n", encoding="utf-8")
    assert own_loops(tmp_path) == ["test_web_sample.py::test_own", "test_web_sample.py::test_module_matrix"]


def test_sign_in_sign_out_and_static_files_for_every_role(client_for, passwords, site_dir):
    wrong = []
    for role in ROLES:
        client = _client(client_for, passwords, site_dir, role)
        for method, path, expected in MATRIX:
            if method == "GET":
                r = client.get(path)
            else:  # a real form with its CSRF token; sign-in with an account of this role's own name
                token = re.search(r'name="csrf" value="([^"]+)"', client.get("/signin").text
                                  if role in ("anonymous", "disabled") else client.get("/").text).group(1)
                r = client.post(path, data={"csrf": token, "name": f"nobody-{role}", "password": "not the password"})
            got = r.status_code
            if got == 303:
                got = {"/signin": "redirect", "/": "home"}.get(r.headers["location"], r.headers["location"])
            if got != expected[role]:
                wrong.append((role, method, path, expected[role], got))
        client.close()
    assert not wrong, "\n".join(map(str, wrong))
