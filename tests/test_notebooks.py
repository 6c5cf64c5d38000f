"""Example notebooks run top to bottom, are stored without outputs, and their data regenerate."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXAMPLES = ROOT / "data" / "examples"
NAMES = (
    "01_quickstart.ipynb",
    "02_predict_risk_for_one_patient.ipynb",
    "03_bring_your_own_data.ipynb",
)


def _copy_layout(tmp_path: Path) -> Path:
    """Copy the notebooks and example data into ``tmp_path`` with the repository's layout."""
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    for name in NAMES:
        shutil.copy(NOTEBOOKS / name, nb_dir / name)
    data_dir = tmp_path / "data" / "examples"
    data_dir.mkdir(parents=True)
    for csv in EXAMPLES.glob("*.csv"):
        shutil.copy(csv, data_dir / csv.name)
    return nb_dir


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name):
    """Committed notebooks carry no outputs and no execution counts (they are run by the tests)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a notebook without code cells"
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_without_error(name, tmp_path):
    """Every cell executes without an error in a fresh kernel in a scratch working directory."""
    nb_dir = _copy_layout(tmp_path)
    nb = nbformat.read(nb_dir / name, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(nb_dir)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    if name == "01_quickstart.ipynb":
        report = nb_dir / "quickstart_report.html"
        assert report.exists() and report.stat().st_size > 10_000


def test_example_data_regenerate_byte_for_byte(tmp_path):
    """The committed example CSVs are exactly what data/examples/make_examples.py writes now."""
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path)
    for path in written:
        committed = EXAMPLES / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{path.name} is out of date with the generator; regenerate it with "
            "`python data/examples/make_examples.py` and commit the result."
        )
