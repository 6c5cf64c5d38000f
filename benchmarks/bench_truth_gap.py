"""How far a trained model can get to the generator's true risk, and what stands in the way.

The models issue asks, on 50,000 training and 50,000 test patients, for a mean
absolute error (MAE) to the true death risk below 0.02, a calibration slope within
0.95-1.05 and intercept within +-0.05 for every outcome, and a VTE AUROC near its
ceiling. ``true_risk_<outcome>`` is the exact probability given the *full* record as
generated -- before measurement noise, rounding and missingness -- so part of the
distance cannot be learned from what is recorded. This benchmark measures the parts:

* **baseline**: the default LightGBM model and the spline logistic regression (the
  right model class for the generator's additive death probit) on the standard
  cohorts (training seed 1001, test seed 2002);
* **training-seed spread**: the default model trained on five cohorts of the same
  size (seeds 1001-1005) and scored on the same test cohort -- how much of a single
  run's slope, intercept and MAE is chance;
* **more data**: four times the training patients (the estimation part of the MAE);
* **nothing missing**: training and test cohorts drawn with ``missingness=False``
  (what the missing labs cost: the rest is noise, rounding and estimation);
* **the truth itself**: calibration slope and intercept of ``true_risk_vte`` on the
  test cohort -- the sampling noise any model's figures carry on 50,000 patients.

Results go to ``benchmarks/results/bench_truth_gap.json`` and ``bench_truth_gap.md``.

Usage::

    python -m benchmarks.bench_truth_gap            # 50,000 / 50,000 (about 3 minutes)
    python -m benchmarks.bench_truth_gap --quick    # tiny smoke run
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from typing import Any

import numpy as np

from benchmarks._common import FAST_TRAINING, apply_quick, machine, publish, settings

TRAIN_SEEDS = (1001, 1002, 1003, 1004, 1005)
TEST_SEED = 2002
OUTCOMES = ("death", "vte")


def _cohort(n: int, seed: int, missingness: bool = True) -> Any:
    from covid_risk import make_cohort

    return make_cohort(n, random_state=seed, missingness=missingness)


def _figures(p_death: np.ndarray, p_vte: np.ndarray | None, test: Any) -> dict[str, float]:
    """Death MAE to the truth and log loss; VTE AUROC, ceiling, slope and intercept."""
    from covid_risk.metrics import (
        calibration_intercept,
        calibration_slope,
        log_loss,
        roc_auc,
    )

    y = test["death"].astype("float64").to_numpy()
    out = {
        "death_mae_true": float(np.mean(np.abs(p_death - test["true_risk_death"].to_numpy()))),
        "death_log_loss": log_loss(y, p_death),
    }
    if p_vte is not None:
        v = test["vte"].astype("float64").to_numpy()
        out.update(vte_auroc=roc_auc(v, p_vte), vte_ceiling=roc_auc(v, test["true_risk_vte"]),
                   vte_slope=calibration_slope(v, p_vte),
                   vte_intercept=calibration_intercept(v, p_vte))
    return {k: round(float(x), 4) for k, x in out.items()}


def _lightgbm(train: Any, test: Any, options: dict) -> dict[str, float]:
    from covid_risk import train as fit

    t = time.perf_counter()
    model = fit(train, outcomes=list(OUTCOMES), random_state=0, **options)
    p = model.predict_proba(test)
    out = _figures(p["death"].to_numpy(), p["vte"].to_numpy(), test)
    out["seconds"] = round(time.perf_counter() - t, 1)
    return out


def run(args: argparse.Namespace) -> dict:
    """Run every measurement and return the results."""
    from covid_risk.metrics import calibration_intercept, calibration_slope
    from covid_risk.models import LogisticBaseline

    options = FAST_TRAINING if args.quick else {}
    n, n_test = args.n_train, args.n_test
    test = _cohort(n_test, TEST_SEED)
    res: dict[str, Any] = {"machine": machine(), "settings": settings(args)}

    print("baseline and training-seed spread", file=sys.stderr, flush=True)
    seeds = TRAIN_SEEDS[: args.seeds]
    runs = {seed: _lightgbm(_cohort(n, seed), test, options) for seed in seeds}
    res["lightgbm_by_training_seed"] = {str(s): r for s, r in runs.items()}
    res["spread"] = {
        key: {"median": round(float(np.median([r[key] for r in runs.values()])), 4),
              "min": min(r[key] for r in runs.values()),
              "max": max(r[key] for r in runs.values())}
        for key in runs[seeds[0]] if key != "seconds"
    }

    print("logistic regression (death)", file=sys.stderr, flush=True)
    lr = LogisticBaseline(outcomes=["death"]).fit(_cohort(n, seeds[0]))
    res["logistic_regression"] = _figures(lr.predict_proba(test)["death"].to_numpy(), None, test)

    print("four times the training patients", file=sys.stderr, flush=True)
    res["more_data"] = {"n_train": 4 * n,
                        **_lightgbm(_cohort(4 * n, seeds[0]), test, options)}

    print("nothing missing", file=sys.stderr, flush=True)
    res["nothing_missing"] = _lightgbm(_cohort(n, seeds[0], missingness=False),
                                       _cohort(n_test, TEST_SEED, missingness=False), options)

    v = test["vte"].astype("float64").to_numpy()
    res["truth_vte"] = {"slope": round(calibration_slope(v, test["true_risk_vte"]), 4),
                        "intercept": round(calibration_intercept(v, test["true_risk_vte"]), 4)}
    res["missing_share"] = {c: round(float(test[c].isna().mean()), 3)
                            for c in ("d_dimer", "ldh", "troponin", "crp", "urea", "lymphocytes")}
    return res


def markdown(res: dict) -> str:
    """The results as a Markdown section."""
    s = res["settings"]
    base = res["lightgbm_by_training_seed"][str(TRAIN_SEEDS[0])]
    spread = res["spread"]
    lines = [
        "# Distance to the true risk: what limits it",
        "",
        f"{s['n_train']:,} training and {s['n_test']:,} test admitted patients (test seed "
        f"{TEST_SEED}); default settings; LightGBM trained on death and VTE.",
        "",
        "| measurement | death MAE to truth | death log loss | VTE AUROC / ceiling "
        "| VTE slope | VTE intercept |",
        "|---|---|---|---|---|---|",
        f"| LightGBM, training seed {TRAIN_SEEDS[0]} | {base['death_mae_true']:.4f} | "
        f"{base['death_log_loss']:.4f} | {base['vte_auroc']:.3f} / {base['vte_ceiling']:.3f} | "
        f"{base['vte_slope']:.3f} | {base['vte_intercept']:.3f} |",
    ]

    def rng(key: str, fmt: str) -> str:
        r = spread[key]
        return f"{r['median']:{fmt}} ({r['min']:{fmt}}-{r['max']:{fmt}})"

    lr = res["logistic_regression"]
    more, full = res["more_data"], res["nothing_missing"]
    lines += [
        f"| LightGBM, {len(res['lightgbm_by_training_seed'])} training seeds: median (range) | "
        f"{rng('death_mae_true', '.4f')} | {rng('death_log_loss', '.4f')} | "
        f"{rng('vte_auroc', '.3f')} | {rng('vte_slope', '.3f')} | {rng('vte_intercept', '.3f')} |",
        f"| spline logistic regression | {lr['death_mae_true']:.4f} | "
        f"{lr['death_log_loss']:.4f} | | | |",
        f"| LightGBM, {more['n_train']:,} training patients | {more['death_mae_true']:.4f} | "
        f"{more['death_log_loss']:.4f} | {more['vte_auroc']:.3f} / {more['vte_ceiling']:.3f} | "
        f"{more['vte_slope']:.3f} | {more['vte_intercept']:.3f} |",
        f"| LightGBM, nothing missing (train and test) | {full['death_mae_true']:.4f} | "
        f"{full['death_log_loss']:.4f} | {full['vte_auroc']:.3f} / {full['vte_ceiling']:.3f} | "
        f"{full['vte_slope']:.3f} | {full['vte_intercept']:.3f} |",
        f"| the true risk itself | 0 | | {base['vte_ceiling']:.3f} | "
        f"{res['truth_vte']['slope']:.3f} | {res['truth_vte']['intercept']:.3f} |",
        "",
        "Missing on the test cohort: " + ", ".join(
            f"{k} {v:.0%}" for k, v in res["missing_share"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_truth_gap",
                                description=__doc__.split("\n")[0])
    p.add_argument("--n-train", type=int, default=50_000)
    p.add_argument("--n-test", type=int, default=50_000)
    p.add_argument("--seeds", type=int, default=len(TRAIN_SEEDS), choices=range(1, 6),
                   help="training cohorts for the spread (1-5)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, fast settings")
    p.add_argument("--out", default=None, help="results folder")
    return p


def main(argv: list[str] | None = None) -> dict:
    """Entry point: run, write JSON and Markdown, print the Markdown."""
    args = parser().parse_args(argv)
    apply_quick(args, {"n_train": 3000, "n_test": 3000, "seeds": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run(args)
    return publish("bench_truth_gap", res, markdown, args.out, markdown_file=True)


if __name__ == "__main__":
    main()
