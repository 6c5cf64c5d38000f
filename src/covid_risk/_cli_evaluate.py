"""``covid-risk evaluate``: evaluate a model on a cohort and write reports."""

from __future__ import annotations

import argparse

from covid_risk._cli_common import add_model_options, non_negative_int
from covid_risk._cli_io import CliError, format_table, write_json

DESCRIPTION = """\
Evaluate a model on a cohort (CSV or Parquet with outcome columns): discrimination,
calibration, clinical utility and, on synthetic cohorts, distance to the true
risk, against the clinical-score and logistic baselines. Prints the summary
table; optionally writes an HTML report and the full metrics as JSON."""

EPILOG = """\
examples:
  covid-risk evaluate test.parquet
  covid-risk evaluate --model model.crmodel test.parquet --report report.html
  covid-risk evaluate --model model.crmodel test.parquet --json metrics.json --bootstrap 0"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``evaluate``."""
    parser.add_argument("cohort", metavar="COHORT", help="evaluation cohort, .parquet or .csv")
    add_model_options(parser)
    parser.add_argument("--report", metavar="HTML", help="write an HTML report to this file")
    parser.add_argument("--json", metavar="PATH", help="write every metric as JSON to this file")
    parser.add_argument("--bootstrap", type=non_negative_int, default=200, metavar="N",
                        help="bootstrap resamples for confidence intervals; 0 for none "
                        "(default: 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the summary; write the requested reports."""
    import covid_risk
    from covid_risk._cli_common import load_model
    from covid_risk.progress import stage

    if args.report and not hasattr(covid_risk.Evaluation, "to_html"):
        raise CliError("--report: this version of covid_risk cannot write HTML reports yet")
    model = load_model(args)
    with stage(f"reading {args.cohort}", quiet=args.quiet):
        cohort = covid_risk.load_cohort(args.cohort)
    what = f"evaluating on {len(cohort)} records"
    if args.bootstrap:
        what += f" ({args.bootstrap} bootstrap resamples)"
    with stage(what, quiet=args.quiet):
        evaluation = covid_risk.evaluate(
            model, cohort, n_bootstrap=args.bootstrap, random_state=args.seed
        )
    print(format_table(evaluation.summary))
    if args.json:
        write_json(evaluation.to_dict(), args.json)
        print(f"wrote metrics to {args.json}")
    if args.report:
        with stage(f"writing {args.report}", quiet=args.quiet):
            evaluation.to_html(args.report)
        print(f"wrote report to {args.report}")
    return 0
