"""What the shared architecture test does not say about the serving rooms.

``tests/test_architecture.py`` puts ``fhir`` on floor 6 and ``service`` on floor 7 and checks
circles, floors, private names and ``__all__`` for them as for every room. Two rules are
particular to serving: ``service`` never imports ``cli`` (the command line starts the service,
not the other way round), and ``covid-risk serve`` imports the service only when it runs, so
every other command stays fast and needs no serving extra.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "covid_risk"


def _imported_modules(path: Path, *, top_level_only: bool = False) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


def test_service_never_imports_cli():
    found = [f"{p.name}: {m}" for p in sorted((SRC / "service").rglob("*.py"))
             for m in _imported_modules(p) if m.startswith("covid_risk.cli")]
    assert not found, found


def test_cli_imports_service_only_inside_the_command():
    top = _imported_modules(SRC / "cli" / "serve.py", top_level_only=True)
    assert not [m for m in top if "service" in m]
