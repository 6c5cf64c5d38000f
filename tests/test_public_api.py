"""The public surface: every exported name imports, and no submodule shadows a function."""

import importlib
import subprocess
import sys

import pytest

import covid_risk as cr


def test_all_is_sorted_and_every_name_imports():
    """Every name in __all__ resolves, and __all__ is sorted."""
    assert list(cr.__all__) == sorted(cr.__all__)
    for name in cr.__all__:
        assert getattr(cr, name) is not None, name


@pytest.mark.parametrize("name", [n for n in cr.__all__ if n[0].islower() and n != "__version__"])
def test_exported_functions_are_not_shadowed_by_submodules(name):
    """Importing every submodule first still leaves each exported function a function."""
    code = (
        "import pkgutil, importlib, covid_risk as cr\n"
        "for m in pkgutil.walk_packages(cr.__path__, 'covid_risk.'):\n"
        "    if m.name.endswith(('__main__', '.demo', '.build_default', '.sample')):\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
        f"obj = getattr(cr, {name!r})\n"
        "import types\n"
        "print(isinstance(obj, types.ModuleType))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_attribute_is_a_clear_error():
    """A typo gives AttributeError naming the module and the attribute."""
    with pytest.raises(AttributeError, match="has no attribute 'predict_risks'"):
        importlib.import_module("covid_risk").predict_risks  # noqa: B018
