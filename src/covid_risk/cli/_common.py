"""Options and steps shared by several ``covid-risk`` subcommands.

Library modules are imported inside the functions so that building the parser
(and ``--help``) does not load LightGBM, shap or the generator.
"""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path
from typing import Any

import pandas as pd

from covid_risk.cli._io import CliError, parse_mapping
from covid_risk.exceptions import Problem, ValidationError
from covid_risk.schema import FIELDS, OUTCOMES, SETTING_OUTCOMES, SETTINGS

__all__ = [
    "DEFAULT_SETTING",
    "add_mapping_options",
    "add_model_options",
    "load_model",
    "model_setting",
    "non_negative_int",
    "parse_columns",
    "parse_outcomes",
    "parse_units",
    "positive_float",
    "positive_int",
    "public",
    "read_cohort",
    "shift_rows",
    "validate_frame",
    "write_cohort",
]

DEFAULT_SETTING = "admission"


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """Argparse type: a whole number of at least 1."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """Argparse type: a whole number of at least 0 (seeds, optional counts)."""
    return _whole_number(text, 0)


def positive_float(text: str) -> float:
    """Argparse type: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


def add_model_options(parser: argparse.ArgumentParser, *, setting_help: str | None = None) -> None:
    """Add ``--model PATH`` and ``--setting {community,admission}``."""
    parser.add_argument(
        "--model", metavar="PATH",
        help="model file written by 'covid-risk train' (default: the model shipped with "
        "the package for --setting)",
    )
    parser.add_argument(
        "--setting", choices=SETTINGS, default=None,
        help=setting_help or "clinical setting of the default model (default: "
        f"{DEFAULT_SETTING}; ignored with --model, whose own setting is used)",
    )


def add_mapping_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--units`` and ``--columns`` for reading files in other conventions."""
    parser.add_argument(
        "--units", metavar="FIELD=UNIT,...",
        help="units of columns not in the canonical unit, e.g. 'urea=mg/dL,creatinine=mg/dL'",
    )
    parser.add_argument(
        "--columns", metavar="NAME=FIELD,...",
        help="rename input columns to schema fields, e.g. 'Age (years)=age,Sex=sex'",
    )


def _unknown_field(name: str, option: str) -> CliError:
    close = difflib.get_close_matches(name, list(FIELDS), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else (
        "; see covid_risk.field_table() for the list of fields"
    )
    return CliError(f"{option}: {name!r} is not a field of the patient record{hint}")


def parse_units(text: str | None) -> dict[str, str] | None:
    """Parse ``--units`` into ``{field: unit}`` after checking every field name."""
    units = parse_mapping(text, option="--units")
    for name in units:
        if name not in FIELDS:
            raise _unknown_field(name, "--units")
    return units or None


def parse_columns(text: str | None) -> dict[str, str] | None:
    """Parse ``--columns`` into ``{input column: field}`` after checking every target."""
    columns = parse_mapping(text, option="--columns")
    for target in columns.values():
        if target not in FIELDS:
            raise _unknown_field(target, "--columns")
    return columns or None


def parse_outcomes(text: str | None, setting: str) -> tuple[str, ...] | None:
    """Parse a comma-separated ``--outcomes`` list and check it against ``setting``.

    Returns ``None`` (meaning every outcome of the setting) for an empty value.
    """
    if not text:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    allowed = SETTING_OUTCOMES[setting]
    for name in names:
        if name not in allowed:
            where = "" if name not in OUTCOMES else " (it is an outcome of another setting)"
            raise CliError(
                f"--outcomes: {name!r} is not an outcome of the {setting} setting{where}; "
                f"use some of {', '.join(allowed)}"
            )
    return names


def load_model(args: argparse.Namespace) -> Any:
    """Return the model named by ``--model``, or the packaged default for ``--setting``."""
    if getattr(args, "model", None):
        import covid_risk

        path = Path(args.model)
        if not path.exists():
            raise FileNotFoundError(f"model file {str(path)!r} does not exist")
        return covid_risk.load(path)
    from covid_risk.models import default_model

    return default_model(args.setting or DEFAULT_SETTING)


def model_setting(model: Any, args: argparse.Namespace) -> str:
    """Return the clinical setting of ``model`` (falling back to ``--setting``)."""
    setting = getattr(model, "setting", None)
    if isinstance(setting, str) and setting in SETTINGS:
        return setting
    return getattr(args, "setting", None) or DEFAULT_SETTING


def validate_frame(
    df: pd.DataFrame, args: argparse.Namespace, *, id_column: str | None = None
) -> pd.DataFrame:
    """Validate ``df`` with ``--units``/``--columns`` and return the canonical frame.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows as read from the file.
    args : argparse.Namespace
        Parsed options (``units`` and ``columns`` are used when present).
    id_column : str, optional
        Input column kept as the index (so it is not reported as unknown).

    Raises
    ------
    covid_risk.ValidationError
        Naming the row, field, value and what is allowed.
    """
    import covid_risk

    units = parse_units(getattr(args, "units", None))
    columns = parse_columns(getattr(args, "columns", None))
    return covid_risk.validate(df, units=units, columns=columns, id_column=id_column).data


def shift_rows(exc: ValidationError, offset: int) -> ValidationError:
    """Return ``exc`` with its row numbers moved by ``offset`` (for a file's later chunks)."""
    if offset == 0:
        return exc
    return ValidationError([
        Problem(p.field, p.message, None if p.row is None else p.row + offset, p.value)
        for p in exc.problems
    ])


_FALLBACK_MODULES = {
    "explain": "covid_risk.explanation",
    "predict_risk": "covid_risk.prediction._predict",
}


def public(name: str) -> Any:
    """Return ``covid_risk.<name>``, or the module that defines it if not yet re-exported."""
    import importlib

    import covid_risk

    try:
        return getattr(covid_risk, name)
    except AttributeError:
        if name not in _FALLBACK_MODULES:
            raise
        return getattr(importlib.import_module(_FALLBACK_MODULES[name]), name)


def read_cohort(path: str | Path) -> pd.DataFrame:
    """Read a cohort from Parquet or CSV into the canonical schema.

    A Parquet file written by :func:`covid_risk.save_cohort` is read with
    :func:`covid_risk.load_cohort` (dtypes and generation settings kept); any other
    file is read as a table and checked with :func:`covid_risk.validate`, which keeps
    outcome and ``true_risk_<outcome>`` columns. A ``patient_id`` column becomes
    the index.
    """
    import covid_risk
    from covid_risk.cli._io import read_table, table_format

    fmt = table_format(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"cohort file {str(path)!r} does not exist")
    if fmt == "parquet" and _has_cohort_metadata(path):
        return covid_risk.load_cohort(path)
    df = read_table(path)
    id_column = "patient_id" if "patient_id" in df.columns else None
    return covid_risk.validate(df, id_column=id_column).data


def _has_cohort_metadata(path: str | Path) -> bool:
    import pyarrow.parquet as pq

    from covid_risk.synthetic._io import METADATA_KEY

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {str(path)!r} as Parquet: {exc}") from None
    return METADATA_KEY in metadata


def write_cohort(df: pd.DataFrame, path: str | Path) -> None:
    """Write a cohort: Parquet via :func:`covid_risk.save_cohort`, CSV with pandas.

    CSV keeps the values but not the column types or the generation settings;
    :func:`read_cohort` restores the types by validation.
    """
    import covid_risk
    from covid_risk.cli._io import table_format, write_table

    if table_format(path) == "parquet" and Path(path).suffix == ".parquet":
        covid_risk.save_cohort(df, path)
    else:
        write_table(df, path)
