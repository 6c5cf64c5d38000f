"""The serving rooms keep the house's floors: fhir on 6, service on 7, public names only.

``fhir`` may import floors 0-6 but not the package face ``covid_risk``; ``service`` (7)
may import the face and ``fhir`` but never ``cli``, which imports ``service`` only
inside ``covid-risk serve``. No private name crosses a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "covid_risk"
FLOORS = {"_version": 0, "_json": 0, "_sources": 0, "_dask_client": 0, "exceptions": 0,
          "units": 0, "schema": 0, "progress": 0, "validation": 1, "labels": 1, "metrics": 1,
          "features": 2, "models": 3, "synthetic": 3, "explanation": 4, "evaluation": 5,
          "prediction": 5, "scoring": 6, "retraining": 6, "fhir": 6, "cli": 7, "demo": 7,
          "service": 7}


def imports(path: Path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.split(".")[0] == "covid_risk"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("covid_risk"):
            out.append((node.module, [a.name for a in node.names]))
    return out


@pytest.mark.parametrize("room", ["fhir", "service"])
def test_no_arrow_up_a_floor(room):
    up = []
    for path in sorted((SRC / room).rglob("*.py")):
        for module, names in imports(path):
            parts = module.split(".")
            if len(parts) == 1:
                if FLOORS[room] < 7:
                    up.append(f"{path.name} imports the package face")
                continue
            target = parts[1]
            if target == "cli" and room == "service":
                up.append(f"{path.name} imports cli")
            if FLOORS.get(target, 99) > FLOORS[room]:
                up.append(f"{path.name} -> {module}")
            crossing = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if crossing and target != room:
                up.append(f"{path.name} imports private {crossing} from {module}")
    assert not up, "\n".join(up)


@pytest.mark.parametrize("path", sorted([*(SRC / "fhir").rglob("*.py"),
                                         *(SRC / "service").rglob("*.py"),
                                         SRC / "cli" / "serve.py"]), ids=lambda p: p.name)
def test_all_is_declared(path):
    assert "__all__" in path.read_text(encoding="utf-8")


def test_cli_imports_service_only_inside_the_command():
    tree = ast.parse((SRC / "cli" / "serve.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any("service" in (getattr(n, "module", "") or "") for n in top)
