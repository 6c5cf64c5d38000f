"""``covid-risk predict``: predict risks for a file or for JSON patients on stdin."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from covid_risk.cli._common import (
    DEFAULT_SETTING,
    add_mapping_options,
    add_model_options,
    parse_columns,
    parse_outcomes,
    parse_units,
    positive_int,
    shift_rows,
)
from covid_risk.cli._io import CliError, TableWriter, iter_table, read_json, table_format

__all__ = [
    "DESCRIPTION",
    "EPILOG",
    "add_arguments",
    "run",
]

DESCRIPTION = """\
Predict the risk of each complication.

With a CSV or Parquet file, writes one row of probabilities per input row to
--out (CSV or Parquet by extension) or as CSV to standard output. With '-' or no
INPUT, reads one JSON patient (an object) or a JSON list of patients from
standard input and prints the full result as JSON: probability and risk band per
outcome and, with --explain, the factors that drove it."""

EPILOG = """\
examples:
  covid-risk predict patients.csv --out risks.parquet
  covid-risk predict patients.parquet --model model.crmodel --id patient_id --out risks.csv
  covid-risk predict us_labs.csv --units urea=mg/dL,creatinine=mg/dL \\
      --columns "Age (years)=age,Sex=sex" --out risks.csv
  echo '{"age": 81, "sex": "male", "urea": 9.1, "spo2": 91}' | covid-risk predict --explain
  covid-risk predict - < patients.json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``predict``."""
    parser.add_argument("input", nargs="?", default="-", metavar="INPUT",
                        help="patients as .csv or .parquet; '-' or nothing reads JSON from "
                        "standard input")
    parser.add_argument("--out", metavar="PATH",
                        help="write predictions to this .csv or .parquet file (default: CSV "
                        "on standard output); not used with JSON input")
    add_model_options(parser)
    parser.add_argument("--outcomes", metavar="NAME,...",
                        help="only these outcomes (default: every outcome of the model)")
    parser.add_argument("--explain", action="store_true",
                        help="also give the factors behind each prediction")
    parser.add_argument("--top", type=positive_int, default=5, metavar="K",
                        help="how many factors to give with --explain (default: 5)")
    parser.add_argument("--id", metavar="COLUMN", dest="id_column",
                        help="copy this input column (e.g. a patient identifier) to the output "
                        "(default: patient_id when the file has one)")
    parser.add_argument("--no-spreadsheet-safe", dest="spreadsheet_safe",
                        action="store_false",
                        help="write CSV text exactly as read; by default a text cell starting "
                        "with =, +, -, @, a tab or a carriage return gets a leading ' so that "
                        "spreadsheets do not run it as a formula (CSV injection)")
    add_mapping_options(parser)


class _Predictor:
    """Holds the model and options so each input chunk is scored the same way."""

    def __init__(self, args: argparse.Namespace) -> None:
        from covid_risk.cli._common import load_model, model_setting

        self.model = load_model(args) if args.model else None
        self.setting = (
            model_setting(self.model, args) if self.model is not None
            else (args.setting or DEFAULT_SETTING)
        )
        self.outcomes = parse_outcomes(args.outcomes, self.setting)
        known = tuple(getattr(self.model, "outcomes_", ()) or ())
        if self.outcomes and known and not set(self.outcomes) <= set(known):
            missing = [o for o in self.outcomes if o not in known]
            raise CliError(f"--outcomes: the model does not predict {', '.join(missing)}; "
                           f"it predicts {', '.join(known)}")
        self.units = parse_units(args.units)
        self.columns = parse_columns(args.columns)
        self.explain = args.explain
        self.top = args.top

    def _predict(self, patient: Any) -> Any:
        from covid_risk.cli._common import public

        return public("predict_risk")(
            patient, setting=self.setting, model=self.model, outcomes=self.outcomes,
            explain=self.explain, top=self.top,
        )

    def canonical(self, records: Any, *, id_column: str | None = None) -> Any:
        """Validate ``records`` with --units/--columns into the canonical frame."""
        import covid_risk

        return covid_risk.validate(
            records, units=self.units, columns=self.columns, id_column=id_column
        ).data

    def frame(self, df: Any, *, id_column: str | None = None) -> Any:
        """Return the probabilities for a DataFrame of patients."""
        return self._predict(self.canonical(df, id_column=id_column))

    def patient(self, record: dict) -> dict:
        """Return the JSON-ready result for one patient given as a dict."""
        if self.units is not None or self.columns is not None:
            row = self.canonical(record).iloc[0]
            record = {k: v for k, v in row.items() if not _is_missing(v)}
        return self._predict(record).to_dict()


def _is_missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _run_json(args: argparse.Namespace, predictor: _Predictor) -> int:
    from covid_risk.cli._io import write_json
    from covid_risk.exceptions import Problem, ValidationError

    if args.out:
        raise CliError("--out is for file input; JSON input prints JSON on standard output")
    payload = read_json()
    if isinstance(payload, dict):
        write_json(predictor.patient(payload))
        return 0
    if not isinstance(payload, list) or not all(isinstance(p, dict) for p in payload):
        raise CliError("standard input must hold one JSON object (a patient) or a list of "
                       "objects, e.g. {\"age\": 70, \"sex\": \"male\"}")
    results = []
    for i, record in enumerate(payload):
        try:
            results.append(predictor.patient(record))
        except ValidationError as exc:
            raise ValidationError([
                Problem(p.field, f"patient {i}: {p.message}", i, p.value) for p in exc.problems
            ]) from None
    write_json(results)
    return 0


def run(args: argparse.Namespace) -> int:
    """Score a file chunk by chunk, or JSON patients from standard input."""
    from covid_risk.exceptions import ValidationError
    from covid_risk.progress import Progress

    if args.out:
        table_format(args.out)
    if args.input != "-":
        table_format(args.input)
    predictor = _Predictor(args)
    if args.input == "-":
        return _run_json(args, predictor)
    target = args.out if args.out else sys.stdout
    offset = 0
    safe = getattr(args, "spreadsheet_safe", True)
    with Progress(None, desc="rows scored", quiet=args.quiet) as bar, \
            TableWriter(target, spreadsheet_safe=safe) as out:
        for chunk in iter_table(args.input):
            if args.id_column is None and "patient_id" in chunk.columns:
                args.id_column = "patient_id"
            if args.id_column is not None and args.id_column not in chunk.columns:
                raise CliError(f"--id: column {args.id_column!r} is not in {args.input!r}; "
                               f"its columns are {', '.join(map(str, chunk.columns))}")
            try:
                result = predictor.frame(chunk, id_column=args.id_column)
            except ValidationError as exc:
                raise shift_rows(exc, offset) from None
            if args.id_column is not None:
                if args.id_column in result.columns:
                    raise CliError(
                        f"--id: column {args.id_column!r} has the name of an output column "
                        f"({', '.join(map(str, result.columns))}); rename it in the input")
                result = result.reset_index(drop=True)
                result.insert(0, args.id_column, chunk[args.id_column].to_numpy())
            out.write(result)
            offset += len(chunk)
            bar.update(len(chunk))
    if args.out:
        print(f"wrote {offset} predictions to {args.out}")
    return 0
