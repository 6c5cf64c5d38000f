"""The house reads bottom to top: no import circle, no arrow up a floor, only public names.

The graph is read from the source with :mod:`ast`, function-local imports included
(an import inside a function is still an arrow; hiding a circle there does not
remove it). Floors, lowest first: what a module may import is on its own floor or
below. The package face ``covid_risk/__init__.py`` sits on top and loads the public
names lazily; nothing inside the package imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "covid_risk"

FLOORS: dict[str, int] = {
    "_version": 0, "_json": 0, "_sources": 0, "_dask_client": 0,
    "exceptions": 0, "units": 0, "schema": 0, "progress": 0,
    "validation": 1, "labels": 1, "metrics": 1,
    "features": 2,
    "models": 3, "synthetic": 3,
    "explanation": 4,
    "evaluation": 5, "prediction": 5,
    "scoring": 6, "retraining": 6, "fhir": 6,
    "cli": 7, "demo": 7, "service": 7,
}
"""Floor of each room (a top-level module or sub-package of ``covid_risk``)."""

FACE_FLOOR = 7
"""The package face re-exports the public API; only the applications built on that API
(the command line and the demo, on the top floor) may call through it."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((SRC / PACKAGE).rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, level: int, name: str | None, here: str, is_pkg: bool) -> str:
    if level:
        base = here.split(".")
        base = base[: len(base) - level + (1 if is_pkg else 0)]
        module = ".".join([*base, module] if module else base)
    return module


def _imports(name: str) -> list[tuple[str, str | None, int]]:
    """``(module, imported name or None, line)`` for every import in a module of ours."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names
                    if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", node.level, None, name, is_pkg)
            if target.split(".")[0] != PACKAGE:
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                if sub in MODULES:  # ``from covid_risk import synthetic``: the submodule
                    out.append((sub, None, node.lineno))
                else:
                    out.append((target, a.name, node.lineno))
    return out


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for m in MODULES:
        for target, _name, _line in _imports(m):
            if target in MODULES and target != m:
                graph[m].add(target)
    return graph


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _all_names(module: str) -> set[str] | None:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return set(ast.literal_eval(node.value))
            except ValueError:
                return None
    return None


def test_every_room_has_a_floor():
    rooms = {_room(m) for m in MODULES if m != PACKAGE}
    assert rooms <= set(FLOORS), f"modules without a floor: {sorted(rooms - set(FLOORS))}"


def test_no_import_circle():
    graph = _edges()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_no_arrow_runs_up_a_floor():
    up = []
    for m in MODULES:
        if m == PACKAGE:
            continue
        for target, _name, line in _imports(m):
            if target == PACKAGE:
                if FLOORS[_room(m)] < FACE_FLOOR:
                    up.append(f"{m}:{line} imports the package face {PACKAGE}")
            elif target in MODULES and FLOORS[_room(target)] > FLOORS[_room(m)]:
                up.append(f"{m}:{line} -> {target}")
    assert not up, "arrows up a floor:\n" + "\n".join(up)


def test_no_private_name_crosses_a_module():
    crossing = [
        f"{m}:{line} imports {name} from {target}"
        for m in MODULES for target, name, line in _imports(m)
        if name and name.startswith("_") and not name.startswith("__") and target != m
    ]
    assert not crossing, "private names imported:\n" + "\n".join(crossing)


def test_imported_names_are_in_their_module_all():
    missing = []
    for m in MODULES:
        for target, name, line in _imports(m):
            if not name or target not in MODULES or target == m:
                continue
            names = _all_names(target)
            if names is not None and name not in names:
                missing.append(f"{m}:{line} imports {name} from {target}, not in its __all__")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_all_is_declared(module):
    if MODULES[module].name == "__main__.py":
        pytest.skip("entry script")
    assert "__all__" in MODULES[module].read_text(encoding="utf-8"), f"{module} has no __all__"
