"""Smoke tests of the benchmark code paths (tiny sizes, no timing assertions).

The benchmarks themselves run with ``python -m benchmarks.run_all``; these tests only
check that their code runs and that the numbers they derive (statistics, ratios,
targets, the peer's features and quality metrics) are computed correctly.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
from benchmarks import _common, bench_latency, bench_peer, bench_training, run_all

from covid_risk.models import train
from covid_risk.synthetic import make_cohort


@pytest.fixture(scope="module")
def small_model():
    """A small admission model trained in seconds."""
    return train(make_cohort(1500, random_state=41), random_state=0, **_common.FAST_TRAINING)


def test_latency_stats_and_ratio():
    """Statistics are in milliseconds with numpy's percentiles; ratios keep 3 figures."""
    s = _common.latency_stats([0.001, 0.002, 0.003, 0.004], runs=[[0.001, 0.002], [0.003, 0.004]],
                              cpu=[0.001, 0.001, 0.002, 0.002])
    assert s["calls"] == 4 and s["median_ms"] == 2.5 and s["min_ms"] == 1.0
    assert s["cpu_median_ms"] == 1.5
    assert s["p99_ms"] == pytest.approx(3.97) and s["run_medians_ms"] == [1.5, 3.5]
    assert _common.ratio(3, 2) == 1.5 and _common.ratio(1, 3) == 0.333
    assert _common.ratio(1, 0) is None


def test_cohort_drops_records_validate_refuses(monkeypatch):
    """A generated record with an impossible value is dropped and counted, not fatal."""
    import covid_risk

    frame = make_cohort(20, random_state=1)
    frame.loc[3, "gcs"] = 2  # impossible (3-15)
    monkeypatch.setattr(covid_risk, "make_cohort", lambda n, **kw: frame.copy())
    clean = _common.cohort(20, random_state=1)
    assert len(clean) == 19 and clean.attrs["dropped_impossible"] == 1
    assert 2 not in set(clean["gcs"].dropna())


def test_memory_helpers_measure_an_allocation():
    """The peak after mark_memory grows by about the size of a new array."""
    before = _common.mark_memory()
    block = np.ones(20_000_000)  # 152.6 MiB
    assert _common.peak_rss_mb() - before > 100
    del block


def test_peer_features_equal_the_model_matrix(small_model):
    """The peer's pandas encoding gives exactly covid_risk's model matrix."""
    test = make_cohort(300, random_state=42)
    peer = bench_peer.peer_features(test, "admission")
    assert list(peer.columns) == list(small_model.feature_names_)
    np.testing.assert_array_equal(peer.to_numpy(), small_model.model_matrix(test).to_numpy())
    one = bench_peer.peer_features(pd.DataFrame([{"age": 70.0, "sex": "male", "spo2": 94.0,
                                                  "on_oxygen": False}]), "admission")
    assert one.loc[0, "spo2_fio2"] == 94.0 / 0.21 and one.loc[0, "sex"] == 1.0


@pytest.mark.filterwarnings("ignore")
def test_peer_fits_predicts_and_explains():
    """The peer trains, predicts one dict (with top factors) and a frame."""
    cohort = make_cohort(300, random_state=43)
    peer = bench_peer.Peer("admission", ("death",)).fit(cohort)
    one = peer.predict_one({"age": 80, "sex": "female", "urea": 12.0})
    assert set(one) == {"death"} and 0 < one["death"] < 1
    explained = peer.predict_one({"age": 80, "sex": "female"}, explain=True, top=3)
    p, factors = explained["death"]
    assert 0 < p < 1
    assert len(factors) == 3
    frame = peer.predict_frame(cohort.head(10))
    assert frame["death"].shape == (10,)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_peer_benchmark_quick_run_has_the_speed_tuned_contestant(tmp_path):
    """A --quick run trains and scores all three contestants; JSON and Markdown show them."""
    from covid_risk.schema import SETTING_OUTCOMES

    res = bench_peer.main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "bench_peer.json").read_text())
    assert saved["markdown"] == res["markdown"]
    outcomes = set(SETTING_OUTCOMES["admission"])
    t, q = saved["training"], saved["quality"]
    for who in bench_peer.CONTESTANTS:
        assert t[who]["median_seconds"] > 0
        assert [r["who"] for r in t[who]["runs"]] == [who] * bench_peer.QUICK["repeats_training"]
        assert set(q[who]) == outcomes
        for m in q[who].values():
            assert 0.5 < m["auroc"] <= 1 and m["log_loss"] > 0 and 0 < m["mae_true_risk"] < 1
    # the speed-tuned model was trained with its settings, ours with the defaults
    assert all(r["settings"] == bench_peer.SPEED_TUNED for r in t["speed_tuned"]["runs"])
    for r in t["ours"]["runs"]:  # same threads as ours
        assert r["settings"]["refit"] is True
        assert r["settings"]["n_jobs"] == bench_peer.SPEED_TUNED["n_jobs"]
    assert q["speed_tuned"] != q["ours"]
    assert t["speed_tuned_over_peer"] == _common.ratio(t["speed_tuned"]["median_seconds"],
                                                       t["peer"]["median_seconds"])
    assert t["speed_tuned_no_slower_than_peer"] == (
        t["speed_tuned"]["median_seconds"] <= t["peer"]["median_seconds"])
    verdict = q["speed_tuned_at_least_as_accurate"]
    assert set(verdict) == outcomes
    for o, ok in verdict.items():
        assert ok["auroc"] == (q["speed_tuned"][o]["auroc"] >= q["peer"][o]["auroc"])
        assert ok["log_loss"] == (q["speed_tuned"][o]["log_loss"] <= q["peer"][o]["log_loss"])
    assert set(saved["model_speed_tuned"]["trees"]) == outcomes

    md = saved["markdown"]
    assert (f"| training, covid_risk speed-tuned (median s) | "
            f"{t['speed_tuned']['median_seconds']:.1f} | ") in md
    assert "AUROC ours / peer / speed-tuned" in md
    for o in outcomes:
        a = [f"{q[who][o]['auroc']:.4f}" for who in bench_peer.CONTESTANTS]
        assert f"| {o} | {' / '.join(a)} |" in md
    line = next(x for x in md.splitlines() if x.startswith("Speed-tuned vs the peer"))
    no_slower = "yes" if t["speed_tuned_no_slower_than_peer"] else "no"
    assert f"trains no slower: {no_slower}" in line
    for o, ok in verdict.items():
        assert f"{o} {'yes' if ok['auroc'] and ok['log_loss'] else 'no'}" in line


def test_quality_metrics_by_hand():
    """AUROC, calibration slope, log loss and MAE to the true risk of a toy test set."""
    test = pd.DataFrame({"death": pd.array([True, False, True, False], dtype="boolean"),
                         "true_risk_death": [0.9, 0.2, 0.6, 0.3]})
    p = np.array([0.8, 0.1, 0.6, 0.4])
    q = bench_peer.quality({"death": p}, test)["death"]
    assert q["auroc"] == 1.0
    want = -np.mean(np.log([0.8, 0.9, 0.6, 0.6]))
    assert q["log_loss"] == round(want, 5)
    assert q["mae_true_risk"] == round(np.mean([0.1, 0.1, 0.0, 0.1]), 5)


@pytest.mark.filterwarnings("ignore::covid_risk.exceptions.DataQualityWarning")
def test_single_patient_and_batch_paths_run(small_model, tmp_path):
    """The latency and batch code runs on a handful of patients and rows."""
    args = argparse.Namespace(patients=6, normal_patients=1, repeats=1)
    out = bench_latency.single_patient(small_model, args)
    assert out["patients"] == 6
    for key in ("ours_without_explanation", "ours_with_top5_factors",
                "raw_limit_booster_predict", "c_floor_single_row_fast_predictor",
                "normal_path_with_top5_factors"):
        assert out[key]["calls"] >= 1 and out[key]["median_ms"] > 0
    assert set(out["ratios"]) >= {"without_explanation_over_raw_limit"}
    path = tmp_path / "m.crmodel"
    small_model.save(path, hmac_key=b"")
    for what in ("ours", "raw", "ours_shap", "raw_shap"):
        r = bench_latency.batch_child(str(path), rows=150, what=what, repeats=1)
        assert r["rows"] <= 150 and r["rows_per_second"] > 0
    frame = _common.to_score(make_cohort(120, random_state=44))
    assert list(frame.columns)[0] == "age" and frame.index.name == "patient_id"
    for kind in ("predict", "explain"):
        t = bench_latency.throughput(small_model, frame, 2, kind)
        assert t["rows"] == 120 and len(t["runs_seconds"]["ours"]) == 2
        assert t["ours_share_of_raw_limit"] > 0


def test_training_growth_and_markdown():
    """The growth exponent of time ~ n^b and the training table from fabricated runs."""
    run = {"seconds": 10.0, "cpu_seconds": 9.0, "peak_increase_mb": 50.0,
           "generate_seconds": 0.5}
    sizes = {
        "10000": {"ours": bench_training._summary([run]), "trees": {"death": 100}},
        "100000": {"ours": bench_training._summary([{**run, "seconds": 100.0}]),
                   "trees": {"death": 300}},
    }
    assert bench_training.growth(sizes) == {"10000->100000": 1.0}
    md = bench_training.markdown({"sizes": sizes, "growth_exponent": {"10000->100000": 1.0}})
    assert "| 100,000 | 1 | 100.0 | 9.0 | 50 | 300 | not run" in md


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
def test_training_quick_run_times_both_thread_counts(tmp_path):
    """A --quick run trains ours and the peer at 1 and 2 threads; ours grows the same trees."""
    shared = tmp_path / "shared"
    res = bench_training.main(["--quick", "--out", str(tmp_path), "--save-dir", str(shared)])
    saved = json.loads((tmp_path / "bench_training.json").read_text())
    assert saved["markdown"] == res["markdown"]
    small, large = (str(n) for n in bench_training.QUICK["sizes"])  # peer: small only
    e = saved["sizes"][small]
    assert list(e["threads"]) == ["1", "2"]
    for t, by in e["threads"].items():
        for who in ("ours", "peer"):
            assert by[who]["median_seconds"] > 0 and by[who]["median_cpu_seconds"] > 0
            assert [r["threads"] for r in by[who]["runs"]] == [int(t)] * len(by[who]["runs"])
        assert all(r["settings"]["n_jobs"] == int(t) for r in by["ours"]["runs"])
        assert by["ours_over_peer"] == _common.ratio(by["ours"]["median_seconds"],
                                                     by["peer"]["median_seconds"])
        assert by["ours"]["trees"] == sum(e["trees"].values()) > 0
        assert all(r["trees"] == e["trees"] for r in by["ours"]["runs"])
    assert e["trees_same_at_every_thread_count"] is True
    # the keys of one thread, as before the thread counts
    one = e["threads"]["1"]
    assert e["ours"]["median_seconds"] == one["ours"]["median_seconds"]
    assert e["peer"]["median_seconds"] == one["peer"]["median_seconds"]
    assert e["ours_over_peer"] == one["ours_over_peer"] and e["ours"]["threads"] == 1
    assert [r["threads"] for r in e["ours_one"]["runs"]] == [1]  # the growth series: 1 thread
    assert list(saved["sizes"][large]["threads"]) == ["1"]  # no peer at this size
    assert "peer" not in saved["sizes"][large]["threads"]["1"]
    # bench_peer --trained reuses the one-thread runs and models
    trained = json.loads((shared / "training.json").read_text())
    assert set(trained) == {"ours", "peer"}
    assert all(r["threads"] == 1 for runs in trained.values() for r in runs)
    assert (shared / "ours.model").is_file() and (shared / "peer.model").is_file()
    md = saved["markdown"]
    for t in ("1", "2"):
        by = e["threads"][t]
        assert (f"| {int(small):,} | {t} | {by['ours']['median_seconds']:.1f} | "
                f"{by['ours']['median_cpu_seconds']:.1f} | ") in md
        assert f"| {by['ours_over_peer']} |" in md
    assert f"| {int(large):,} | 1 | " in md and f"| {int(large):,} | 2 | " not in md
    assert f"{int(small):,}: yes" in md


def test_targets_and_results_markdown(tmp_path):
    """RESULTS.md lists each target with the figure measured and whether it is met."""
    _common.write_json("bench_latency", {"single_patient": {
        "ours_without_explanation": {"median_ms": 0.2, "p99_ms": 3.0},
        "ours_with_top5_factors": {"median_ms": 1.5}},
        "batch": {"ours_share_of_raw_limit": 0.9}, "markdown": "## latency\n"},
        tmp_path)
    _common.write_json("bench_training", {"sizes": {"100000": {
        "ours": {"median_seconds": 40.0}, "ours_over_peer": 0.8,
        "trees_same_at_every_thread_count": True,
        "threads": {"1": {"ours": {"median_seconds": 40.0}, "ours_over_peer": 0.8},
                    "2": {"ours": {"median_seconds": 70.0}, "ours_over_peer": 1.2}}}}},
        tmp_path)
    _common.write_json("bench_peer", {"latency": {
        "without_explanation": {"peer_over_ours_median": 40.0},
        "with_top5_factors": {"peer_over_ours_median": 8.0}},
        "quality": {"ours_at_least_as_accurate": {
            "death": {"auroc": True, "log_loss": True},
            "vte": {"auroc": False, "log_loss": True}}}}, tmp_path)
    rows = {t["target"]: t for t in run_all.targets(tmp_path)}
    assert rows["predict_risk(one dict), no explanation: median"]["met"] is True
    assert rows["predict_risk(one dict), no explanation: p99"]["met"] is False
    assert rows["faster than the hand-rolled peer, one dict, with factors"]["met"] is False
    train_rows = [t["target"] for t in run_all.targets(tmp_path) if "training" in t["target"]]
    assert train_rows == [
        "training, 100,000 admitted patients, all outcomes, calibrated, 1 LightGBM thread",
        "training, 100,000 admitted patients, all outcomes, calibrated, 2 LightGBM threads",
        "training time, ours / peer, both 1 LightGBM thread",
        "training time, ours / peer, both 2 LightGBM threads"]
    one, two, ratio_one, ratio_two = (rows[t] for t in train_rows)
    assert one["measured"] == 40 and one["met"] is True
    assert two["measured"] == 70 and two["met"] is False
    assert ratio_one["measured"] == 0.8 and ratio_one["met"] is True
    assert ratio_two["measured"] == 1.2 and ratio_two["met"] is False
    quality = rows["at least as accurate as the peer (AUROC and log loss, every outcome)"]
    assert quality["met"] is False and quality["measured"] == "not for vte"
    info = {"machine": _common.machine(), "quick": True, "started": "2026-01-01 00:00",
            "steps": {"latency": {"seconds": 1.0, "status": "ok"}}}
    md = run_all.results_markdown(tmp_path, info)
    assert md.startswith("# covid_risk benchmark results")
    assert "| predict_risk(one dict), no explanation: p99 | 3.0 ms | < 2 ms | **no** |" in md
    assert "## latency" in md and "Smoke run" in md
    assert ("| training, 100,000 admitted patients, all outcomes, calibrated, 2 LightGBM "
            "threads | 70.0 s | < 60 s | **no** |") in md
    assert "Training is timed with 1 LightGBM thread and 2 LightGBM threads" in md
    assert json.loads((tmp_path / "bench_peer.json").read_text())["latency"]
    # a partial re-run says which steps it re-ran, when, at which commit and under what load
    info["machine"]["load_average_at_start"] = [0.1, 0.1, 0.1]
    info["reruns"] = [{"started": "2026-01-02 10:00", "steps": ["latency"], "git": "abc1234",
                       "load_average_at_start": [50.0, 1.0, 1.0]}]
    md = run_all.results_markdown(tmp_path, info)
    assert ("Re-run with `--only latency` on 2026-01-02 10:00 UTC at commit abc1234, load "
            "average 50.0 at the start") in md
    assert "machine was busy (load average 50.0 on" in md


def test_run_all_finds_the_steps():
    """run_all calls each benchmark's main; steps whose module is missing are skipped."""
    assert run_all._entry("latency") is bench_latency.main
    assert run_all._entry("training") is bench_training.main
    for step in run_all.STEPS:
        entry = run_all._entry(step)
        assert entry is None or callable(entry)
