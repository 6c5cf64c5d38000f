"""``covid-risk train``: train a risk model on a cohort and save it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from covid_risk.cli._common import parse_outcomes, positive_float, positive_int
from covid_risk.cli._io import CliError, format_table
from covid_risk.schema import SETTING_OUTCOMES, SETTINGS

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "add_arguments",
    "run",
]

DESCRIPTION = """\
Train one calibrated LightGBM model per outcome on a cohort (CSV or Parquet,
for example one written by 'covid-risk cohort') and save them as a single
model file. No pickle is used: the file holds text models, JSON calibrators and
a manifest with checksums. Prints the metrics measured on the rows held out
from fitting."""

EPILOG = """\
examples:
  covid-risk train cohort.parquet --out model.crmodel
  covid-risk train cohort.parquet --setting admission --outcomes death,icu --seed 0 \\
      --out model.crmodel
  covid-risk train community.csv --setting community --out community.crmodel --quiet"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``train``."""
    parser.add_argument("cohort", metavar="COHORT", help="training cohort, .parquet or .csv")
    parser.add_argument("--setting", choices=SETTINGS, default=None,
                        help="clinical setting the model is for (default: the setting the "
                        "cohort was generated for, else admission)")
    parser.add_argument("--outcomes", metavar="NAME,...",
                        help="comma-separated outcomes to model (default: every outcome of "
                        "the setting that the cohort has a column for)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--n-estimators", type=positive_int, metavar="N",
                        help="most boosting rounds per outcome (default: the library's, "
                        "with early stopping)")
    parser.add_argument("--learning-rate", type=positive_float, metavar="RATE",
                        help="boosting learning rate (default: the library's)")
    parser.add_argument("--out", required=True, metavar="PATH",
                        help="model file to write (conventionally .crmodel)")


def held_out_table(model: Any) -> Any:
    """Return the model's held-out metrics as a DataFrame, or ``None`` if it has none."""
    import pandas as pd

    for name in ("held_out_", "validation_", "metrics_", "held_out_metrics_"):
        value = getattr(model, name, None)
        if value is None:
            continue
        value = getattr(value, "summary", value)
        if isinstance(value, pd.DataFrame):
            return value
        if isinstance(value, dict):
            return pd.DataFrame(value).T if all(
                isinstance(v, dict) for v in value.values()
            ) else pd.DataFrame([value])
    return None


def run(args: argparse.Namespace) -> int:
    """Load the cohort, train, save and print held-out metrics."""
    import covid_risk
    from covid_risk.cli._common import read_cohort
    from covid_risk.progress import stage

    folder = Path(args.out).resolve().parent
    if not folder.is_dir():
        raise CliError(f"--out: folder {str(folder)!r} does not exist; create it first")
    with stage(f"reading {args.cohort}", quiet=args.quiet):
        cohort = read_cohort(args.cohort)
    generated_for = cohort.attrs.get("setting")
    if args.setting is None:
        args.setting = generated_for if generated_for in SETTINGS else "admission"
    elif generated_for in SETTINGS and generated_for != args.setting:
        raise CliError(
            f"--setting {args.setting}: {args.cohort!r} is a {generated_for} cohort; train a "
            f"{generated_for} model (--setting {generated_for}) or give a cohort of the "
            f"{args.setting} setting"
        )
    outcomes = parse_outcomes(args.outcomes, args.setting)
    available = tuple(o for o in SETTING_OUTCOMES[args.setting] if o in cohort.columns)
    if outcomes is None:
        if not available:
            raise CliError(
                f"{args.cohort!r} has no outcome column of the {args.setting} setting "
                f"({', '.join(SETTING_OUTCOMES[args.setting])}); train needs at least one"
            )
        outcomes = available
    missing = [o for o in outcomes if o not in cohort.columns]
    if missing:
        raise CliError(f"--outcomes: {args.cohort!r} has no column {', '.join(map(repr, missing))}")
    options = {}
    if args.n_estimators is not None:
        options["n_estimators"] = args.n_estimators
    if args.learning_rate is not None:
        options["learning_rate"] = args.learning_rate
    with stage(f"training on {len(cohort)} records", quiet=args.quiet):
        model = covid_risk.train(
            cohort, setting=args.setting, outcomes=outcomes, random_state=args.seed, **options
        )
    model.save(args.out)
    trained = getattr(model, "outcomes_", None) or outcomes or ()
    print(f"trained a model ({args.setting} setting) for {', '.join(trained)} on "
          f"{len(cohort)} records; saved to {args.out}")
    table = held_out_table(model)
    if table is not None:
        print("held-out metrics:")
        print(format_table(table))
    return 0
