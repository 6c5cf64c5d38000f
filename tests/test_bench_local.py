"""Smoke run of ``python -m benchmarks.bench_local --quick``."""

from __future__ import annotations

import json

import pytest
from benchmarks import bench_local


@pytest.mark.slow
def test_quick_run_fills_both_tables(tmp_path):
    """--quick: every recalibration cell and the small-cohort row, written as JSON and Markdown."""
    res = bench_local.main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "bench_local.json").read_text())
    for block in ("admission n=300", "community n=300"):
        cells = saved["recalibration"][block]["cells"]
        assert len(cells) == 9
        for cell in cells:
            assert cell["refused"] + sum(cell["methods"].values()) == 1
            if "after" in cell:  # the trees are kept: AUROC moves by rounding at most
                assert cell["auroc_change_max"] <= 0.002
    admission = saved["recalibration"]["admission n=300"]["cells"]
    assert all("after" in c for c in admission)  # 300 admitted patients have enough deaths
    row = saved["small_cohorts"]["rows"][0]
    assert row["n"] == 300 and row["errors"] == 0 and row["constant_models"] == 0
    assert row["runs"][0]["regime"] == "small"
    md = (tmp_path / "bench_local.md").read_text()
    assert md.strip() == res["markdown"].strip() and "Small" not in md.split("\n")[0]
