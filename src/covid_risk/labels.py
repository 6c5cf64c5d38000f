"""Clinician-readable names, units and value texts for every model feature.

Explanations must speak the language of the ward, not of the code: a factor reads
"Respiratory rate 31 /min" or "4C comorbidity count 2", never ``respiratory_rate``
or ``comorbidity_count``. This module turns any model-matrix column name into

* a **label** (:func:`feature_label`): "Respiratory rate", "Ethnicity: South Asian";
* a **unit** (:func:`feature_unit`): the canonical unit from the schema, or the
  unit of a derived feature ("" when unitless);
* a **value text** (:func:`format_value`): "31 /min", "male", "yes", "not recorded";
* a **factor text** (:func:`describe`): label and value together, as shown to a
  clinician, e.g. "Respiratory rate 31 /min" or "Sex male".

Names it understands
--------------------
- every schema field (:data:`covid_risk.schema.FIELDS`), using its ``label``,
  ``unit`` and ``categories``; a category field given as a number is read as the
  position of the category in the schema's ``categories`` (the integer codes the
  model matrix uses), given as text it is shown as it is;
- every derived feature and clinical score in :data:`DERIVED` (comorbidity count,
  neutrophil-to-lymphocyte ratio, SpO2/FiO2, urea/creatinine ratio, age band,
  BMI class, 4C Mortality, CURB-65, NEWS2, qSOFA, ...);
- one-hot columns of a category field written ``<field>_<category>``,
  ``<field>=<category>`` or ``<field>__<category>`` ("Ethnicity: South Asian");
- missing-value indicators ``<name>_missing`` / ``<name>_is_missing``
  (label "Urea not recorded"; value 1 reads "Urea not recorded", 0 "Urea recorded").

An unknown name raises ``KeyError`` listing what is understood, so a new model
feature without a readable label is caught by the tests rather than shown raw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from covid_risk.schema import FIELDS, Field

__all__ = [
    "DERIVED",
    "RISK_BANDS",
    "UNKNOWN_BAND",
    "FeatureInfo",
    "category_text",
    "describe",
    "feature_info",
    "feature_label",
    "feature_unit",
    "format_number",
    "format_value",
    "labels_for",
    "risk_band",
    "risk_bands",
]

RISK_BANDS: tuple[tuple[str, float], ...] = (
    ("low", 0.03),
    ("intermediate", 0.15),
    ("high", 0.50),
    ("very high", math.inf),
)
"""Risk band name and the probability below which it applies.

The same four bands are used for every outcome, with cut-offs on the calibrated
probability chosen to bracket the mortality of the ISARIC 4C risk groups
(1.2 / 9.9 / 31.4 / 61.5 %): low below 3 %, intermediate 3 % to below 15 %,
high 15 % to below 50 %, very high 50 % or more.
"""

_BAND_NAMES = np.array([name for name, _ in RISK_BANDS], dtype=object)
_BAND_UPPER = np.array([upper for _, upper in RISK_BANDS], dtype="float64")


UNKNOWN_BAND = "unknown"
"""The band of a NaN probability (which a verified model never gives)."""


def risk_band(probability: float) -> str:
    """Return the risk band of a probability (see :data:`RISK_BANDS`).

    Parameters
    ----------
    probability : float
        A probability in [0, 1].

    Returns
    -------
    str
        The band's name; :data:`UNKNOWN_BAND` for NaN (never a real band: a NaN
        risk must not read as "very high" or any other level).

    Examples
    --------
    >>> risk_band(0.01), risk_band(0.03), risk_band(0.2), risk_band(0.5)
    ('low', 'intermediate', 'high', 'very high')
    """
    if probability != probability:
        return UNKNOWN_BAND
    for name, upper in RISK_BANDS:
        if probability < upper:
            return name
    return RISK_BANDS[-1][0]


def risk_bands(probabilities: Any) -> np.ndarray:
    """Return :func:`risk_band` of every probability at once.

    Parameters
    ----------
    probabilities : array-like of float
        Probabilities (NaN gives :data:`UNKNOWN_BAND`, as in :func:`risk_band`).

    Returns
    -------
    ndarray of object
        Band names, same shape as ``probabilities``.

    Examples
    --------
    >>> risk_bands([0.01, 0.03, 0.2, 0.5]).tolist()
    ['low', 'intermediate', 'high', 'very high']
    """
    p = np.asarray(probabilities, dtype="float64")
    idx = np.searchsorted(_BAND_UPPER, p, side="right")
    bands = _BAND_NAMES[np.minimum(idx, len(_BAND_NAMES) - 1)]
    nan = np.isnan(p)
    if nan.any():
        bands = np.where(nan, UNKNOWN_BAND, bands).astype(object)
    return bands


NOT_RECORDED = "not recorded"
NOT_RECORDED_ABSENT = "not recorded (taken as no)"
"""Text shown for a missing value."""


@dataclass(frozen=True)
class FeatureInfo:
    """What a clinician needs to read one model feature.

    Parameters
    ----------
    name : str
        Model-matrix column name.
    label : str
        Readable name, e.g. ``"Respiratory rate"``.
    unit : str
        Unit of the value ("" when unitless).
    kind : {"float", "int", "bool", "category", "indicator", "onehot"}
        How values are shown: numbers with the unit, yes/no, a category name,
        "not recorded"/"recorded" for a missing-value indicator, or yes/no for
        one level of a category.
    categories : tuple of str
        Category names for ``kind="category"`` (index = integer code).
    source : str
        The schema field the feature comes from ("" for derived features that
        combine several fields).
    """

    name: str
    label: str
    unit: str = ""
    kind: str = "float"
    categories: tuple[str, ...] = ()
    source: str = ""


# --- derived features and scores -------------------------------------------------
_DERIVED_LIST: tuple[FeatureInfo, ...] = (
    FeatureInfo("comorbidity_count", "4C comorbidity count", "", "int"),
    FeatureInfo("nlr", "Neutrophil-to-lymphocyte ratio", "", "float"),
    FeatureInfo("spo2_fio2", "SpO2/FiO2 ratio", "", "float"),
    FeatureInfo("urea_creatinine_ratio", "Urea/creatinine ratio", "", "float"),
    FeatureInfo("age_band_4c", "Age band (4C)", "", "category",
                ("<50", "50-59", "60-69", "70-79", ">=80")),
    FeatureInfo("age_band_opensafely", "Age band", "", "category",
                ("18-39", "40-49", "50-59", "60-69", "70-79", "80+")),
    FeatureInfo("bmi_class", "BMI class", "", "category",
                ("underweight", "normal", "overweight", "obese I", "obese II", "obese III")),
    FeatureInfo("four_c_mortality", "4C Mortality Score", "points", "int"),
    FeatureInfo("four_c_deterioration_lp", "4C Deterioration linear predictor", "", "float"),
    FeatureInfo("curb65", "CURB-65 score", "points", "int"),
    FeatureInfo("news2", "NEWS2 score", "points", "int"),
    FeatureInfo("qsofa", "qSOFA score", "points", "int"),
    FeatureInfo("pulse_pressure", "Pulse pressure", "mmHg", "float"),
    FeatureInfo("mean_arterial_pressure", "Mean arterial pressure", "mmHg", "float"),
    FeatureInfo("shock_index", "Shock index", "", "float"),
    FeatureInfo("vaccinated", "Vaccinated", "", "bool"),
)

_ALIASES: dict[str, str] = {
    "n_comorbidities": "comorbidity_count",
    "comorbidities_4c": "comorbidity_count",
    "comorbidity_count_4c": "comorbidity_count",
    "four_c_comorbidity_count": "comorbidity_count",
    "neutrophil_lymphocyte_ratio": "nlr",
    "neutrophil_to_lymphocyte_ratio": "nlr",
    "sf_ratio": "spo2_fio2",
    "spo2_fio2_ratio": "spo2_fio2",
    "s_f_ratio": "spo2_fio2",
    "urea_creatinine": "urea_creatinine_ratio",
    "urea_to_creatinine_ratio": "urea_creatinine_ratio",
    "age_band": "age_band_4c",
    "age_band_os": "age_band_opensafely",
    "four_c_mortality_score": "four_c_mortality",
    "four_c_score": "four_c_mortality",
    "curb65_score": "curb65",
    "curb_65": "curb65",
    "news2_score": "news2",
    "qsofa_score": "qsofa",
    "four_c_deterioration": "four_c_deterioration_lp",
    "map": "mean_arterial_pressure",
}

DERIVED: dict[str, FeatureInfo] = {f.name: f for f in _DERIVED_LIST}
"""Readable label, unit and value kind of every derived feature and score, by name."""

_INDICATOR_SUFFIXES = ("_is_missing", "_missing", "_not_recorded")
_ONEHOT_SEPARATORS = ("=", "__", "_")

# How category values are written for people (anything else: underscores -> spaces).
_CATEGORY_TEXT: dict[str, str] = {
    "south_asian": "South Asian",
    "wild_type": "wild type",
    "black": "Black",
    "white": "White",
    "mixed": "mixed",
    "other": "other",
}


def category_text(category: str) -> str:
    """Return how a category value is written for people ("south_asian" -> "South Asian")."""
    return _CATEGORY_TEXT.get(category, str(category).replace("_", " "))


def _from_field(f: Field) -> FeatureInfo:
    return FeatureInfo(
        name=f.name, label=f.label, unit=f.unit, kind=f.kind, categories=f.categories,
        source=f.name,
    )


def _lookup(name: str) -> FeatureInfo | None:
    """Return the info of ``name`` or ``None`` when it is not understood."""
    if name in FIELDS:
        return _from_field(FIELDS[name])
    key = _ALIASES.get(name, name)
    if key in DERIVED:
        info = DERIVED[key]
        return info if key == name else FeatureInfo(
            name, info.label, info.unit, info.kind, info.categories, info.source
        )
    for suffix in _INDICATOR_SUFFIXES:
        if name.endswith(suffix):
            base = _lookup(name[: -len(suffix)])
            if base is not None:
                return FeatureInfo(
                    name, f"{base.label} not recorded", "", "indicator", (),
                    base.source or base.name,
                )
    for sep in _ONEHOT_SEPARATORS:
        for field_name, f in FIELDS.items():
            prefix = field_name + sep
            if f.kind == "category" and name.startswith(prefix):
                level = name[len(prefix):]
                if level in f.categories:
                    label = f"{f.label}: {category_text(level)}"
                    return FeatureInfo(name, label, "", "onehot", (level,), field_name)
    return None


def feature_info(name: str) -> FeatureInfo:
    """Return label, unit and value kind of the model feature ``name``.

    Raises
    ------
    KeyError
        When ``name`` is neither a schema field, a derived feature, a one-hot level
        of a category field nor a missing-value indicator of one of these; the
        message lists the derived features understood. Add the feature to
        :data:`DERIVED` to give it a readable label.
    """
    info = _lookup(name)
    if info is None:
        raise KeyError(
            f"No readable label for model feature {name!r}. Known: every schema field, "
            f"the derived features {', '.join(DERIVED)}, one-hot levels such as "
            f"'ethnicity_south_asian' and indicators such as 'urea_missing'. "
            f"Add it to covid_risk.labels.DERIVED."
        )
    return info


def feature_label(name: str) -> str:
    """Return the clinician-readable label of a model feature.

    Examples
    --------
    >>> feature_label("respiratory_rate")
    'Respiratory rate'
    >>> feature_label("comorbidity_count")
    '4C comorbidity count'
    >>> feature_label("ethnicity_south_asian")
    'Ethnicity: South Asian'
    """
    return feature_info(name).label


def feature_unit(name: str) -> str:
    """Return the unit of a model feature ("" when it has none).

    Schema fields give their canonical unit (``"/min"``, ``"mmol/L"``,
    ``"fraction"`` for FiO2); derived ratios and counts are unitless, scores are in
    ``"points"``.
    """
    return feature_info(name).unit


def format_number(x: float) -> str:
    """Write a number the way it is read at the bedside.

    Whole numbers without decimals ("31"); otherwise three significant figures,
    never in scientific notation ("36.9", "7.25", "0.214", "1240").
    """
    x = float(x)
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    digits = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    text = f"{x:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pd.NA-free floats
    except TypeError:  # pd.NA raises on bool()
        return True


# How a schema unit is printed after a number (feature_unit keeps the schema spelling).
_DISPLAY_UNITS: dict[str, str] = {"10^9/L": "×10⁹/L", "kg/m2": "kg/m²", "fraction": ""}


def _with_unit(text: str, unit: str) -> str:
    unit = _DISPLAY_UNITS.get(unit, unit)
    if not unit:
        return text
    if unit == "%":
        return text + "%"
    return f"{text} {unit}"


def format_value(name: str, value: Any) -> str:
    """Return the value of a model feature as text with its unit.

    Parameters
    ----------
    name : str
        Model-matrix column or schema field name.
    value : float, int, bool, str or None
        The value as given to the booster (numbers; category fields as their
        integer code) or as recorded (category text, booleans). ``None``, NaN and
        ``pd.NA`` are missing.

    Returns
    -------
    str
        ``"31 /min"``, ``"92%"``, ``"4.5 ×10⁹/L"``, ``"male"``, ``"yes"``, ``"2"``,
        ``"5 (most deprived)"`` or ``"not recorded"``.
    """
    info = feature_info(name)
    if _is_missing(value):
        # A comorbidity a record does not mention counts as absent: the 4C convention,
        # and what the model matrix does with it.
        field = FIELDS.get(name)
        if field is not None and field.group == "comorbidity":
            return NOT_RECORDED_ABSENT
        return NOT_RECORDED
    if info.kind == "indicator":
        return NOT_RECORDED if float(value) else "recorded"
    if info.kind in ("bool", "onehot"):
        if isinstance(value, str):
            return value
        return "yes" if float(value) else "no"
    if info.kind == "category":
        if isinstance(value, str):
            return category_text(value)
        code = float(value)
        if code.is_integer() and 0 <= code < len(info.categories):
            return category_text(info.categories[int(code)])
        return f"code {format_number(code)}"
    text = format_number(float(value))
    if name == "deprivation_quintile" and text in ("1", "5"):
        text += " (least deprived)" if text == "1" else " (most deprived)"
    return _with_unit(text, info.unit)


def describe(name: str, value: Any) -> str:
    """Return label and value as one factor text.

    Examples
    --------
    >>> describe("respiratory_rate", 31)
    'Respiratory rate 31 /min'
    >>> describe("sex", 1)
    'Sex male'
    >>> describe("urea", float("nan"))
    'Urea not recorded'
    >>> describe("ethnicity_south_asian", 1)
    'Ethnicity: South Asian'
    """
    info = feature_info(name)
    if info.kind == "indicator" and not _is_missing(value):
        base = info.label[: -len(" not recorded")]
        return info.label if float(value) else f"{base} recorded"
    if info.kind == "onehot" and not _is_missing(value) and not isinstance(value, str):
        level = category_text(info.categories[0])
        field_label = FIELDS[info.source].label
        return info.label if float(value) else f"{field_label}: not {level}"
    return f"{info.label} {format_value(name, value)}"


def labels_for(names: Iterable[str]) -> tuple[str, ...]:
    """Return the labels of several features, in order."""
    return tuple(feature_label(n) for n in names)
