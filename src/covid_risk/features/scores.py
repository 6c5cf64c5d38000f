"""Clinical risk scores as vectorised functions over a canonical DataFrame.

Every score takes the canonical patient DataFrame (one column per schema field,
see :mod:`covid_risk.schema`) and returns a DataFrame with the same index: one
integer points column per component, the ``total`` and, where the score has
them, its published risk groups. Point columns and totals are pandas ``Int64``;
a component whose inputs are missing is ``<NA>`` and so is the total (unless a
documented rule below says otherwise). Columns that are absent from the input
count as missing.

Cut-offs are compared after rounding inputs to 6 decimals, so that noise from
unit conversion (e.g. 100.4 °F -> 38.00000000000001 °C) never moves a value
across a band edge.

Sources: ISARIC 4C Mortality Score, Knight et al., BMJ 2020;370:m3339, Table 2,
and the authors' scoring code (SurgicalInformatics/4C_mortality_score).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from covid_risk.exceptions import Problem, ValidationError
from covid_risk.schema import COMORBIDITIES_4C, as_float

__all__ = [
    "FOUR_C_RISK_GROUPS",
    "four_c_mortality",
]

_DECIMALS = 6

FOUR_C_RISK_GROUPS: tuple[str, ...] = ("low", "intermediate", "high", "very high")
"""4C Mortality risk groups, lowest first (scores 0-3, 4-8, 9-14, >=15)."""


# --------------------------------------------------------------------------- helpers
def _num(df: pd.DataFrame, name: str) -> np.ndarray:
    """Return column ``name`` as float64 (NaN = missing), rounded for band comparisons."""
    return np.round(as_float(df, name), _DECIMALS)


def _bands(
    x: np.ndarray, edges: Sequence[float], points: Sequence[int], *, upper_inclusive: bool
) -> np.ndarray:
    """Return the points of the band each value of ``x`` falls in (float, NaN where ``x`` is NaN).

    ``edges`` are the band boundaries in increasing order and ``points`` has one
    more entry than ``edges``. With ``upper_inclusive=False`` a value equal to an
    edge goes to the band above it (bands ``[lo, hi)``, e.g. "age <50 / 50-59");
    with ``True`` it stays in the band below (bands ``(lo, hi]``, e.g. "<=91").
    """
    side = "left" if upper_inclusive else "right"
    idx = np.searchsorted(np.asarray(edges, dtype=float), x, side=side)
    idx = np.minimum(idx, len(points) - 1)  # NaN sorts past the end
    out = np.asarray(points, dtype=float)[idx]
    out[np.isnan(x)] = np.nan
    return out


def _flag(condition: np.ndarray, x: np.ndarray, points: int = 1) -> np.ndarray:
    """``points`` where ``condition`` holds, 0 where not, NaN where ``x`` is NaN."""
    out = np.where(condition, float(points), 0.0)
    out[np.isnan(x)] = np.nan
    return out


def _int(values: np.ndarray) -> pd.arrays.IntegerArray:
    """Convert float points (NaN = missing) to a pandas Int64 array."""
    mask = np.isnan(values)
    return pd.arrays.IntegerArray(np.where(mask, 0, values).astype("int64"), mask)


def _male(df: pd.DataFrame) -> np.ndarray:
    """1.0 for male, 0.0 for female, NaN for missing; raise on any other value."""
    if "sex" not in df.columns:
        return np.full(len(df), np.nan)
    sex = df["sex"]
    missing = sex.isna().to_numpy()
    text = sex.astype("object").where(~missing, None)
    male = (text == "male").to_numpy()
    female = (text == "female").to_numpy()
    bad = ~(missing | male | female)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise ValidationError(
            [
                Problem(
                    field="sex",
                    message=(
                        f"sex is {sex.iloc[r]!r}; allowed: 'female' or 'male' (or missing). "
                        "Run covid_risk.validate on the data first."
                    ),
                    row=int(r),
                    value=sex.iloc[r],
                )
                for r in rows
            ]
        )
    out = male.astype(float)
    out[missing] = np.nan
    return out


def _comorbidity_count(df: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Count ``names`` flagged True; missing flags and absent columns count as absent."""
    total = np.zeros(len(df))
    for name in names:
        total += np.nan_to_num(as_float(df, name), nan=0.0)
    return total


def _groups(total: np.ndarray, edges: Sequence[float], labels: Sequence[str]) -> pd.Categorical:
    """Map totals to ordered ``labels``; ``edges`` are the lower bounds of groups 2..n."""
    idx = np.searchsorted(np.asarray(edges, dtype=float), total, side="right")
    codes = np.where(np.isnan(total), -1, np.minimum(idx, len(labels) - 1))
    return pd.Categorical.from_codes(
        codes.astype(int), categories=pd.Index(list(labels)), ordered=True
    )


def _frame(df: pd.DataFrame, parts: dict[str, np.ndarray]) -> tuple[pd.DataFrame, np.ndarray]:
    """Int64 DataFrame of the component points plus ``total`` (NA if any part is NA)."""
    stacked = np.column_stack(list(parts.values())) if parts else np.zeros((len(df), 0))
    total = stacked.sum(axis=1)  # NaN propagates
    out = pd.DataFrame({k: _int(v) for k, v in parts.items()}, index=df.index)
    out["total"] = _int(total)
    return out, total


# --------------------------------------------------------------------------- 4C mortality
def four_c_mortality(df: pd.DataFrame) -> pd.DataFrame:
    """ISARIC 4C Mortality Score (Knight et al., BMJ 2020;370:m3339, Table 2).

    ======================  ===================================================
    Component (column)      Points
    ======================  ===================================================
    ``age`` (years)         <50: 0 · 50-59: 2 · 60-69: 4 · 70-79: 6 · >=80: 7
    ``sex``                 female: 0 · male: 1
    ``comorbidities``       0: 0 · 1: 1 · >=2: 2
    ``respiratory_rate``    <20: 0 · 20-29: 1 · >=30: 2 (/min)
    ``spo2``                >=92: 0 · <92: 2 (%)
    ``gcs``                 15: 0 · <15: 2
    ``urea``                <=7: 0 · >7 to 14: 1 · >14: 3 (mmol/L)
    ``crp``                 <50: 0 · 50-99: 1 · >=100: 2 (mg/L)
    ======================  ===================================================

    Decisions (documented because the source leaves them open):

    * **Urea at exactly 7 and 14 mmol/L.** The paper prints ``<7 / 7-14 / >14``;
      the authors' scoring code uses ``urea <= 7 -> 0``, ``<= 14 -> 1``,
      ``> 14 -> 3``, and so does the ISARIC calculator's BUN table (``<=19.6``
      mg/dL, i.e. 7.0 mmol/L). We follow the code, which produced the published
      validation figures: 7.0 scores 0, 7.01 scores 1, 14.0 scores 1 and 14.01
      scores 3.
    * **Comorbidities.** The count is over the 11 4C comorbidities
      (:data:`covid_risk.schema.COMORBIDITIES_4C`). A missing flag (or a column
      that is absent) counts as *absent*: a record that does not mention a
      condition usually means the patient does not have it. The component is
      therefore never missing.
    * **SpO2 "on room air".** The authors scored the SpO2 recorded at admission
      whether or not the patient was on oxygen; we do the same (``on_oxygen``
      is not used). Scores of patients on oxygen may therefore understate risk.
    * **Age** is in completed years: 49.9 scores 0 and 50 scores 2.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records (see :func:`covid_risk.validate`). Uses
        ``age``, ``sex``, the 4C comorbidity flags, ``respiratory_rate``,
        ``spo2``, ``gcs``, ``urea`` and ``crp``.

    Returns
    -------
    pandas.DataFrame
        Same index as ``df``. Columns ``age``, ``sex``, ``comorbidities``,
        ``respiratory_rate``, ``spo2``, ``gcs``, ``urea``, ``crp`` (points,
        ``Int64``), ``total`` (``Int64``, 0-21, ``<NA>`` when any input other
        than the comorbidities is missing) and ``risk_group`` (ordered
        categorical of :data:`FOUR_C_RISK_GROUPS`: low 0-3, intermediate 4-8,
        high 9-14, very high >=15; ``NaN`` when the total is missing).

    Raises
    ------
    ValidationError
        If ``sex`` holds a value other than ``"female"``, ``"male"`` or missing.

    Examples
    --------
    >>> import pandas as pd
    >>> patient = pd.DataFrame({"age": [72.0], "sex": ["male"], "diabetes": [True],
    ...     "respiratory_rate": [24.0], "spo2": [90.0], "gcs": [15], "urea": [9.0],
    ...     "crp": [120.0]})
    >>> four_c_mortality(patient)[["total", "risk_group"]]
       total risk_group
    0     14       high
    """
    gcs = _num(df, "gcs")
    parts = {
        "age": _bands(_num(df, "age"), [50, 60, 70, 80], [0, 2, 4, 6, 7], upper_inclusive=False),
        "sex": _male(df),
        "comorbidities": np.minimum(_comorbidity_count(df, COMORBIDITIES_4C), 2.0),
        "respiratory_rate": _bands(
            _num(df, "respiratory_rate"), [20, 30], [0, 1, 2], upper_inclusive=False
        ),
        "spo2": _bands(_num(df, "spo2"), [92], [2, 0], upper_inclusive=False),
        "gcs": _flag(gcs < 15, gcs, 2),
        "urea": _bands(_num(df, "urea"), [7, 14], [0, 1, 3], upper_inclusive=True),
        "crp": _bands(_num(df, "crp"), [50, 100], [0, 1, 2], upper_inclusive=False),
    }
    out, total = _frame(df, parts)
    out["risk_group"] = _groups(total, [4, 9, 15], FOUR_C_RISK_GROUPS)
    return out
