"""``covid-risk scores``: clinical risk scores for every row of a file."""

from __future__ import annotations

import argparse
import sys

from covid_risk.cli._common import add_mapping_options, shift_rows, validate_frame
from covid_risk.cli._io import CliError, TableWriter, iter_table, table_format

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "add_arguments",
    "run",
]

DESCRIPTION = """\
Compute the published clinical scores for every patient in a CSV or Parquet
file: ISARIC 4C Mortality, CURB-65, NEWS2, qSOFA (totals; empty where an input
is missing) and the 4C Deterioration linear predictor. Writes them to --out
(CSV or Parquet by extension) or as CSV to standard output."""

EPILOG = """\
examples:
  covid-risk scores admissions.parquet --out scores.csv
  covid-risk scores admissions.csv --id patient_id > scores.csv
  covid-risk scores us_labs.csv --units urea=mg/dL --columns "Resp rate=respiratory_rate\""""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``scores``."""
    parser.add_argument("input", metavar="INPUT", help="patients as .csv or .parquet")
    parser.add_argument("--out", metavar="PATH",
                        help="write the scores to this .csv or .parquet file (default: CSV on "
                        "standard output)")
    parser.add_argument("--id", metavar="COLUMN", dest="id_column",
                        help="copy this input column (e.g. a patient identifier) to the output "
                        "(default: patient_id when the file has one)")
    add_mapping_options(parser)


def run(args: argparse.Namespace) -> int:
    """Validate the file chunk by chunk and write its scores."""
    from covid_risk.exceptions import ValidationError
    from covid_risk.features import score_table
    from covid_risk.progress import Progress

    table_format(args.input)
    if args.out:
        table_format(args.out)
    target = args.out if args.out else sys.stdout
    rows = 0
    with Progress(None, desc="rows scored", quiet=args.quiet) as bar, TableWriter(target) as out:
        for chunk in iter_table(args.input):
            if args.id_column is None and "patient_id" in chunk.columns:
                args.id_column = "patient_id"
            if args.id_column is not None and args.id_column not in chunk.columns:
                raise CliError(f"--id: column {args.id_column!r} is not in {args.input!r}; "
                               f"its columns are {', '.join(map(str, chunk.columns))}")
            try:
                canonical = validate_frame(chunk, args, id_column=args.id_column)
            except ValidationError as exc:
                raise shift_rows(exc, rows) from None
            scores = score_table(canonical).reset_index(drop=True)
            if args.id_column is not None:
                scores.insert(0, args.id_column, chunk[args.id_column].to_numpy())
            out.write(scores)
            rows += len(chunk)
            bar.update(len(chunk))
    if args.out:
        print(f"wrote clinical scores for {rows} patients to {args.out}")
    return 0
