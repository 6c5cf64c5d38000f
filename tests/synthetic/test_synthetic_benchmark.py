"""Smoke test of the generator benchmark (tiny sizes, no timing assertions)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``pytest`` run without ``python -m``
    sys.path.insert(0, str(ROOT))

from benchmarks import bench_generator  # noqa: E402


def test_bench_generator_quick_writes_json_and_markdown(tmp_path):
    """--quick times the three paths and writes results JSON and Markdown."""
    res = bench_generator.main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "bench_generator.json").read_text())
    assert saved["n"] == 20_000 and len(saved["population"]["runs_s"]) == 2
    assert saved["population"]["n_admitted"] > 0
    assert abs(res["population"]["people_per_s"] * res["population"]["median_s"] - 20_000) < 200
    md = (tmp_path / "bench_generator.md").read_text()
    assert "make_population" in md and "Target:" in md
