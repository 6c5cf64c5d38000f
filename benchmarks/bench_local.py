"""Local data: recalibrating the bundled model, and training on a few hundred patients.

Two measurements, both on synthetic cohorts whose true risk is known:

* **Recalibration.** A local population whose outcomes follow
  ``Bernoulli(expit(a + b * logit(true_risk)))`` for ``a`` in {-1, 0, 1.5} and ``b``
  in {0.6, 1, 1.4} -- a different outcome rate and a different spread of risk than
  the bundled model was trained for. :func:`covid_risk.recalibrate` (``method="auto"``)
  is fitted on ``--n-local`` local patients (and, for the community, also on
  ``--n-local-community``: 300 community patients have about 13 hospitalisations) and
  the result tested on ``--n-test`` patients of the same population:
  observed/expected (O/E), calibration slope and AUROC before and after, median and
  range over ``--reps`` local samples. Admission (death) and community
  (hospitalisation) settings. Targets: O/E 0.90-1.10, slope
  0.85-1.15, AUROC within 0.002 of before.
* **Small cohorts.** :func:`covid_risk.train` with its defaults on 200 to 2,000
  admitted patients (``--seeds`` training cohorts each) against a spline logistic
  regression fitted on the same rows and the clinical scores, on one fresh test
  cohort (death). Targets: median AUROC >= logistic - 0.01 and >= the best clinical
  score's; median calibration slope 0.8-1.2; never a constant model.

Results go to ``benchmarks/results/bench_local.json`` and ``bench_local.md``.

Usage::

    python -m benchmarks.bench_local            # full sizes (several minutes)
    python -m benchmarks.bench_local --quick    # tiny smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any

import numpy as np

from benchmarks._common import apply_quick, machine, publish, settings

INTERCEPTS = (-1.0, 0.0, 1.5)
SLOPES = (0.6, 1.0, 1.4)
SETTING_OUTCOME = {"admission": "death", "community": "hospitalisation"}
SIZES = (200, 300, 500, 1000, 2000)
SCORES = ("4c_mortality", "curb65", "news2", "qsofa")
TEST_SEED = 9001


def _draw(risk: np.ndarray, a: float, b: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.special import expit, logit

    return rng.random(risk.size) < expit(a + b * logit(np.clip(risk, 1e-9, 1 - 1e-9)))


def _figures(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from covid_risk.metrics import calibration_slope, observed_expected_ratio, roc_auc

    return {"oe": round(observed_expected_ratio(y, p), 4),
            "slope": round(calibration_slope(y, p), 4), "auroc": round(roc_auc(y, p), 4)}


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": round(float(np.median(values)), 4), "min": round(float(min(values)), 4),
            "max": round(float(max(values)), 4)}


def recalibration(args: argparse.Namespace) -> dict:
    """The 3 x 3 grid of miscalibration, per setting and local sample size.

    Death and hospitalisation are never raised by the coherence rules, so their
    probability is the calibrator applied to the booster's raw score: the test
    cohort's raw scores are computed once and each updated calibrator applied to them.
    """
    import covid_risk as cr
    from covid_risk.models._recalibrate import RecalibrationError

    out: dict[str, Any] = {}
    for setting, outcome in SETTING_OUTCOME.items():
        model = cr.default_model(setting)
        test = cr.make_cohort(args.n_test, setting=setting, random_state=TEST_SEED)
        raw = model.compile().raw(model.model_matrix(test).to_numpy(dtype="float64"),
                                  (outcome,))[outcome]
        p_before = model.calibrators_[outcome].transform(raw)
        risk_test = test[f"true_risk_{outcome}"].to_numpy()
        sizes = [args.n_local] + ([args.n_local_community] if setting == "community"
                                  and args.n_local_community else [])
        for n_local in sizes:
            locals_ = [cr.make_cohort(n_local, setting=setting, random_state=TEST_SEED + 1 + r)
                       for r in range(args.reps)]
            cells = []
            for a in INTERCEPTS:
                for b in SLOPES:
                    print(f"recalibration {setting} n={n_local} a={a} b={b}", file=sys.stderr,
                          flush=True)
                    rng = np.random.default_rng([int(10 * a) + 100, int(10 * b), n_local])
                    y_test = _draw(risk_test, a, b, rng)
                    before = _figures(y_test, p_before)
                    runs, methods, refused = [], [], []
                    for local in locals_:
                        local = local.copy()
                        local[outcome] = _draw(local[f"true_risk_{outcome}"].to_numpy(), a, b,
                                               rng)
                        try:
                            updated = cr.recalibrate(local, model=model, outcomes=[outcome],
                                                     random_state=0)
                        except RecalibrationError:
                            refused.append(int(local[outcome].sum()))
                            continue
                        rec = updated.metadata_["recalibration"][-1]["outcomes"][outcome]
                        methods.append(rec["method"])
                        p_after = updated.calibrators_[outcome].transform(raw)
                        runs.append({**_figures(y_test, p_after), "events": rec["events"]})
                    cell: dict[str, Any] = {"a": a, "b": b, "before": before,
                                            "methods": {m: methods.count(m)
                                                        for m in sorted(set(methods))},
                                            "refused": len(refused)}
                    if runs:
                        cell["after"] = {k: _summary([r[k] for r in runs])
                                         for k in ("oe", "slope", "auroc", "events")}
                        cell["auroc_change_max"] = round(max(abs(r["auroc"] - before["auroc"])
                                                             for r in runs), 4)
                        med = cell["after"]
                        cell["meets_targets"] = bool(
                            0.9 <= med["oe"]["median"] <= 1.1
                            and 0.85 <= med["slope"]["median"] <= 1.15
                            and cell["auroc_change_max"] <= 0.002 and not refused)
                    cells.append(cell)
            out[f"{setting} n={n_local}"] = {"setting": setting, "outcome": outcome,
                                             "n_local": n_local, "cells": cells}
    return out


def small_cohorts(args: argparse.Namespace) -> dict:
    """Default training on small admitted cohorts vs logistic regression and clinical scores."""
    import covid_risk as cr
    from covid_risk.models import ClinicalScoreBaseline, LogisticBaseline

    outcome = "death"
    test = cr.make_cohort(args.n_test, random_state=TEST_SEED + 100)
    y = test[outcome].to_numpy()
    rows = []
    for n in args.sizes:
        runs = []
        for seed in range(args.seeds):
            print(f"small cohort n={n} seed={seed}", file=sys.stderr, flush=True)
            train = cr.make_cohort(n, random_state=TEST_SEED + 200 + 10 * seed + n)
            t = time.perf_counter()
            try:
                model = cr.train(train, outcomes=[outcome], random_state=seed)
            except ValueError as exc:
                runs.append({"error": str(exc)[:200]})
                continue
            seconds = time.perf_counter() - t
            p = model.predict_proba(test, outcome).to_numpy()
            lr = LogisticBaseline(outcomes=[outcome]).fit(train).predict_proba(test, outcome)
            scores = {s: _figures(y, ClinicalScoreBaseline(s, outcomes=[outcome]).fit(train)
                                  .predict_proba(test, outcome).to_numpy())["auroc"]
                      for s in SCORES}
            runs.append({**_figures(y, p), "logistic_auroc": _figures(y, lr.to_numpy())["auroc"],
                         "logistic_slope": _figures(y, lr.to_numpy())["slope"],
                         "best_score_auroc": max(scores.values()),
                         "best_score": max(scores, key=lambda k: scores[k]),
                         "constant": bool(np.ptp(p) < 1e-9), "seconds": round(seconds, 2),
                         "regime": "small" if "small_cohort" in model.metadata_ else "default",
                         "adequate": bool(model.metadata_.get("sample_size", {})
                                          .get(outcome, {}).get("adequate", True))})
        ok = [r for r in runs if "error" not in r]
        row: dict[str, Any] = {"n": n, "runs": runs, "errors": len(runs) - len(ok)}
        if ok:
            med = {k: round(float(np.median([r[k] for r in ok])), 4)
                   for k in ("auroc", "slope", "oe", "logistic_auroc", "logistic_slope",
                             "best_score_auroc", "seconds")}
            row["median"] = med
            row["constant_models"] = sum(r["constant"] for r in ok)
            row["meets_targets"] = bool(
                med["auroc"] >= med["logistic_auroc"] - 0.01
                and med["auroc"] >= med["best_score_auroc"]
                and 0.8 <= med["slope"] <= 1.2 and row["constant_models"] == 0
                and row["errors"] == 0)
        rows.append(row)
    return {"outcome": outcome, "rows": rows}


def run(args: argparse.Namespace) -> dict:
    """Run both measurements."""
    res: dict[str, Any] = {"machine": machine(), "settings": settings(args)}
    res["recalibration"] = recalibration(args)
    res["small_cohorts"] = small_cohorts(args)
    return res


def markdown(res: dict) -> str:
    """The results as Markdown: one table per measurement."""
    s = res["settings"]
    lines = [
        "# Local data: recalibration and small cohorts",
        "",
        f"## Recalibration on local patients (test: {s['n_test']:,})",
        "",
        "Local outcomes ~ Bernoulli(expit(a + b * logit(true risk))); bundled model updated by "
        f"covid_risk.recalibrate(method='auto'); median (range) over {s['reps']} local samples. "
        "Targets: O/E 0.90-1.10, slope 0.85-1.15, AUROC change <= 0.002.",
        "",
        "| setting (outcome), local n | a | b | O/E before | O/E after | slope before "
        "| slope after | max AUROC change | method (runs) | refused | meets |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def rng(d: dict, fmt: str = ".2f") -> str:
        return f"{d['median']:{fmt}} ({d['min']:{fmt}}-{d['max']:{fmt}})"

    for block in res["recalibration"].values():
        for c in block["cells"]:
            after = c.get("after")
            methods = ", ".join(f"{m} {k}" for m, k in sorted(c["methods"].items())) or "-"
            lines.append(
                f"| {block['setting']} ({block['outcome']}), {block['n_local']:,} | "
                f"{c['a']:g} | {c['b']:g} | "
                f"{c['before']['oe']:.2f} | {rng(after['oe']) if after else '-'} | "
                f"{c['before']['slope']:.2f} | {rng(after['slope']) if after else '-'} | "
                f"{c['auroc_change_max'] if after else '-'} | {methods} | {c['refused']} | "
                f"{'yes' if c.get('meets_targets') else 'no'} |")
    small = res["small_cohorts"]
    lines += [
        "",
        f"## Training on small admitted cohorts ({small['outcome']}; test: {s['n_test']:,})",
        "",
        f"Default covid_risk.train; median over {s['seeds']} training cohorts. Targets: AUROC >= "
        "logistic - 0.01 and >= best clinical score; slope 0.8-1.2; no constant model.",
        "",
        "| patients | regime | AUROC | logistic AUROC | best score AUROC | slope | O/E "
        "| constant | errors | seconds | meets |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in small["rows"]:
        m = r.get("median")
        if not m:
            lines.append(f"| {r['n']} | | | | | | | | {r['errors']} | | no |")
            continue
        regime = ",".join(sorted({x['regime'] for x in r['runs'] if 'regime' in x}))
        lines.append(
            f"| {r['n']:,} | {regime} | {m['auroc']:.3f} | {m['logistic_auroc']:.3f} | "
            f"{m['best_score_auroc']:.3f} | {m['slope']:.2f} | {m['oe']:.2f} | "
            f"{r['constant_models']} | {r['errors']} | {m['seconds']:.1f} | "
            f"{'yes' if r['meets_targets'] else 'no'} |")
    lines.append("")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_local",
                                description=__doc__.split("\n")[0])
    p.add_argument("--n-local", type=int, default=300, help="local patients to recalibrate on")
    p.add_argument("--n-test", type=int, default=20_000, help="test patients")
    p.add_argument("--n-local-community", type=int, default=2000,
                   help="a second, larger community local sample (0: none); 300 community "
                   "patients have about 13 hospitalisations")
    p.add_argument("--reps", type=int, default=20, help="local samples per recalibration cell")
    p.add_argument("--seeds", type=int, default=5, help="training cohorts per size")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="training sizes")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repetition")
    p.add_argument("--out", default=None, help="results folder")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Entry point: run, write JSON and Markdown, print the Markdown."""
    args = parser().parse_args(argv)
    apply_quick(args, {"n_test": 2000, "reps": 1, "seeds": 1, "sizes": [300],
                       "n_local_community": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(args)
    return publish("bench_local", res, markdown, args.out, markdown_file=True)


if __name__ == "__main__":
    main()
