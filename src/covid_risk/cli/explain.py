"""``covid-risk explain``: the factors behind one patient's predicted risk."""

from __future__ import annotations

import argparse
from typing import Any

from covid_risk.cli._common import (
    add_mapping_options,
    add_model_options,
    non_negative_int,
    positive_int,
)
from covid_risk.cli._io import CliError, read_table

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "add_arguments",
    "run",
]

DESCRIPTION = """\
Explain the prediction for one row of a CSV or Parquet file: the predicted
probability of the outcome, the baseline risk of a patient the model knows
nothing about, and the factors that pushed this patient's risk up or down the
most, in percentage points (all the factors together add up exactly to the
difference between the prediction and the baseline)."""

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
                        help="outcome to explain (default: the model's first, usually death)")
    parser.add_argument("--top", type=positive_int, default=5, metavar="K",
                        help="show up to K factors raising and K lowering the risk (default: 5)")
    parser.add_argument("--id", metavar="COLUMN", dest="id_column",
                        help="input column identifying the patient, shown in the output "
                        "(default: patient_id when the file has one)")
    add_model_options(parser)
    add_mapping_options(parser)


def format_factors(explanation: Any, *, row_label: str, top: int) -> str:
    """Return the text ``explain`` prints for the first patient of ``explanation``."""
    table = explanation.factors(0, top=top)
    p = float(explanation.probability[0])
    base = float(explanation.baseline_probability)
    lines = [
        f"{row_label}: predicted {explanation.outcome} risk {p:.1%} "
        f"(baseline {base:.1%}, {explanation.model_name})",
    ]
    if len(table) == 0:
        lines.append("  no factor moved the risk away from the baseline")
    for direction in ("raises", "lowers"):
        part = table[table["direction"] == direction]
        if len(part) == 0:
            continue
        lines.append(f"  factors that {'raise' if direction == 'raises' else 'lower'} the risk:")
        for factor, pp in zip(part["factor"], part["percentage_points"], strict=True):
            lines.append(f"    {pp:+6.1f} pp  {factor}")
    note = table.attrs.get("note", "")
    if note:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Explain one row and print its top factors."""
    from covid_risk.cli._common import load_model, public, validate_frame

    df = read_table(args.input)
    if args.row >= len(df):
        last = f" (0 to {len(df) - 1})" if len(df) else ""
        raise CliError(f"--row {args.row} is out of range: {args.input!r} has {len(df)} "
                       f"row(s){last}")
    id_column = args.id_column
    if id_column is None and "patient_id" in df.columns:
        id_column = "patient_id"
    if id_column is not None and id_column not in df.columns:
        raise CliError(f"--id: column {id_column!r} is not in {args.input!r}; "
                       f"its columns are {', '.join(map(str, df.columns))}")
    records = validate_frame(df.iloc[[args.row]], args, id_column=id_column)
    label = f"row {args.row} of {args.input}"
    if id_column is not None:
        label = f"patient {records.index[0]} ({label})"
    model = load_model(args)
    outcomes = tuple(getattr(model, "outcomes_", ()) or ())
    outcome = args.outcome or (outcomes[0] if outcomes else "death")
    if outcomes and outcome not in outcomes:
        raise CliError(f"--outcome: {outcome!r} is not predicted by this model; choose one of "
                       f"{', '.join(outcomes)}")
    explanation = public("explain")(records, model=model, outcome=outcome)
    print(format_factors(explanation, row_label=label, top=args.top))
    return 0
