"""``covid-risk evaluate``: evaluate a model on a cohort and write reports."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from covid_risk.cli._common import add_model_options, non_negative_int
from covid_risk.cli._io import CliError, format_table, write_json

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "add_arguments",
    "run",
]

DESCRIPTION = """\
Evaluate a model on a cohort with observed outcomes (CSV or Parquet, e.g. from
'covid-risk cohort' with another seed): discrimination, calibration, clinical
utility, subgroups and, on synthetic cohorts, the distance to the true risk.
Prints the summary table and a comparison with the true risk and any baselines;
optionally writes a self-contained HTML report and every metric as JSON. With
--baselines TRAIN, the clinical-score baselines (and, with --logistic, a
logistic regression) are fitted on TRAIN and compared on the same rows."""

EPILOG = """\
examples:
  covid-risk evaluate test.parquet
  covid-risk evaluate --model model.crmodel test.parquet --report report.html
  covid-risk evaluate --model model.crmodel test.parquet --baselines train.parquet \\
      --json metrics.json --bootstrap 0"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``evaluate``."""
    parser.add_argument("cohort", metavar="COHORT", help="evaluation cohort, .parquet or .csv")
    add_model_options(parser)
    parser.add_argument("--outcomes", metavar="NAME,...",
                        help="evaluate only these outcomes (default: all the model predicts)")
    parser.add_argument("--baselines", metavar="TRAIN",
                        help="fit the clinical-score baselines (4C, CURB-65, NEWS2, qSOFA) "
                        "on this training cohort and compare them on the same rows")
    parser.add_argument("--logistic", action="store_true",
                        help="with --baselines, also fit the logistic-regression baseline "
                        "(much slower)")
    parser.add_argument("--report", metavar="HTML", help="write an HTML report to this file")
    parser.add_argument("--json", metavar="PATH", help="write every metric as JSON to this file")
    # 1000 as covid_risk.evaluate (not imported here: the parser must stay light)
    parser.add_argument("--bootstrap", type=non_negative_int, default=1000, metavar="N",
                        help="bootstrap resamples for confidence intervals; 0 for none "
                        "(default: 1000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def _check_cohort(cohort: Any, outcomes: tuple[str, ...], path: str) -> None:
    if len(cohort) == 0:
        raise CliError(f"{path!r} has no rows; nothing to evaluate")
    missing = [o for o in outcomes if o not in cohort.columns]
    if missing:
        raise CliError(
            f"{path!r} has no column for outcome(s) {', '.join(missing)}; evaluate needs the "
            "observed outcomes (use --outcomes to evaluate fewer)"
        )


COMPARISON_COLUMNS = (
    "auroc", "delta_auroc", "delta_auroc_lower", "delta_auroc_upper", "brier",
    "calibration_slope", "oe_ratio", "mae_true",
)
"""Columns of ``Evaluation.comparison`` printed by ``evaluate``."""


def compact_comparison(evaluation: Any) -> Any:
    """Return the headline columns of the comparison table, or ``None`` if nothing to compare."""
    table = getattr(evaluation, "comparison", None)
    if table is None or len(table) <= len(evaluation.outcomes):
        return None
    columns = [c for c in COMPARISON_COLUMNS if c in table.columns]
    table = table[columns]
    return table.dropna(axis=1, how="all")


IMPORTANCE_ROWS = 2000
"""Most cohort rows used for the report's global importance (SHAP on every row is slow)."""


def write_report(evaluation: Any, path: str, *, model: Any, cohort: Any, seed: int) -> None:
    """Write the HTML report, via ``Evaluation.to_html`` when available."""
    sample = cohort
    if len(cohort) > IMPORTANCE_ROWS:
        sample = cohort.sample(IMPORTANCE_ROWS, random_state=seed)
    to_html = getattr(evaluation, "to_html", None)
    if to_html is not None:
        to_html(path, model=model, cohort=sample)
        return
    from covid_risk.evaluation.report import render_report

    render_report(evaluation, path, model=model, cohort=sample)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the summary; write the requested reports."""
    import covid_risk
    from covid_risk.cli._common import load_model, model_setting, parse_outcomes, read_cohort
    from covid_risk.progress import stage

    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise CliError(f"--json: the folder of {args.json!r} does not exist")
    model = load_model(args)
    setting = model_setting(model, args)
    outcomes = parse_outcomes(args.outcomes, setting) or tuple(model.outcomes_)
    unknown = [o for o in outcomes if o not in model.outcomes_]
    if unknown:
        raise CliError(f"--outcomes: the model does not predict {', '.join(unknown)}; "
                       f"it predicts {', '.join(model.outcomes_)}")
    with stage(f"reading {args.cohort}", quiet=args.quiet):
        cohort = read_cohort(args.cohort)
    _check_cohort(cohort, outcomes, args.cohort)
    baselines = None
    if args.baselines:
        from covid_risk.models import fit_baselines

        with stage(f"fitting baselines on {args.baselines}", quiet=args.quiet):
            train = read_cohort(args.baselines)
            _check_cohort(train, outcomes, args.baselines)
            baselines = fit_baselines(train, setting=setting, outcomes=outcomes,
                                      random_state=args.seed, logistic=args.logistic)
    what = f"evaluating on {len(cohort)} records"
    if args.bootstrap:
        what += f" ({args.bootstrap} bootstrap resamples)"
    with stage(what, quiet=args.quiet):
        evaluation = covid_risk.evaluate(
            model, cohort, outcomes=outcomes, baselines=baselines,
            n_bootstrap=args.bootstrap, random_state=args.seed,
        )
    print(format_table(evaluation.summary))
    comparison = compact_comparison(evaluation)
    if comparison is not None:
        print()
        print("comparison (delta_auroc = predictor minus model):")
        print(format_table(comparison))
    for note in getattr(evaluation, "notes", ()):
        print(f"note: {note}")
    if args.json:
        write_json(evaluation.to_dict(), args.json)
        print(f"wrote metrics to {args.json}")
    if args.report:
        with stage(f"writing {args.report}", quiet=args.quiet):
            write_report(evaluation, args.report, model=model, cohort=cohort, seed=args.seed)
        print(f"wrote report to {args.report}")
    return 0
