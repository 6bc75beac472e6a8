"""Imports go one way (README, "Layout"): the command line -> the web -> flows -> kpis -> pilots
-> warehouse. A package may import its own modules and those of any layer below it, never one
above: the warehouse (storage, and the text safety every layer uses: warehouse/personal.py,
warehouse/display.py) imports none of the others. The command line's modules live in flows/
(flows/cli*.py) and are the top layer: `pilotkpi web` starts the web, and nothing below imports
them (the pieces the night and the web share with them are in flows/outcome.py).

Every import counts, a function's own too: a lazy import is still a dependency.
"""
from __future__ import annotations

import ast

import pytest

from tests.support import ROOT

LAYERS = {"warehouse": 0, "pilots": 1, "kpis": 2, "flows": 3, "web": 4, "cli": 5}


def _layer(path, root) -> str:
    package = path.relative_to(root).parts[0]
    return "cli" if package == "flows" and path.name.startswith("cli") else package


def _imported_packages(path, root) -> list[tuple[int, str, str]]:
    """(line, module, its layer) of every import of one of our packages; a relative import
    (`from . import x`, `from ..kpis import y`) resolved against the module's own package."""
    package = list(path.relative_to(root).parent.parts)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # `from flows import cli_common` (or `from . import cli_common` in flows/): the
            # module imported decides the layer, as flows/ holds two
            names = [f"{module}.{alias.name}" for alias in node.names] if module == "flows" else [module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] in LAYERS:
                layer = "cli" if parts[0] == "flows" and len(parts) > 1 and parts[1].startswith("cli") else parts[0]
                found.append((node.lineno, name, layer))
    return found


def _upward_imports(root=ROOT) -> list[str]:
    wrong = []
    for package in ("warehouse", "pilots", "kpis", "flows", "web"):
        for path in sorted((root / package).rglob("*.py")):
            layer = _layer(path, root)
            for line, name, imported in _imported_packages(path, root):
                if imported != layer and LAYERS[imported] >= LAYERS[layer]:
                    wrong.append(f"{path.relative_to(root)}:{line} imports {name} ({layer} -> {imported})")
    return wrong


def test_no_package_imports_a_layer_above_it_or_beside_it():
    assert _upward_imports() == []


@pytest.mark.parametrize("source, expected", [
    ("import kpis.build\n", "warehouse -> kpis"),
    ("def f():\n    from pilots.personal import masked\n", "warehouse -> pilots"),
    ("from ..kpis import build\n", "warehouse -> kpis"),
])
def test_the_check_sees_an_upward_import_a_lazy_one_too(tmp_path, source, expected):
    """The check itself, on a tree of one planted warehouse module (never in the checkout, which
    other tests read at the same time)."""
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "planted.py").write_text(source, encoding="utf-8")
    assert [line.split(" (")[1] for line in _upward_imports(tmp_path)] == [expected + ")"]
