"""The model matrix: the numbers the risk models see, in a fixed order.

Every model in :mod:`covid_risk.models` (the LightGBM boosters and the
logistic-regression baseline) reads the canonical patient DataFrame through
:func:`model_matrix`, so the choice of inputs, their order and their encoding is
made once, here.

What goes in
------------
For a setting, the matrix has one column per canonical predictor of that setting
(:data:`covid_risk.schema.COMMUNITY_PREDICTORS` or
:data:`covid_risk.schema.ADMISSION_PREDICTORS`, in schema order), followed by a
few derived features (:data:`DERIVED_FEATURES`):

``comorbidity_count``
    Number of the eleven ISARIC 4C comorbidities present (missing flags count as
    absent), from :func:`covid_risk.features.comorbidity_count`.
``nlr`` (admission only)
    Neutrophil-to-lymphocyte ratio.
``spo2_fio2`` (admission only)
    SpO2 (%) divided by FiO2 (fraction); FiO2 is taken as 0.21 on room air.

The derived features come from
:data:`covid_risk.features.derived.DERIVED_DEFINITIONS`, so their definitions
(and their NaN rules for missing or zero denominators) are the features
module's; :class:`RowRecipe` builds one record's row from the same definitions.
The urea/creatinine ratio is deliberately *not* an input: it
rises with urea, and as a free input next to a constrained urea it would let the
predicted risk fall as urea rises (the boosters see urea and creatinine and can
form the ratio themselves).

Encoding
--------
Every column is float64 and missing is NaN (LightGBM learns where missing values
go). Booleans are 1.0/0.0. Category fields are coded by their position in the
schema's ``categories`` (``sex``: female 0, male 1; ``ethnicity``: white 0,
south_asian 1, black 2, mixed 3, other 4; ``smoking``: never 0, former 1,
current 2; ``variant_period``: wild_type 0, alpha 1, delta 2, omicron 3), so the
vocabulary is owned here and never re-derived from the data (the LightGBM pandas
categorical-remapping trap). A category value outside the vocabulary becomes NaN
with a :class:`~covid_risk.exceptions.DataQualityWarning`; canonical frames from
:func:`covid_risk.validate` never contain one.

Monotone constraints
--------------------
:func:`monotone_constraints` gives, per outcome, the direction in which risk may
move when one input rises with everything else fixed (+1 never falls, -1 never
rises, 0 free). Only directions that are clinically clear are constrained, and
they differ by outcome: for death, deterioration and hospitalisation risk does
not fall with age, comorbidity count, respiratory rate, urea, CRP or being on
oxygen, and does not rise with SpO2, SpO2/FiO2, GCS or vaccine doses. ICU
admission and invasive ventilation are *not* constrained in age, comorbidity
count or GCS, because the ceiling of care makes the very old, frail and
confused less likely to be admitted to intensive care even though they are
sicker; they keep the respiratory constraints. Acute kidney injury is
constrained in urea and creatinine only, venous thromboembolism in D-dimer only.
See :data:`MONOTONE_DIRECTIONS`.

A constraint holds for the whole prediction, not only for its own column, only
when every derived input that moves with the field is constrained the same way:
SpO2/FiO2 rises with SpO2 and both are -1; the comorbidity count rises with each
4C comorbidity flag, but the flags themselves are free, so no direction is
claimed for a single comorbidity. Changing ``on_oxygen`` also changes whether
SpO2/FiO2 is known, so its +1 applies to the column only.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from covid_risk.exceptions import DataQualityWarning
from covid_risk.features.derived import DERIVED_DEFINITIONS
from covid_risk.schema import (
    ADMISSION_PREDICTORS,
    COMMUNITY_PREDICTORS,
    FIELDS,
    PREDICTORS,
    SETTING_OUTCOMES,
    SETTINGS,
    as_float,
)

__all__ = [
    "DERIVED_FEATURES",
    "MONOTONE_DIRECTIONS",
    "RowRecipe",
    "feature_names",
    "matrix_spec",
    "matrix_spec_hash",
    "model_matrix",
    "monotone_constraints",
]

DERIVED_FEATURES: dict[str, tuple[str, ...]] = {
    "community": ("comorbidity_count",),
    "admission": ("comorbidity_count", "nlr", "spo2_fio2"),
}
"""Derived features appended after the canonical predictors, per setting."""

_PREDICTORS: dict[str, tuple[str, ...]] = {
    "community": COMMUNITY_PREDICTORS,
    "admission": ADMISSION_PREDICTORS,
}

_SEVERITY_UP = ("age", "comorbidity_count", "respiratory_rate", "urea", "crp", "on_oxygen")
_SEVERITY_DOWN = ("spo2", "spo2_fio2", "gcs", "vaccine_doses")
_RESPIRATORY_UP = ("respiratory_rate", "crp", "on_oxygen", "urea")
_RESPIRATORY_DOWN = ("spo2", "spo2_fio2")


def _directions(up: tuple[str, ...], down: tuple[str, ...]) -> dict[str, int]:
    return {**{f: 1 for f in up}, **{f: -1 for f in down}}


MONOTONE_DIRECTIONS: dict[str, dict[str, int]] = {
    "death": _directions(_SEVERITY_UP, _SEVERITY_DOWN),
    "deterioration": _directions(_SEVERITY_UP, _SEVERITY_DOWN),
    "hospitalisation": _directions(_SEVERITY_UP, _SEVERITY_DOWN),
    "icu": _directions(_RESPIRATORY_UP, _RESPIRATORY_DOWN),
    "imv": _directions(_RESPIRATORY_UP, _RESPIRATORY_DOWN),
    "aki": _directions(("urea", "creatinine"), ()),
    "vte": _directions(("d_dimer",), ()),
}
"""Per outcome, feature -> +1 (risk never falls as it rises) or -1 (never rises).

Features not listed for an outcome are unconstrained. Features listed but absent
from a setting's matrix (e.g. ``spo2`` in the community setting) are ignored.
"""


def _check_setting(setting: str) -> None:
    if setting not in SETTINGS:
        raise ValueError(
            f"setting must be one of {', '.join(repr(s) for s in SETTINGS)}; got {setting!r}."
        )


def feature_names(setting: str = "admission") -> tuple[str, ...]:
    """Return the model-matrix column names of ``setting``, in order.

    Parameters
    ----------
    setting : {"admission", "community"}, default="admission"
        Clinical setting.

    Returns
    -------
    tuple of str
        Canonical predictors in schema order, then :data:`DERIVED_FEATURES`.
    """
    _check_setting(setting)
    return _PREDICTORS[setting] + DERIVED_FEATURES[setting]


def monotone_constraints(
    setting: str, outcome: str, *, enabled: bool = True
) -> list[int]:
    """Return LightGBM's ``monotone_constraints`` vector for one outcome.

    Parameters
    ----------
    setting : {"admission", "community"}
        Clinical setting (fixes the column order).
    outcome : str
        Outcome the booster predicts.
    enabled : bool, default=True
        ``False`` gives all zeros (no constraint).

    Returns
    -------
    list of int
        One entry per column of :func:`feature_names`, each -1, 0 or +1.
    """
    names = feature_names(setting)
    if not enabled:
        return [0] * len(names)
    if outcome not in MONOTONE_DIRECTIONS:
        raise ValueError(
            f"Unknown outcome {outcome!r}; known outcomes: {', '.join(MONOTONE_DIRECTIONS)}."
        )
    directions = MONOTONE_DIRECTIONS[outcome]
    return [int(directions.get(name, 0)) for name in names]


def _encode_category(df: pd.DataFrame, name: str) -> np.ndarray:
    """Code a category column by its position in the schema vocabulary (NaN = missing)."""
    if name not in df.columns:
        return np.full(len(df), np.nan)
    categories = FIELDS[name].categories
    col = df[name]
    codes = pd.Categorical(col, categories=list(categories)).codes
    out = codes.astype("float64")
    out[codes < 0] = np.nan
    unknown = col.notna().to_numpy() & np.isnan(out)
    if unknown.any():
        bad = sorted({str(v) for v in col[unknown]})[:5]
        warnings.warn(
            f"Field {name!r} has value(s) {', '.join(repr(b) for b in bad)} outside "
            f"{FIELDS[name].allowed_text()}; they are treated as missing. "
            "Run covid_risk.validate on the records first to catch this as an error.",
            DataQualityWarning,
            stacklevel=3,
        )
    return out


def _derived(df: pd.DataFrame, setting: str) -> dict[str, np.ndarray]:
    out = {}
    for name in DERIVED_FEATURES[setting]:
        definition = DERIVED_DEFINITIONS.get(name)
        if definition is None:  # pragma: no cover - guards a renamed feature
            raise RuntimeError(
                f"covid_risk.features.derived has no definition of {name!r}; "
                "the model matrix needs it."
            )
        out[name] = np.asarray(definition.column(df), dtype="float64")
    return out


class RowRecipe:
    """The model-matrix row of one record, built from its parsed values without pandas.

    The same recipe as :func:`model_matrix`: predictors are put at their column,
    derived features come from the same definitions
    (:data:`covid_risk.features.derived.DERIVED_DEFINITIONS`, their ``one`` method),
    and a field not given is missing (NaN).

    Parameters
    ----------
    names : sequence of str
        The model-matrix columns, in order (a model's ``feature_names_``).

    Raises
    ------
    ValueError
        When a column is neither a schema predictor nor a defined derived feature.

    Examples
    --------
    >>> recipe = RowRecipe(feature_names("community"))
    >>> row = recipe.row({"age": 70.0, "sex": 1.0, "diabetes": 1.0})
    >>> float(row[0]), float(row[-1])
    (70.0, 1.0)
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names: tuple[str, ...] = tuple(names)
        self._positions: dict[str, int] = {}
        self._derived: list[tuple[int, object]] = []
        for j, name in enumerate(self.names):
            if name in DERIVED_DEFINITIONS:
                self._derived.append((j, DERIVED_DEFINITIONS[name].one))
            elif name in PREDICTORS:
                self._positions[name] = j
            else:
                raise ValueError(f"model feature {name!r} has no row recipe")
        self._template = [math.nan] * len(self.names)

    def row(self, values: Mapping[str, float]) -> np.ndarray:
        """Return the float64 row of one record's values (field -> float, NaN = missing)."""
        row = self._template.copy()
        positions = self._positions
        for name, x in values.items():
            j = positions.get(name)
            if j is not None:
                row[j] = x
        for j, one in self._derived:
            row[j] = one(values)
        return np.array(row, dtype=np.float64)


def model_matrix(df: pd.DataFrame, *, setting: str = "admission") -> pd.DataFrame:
    """Return the float model matrix of a canonical patient DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
        Canonical patient records (as returned by :func:`covid_risk.validate` or
        :func:`covid_risk.make_cohort`). Predictor columns that are absent count
        as missing; other columns (outcomes, true risks, ids) are ignored.
    setting : {"admission", "community"}, default="admission"
        Clinical setting; fixes which columns go in.

    Returns
    -------
    pandas.DataFrame
        float64, same index as ``df``, columns :func:`feature_names` in order.

    Examples
    --------
    >>> import pandas as pd
    >>> m = model_matrix(pd.DataFrame({"age": [70.0], "sex": ["male"]}), setting="community")
    >>> float(m.loc[0, "age"]), float(m.loc[0, "sex"])
    (70.0, 1.0)
    """
    _check_setting(setting)
    columns: dict[str, np.ndarray] = {}
    for name in _PREDICTORS[setting]:
        if FIELDS[name].kind == "category":
            columns[name] = _encode_category(df, name)
        else:
            columns[name] = as_float(df, name)
    columns.update(_derived(df, setting))
    return pd.DataFrame(columns, index=df.index, columns=list(feature_names(setting)))


def matrix_spec(setting: str = "admission") -> dict:
    """Return a JSON-able description of the model matrix of ``setting``.

    Stored in every model file so that a model is never fed a matrix built by
    different rules: the columns, where each comes from, category vocabularies
    and the monotone directions per outcome.
    """
    _check_setting(setting)
    features = []
    for name in feature_names(setting):
        if name in FIELDS:
            f = FIELDS[name]
            entry: dict = {"name": name, "source": "schema", "kind": f.kind, "unit": f.unit}
            if f.kind == "category":
                entry["codes"] = {c: i for i, c in enumerate(f.categories)}
        else:
            entry = {"name": name, "source": "derived", "kind": "float"}
        features.append(entry)
    return {
        "setting": setting,
        "features": features,
        "monotone": {
            o: {k: v for k, v in MONOTONE_DIRECTIONS[o].items() if k in feature_names(setting)}
            for o in SETTING_OUTCOMES[setting]
        },
    }


def matrix_spec_hash(spec: Mapping | None = None, *, setting: str = "admission") -> str:
    """Return the SHA-256 of a matrix spec's canonical JSON (default: the current one)."""
    spec = matrix_spec(setting) if spec is None else spec
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
