"""Speed of ``predict_risk`` against the raw limit: one patient, batches and SHAP.

The raw limit
-------------
``lightgbm.Booster.predict`` on a ready numpy array with ``num_threads=1``, for every
outcome's booster: the cost of the trees alone (plus LightGBM's own Python wrapper).
covid_risk's overhead over it -- validation, the model matrix, calibration, the
coherence step, bands, factors and the result objects -- is the number to drive down.
For one patient the C-level floor is also shown: LightGBM's single-row fast predictor
called directly (the trees and one ctypes call per outcome).

What is measured (all outcomes of the admission setting)
--------------------------------------------------------
* one patient, end to end from a dict: ``predict_risk(patient, explain=False)`` and
  ``predict_risk(patient)`` (top 5 factors each way for every outcome), median and
  p99 over every call of ``--repeats`` passes over ``--patients`` patients, with the
  raw limit per patient (``Booster.predict`` of the ready row for each outcome,
  raw scores and TreeSHAP contributions) and the normal path (the fast path switched
  off) on a sample;
* batch scoring of a DataFrame, ``predict_risk(frame)``, against the raw limit on the
  ready matrix: rows per second (median over ``--repeats``) and peak memory (fresh
  process each);
* SHAP rows per second: ``covid_risk.explain(frame)`` against ``Booster.predict(X,
  pred_contrib=True, num_threads=1)``;
* a cold start, what every ``covid-risk predict`` call and every new worker pays: in a
  fresh process, ``import covid_risk`` and the first ``predict_risk(patient)`` with the
  bundled model (with and without factors), median over ``--cold-runs`` processes, with
  the peak memory and whether scikit-learn, scipy, pandas or the ``lightgbm`` package
  were imported on the way.

Results go to ``benchmarks/results/bench_latency.json``.

Usage::

    python -m benchmarks.bench_latency                 # bundled default model
    python -m benchmarks.bench_latency --quick         # tiny smoke run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._common import (
    alternate,
    apply_quick,
    bench_model,
    cohort,
    latency_stats,
    machine,
    median_seconds,
    model_facts,
    patients_as_dicts,
    publish,
    ratio,
    run_child,
    settings,
    time_calls,
    to_score,
)

SEED_PATIENTS = 4004
SEED_BATCH = 5005
_START = time.perf_counter()


def _log(message: str) -> None:
    print(f"  [{time.perf_counter() - _START:7.1f} s] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------- child processes
def batch_child(model_path: str, rows: int, what: str, repeats: int) -> dict:
    """Score ``rows`` generated patients in a fresh process: ``what`` is "ours" or "raw"."""
    import covid_risk.prediction._predict  # noqa: F401
    from benchmarks._common import mark_memory
    from covid_risk.models import load
    from covid_risk.prediction import _predict as api

    model = load(model_path, hmac_key=b"")
    frame = to_score(cohort(rows, random_state=SEED_BATCH))
    X = np.ascontiguousarray(model.model_matrix(frame).to_numpy(dtype="float64"))
    boosters = list(model.boosters_.values())
    if what == "ours":
        def step() -> Any:
            return api.predict_risk(frame, model=model)
    elif what == "raw":
        def step() -> Any:
            return [b.predict(X, raw_score=True, num_threads=1) for b in boosters]
    elif what == "ours_shap":
        from covid_risk.explanation import explain

        def step() -> Any:
            return explain(frame, model=model)
    else:  # "raw_shap"
        def step() -> Any:
            return [b.predict(X, pred_contrib=True, num_threads=1) for b in boosters]
    before = mark_memory()
    seconds, runs = median_seconds(step, repeats)
    return {"what": what, "rows": rows, "median_seconds": round(seconds, 4), "runs": runs,
            "rows_per_second": round(rows / seconds), "rss_before_mb": round(before, 1)}


COLD_PATIENT = {"age": 78, "sex": "male", "respiratory_rate": 28, "spo2": 90,
                "on_oxygen": True, "urea": 12.1, "crp": 140, "chronic_cardiac": True}
"""The patient of the cold-start measurement (a plausible record of eight fields)."""


_COLD_CODE = """
import json, resource, sys, time


def peak_mb():
    # VmHWM belongs to this program's memory map; ru_maxrss would also count the parent's
    # memory at fork time, since the high-water mark is kept across exec
    try:
        with open("/proc/self/status") as fh:
            return next(int(x.split()[1]) for x in fh if x.startswith("VmHWM:")) / 1024.0
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


start = time.perf_counter()
import covid_risk as cr
imported = time.perf_counter()
cr.predict_risk(json.loads(sys.argv[1]), explain=sys.argv[2] == "1")
done = time.perf_counter()
print(json.dumps({
    "import_seconds": imported - start, "first_prediction_seconds": done - imported,
    "total_seconds": done - start,
    "peak_rss_mb": peak_mb(),
    "modules_loaded": {m: m in sys.modules for m in ("sklearn", "scipy", "pandas", "lightgbm")},
}))
"""
"""What a fresh process runs: nothing is imported before the clock starts."""


def cold_child(explain: bool) -> dict:
    """Time ``import covid_risk`` and the first ``predict_risk`` in a fresh interpreter."""
    import json
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", _COLD_CODE, json.dumps(COLD_PATIENT), "1" if explain else "0"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cold_start(runs: int) -> dict:
    """Median cold start over ``runs`` fresh processes, without and with factors."""
    out: dict[str, Any] = {"runs": runs}
    for key, explain in (("without_explanation", False), ("with_top5_factors", True)):
        results = [cold_child(explain) for _ in range(runs)]
        out[key] = {
            "median_total_seconds": round(float(np.median(
                [r["total_seconds"] for r in results])), 4),
            "median_import_seconds": round(float(np.median(
                [r["import_seconds"] for r in results])), 4),
            "median_peak_rss_mb": round(float(np.median([r["peak_rss_mb"] for r in results])), 1),
            "modules_loaded": results[-1]["modules_loaded"],
        }
    return out


def _breakdown(model: Any, frame: Any, repeats: int) -> dict:
    """Where batch time goes: validation, matrix, trees, calibration and the rest."""
    from covid_risk.validation import validate

    data = validate(frame).data
    X = np.ascontiguousarray(model.model_matrix(data).to_numpy(dtype="float64"))
    raw = {o: b.predict(X, raw_score=True, num_threads=1) for o, b in model.boosters_.items()}
    parts = {
        "validate": lambda: validate(frame),
        "model_matrix": lambda: model.model_matrix(data),
        "trees": lambda: [b.predict(X, raw_score=True, num_threads=1)
                          for b in model.boosters_.values()],
        "calibrators": lambda: [model.calibrators_[o].transform(raw[o]) for o in raw],
        "predict_proba": lambda: model.predict_proba(data),
    }
    return {k: round(median_seconds(f, repeats)[0], 4) for k, f in parts.items()}


def throughput(model: Any, frame: Any, repeats: int, kind: str) -> dict:
    """Rows per second of covid_risk and of the raw limit, timed alternately in one process.

    ``kind`` "predict": ``predict_risk(frame)`` against ``Booster.predict(X, raw_score=True,
    num_threads=1)`` for every outcome on the ready matrix; "explain":
    ``covid_risk.explain(frame)`` against ``pred_contrib=True``. Alternating the two in
    each repeat keeps a change in machine load from favouring either.
    """
    from covid_risk.explanation import explain
    from covid_risk.prediction import _predict as api

    X = np.ascontiguousarray(model.model_matrix(frame).to_numpy(dtype="float64"))
    boosters = list(model.boosters_.values())
    if kind == "predict":
        steps = {"ours": lambda: api.predict_risk(frame, model=model),
                 "raw": lambda: [b.predict(X, raw_score=True, num_threads=1) for b in boosters]}
    else:
        steps = {"ours": lambda: explain(frame, model=model),
                 "raw": lambda: [b.predict(X, pred_contrib=True, num_threads=1)
                                 for b in boosters]}
    times = alternate(steps, repeats)
    rows = len(frame)
    med = {k: float(np.median(v)) for k, v in times.items()}
    return {
        "rows": rows,
        "ours_rows_per_second": round(rows / med["ours"]),
        "raw_rows_per_second": round(rows / med["raw"]),
        "ours_share_of_raw_limit": ratio(med["raw"], med["ours"]),
        "runs_seconds": times,
        "peak_increase_mb": {},
    }


# ------------------------------------------------------------------------------- latency
def single_patient(model: Any, args: argparse.Namespace) -> dict:
    """One patient at a time, end to end from a dict, against the raw limit."""
    import covid_risk.prediction._fastpath as fastpath
    from covid_risk.prediction import _predict as api
    from covid_risk.schema import PREDICTORS

    pool = cohort(int(args.patients * 1.3) + 20, random_state=SEED_PATIENTS)
    dicts = patients_as_dicts(pool, PREDICTORS)
    accepted = [d is not None for d in map(fastpath.parse_patient, dicts)]
    clean = [d for d, ok in zip(dicts, accepted, strict=True) if ok][: args.patients]
    refused = [d for d, ok in zip(dicts, accepted, strict=True) if not ok]
    impossible = 0
    if refused:  # keep the records validate accepts (flagged); impossible ones would raise
        from covid_risk.exceptions import ValidationError
        from covid_risk.validation import validate

        kept = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for d in refused[: args.normal_patients * 3]:
                try:
                    validate(d)
                    kept.append(d)
                except ValidationError:
                    impossible += 1
        refused = kept
    fp = fastpath.fast_predictor(model)
    boosters = list(model.boosters_.values())
    rows = [fp.row(fastpath.parse_patient(d)).reshape(1, -1) for d in clean]
    out: dict[str, Any] = {
        "patients": len(clean),
        "share_refused_by_fast_path": round(sum(not a for a in accepted) / len(accepted), 4),
        "impossible_records_in_refused_sample": impossible,
        "explain_threads": fastpath.EXPLAIN_THREADS,
    }

    def timed(fn, items, repeats=args.repeats) -> dict:
        for item in items[:20]:
            fn(item)  # warm-up: compiled predictor, handles, caches
        return latency_stats(*time_calls(fn, items, repeats))

    out["ours_without_explanation"] = timed(
        lambda p: api.predict_risk(p, model=model, explain=False), clean)
    out["ours_with_top5_factors"] = timed(lambda p: api.predict_risk(p, model=model), clean)
    saved = fastpath.EXPLAIN_THREADS
    try:
        fastpath.EXPLAIN_THREADS = 1
        fp._groups.clear()
        out["ours_with_top5_factors_one_thread"] = timed(
            lambda p: api.predict_risk(p, model=model), clean)
    finally:
        fastpath.EXPLAIN_THREADS = saved
        fp._groups.clear()
    out["helper_thread_used"] = bool(fastpath._idle_core() and fp._split(model.outcomes_)[1])
    _log("fast path timed")
    out["raw_limit_booster_predict"] = timed(
        lambda x: [b.predict(x, raw_score=True, num_threads=1) for b in boosters], rows)
    out["raw_limit_booster_predict_contrib"] = timed(
        lambda x: [b.predict(x, pred_contrib=True, num_threads=1) for b in boosters], rows)
    state = fp._state()
    out["c_floor_single_row_fast_predictor"] = timed(
        lambda x: [fp._raw(state, k, x.ctypes.data) for k in range(len(boosters))], rows)
    _log("raw limits timed")
    sample = clean[: args.normal_patients]
    outcomes = tuple(model.outcomes_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["normal_path_without_explanation"] = timed(
            lambda p: api._predict_one(p, model, "admission", outcomes, False, 5), sample, 1)
        out["normal_path_with_top5_factors"] = timed(
            lambda p: api._predict_one(p, model, "admission", outcomes, True, 5), sample, 1)
        if refused:
            out["refused_records_normal_path"] = timed(
                lambda p: api.predict_risk(p, model=model), refused[: args.normal_patients], 1)
    _log("normal path timed")
    med = {k: v["median_ms"] for k, v in out.items() if isinstance(v, dict)}
    out["ratios"] = {
        "without_explanation_over_raw_limit": ratio(med["ours_without_explanation"],
                                                    med["raw_limit_booster_predict"]),
        "without_explanation_over_c_floor": ratio(med["ours_without_explanation"],
                                                  med["c_floor_single_row_fast_predictor"]),
        "with_factors_over_raw_contrib_limit": ratio(
            med["ours_with_top5_factors"], med["raw_limit_booster_predict_contrib"]),
        "normal_over_fast_without_explanation": ratio(med["normal_path_without_explanation"],
                                                      med["ours_without_explanation"]),
        "normal_over_fast_with_factors": ratio(med["normal_path_with_top5_factors"],
                                               med["ours_with_top5_factors"]),
    }
    return out


def run(args: argparse.Namespace) -> dict:
    """Run the benchmark and return the results."""
    res: dict[str, Any] = {"benchmark": "bench_latency", "machine": machine(),
                           "settings": settings(args)}
    model, origin = bench_model(args.model, quick=args.quick)
    res["model"] = {"origin": origin, **model_facts(model)}
    _log(f"model ready: {origin}")
    res["single_patient"] = single_patient(model, args)

    work = Path(tempfile.mkdtemp(prefix="covid_risk_bench_latency_"))
    path = work / "model.crmodel"
    model.save(path, hmac_key=b"")
    frame = to_score(cohort(args.batch_rows, random_state=SEED_BATCH))
    res["batch"] = throughput(model, frame, args.repeats, "predict")
    _log("batch timed")
    res["shap"] = throughput(model, frame.head(args.shap_rows), args.repeats, "explain")
    _log("SHAP timed")
    # peak memory: each step once in a fresh process
    for key, what, rows in (("batch", "ours", args.batch_rows), ("batch", "raw", args.batch_rows),
                            ("shap", "ours_shap", args.shap_rows),
                            ("shap", "raw_shap", args.shap_rows)):
        child = run_child("benchmarks.bench_latency:batch_child", model_path=str(path),
                          rows=rows, what=what, repeats=1)
        res[key]["peak_increase_mb"][what.split("_")[0]] = child["peak_increase_mb"]
    _log("memory measured")
    res["batch"]["breakdown_seconds"] = _breakdown(model, frame.head(10_000), args.repeats)
    res["cold_start"] = cold_start(args.cold_runs)
    _log("cold start timed")
    res["machine"]["load_average_at_end"] = [round(x, 2) for x in __import__("os").getloadavg()]
    return res


def markdown(res: dict) -> str:
    """A short Markdown section of the results."""
    sp = res["single_patient"]
    m = res["model"]

    def row(label: str, key: str) -> str:
        s = sp.get(key)
        if not s:
            return f"| {label} | n/a | n/a | n/a | |"
        return (f"| {label} | {s['median_ms']:.3f} | {s['p99_ms']:.3f} | "
                f"{s['cpu_median_ms']:.3f} | {s['calls']:,} |")

    lines = [
        "## Latency and throughput against the raw limit",
        "",
        f"Model: {m['origin']}; {m['total_trees']:,} trees over {len(m['outcomes'])} "
        f"outcomes, {m['features']} features. One patient: all outcomes, end to end from a "
        f"dict; {sp['share_refused_by_fast_path']:.1%} of generated records are unusual "
        "(implausible values) and take the normal path.",
        "",
        "| one patient | median (ms) | p99 (ms) | CPU median (ms) | calls |",
        "|---|---|---|---|---|",
        row("predict_risk, no explanation (fast path)", "ours_without_explanation"),
        row("predict_risk, top-5 factors for every outcome", "ours_with_top5_factors"),
        row("... same, explanation on the calling thread only",
            "ours_with_top5_factors_one_thread"),
        row("raw limit: Booster.predict(ready row, num_threads=1), every outcome",
            "raw_limit_booster_predict"),
        row("raw limit with pred_contrib, every outcome", "raw_limit_booster_predict_contrib"),
        row("C floor: LightGBM single-row fast predictor, every outcome",
            "c_floor_single_row_fast_predictor"),
        row("normal path (fast path off), no explanation", "normal_path_without_explanation"),
        row("normal path, top-5 factors", "normal_path_with_top5_factors"),
        row("unusual records (normal path, with warnings)", "refused_records_normal_path"),
        "",
        "Ratios (medians): " + ", ".join(f"{k.replace('_', ' ')} {v}"
                                         for k, v in sp["ratios"].items()) + ". "
        f"Helper thread for explanations used at the end of the run: "
        f"{'yes' if sp['helper_thread_used'] else 'no (no idle core)'}. CPU time counts all "
        "threads of the process; wall time on a busy machine also counts waiting for a core.",
        "",
    ]
    b, s = res["batch"], res["shap"]
    lines += [
        "| batch (timed alternately in one process) | rows | rows/s (median) "
        "| peak memory increase (MiB) |",
        "|---|---|---|---|",
        f"| predict_risk(DataFrame) | {b['rows']:,} | {b['ours_rows_per_second']:,} | "
        f"{b['peak_increase_mb'].get('ours', float('nan')):.0f} |",
        f"| raw limit: Booster.predict(ready matrix, num_threads=1) | {b['rows']:,} | "
        f"{b['raw_rows_per_second']:,} | {b['peak_increase_mb'].get('raw', float('nan')):.0f} |",
        f"| explain(DataFrame), every outcome | {s['rows']:,} | {s['ours_rows_per_second']:,} | "
        f"{s['peak_increase_mb'].get('ours', float('nan')):.0f} |",
        f"| raw limit: pred_contrib, every outcome | {s['rows']:,} | "
        f"{s['raw_rows_per_second']:,} | {s['peak_increase_mb'].get('raw', float('nan')):.0f} |",
        "",
        f"Batch scoring reaches {b['ours_share_of_raw_limit']:.0%} of the raw-limit "
        f"throughput; explanations {s['ours_share_of_raw_limit']:.0%} of raw TreeSHAP. Batch "
        "time by step (s, 10,000 rows): "
        + ", ".join(f"{k} {v}" for k, v in b["breakdown_seconds"].items()) + ".",
    ]
    cold = res.get("cold_start")
    if cold:
        lines += ["", "| cold start: import covid_risk + first predict_risk, bundled model "
                  "| median (s) | of which import (s) | peak memory (MB) | also imported |",
                  "|---|---|---|---|---|"]
        for key, label in (("without_explanation", "no explanation"),
                           ("with_top5_factors", "top-5 factors")):
            c = cold[key]
            extra = ", ".join(k for k, v in c["modules_loaded"].items() if v) or "none of them"
            lines.append(f"| {label} | {c['median_total_seconds']:.3f} | "
                         f"{c['median_import_seconds']:.3f} | {c['median_peak_rss_mb']:.0f} | "
                         f"{extra} |")
        lines.append(f"\nMedian over {cold['runs']} fresh processes each.")
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_latency",
                                description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model file (default: the bundled model)")
    p.add_argument("--patients", type=int, default=1000, help="patients timed one by one")
    p.add_argument("--normal-patients", type=int, default=100,
                   help="patients timed on the (slow) normal path")
    p.add_argument("--batch-rows", type=int, default=50_000)
    p.add_argument("--shap-rows", type=int, default=3_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cold-runs", type=int, default=7,
                   help="fresh processes timed for the cold start")
    p.add_argument("--quick", action="store_true", help="tiny sizes, small model: a smoke run")
    p.add_argument("--out", type=Path, default=None, help="results folder")
    return p


QUICK = {"patients": 60, "normal_patients": 5, "batch_rows": 2000, "shap_rows": 300,
         "repeats": 2, "cold_runs": 1}


def main(argv: list[str] | None = None) -> dict:
    """Run from the command line (or from ``run_all``); write and return the results."""
    args = parser().parse_args(argv)
    apply_quick(args, QUICK)
    return publish("bench_latency", run(args), markdown, args.out)


if __name__ == "__main__":  # pragma: no cover
    main()
