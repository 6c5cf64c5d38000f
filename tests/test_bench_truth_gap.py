"""Smoke test of the distance-to-truth benchmark (tiny sizes, no timing assertions)."""

from __future__ import annotations

import json

import pytest
from benchmarks import bench_truth_gap


@pytest.mark.slow
def test_quick_run_measures_every_part(tmp_path):
    """--quick: every measurement present, in range, and written as JSON and Markdown."""
    res = bench_truth_gap.main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "bench_truth_gap.json").read_text())
    assert set(saved["lightgbm_by_training_seed"]) == {"1001", "1002"}
    for part in ("more_data", "nothing_missing", *saved["lightgbm_by_training_seed"].values()):
        figures = saved[part] if isinstance(part, str) else part
        assert 0 < figures["death_mae_true"] < 0.2
        assert 0.3 < figures["death_log_loss"] < 0.7
        assert 0.5 < figures["vte_auroc"] <= 1 and 0.5 < figures["vte_ceiling"] <= 1
    spread = saved["spread"]["death_mae_true"]
    assert spread["min"] <= spread["median"] <= spread["max"]
    assert saved["more_data"]["n_train"] == 4 * 3000
    # the standard test cohort misses D-dimer for most patients (the VTE gap)
    assert saved["missing_share"]["d_dimer"] > 0.4
    assert 0 < saved["logistic_regression"]["death_mae_true"] < 0.2
    md = (tmp_path / "bench_truth_gap.md").read_text()
    assert md.strip() == res["markdown"].strip()
    assert "nothing missing" in md and "true risk itself" in md
