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
and the authors' scoring code (SurgicalInformatics/4C_mortality_score); ISARIC 4C
Deterioration model, Gupta et al., Lancet Respir Med 2021;9:349, coefficients of
the published web calculator; CURB-65, Lim et al., Thorax 2003;58:377; NEWS2,
Royal College of Physicians 2017, Chart 1; qSOFA, Seymour et al., JAMA
2016;315:762.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from covid_risk.exceptions import Problem, ValidationError
from covid_risk.schema import COMORBIDITIES_4C, as_float

__all__ = [
    "CURB65_RISK_GROUPS",
    "FOUR_C_DETERIORATION_COEFFICIENTS",
    "FOUR_C_RISK_GROUPS",
    "NEWS2_RESPONSE_BANDS",
    "curb65",
    "four_c_deterioration_lp",
    "four_c_mortality",
    "news2",
    "qsofa",
    "score_table",
]

_DECIMALS = 6

FOUR_C_RISK_GROUPS: tuple[str, ...] = ("low", "intermediate", "high", "very high")
"""4C Mortality risk groups, lowest first (scores 0-3, 4-8, 9-14, >=15)."""

CURB65_RISK_GROUPS: tuple[str, ...] = ("low", "moderate", "high")
"""CURB-65 severity groups (BTS): 0-1 low, 2 moderate, 3-5 high."""

NEWS2_RESPONSE_BANDS: tuple[str, ...] = ("low", "low-medium", "medium", "high")
"""NEWS2 clinical-response bands, lowest first."""


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
    missing = sex.isna().to_numpy(dtype=bool)
    male = (sex == "male").to_numpy(dtype=bool, na_value=False) & ~missing
    female = (sex == "female").to_numpy(dtype=bool, na_value=False) & ~missing
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
    total = np.zeros(len(df))
    for points in parts.values():
        total = total + points  # NaN propagates
    out = pd.DataFrame({k: _int(v) for k, v in parts.items()}, index=df.index)
    out["total"] = _int(total)
    return out, total


def _urea_4c(urea: np.ndarray) -> np.ndarray:
    """4C urea points: <7 mmol/L 0, 7 to 14 (both included) 1, >14 3; NaN stays NaN."""
    out = np.where(urea < 7.0, 0.0, np.where(urea <= 14.0, 1.0, 3.0))
    out[np.isnan(urea)] = np.nan
    return out


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
    ``urea``                <7: 0 · 7-14: 1 · >14: 3 (mmol/L)
    ``crp``                 <50: 0 · 50-99: 1 · >=100: 2 (mg/L)
    ======================  ===================================================

    Decisions (documented because the source leaves them open):

    * **Urea at exactly 7 and 14 mmol/L.** The paper prints ``<7 / 7-14 / >14``
      and the authors' current scoring code agrees: ``urea < 7 -> 0``,
      ``<= 14 -> 1``, ``> 14 -> 3`` (``06_4C_mortality_score.R``, changed from
      ``<= 7`` on 2 Nov 2020; an older helper in ``02_functions.R`` still has
      ``<= 7``). So 6.99 scores 0, 7.0 scores 1, 14.0 scores 1 and 14.01
      scores 3. The band ``7-14`` is closed at both ends.
    * **Comorbidities.** The count is over the 11 4C comorbidities
      (:data:`covid_risk.schema.COMORBIDITIES_4C`). A missing flag (or a column
      that is absent) counts as *absent*: a record that does not mention a
      condition usually means the patient does not have it. The component is
      therefore never missing.
    * **SpO2 "on room air".** The authors scored the SpO2 recorded at admission
      whether or not the patient was on oxygen; we do the same (``on_oxygen``
      is not used). Scores of patients on oxygen may therefore understate risk.
    * **Age** is in completed years: 49.9 scores 0 and 50 scores 2.

    (The ISARIC web calculator labels the urea band "<=7: 0" but its lookup
    code scores 7.0 as 1, as the paper and the authors' code do.)

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
        "urea": _urea_4c(_num(df, "urea")),
        "crp": _bands(_num(df, "crp"), [50, 100], [0, 1, 2], upper_inclusive=False),
    }
    out, total = _frame(df, parts)
    out["risk_group"] = _groups(total, [4, 9, 15], FOUR_C_RISK_GROUPS)
    return out


# --------------------------------------------------------------------------- CURB-65
def curb65(df: pd.DataFrame) -> pd.DataFrame:
    """CURB-65 pneumonia severity score (Lim et al., Thorax 2003;58:377).

    One point each:

    ==================  =====================================================
    Column              Criterion
    ==================  =====================================================
    ``confusion``       new confusion, taken as GCS <= 14 (as in the ISARIC code)
    ``urea``            urea > 7 mmol/L
    ``respiratory_rate``  respiratory rate >= 30 /min
    ``blood_pressure``  systolic < 90 mmHg or diastolic <= 60 mmHg
    ``age``             age >= 65 years
    ==================  =====================================================

    Missing inputs: a criterion with a missing input is ``<NA>`` and so is the
    total. The one exception is the blood-pressure criterion, which is an
    "or": it is met when either known pressure meets its cut-off (SBP 85 with
    DBP missing scores 1), not met only when both are known and normal, and
    missing otherwise. This is logic, not imputation.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records. Uses ``gcs``, ``urea``, ``respiratory_rate``,
        ``systolic_bp``, ``diastolic_bp`` and ``age``.

    Returns
    -------
    pandas.DataFrame
        Same index as ``df``: the five criteria (0/1, ``Int64``), ``total``
        (``Int64``, 0-5) and ``risk_group`` (ordered categorical of
        :data:`CURB65_RISK_GROUPS`: 0-1 low, 2 moderate, 3-5 high).
    """
    gcs = _num(df, "gcs")
    urea = _num(df, "urea")
    rr = _num(df, "respiratory_rate")
    age = _num(df, "age")
    sbp = _num(df, "systolic_bp")
    dbp = _num(df, "diastolic_bp")
    low_sbp = sbp < 90
    low_dbp = dbp <= 60
    bp = np.where(low_sbp | low_dbp, 1.0, 0.0)
    bp[~(low_sbp | low_dbp) & (np.isnan(sbp) | np.isnan(dbp))] = np.nan
    parts = {
        "confusion": _flag(gcs <= 14, gcs),
        "urea": _flag(urea > 7, urea),
        "respiratory_rate": _flag(rr >= 30, rr),
        "blood_pressure": bp,
        "age": _flag(age >= 65, age),
    }
    out, total = _frame(df, parts)
    out["risk_group"] = _groups(total, [2, 3], CURB65_RISK_GROUPS)
    return out


# --------------------------------------------------------------------------- qSOFA
def qsofa(df: pd.DataFrame) -> pd.DataFrame:
    """Quick SOFA score (Seymour et al., JAMA 2016;315:762; Sepsis-3).

    One point each: ``systolic_bp`` <= 100 mmHg, ``respiratory_rate`` >= 22
    /min, ``altered_mentation`` (GCS <= 14, as in the ISARIC code). A total
    >= 2 is "qSOFA positive".

    Missing inputs make the criterion and the total ``<NA>``. The ``positive``
    column is still decided when the known criteria settle it: two known
    positive criteria give ``True`` whatever the third; ``False`` needs the
    known positives plus the missing criteria to stay below 2.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records. Uses ``systolic_bp``, ``respiratory_rate``
        and ``gcs``.

    Returns
    -------
    pandas.DataFrame
        Same index as ``df``: the three criteria (0/1, ``Int64``), ``total``
        (``Int64``, 0-3) and ``positive`` (``boolean``).
    """
    sbp = _num(df, "systolic_bp")
    rr = _num(df, "respiratory_rate")
    gcs = _num(df, "gcs")
    parts = {
        "systolic_bp": _flag(sbp <= 100, sbp),
        "respiratory_rate": _flag(rr >= 22, rr),
        "altered_mentation": _flag(gcs <= 14, gcs),
    }
    out, _ = _frame(df, parts)
    stacked = np.column_stack(list(parts.values()))
    known_pos = np.nansum(stacked, axis=1)
    n_missing = np.isnan(stacked).sum(axis=1)
    positive = pd.array(known_pos >= 2, dtype="boolean")
    positive[(known_pos < 2) & (known_pos + n_missing >= 2)] = pd.NA
    out["positive"] = positive
    return out


# --------------------------------------------------------------------------- NEWS2
def news2(df: pd.DataFrame) -> pd.DataFrame:
    """National Early Warning Score 2 (Royal College of Physicians 2017, Chart 1), SpO2 scale 1.

    =====================  ======================================================
    Column                 Points
    =====================  ======================================================
    ``respiratory_rate``   <=8: 3 · 9-11: 1 · 12-20: 0 · 21-24: 2 · >=25: 3
    ``spo2``               <=91: 3 · 92-93: 2 · 94-95: 1 · >=96: 0 (scale 1)
    ``air_or_oxygen``      supplemental oxygen (``on_oxygen``): 2 · air: 0
    ``systolic_bp``        <=90: 3 · 91-100: 2 · 101-110: 1 · 111-219: 0 · >=220: 3
    ``pulse``              <=40: 3 · 41-50: 1 · 51-90: 0 · 91-110: 1 · 111-130: 2 · >=131: 3
    ``consciousness``      alert: 0 · new confusion or CVPU: 3 (GCS < 15 counts as CVPU)
    ``temperature``        <=35.0: 3 · 35.1-36.0: 1 · 36.1-38.0: 0 · 38.1-39.0: 1 · >=39.1: 2
    =====================  ======================================================

    Chart 1 prints integer (temperature: one-decimal) bands; values between
    them fall in the band whose upper limit they do not exceed, i.e. the bands
    are ``(lower, upper]``: a respiratory rate of 8.5 is in "9-11" and a
    temperature of 38.05 °C in "38.1-39.0". SpO2 scale 2 (for hypercapnic
    respiratory failure) is not implemented: the record does not say who has
    a prescribed 88-92% target.

    Response band: ``high`` for a total >= 7, ``medium`` for 5-6, otherwise
    ``low-medium`` when any single parameter scores 3 ("red score") and ``low``
    for the rest. Any missing parameter makes the total and the band missing.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records. Uses ``respiratory_rate``, ``spo2``,
        ``on_oxygen``, ``systolic_bp``, ``heart_rate``, ``gcs`` and
        ``temperature``.

    Returns
    -------
    pandas.DataFrame
        Same index as ``df``: the seven parameter scores (``Int64``), ``total``
        (``Int64``, 0-20) and ``response`` (ordered categorical of
        :data:`NEWS2_RESPONSE_BANDS`).
    """
    gcs = _num(df, "gcs")
    oxygen = as_float(df, "on_oxygen")
    parts = {
        "respiratory_rate": _bands(
            _num(df, "respiratory_rate"), [8, 11, 20, 24], [3, 1, 0, 2, 3], upper_inclusive=True
        ),
        "spo2": _bands(_num(df, "spo2"), [91, 93, 95], [3, 2, 1, 0], upper_inclusive=True),
        "air_or_oxygen": _flag(oxygen == 1.0, oxygen, 2),
        "systolic_bp": _bands(
            _num(df, "systolic_bp"), [90, 100, 110, 219], [3, 2, 1, 0, 3], upper_inclusive=True
        ),
        "pulse": _bands(
            _num(df, "heart_rate"), [40, 50, 90, 110, 130], [3, 1, 0, 1, 2, 3],
            upper_inclusive=True,
        ),
        "consciousness": _flag(gcs < 15, gcs, 3),
        "temperature": _bands(
            _num(df, "temperature"), [35.0, 36.0, 38.0, 39.0], [3, 1, 0, 1, 2],
            upper_inclusive=True,
        ),
    }
    out, total = _frame(df, parts)
    red = (np.column_stack(list(parts.values())) == 3).any(axis=1)
    codes = np.select([total >= 7, total >= 5, red], [3, 2, 1], default=0)
    codes = np.where(np.isnan(total), -1, codes)
    out["response"] = pd.Categorical.from_codes(
        codes, categories=pd.Index(list(NEWS2_RESPONSE_BANDS)), ordered=True
    )
    return out


# --------------------------------------------------------------------------- 4C deterioration
FOUR_C_DETERIORATION_COEFFICIENTS: dict[str, dict] = {
    "binary": {
        "nosocomial": 0.30264598,
        "male": 0.23828712,
        "chest_infiltrates": 0.31847127,
        "on_oxygen": 0.7445508,
        "gcs_below_15": 0.60850246,
    },
    "spline": {
        "age": (3.9477675, 0.015879049, (
            (-4.4564722e-6, 38.512329), (4.28408e-5, 67.709726),
            (-7.1088239e-5, 81.136986), (3.2703912e-5, 92.917808))),
        "respiratory_rate": (0.0, -0.014521958, (
            (0.0013714322, 16.0), (-0.0024680963, 19.0),
            (0.0012019736, 24.0), (-0.00010530953, 37.0))),
        "spo2": (0.0, -0.069756781, (
            (-9.7878243e-5, 84.0), (0.0039440211, 94.0),
            (-0.0055245187, 96.0), (0.0016783758, 100.0))),
        "urea": (0.0, 0.053063087, (
            (0.00085886997, 2.9), (-0.0020481614, 5.7),
            (0.0012904492, 9.1), (-0.00010115771, 25.3))),
        "crp": (0.0, 0.0097987358, (
            (-4.6646557e-7, 5.0), (6.9431888e-7, 45.0),
            (-2.0921347e-7, 112.0), (-1.8639842e-8, 294.0))),
        "lymphocytes": (0.0, -0.47068824, (
            (0.20729218, 0.3), (-0.27907857, 0.7),
            (0.03009229, 1.1), (0.041694093, 2.4))),
    },
}
"""Published-calculator coefficients of the ISARIC 4C Deterioration model (log-odds).

``"binary"``: term -> coefficient. ``"spline"``: field -> ``(a, b, ((c_k, k), ...))``
for the restricted cubic spline ``a + b*x + sum_k c_k * max(x - k, 0)**3``.
"""


def _spline(x: np.ndarray, a: float, b: float, knots: Sequence[tuple[float, float]]) -> np.ndarray:
    """Evaluate ``a + b*x + sum c_k * max(x - k, 0)**3`` (NaN stays NaN)."""
    out = a + b * x
    for c, k in knots:
        out = out + c * np.maximum(x - k, 0.0) ** 3
    return out


def four_c_deterioration_lp(df: pd.DataFrame, *, terms: bool = False) -> pd.Series | pd.DataFrame:
    """Linear predictor of the ISARIC 4C Deterioration model (Gupta et al., Lancet Respir Med 2021).

    The model predicts in-hospital deterioration (any ventilatory support,
    critical care or death). Its coefficients come from the published ISARIC
    web calculator (:data:`FOUR_C_DETERIORATION_COEFFICIENTS`): binary terms for
    nosocomial infection, male sex, radiographic chest infiltrates, receiving
    oxygen when SpO2 was measured and GCS < 15, and restricted cubic splines
    ``a + b*x + sum_k c_k * max(x - k, 0)**3`` of age (years), respiratory rate
    (/min), SpO2 (%), urea (mmol/L), CRP (mg/L) and lymphocytes (10^9/L).

    **The model intercept is not published.** The value returned is therefore
    log-odds only up to an unknown additive constant (it includes the constant
    ``a = 3.9477675`` that the calculator attaches to the age spline, which may
    hold part of the intercept). It ranks patients correctly, but before it is
    read as a probability a baseline must re-estimate the intercept on local
    data, e.g. a logistic regression of the outcome on the linear predictor
    (slope and intercept) or with the linear predictor as an offset.

    Any missing input gives a missing (NaN) linear predictor: the published
    model has no rule for missing predictors.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records. Uses ``nosocomial``, ``sex``,
        ``chest_infiltrates``, ``on_oxygen``, ``gcs``, ``age``,
        ``respiratory_rate``, ``spo2``, ``urea``, ``crp`` and ``lymphocytes``.
    terms : bool, default=False
        Return the contribution of every term as well.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        A float64 Series named ``"four_c_deterioration_lp"`` with the index of
        ``df``; with ``terms=True`` a DataFrame with one float column per term
        (``nosocomial``, ``male``, ``chest_infiltrates``, ``on_oxygen``,
        ``gcs_below_15``, ``age``, ``respiratory_rate``, ``spo2``, ``urea``,
        ``crp``, ``lymphocytes``) and the sum in ``lp``.
    """
    coef = FOUR_C_DETERIORATION_COEFFICIENTS
    gcs = as_float(df, "gcs")
    indicators = {
        "nosocomial": as_float(df, "nosocomial"),
        "male": _male(df),
        "chest_infiltrates": as_float(df, "chest_infiltrates"),
        "on_oxygen": as_float(df, "on_oxygen"),
        "gcs_below_15": np.where(np.isnan(gcs), np.nan, (gcs < 15).astype(float)),
    }
    parts = {name: coef["binary"][name] * x for name, x in indicators.items()}
    for name, (a, b, knots) in coef["spline"].items():
        parts[name] = _spline(as_float(df, name), a, b, knots)
    lp = np.sum(np.column_stack(list(parts.values())), axis=1)
    series = pd.Series(lp, index=df.index, name="four_c_deterioration_lp", dtype="float64")
    if not terms:
        return series
    out = pd.DataFrame(parts, index=df.index)
    out["lp"] = series
    return out


# --------------------------------------------------------------------------- all scores
def score_table(df: pd.DataFrame) -> pd.DataFrame:
    """Return every clinical score's total for each patient.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records.

    Returns
    -------
    pandas.DataFrame
        Same index as ``df`` with columns ``four_c_mortality``, ``curb65``,
        ``news2``, ``qsofa`` (totals, ``Int64``, ``<NA>`` where an input is
        missing) and ``four_c_deterioration_lp`` (float64; log-odds up to an
        unpublished constant, see :func:`four_c_deterioration_lp`).
    """
    return pd.DataFrame(
        {
            "four_c_mortality": four_c_mortality(df)["total"],
            "curb65": curb65(df)["total"],
            "news2": news2(df)["total"],
            "qsofa": qsofa(df)["total"],
            "four_c_deterioration_lp": four_c_deterioration_lp(df),
        },
        index=df.index,
    )
