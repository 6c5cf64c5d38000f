"""Derived features: counts, ratios and bands computed from a canonical record.

Every function takes the canonical patient DataFrame (see :mod:`covid_risk.schema`)
and returns a Series with the same index. Ratios are ``NaN`` -- never ``inf`` --
when either input is missing or the denominator is zero. Columns absent from
the input count as missing. Bands are ordered pandas categoricals; a value is
compared with band edges after rounding to 6 decimals so that unit-conversion
noise cannot move it across an edge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from covid_risk.schema import COMORBIDITIES_4C, FIELDS, ROOM_AIR_FIO2, as_float

__all__ = [
    "DERIVED_DEFINITIONS",
    "AGE_BANDS_4C",
    "AGE_BANDS_OPENSAFELY",
    "BMI_CLASSES",
    "Count",
    "ROOM_AIR_FIO2",
    "Ratio",
    "age_band_4c",
    "age_band_opensafely",
    "bmi_class",
    "comorbidity_count",
    "derived_features",
    "neutrophil_lymphocyte_ratio",
    "spo2_fio2_ratio",
    "urea_creatinine_ratio",
]

_DECIMALS = 6


AGE_BANDS_4C: tuple[str, ...] = ("<50", "50-59", "60-69", "70-79", ">=80")
"""Age bands of the ISARIC 4C Mortality Score (years)."""

AGE_BANDS_OPENSAFELY: tuple[str, ...] = ("18-39", "40-49", "50-59", "60-69", "70-79", "80+")
"""Age bands of OpenSAFELY (Williamson et al., Nature 2020), adults only (years)."""

BMI_CLASSES: tuple[str, ...] = (
    "underweight", "normal", "overweight", "obese_i", "obese_ii", "obese_iii",
)
"""WHO body-mass index classes: <18.5, 18.5-24.9, 25-29.9, 30-34.9, 35-39.9, >=40 kg/m2."""


def _band(
    df: pd.DataFrame,
    name: str,
    lower_bounds: Sequence[float],
    labels: Sequence[str],
    series_name: str,
) -> pd.Series:
    """Put column ``name`` into ordered bands ``[lower_bounds[i], lower_bounds[i+1])``.

    Values below ``lower_bounds[0]`` and missing values give NaN.
    """
    x = np.round(as_float(df, name), _DECIMALS)
    idx = np.searchsorted(np.asarray(lower_bounds, dtype=float), x, side="right") - 1
    codes = np.where(np.isnan(x) | (idx < 0), -1, np.minimum(idx, len(labels) - 1))
    cat = pd.Categorical.from_codes(
        codes.astype(int), categories=pd.Index(list(labels)), ordered=True
    )
    return pd.Series(cat, index=df.index, name=series_name)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Divide, giving NaN where either side is NaN or the denominator is not positive."""
    ok = np.isfinite(numerator) & np.isfinite(denominator) & (denominator > 0)
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=ok)
    return out


_NAN = math.nan


@dataclass(frozen=True)
class Count:
    """A derived count: how many of ``fields`` are yes (missing counts as no).

    The one definition behind both the column (:meth:`column`) and the value for
    one record (:meth:`one`), so the model matrix and the single-patient path
    cannot drift apart.
    """

    name: str
    fields: tuple[str, ...]

    def column(self, df: pd.DataFrame) -> np.ndarray:
        """Return the count of every row of a canonical frame (int64)."""
        total = np.zeros(len(df), dtype="int64")
        for name in self.fields:
            total += np.nan_to_num(as_float(df, name), nan=0.0).astype("int64")
        return total

    def one(self, values: Mapping[str, float]) -> float:
        """Return the count of one record's canonical values (field -> float, NaN = missing)."""
        total = 0
        for name in self.fields:
            x = values.get(name, _NAN)
            if x == x:
                total += int(x)
        return float(total)


@dataclass(frozen=True)
class Ratio:
    """A derived ratio ``numerator * scale / denominator``.

    NaN -- never inf -- unless both sides are finite and the denominator is
    positive. With ``fill``, a missing denominator is taken as ``fill[2]`` when
    field ``fill[0]`` equals ``fill[1]`` (FiO2 on room air). :meth:`column` and
    :meth:`one` apply the same IEEE operations in the same order.
    """

    name: str
    numerator: str
    denominator: str
    scale: float = 1.0
    fill: tuple[str, float, float] | None = None

    def column(self, df: pd.DataFrame) -> np.ndarray:
        """Return the ratio of every row of a canonical frame (float64)."""
        num = as_float(df, self.numerator)
        if self.scale != 1.0:
            num = num * self.scale
        den = as_float(df, self.denominator)
        if self.fill is not None:
            field, when, value = self.fill
            den = np.where(np.isnan(den) & (as_float(df, field) == when), value, den)
        return _ratio(num, den)

    def one(self, values: Mapping[str, float]) -> float:
        """Return the ratio of one record's canonical values (field -> float, NaN = missing)."""
        num = values.get(self.numerator, _NAN)
        if self.scale != 1.0:
            num = num * self.scale
        den = values.get(self.denominator, _NAN)
        if self.fill is not None:
            field, when, value = self.fill
            if den != den and values.get(field, _NAN) == when:
                den = value
        if math.isfinite(num) and math.isfinite(den) and den > 0:
            return num / den
        return _NAN


DERIVED_DEFINITIONS: dict[str, Count | Ratio] = {
    "comorbidity_count": Count("comorbidity_count", COMORBIDITIES_4C),
    "nlr": Ratio("nlr", "neutrophils", "lymphocytes"),
    "spo2_fio2": Ratio("spo2_fio2", "spo2", "fio2", fill=("on_oxygen", 0.0, ROOM_AIR_FIO2)),
    "urea_creatinine_ratio": Ratio("urea_creatinine_ratio", "urea", "creatinine", scale=1000.0),
}
"""The numeric derived features: one definition each, for a frame and for one record."""


def comorbidity_count(df: pd.DataFrame, *, names: Sequence[str] | None = None) -> pd.Series:
    """Count comorbidities, by default the 11 of the ISARIC 4C Mortality Score.

    The 4C definition counts chronic cardiac disease, chronic pulmonary disease
    (not asthma), chronic kidney disease, liver disease, dementia, chronic
    neurological disease, connective tissue disease, diabetes, HIV/AIDS,
    malignancy and clinician-defined obesity
    (:data:`covid_risk.schema.COMORBIDITIES_4C`). Hypertension, asthma and the
    other schema comorbidities are not counted.

    A missing flag, or a column absent from ``df``, counts as *absent* (a record
    that does not mention a condition usually means the patient does not have
    it), so the count is never missing.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records.
    names : sequence of str, optional
        Boolean fields to count instead of the 4C list.

    Returns
    -------
    pandas.Series
        ``Int64`` counts named ``"comorbidity_count"``, same index as ``df``.

    Raises
    ------
    KeyError
        If a name in ``names`` is not a boolean schema field.
    """
    names = COMORBIDITIES_4C if names is None else tuple(names)
    for name in names:
        if name not in FIELDS or FIELDS[name].kind != "bool":
            bools = [f.name for f in FIELDS.values() if f.kind == "bool"]
            raise KeyError(
                f"{name!r} is not a yes/no field and cannot be counted; "
                f"choose from: {', '.join(bools)}."
            )
    total = Count("comorbidity_count", names).column(df)
    return pd.Series(total, index=df.index, name="comorbidity_count", dtype="Int64")


def neutrophil_lymphocyte_ratio(df: pd.DataFrame) -> pd.Series:
    """Neutrophil-to-lymphocyte ratio (NLR): neutrophils / lymphocytes, both in 10^9/L.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records with ``neutrophils`` and ``lymphocytes``.

    Returns
    -------
    pandas.Series
        float64, named ``"nlr"``; NaN when either count is missing or the
        lymphocyte count is zero.
    """
    return pd.Series(DERIVED_DEFINITIONS["nlr"].column(df), index=df.index, name="nlr")


def spo2_fio2_ratio(df: pd.DataFrame) -> pd.Series:
    """SpO2/FiO2 ratio: SpO2 (%) divided by the fraction of inspired oxygen.

    FiO2 is the recorded ``fio2`` when there is one (whatever ``on_oxygen``
    says). When it is not recorded, a patient known to be on room air
    (``on_oxygen`` False) breathes FiO2 = 0.21; a patient on oxygen, or whose
    oxygen status is unknown, has an unknown FiO2 and the ratio is missing.
    For example SpO2 97% on air gives 97 / 0.21 = 461.9.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records with ``spo2``, ``fio2`` and ``on_oxygen``.

    Returns
    -------
    pandas.Series
        float64, named ``"spo2_fio2"``; NaN when SpO2 or FiO2 is unknown.
    """
    ratio = DERIVED_DEFINITIONS["spo2_fio2"].column(df)
    return pd.Series(ratio, index=df.index, name="spo2_fio2")


def urea_creatinine_ratio(df: pd.DataFrame) -> pd.Series:
    """Urea-to-creatinine ratio: urea (mmol/L) / creatinine (µmol/L) x 1000.

    Both are molar concentrations, so this is the molar ratio scaled by 1000
    (urea 7 mmol/L with creatinine 100 µmol/L gives 70). It is the UK form of
    the US BUN:creatinine ratio (both in mg/dL); the two relate by
    ``ratio_here = 4.038 x BUN:creatinine`` (10/28.014 x 1000 / 88.40), so the
    classic BUN:creatinine cut-off of 20 corresponds to about 81.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records with ``urea`` and ``creatinine``.

    Returns
    -------
    pandas.Series
        float64, named ``"urea_creatinine_ratio"``; NaN when either value is
        missing or creatinine is zero.
    """
    ratio = DERIVED_DEFINITIONS["urea_creatinine_ratio"].column(df)
    return pd.Series(ratio, index=df.index, name="urea_creatinine_ratio")


def age_band_4c(df: pd.DataFrame) -> pd.Series:
    """Age band of the 4C Mortality Score: <50, 50-59, 60-69, 70-79, >=80 years.

    Age is in completed years, so 49.9 is in "<50" and 50 in "50-59".

    Returns
    -------
    pandas.Series
        Ordered categorical of :data:`AGE_BANDS_4C`, named ``"age_band_4c"``;
        NaN when age is missing.
    """
    return _band(df, "age", [-np.inf, 50, 60, 70, 80], AGE_BANDS_4C, "age_band_4c")


def age_band_opensafely(df: pd.DataFrame) -> pd.Series:
    """Age band of OpenSAFELY: 18-39, 40-49, 50-59, 60-69, 70-79, 80+ years.

    OpenSAFELY studied adults, so ages under 18 (and missing ages) give NaN.

    Returns
    -------
    pandas.Series
        Ordered categorical of :data:`AGE_BANDS_OPENSAFELY`, named
        ``"age_band_opensafely"``.
    """
    return _band(
        df, "age", [18, 40, 50, 60, 70, 80], AGE_BANDS_OPENSAFELY, "age_band_opensafely"
    )


def bmi_class(df: pd.DataFrame) -> pd.Series:
    """WHO body-mass index class.

    underweight < 18.5 <= normal < 25 <= overweight < 30 <= obese_i < 35 <=
    obese_ii < 40 <= obese_iii (kg/m2). Published bands such as "25-29.9" are
    read as "at least 25 and below 30", so 29.95 is overweight.

    Returns
    -------
    pandas.Series
        Ordered categorical of :data:`BMI_CLASSES`, named ``"bmi_class"``; NaN
        when BMI is missing.
    """
    return _band(df, "bmi", [-np.inf, 18.5, 25, 30, 35, 40], BMI_CLASSES, "bmi_class")


def derived_features(df: pd.DataFrame) -> pd.DataFrame:
    """Compute every derived feature.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records.

    Returns
    -------
    pandas.DataFrame
        Same index as ``df`` with columns ``comorbidity_count`` (Int64, 4C
        definition), ``nlr``, ``spo2_fio2``, ``urea_creatinine_ratio``
        (float64), ``age_band_4c``, ``age_band_opensafely`` and ``bmi_class``
        (ordered categoricals). See each function for its definition.
    """
    parts = [
        comorbidity_count(df),
        neutrophil_lymphocyte_ratio(df),
        spo2_fio2_ratio(df),
        urea_creatinine_ratio(df),
        age_band_4c(df),
        age_band_opensafely(df),
        bmi_class(df),
    ]
    return pd.concat(parts, axis=1)
