"""The public surface: every exported name imports, and no submodule shadows a function."""

import importlib
import json
import subprocess
import sys

import pytest

import covid_risk as cr


def test_all_is_sorted_and_every_name_imports():
    """Every name in __all__ resolves, and __all__ is sorted."""
    assert list(cr.__all__) == sorted(cr.__all__)
    for name in cr.__all__:
        assert getattr(cr, name) is not None, name


FUNCTIONS = [n for n in cr.__all__ if n[0].islower() and n != "__version__"]


@pytest.fixture(scope="module")
def after_every_submodule() -> dict:
    """Exported name -> whether it is a module, in a fresh process that imported every submodule.

    One process serves every name: the state checked (the package's attributes once all
    submodules are imported) is the same for each.
    """
    code = (
        "import json, pkgutil, importlib, types, covid_risk as cr\n"
        "for m in pkgutil.walk_packages(cr.__path__, 'covid_risk.'):\n"
        "    if m.name.endswith(('__main__', '.demo', '.build_default', '.sample')):\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
        f"names = {FUNCTIONS!r}\n"
        "print(json.dumps({n: isinstance(getattr(cr, n), types.ModuleType) for n in names}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_exported_functions_are_not_shadowed_by_submodules(name, after_every_submodule):
    """Importing every submodule first still leaves each exported function a function."""
    assert after_every_submodule[name] is False


def test_unknown_attribute_is_a_clear_error():
    """A typo gives AttributeError naming the module and the attribute."""
    with pytest.raises(AttributeError, match="has no attribute 'predict_risks'"):
        importlib.import_module("covid_risk").predict_risks  # noqa: B018
