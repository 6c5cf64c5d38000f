"""``covid-risk retrain``: retrain on fresh synthetic cohorts in CI and check the quality gates."""

from __future__ import annotations

import argparse

from covid_risk.cli._common import non_negative_int, positive_int
from covid_risk.retraining import DEFAULT_N_BOOTSTRAP, DEFAULT_N_EVAL, DEFAULT_N_TRAIN, retrain
from covid_risk.schema import SETTINGS

__all__ = ["DESCRIPTION", "EPILOG", "add_arguments", "run"]

DESCRIPTION = """\
Retrain in CI: generate a fresh synthetic training cohort and an independent
evaluation cohort, train a model, evaluate it beside the current model on the
same rows, measure drift, and check quality gates (minimum AUROC, calibration
slope and intercept ranges, maximum AUROC loss against the current model,
maximum distance to the true risk). Writes to --out: the model
(model.crmodel, or model.rejected.crmodel when a gate fails), gates.json,
metrics.json, report.html and MODEL_CARD.md.

Exit status: 0 when every gate passed, 3 when a gate failed, 2 for bad
arguments, 1 for an internal error."""

EPILOG = """\
examples:
  covid-risk retrain --scenario wild_type_2020 --seed 1 --out retrain-out
  covid-risk retrain --scenario omicron_2022 --seed 7 --baseline current.crmodel \\
      --config config/retrain_gates.json --out retrain-out --quiet"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``covid-risk retrain``."""
    parser.add_argument("--scenario", default="wild_type_2020",
                        help="generator scenario of both cohorts, e.g. wild_type_2020 (the "
                        "default), alpha_2020, delta_2021, omicron_2022; an unknown name is "
                        "reported with the list")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the run; cohort, model and bootstrap seeds are derived "
                        "from it (default: 0)")
    parser.add_argument("--baseline", metavar="MODEL",
                        help="current model file to compare with on the same evaluation rows")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--config", metavar="JSON",
                        help="gates config (default: the thresholds packaged with covid_risk)")
    parser.add_argument("--setting", choices=SETTINGS, default="admission",
                        help="clinical setting (default: admission)")
    parser.add_argument("--outcomes", metavar="NAME,...",
                        help="comma-separated outcomes (default: every outcome of the setting)")
    parser.add_argument("--n-train", type=positive_int, default=DEFAULT_N_TRAIN, metavar="N",
                        help=f"training cohort size (default: {DEFAULT_N_TRAIN})")
    parser.add_argument("--n-eval", type=positive_int, default=DEFAULT_N_EVAL, metavar="N",
                        help=f"evaluation cohort size (default: {DEFAULT_N_EVAL})")
    parser.add_argument("--n-bootstrap", type=non_negative_int, default=DEFAULT_N_BOOTSTRAP,
                        metavar="N",
                        help=f"bootstrap resamples (default: {DEFAULT_N_BOOTSTRAP})")


def run(args: argparse.Namespace) -> int:
    """Run ``covid-risk retrain`` and return its exit status (0 or 3)."""
    outcomes = None
    if args.outcomes:
        outcomes = tuple(dict.fromkeys(s.strip() for s in args.outcomes.split(",") if s.strip()))
    result = retrain(
        scenario=args.scenario, seed=args.seed, baseline=args.baseline, out=args.out,
        config=args.config, n_train=args.n_train, n_eval=args.n_eval, setting=args.setting,
        outcomes=outcomes, n_bootstrap=args.n_bootstrap, quiet=args.quiet,
    )
    for g in result.gates:
        print(g.describe())
    if result.passed:
        print(f"accepted: all {len(result.gates) - sum(g.passed is None for g in result.gates)} "
              f"gates passed; model written to {result.model_path}")
    else:
        print(f"rejected: {len(result.failed)} gate(s) failed; model written to "
              f"{result.model_path} (not for deployment)")
    return result.exit_code
