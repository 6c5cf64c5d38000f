"""``covid-risk recalibrate``: update a model's calibration on local patients and save it."""

from __future__ import annotations

import argparse
from pathlib import Path

from covid_risk.cli._common import add_model_options, load_model, model_setting, parse_outcomes
from covid_risk.cli._io import CliError, format_table

__all__ = ["DESCRIPTION", "EPILOG", "add_arguments", "run"]

DESCRIPTION = """\
Update a model's calibration on local patients whose outcomes are known (CSV or
Parquet with the predictors and one yes/no column per outcome). The trees are
kept, so the ranking of patients does not change; each outcome's calibration is
updated by intercept only, intercept and slope, or a refit, chosen by the number
of local events (--method auto) or by you. The update, with observed/expected
and calibration slope before and after, is recorded in the saved model file and
its model card. Too few events is an error that says how many are needed."""

EPILOG = """\
examples:
  covid-risk recalibrate local.csv --out local.crmodel
  covid-risk recalibrate --model model.crmodel local.csv --outcomes death --out model2.crmodel
  covid-risk recalibrate --setting community local.parquet --method intercept --out m.crmodel"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``recalibrate``."""
    parser.add_argument("cohort", metavar="LOCAL", help="local patients, .parquet or .csv")
    add_model_options(parser)
    parser.add_argument("--outcomes", metavar="NAME,...",
                        help="comma-separated outcomes to update (default: every outcome of "
                        "the model that the file has a column for)")
    parser.add_argument("--method", choices=("auto", "intercept", "slope", "refit"),
                        default="auto", help="update: intercept only, intercept and slope, "
                        "refit of the calibrator, or chosen by the events (default: auto)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--out", required=True, metavar="PATH", help="model file to write")


def run(args: argparse.Namespace) -> int:
    """Recalibrate, save, and print calibration before and after."""
    import pandas as pd

    import covid_risk
    from covid_risk.cli._common import read_cohort
    from covid_risk.progress import stage

    folder = Path(args.out).resolve().parent
    if not folder.is_dir():
        raise CliError(f"--out: folder {str(folder)!r} does not exist; create it first")
    model = load_model(args)
    setting = model_setting(model, args)
    with stage(f"reading {args.cohort}", quiet=args.quiet):
        cohort = read_cohort(args.cohort)
    outcomes = parse_outcomes(args.outcomes, setting)
    updated = covid_risk.recalibrate(cohort, model=model, outcomes=outcomes, method=args.method,
                                     random_state=args.seed)
    updated.save(args.out)
    record = updated.metadata_["recalibration"][-1]
    rows = []
    for o, v in record["outcomes"].items():
        rows.append({"outcome": o, "method": v["method"], "n": v["n"], "events": v["events"],
                     "O/E before": v["before"]["oe"], "O/E after": v["after"]["oe"],
                     "slope before": v["before"]["slope"], "slope after": v["after"]["slope"]})
    print(f"recalibrated on {record['n']} local patients; saved to {args.out}")
    print(format_table(pd.DataFrame(rows)))
    return 0
