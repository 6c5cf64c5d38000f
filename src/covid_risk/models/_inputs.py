"""Turning what callers pass into the canonical patient DataFrame.

Models accept canonical frames (from :func:`covid_risk.validate` or
:func:`covid_risk.make_cohort`) as they are. Anything else -- one dict, a list of
dicts, or a DataFrame whose predictor columns are not in canonical form (numbers
as text, unknown category spellings, ...) -- goes through
:func:`covid_risk.validate` first, so impossible values raise a
:class:`~covid_risk.exceptions.ValidationError` naming the field, the value and
the row instead of silently becoming missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from covid_risk.schema import FIELDS, PREDICTORS

__all__ = [
    "as_canonical",
    "looks_canonical",
    "outcome_labels",
]


def looks_canonical(df: pd.DataFrame) -> bool:
    """Return whether every predictor column present is already in canonical form.

    Numeric and yes/no fields must have a numeric or boolean dtype, category
    fields text values from the schema's categories (or missing).
    """
    if df.columns.duplicated().any():
        return False
    for name in PREDICTORS:
        if name not in df.columns:
            continue
        col = df[name]
        kind = FIELDS[name].kind
        if kind == "category":
            if ptypes.is_numeric_dtype(col.dtype) and not col.isna().all():
                return False
            present = col.dropna()
            if len(present) and not present.isin(FIELDS[name].categories).all():
                return False
        elif not (ptypes.is_numeric_dtype(col.dtype) or ptypes.is_bool_dtype(col.dtype)):
            if not col.isna().all():
                return False
    return True


def as_canonical(data: Any) -> pd.DataFrame:
    """Return ``data`` as a canonical patient DataFrame.

    Parameters
    ----------
    data : pandas.DataFrame, dict or sequence of dicts
        Canonical frames pass through untouched; everything else is validated
        with :func:`covid_risk.validate` (keeping a DataFrame's index).

    Raises
    ------
    covid_risk.exceptions.ValidationError
        When a record has an impossible value.
    TypeError
        When ``data`` is none of the accepted types.
    """
    if isinstance(data, pd.DataFrame) and looks_canonical(data):
        return data
    if not isinstance(data, (pd.DataFrame, Mapping)) and not (
        isinstance(data, Sequence) and not isinstance(data, (str, bytes))
    ):
        raise TypeError(
            "Expected patient records as a pandas DataFrame, a dict (one patient) or a list of "
            f"dicts; got {type(data).__name__}."
        )
    from covid_risk.validation import validate

    result = validate(data).data
    if isinstance(data, pd.DataFrame) and len(result) == len(data):
        result.index = data.index
    return result


def outcome_labels(cohort: pd.DataFrame, outcome: str) -> np.ndarray:
    """Outcome column as float 0/1 with NaN for missing; a clear error when absent."""
    if outcome not in cohort.columns:
        raise ValueError(
            f"The cohort has no column {outcome!r}; training needs one boolean column per "
            f"outcome. Columns present: {', '.join(map(str, cohort.columns[:12]))}"
            f"{' ...' if cohort.shape[1] > 12 else ''}. Pass outcomes=[...] to train on a subset."
        )
    col = cohort[outcome]
    try:
        y = col.astype("boolean").to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(
            f"Outcome column {outcome!r} must be yes/no (boolean); got dtype {col.dtype}."
        ) from None
    return y
