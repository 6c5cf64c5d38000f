"""Smoke test of the generator benchmark (tiny sizes, no timing assertions)."""

from __future__ import annotations

import json
import statistics

import pytest
from benchmarks import bench_generator


def test_bench_generator_quick_writes_json_and_markdown(tmp_path):
    """--quick times the three paths and writes results JSON and Markdown."""
    res = bench_generator.main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "bench_generator.json").read_text())
    assert saved["n"] == 20_000 and len(saved["population"]["runs_s"]) == 2
    assert saved["population"]["n_admitted"] > 0
    # the rate is n over the median run (runs are stored to 0.1 ms, so allow 2 %)
    runs = res["population"]["runs_s"]
    assert res["population"]["people_per_s"] == pytest.approx(20_000 / statistics.median(runs),
                                                              rel=0.02)
    md = (tmp_path / "bench_generator.md").read_text()
    assert "make_population" in md and "Target:" in md
