"""``covid-risk explain``: the factors behind one patient's predicted risk."""

from __future__ import annotations

import argparse

from covid_risk._cli_common import (
    add_mapping_options,
    add_model_options,
    non_negative_int,
    positive_int,
)
from covid_risk._cli_io import CliError, read_table

DESCRIPTION = """\
Explain the prediction for one row of a CSV or Parquet file: the predicted
probability of the outcome and the factors that pushed it up or down the most,
in percentage points that add up to the probability shown."""

EPILOG = """\
examples:
  covid-risk explain patients.csv --row 0
  covid-risk explain patients.parquet --row 12 --outcome icu --top 8 --model model.crmodel"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``explain``."""
    parser.add_argument("input", metavar="INPUT", help="patients as .csv or .parquet")
    parser.add_argument("--row", type=non_negative_int, default=0, metavar="I",
                        help="zero-based row of the patient to explain (default: 0)")
    parser.add_argument("--outcome", metavar="NAME",
                        help="outcome to explain (default: death)")
    parser.add_argument("--top", type=positive_int, default=5, metavar="K",
                        help="how many factors to show (default: 5)")
    add_model_options(parser)
    add_mapping_options(parser)


def run(args: argparse.Namespace) -> int:
    """Explain one row and print its top factors."""
    import covid_risk
    from covid_risk._cli_common import load_model, model_setting, validate_frame

    df = read_table(args.input)
    if args.row >= len(df):
        raise CliError(f"--row {args.row} is out of range: {args.input!r} has {len(df)} rows "
                       f"(0 to {len(df) - 1})")
    records = validate_frame(df.iloc[[args.row]].reset_index(drop=True), args)
    model = load_model(args)
    setting = model_setting(model, args)
    outcome = args.outcome or "death"
    explanation = covid_risk.explain(records, model=model, outcome=outcome)
    print(f"row {args.row} ({setting}), outcome {outcome}:")
    print(explanation)
    return 0
