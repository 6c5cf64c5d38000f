"""``predict_risk``: one patient's calibrated risks, risk bands and the factors behind them.

This is what a clinician's tool calls. A plain dict goes in; a small frozen
:class:`RiskPrediction` comes out, with one :class:`OutcomeRisk` per outcome and
``to_dict()`` for JSON. A DataFrame goes in; a DataFrame of probabilities comes out.

Risk bands
----------
The same four bands (:data:`covid_risk.labels.RISK_BANDS`, re-exported here) are
used for every outcome, with cut-offs on the calibrated probability chosen to
bracket the mortality of the ISARIC 4C risk groups
(1.2 / 9.9 / 31.4 / 61.5 %):

============  ======================
band          probability
============  ======================
low           below 3 %
intermediate  3 % to below 15 %
high          15 % to below 50 %
very high     50 % or more
============  ======================

Missing values
--------------
Every field except age and sex may be missing. LightGBM sends a missing value
down the branch learned for missing values during training, so a prediction is
always made; fields that matter most for the setting are listed in the
prediction's ``warnings`` when they are missing, so the caller knows the estimate
would sharpen if they were measured.

Speed
-----
One dict takes a fast path (:mod:`covid_risk.prediction._fastpath`) that uses the general path's
own pieces without pandas: :func:`covid_risk.validation.parse_patient` (validate's
parsers, limits and cross-field rules for one record), the model-matrix row recipe
(:class:`covid_risk.features.matrix.RowRecipe`), and the model's compiled view
(:class:`covid_risk.models.CompiledModel`, which ``predict_proba`` and ``explain`` use
too), asking each booster through LightGBM's single-row C API with one thread
(explanations use LightGBM's own TreeSHAP, shared with a helper thread while a core is
idle). The fast path only takes records that are unremarkable; anything unusual -- an
unknown field, an implausible or impossible value, a spelling it leaves to validate --
goes through the normal path (:func:`covid_risk.validate`, the model's
``predict_proba`` and :func:`covid_risk.explain`), so errors and warnings are always
the normal path's. Both paths return the same probabilities, factors and warnings, bit
for bit (tested on thousands of random patients). ``predict_risk`` is safe to call from
many threads at once.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covid_risk.exceptions import ValidationError
from covid_risk.labels import RISK_BANDS, risk_band, risk_bands
from covid_risk.prediction._fastpath import fast_predictor
from covid_risk.schema import FIELDS, SETTINGS

__all__ = [
    "RISK_BANDS",
    "IMPORTANT_FIELDS",
    "Factor",
    "OutcomeRisk",
    "RiskPrediction",
    "predict_risk",
    "resolve_model",
    "risk_band",
]

IMPORTANT_FIELDS: dict[str, tuple[str, ...]] = {
    "admission": (
        "respiratory_rate", "spo2", "on_oxygen", "gcs", "urea", "crp", "lymphocytes",
        "chest_infiltrates",
    ),
    "community": (
        "bmi", "ethnicity", "deprivation_quintile", "vaccine_doses", "variant_period",
    ),
}
"""Fields whose absence is reported in a prediction's warnings, per setting."""


@dataclass(frozen=True)
class Factor:
    """One factor pushing a patient's risk up or down.

    Attributes
    ----------
    feature : str
        Model feature name.
    text : str
        What a clinician reads, e.g. ``"Respiratory rate 31 /min"``.
    value : str
        The value as text (``"not recorded"`` when missing).
    unit : str
        Unit of the value ("" when unitless).
    percentage_points : float
        Contribution to the probability, in percentage points (positive raises risk).
    """

    feature: str
    text: str
    value: str
    unit: str
    percentage_points: float

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-able types."""
        return {
            "feature": self.feature,
            "text": self.text,
            "value": self.value,
            "unit": self.unit,
            "percentage_points": round(float(self.percentage_points), 4),
        }


@dataclass(frozen=True)
class OutcomeRisk:
    """Risk of one outcome for one patient.

    Attributes
    ----------
    outcome : str
        Outcome name (``"death"``, ``"icu"``, ...).
    label : str
        Outcome label for people.
    probability : float
        Calibrated probability in [0, 1].
    band : str
        Risk band (see :data:`RISK_BANDS`).
    raising : tuple of Factor
        Top factors raising the risk, largest first.
    lowering : tuple of Factor
        Top factors lowering the risk, largest first.
    baseline_probability : float or None
        Risk of a patient the model knows nothing about (None without explanation).
    note : str
        Anything the reader should know (e.g. the coherence step changed the value).
    """

    outcome: str
    label: str
    probability: float
    band: str
    raising: tuple[Factor, ...] = ()
    lowering: tuple[Factor, ...] = ()
    baseline_probability: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-able types."""
        return {
            "outcome": self.outcome,
            "label": self.label,
            "probability": float(self.probability),
            "percent": round(100.0 * float(self.probability), 1),
            "band": self.band,
            "baseline_probability": (
                None if self.baseline_probability is None else float(self.baseline_probability)
            ),
            "raising": [f.to_dict() for f in self.raising],
            "lowering": [f.to_dict() for f in self.lowering],
            "note": self.note,
        }


@dataclass(frozen=True)
class RiskPrediction:
    """A patient's risks for every outcome of a setting.

    Index it by outcome (``prediction["death"]``) for an :class:`OutcomeRisk`.

    Attributes
    ----------
    setting : str
        ``"admission"`` or ``"community"``.
    risks : tuple of OutcomeRisk
        One per outcome, in the model's order.
    model_version : str
        Version and identity of the model that made the prediction.
    warnings : tuple of str
        Implausible values, missing important fields and how they were handled.
    """

    setting: str
    risks: tuple[OutcomeRisk, ...]
    model_version: str
    warnings: tuple[str, ...] = field(default=())

    def __getitem__(self, outcome: str) -> OutcomeRisk:
        for risk in self.risks:
            if risk.outcome == outcome:
                return risk
        raise KeyError(
            f"No prediction for {outcome!r}; this prediction has "
            f"{', '.join(r.outcome for r in self.risks)}."
        )

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Outcomes predicted."""
        return tuple(r.outcome for r in self.risks)

    @property
    def probabilities(self) -> dict[str, float]:
        """Outcome -> probability."""
        return {r.outcome: float(r.probability) for r in self.risks}

    def __repr__(self) -> str:
        parts = ", ".join(f"{r.outcome} {100 * r.probability:.1f}% {r.band}" for r in self.risks)
        warn = f"; {len(self.warnings)} warning(s)" if self.warnings else ""
        return f"RiskPrediction({self.setting}: {parts}{warn})"

    @property
    def summary(self) -> pd.DataFrame:
        """One row per outcome: probability, band and the top factor each way."""
        rows = []
        for r in self.risks:
            rows.append(
                {
                    "outcome": r.outcome,
                    "probability": r.probability,
                    "band": r.band,
                    "top_raising": r.raising[0].text if r.raising else "",
                    "top_lowering": r.lowering[0].text if r.lowering else "",
                }
            )
        return pd.DataFrame(rows).set_index("outcome")

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-able types (for tools calling the library)."""
        return {
            "setting": self.setting,
            "model_version": self.model_version,
            "risks": {r.outcome: r.to_dict() for r in self.risks},
            "warnings": list(self.warnings),
        }


# ------------------------------------------------------------------------------ models
_MODEL_CACHE: dict[tuple[str, str | None], Any] = {}
"""(SHA-256 of the file's bytes, SHA-256 of the signing key or None) -> loaded model."""
_STAT_CACHE: dict[tuple, tuple[str, str | None]] = {}
"""(path, inode, size, mtime, ctime, key digest) -> the content key of :data:`_MODEL_CACHE`."""
_MODEL_CACHE_LOCK = threading.Lock()


def _signing_key_digest() -> str | None:
    """SHA-256 of the signing key in effect (``COVID_RISK_MODEL_KEY``), or None."""
    key = os.environ.get("COVID_RISK_MODEL_KEY") or None
    return None if key is None else hashlib.sha256(key.encode("utf-8")).hexdigest()


def resolve_model(model: Any, setting: str) -> Any:
    """Return a fitted model from ``None`` (bundled default), a path or a model object.

    Loaded files are cached by the SHA-256 of their bytes *and* the signing key in
    effect (``COVID_RISK_MODEL_KEY``), so a tool calling
    ``predict_risk(patient, model="my.crmodel")`` in a loop loads the file once, a
    changed file is loaded (and verified) again, and setting or changing the key
    re-verifies the file exactly as :func:`covid_risk.load` would (an unsigned file
    is then refused). An unchanged file (same inode, size, modification and
    status-change times) is not re-read to find its hash.
    """
    if setting not in SETTINGS:
        raise ValueError(
            f"setting must be one of {', '.join(repr(s) for s in SETTINGS)}; got {setting!r}."
        )
    if model is None:
        from covid_risk.models import default_model

        return default_model(setting)
    if isinstance(model, (str, os.PathLike)):
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"Model file {str(path)!r} does not exist.")
        stat = path.stat()
        signer = _signing_key_digest()
        stat_key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns,
                    stat.st_ctime_ns, signer)
        with _MODEL_CACHE_LOCK:
            content_key = _STAT_CACHE.get(stat_key)
            cached = _MODEL_CACHE.get(content_key) if content_key is not None else None
        if cached is None:
            from covid_risk.models import load_bytes

            data = path.read_bytes()
            content_key = (hashlib.sha256(data).hexdigest(), signer)
            with _MODEL_CACHE_LOCK:
                cached = _MODEL_CACHE.get(content_key)
            if cached is None:
                cached = load_bytes(data, source=repr(str(path)))
            with _MODEL_CACHE_LOCK:
                _MODEL_CACHE[content_key] = cached
                _STAT_CACHE[stat_key] = content_key
        return cached
    if not hasattr(model, "predict_proba") or not hasattr(model, "outcomes_"):
        raise TypeError(
            "model must be None (the bundled default), a path to a model file or a fitted "
            f"RiskModel; got {type(model).__name__}."
        )
    return model


def _check_setting(model: Any, setting: str) -> None:
    model_setting = getattr(model, "setting", setting)
    if model_setting != setting:
        raise ValueError(
            f"The model was trained for the {model_setting!r} setting but setting={setting!r} "
            f"was asked for; pass setting={model_setting!r} or a {setting} model."
        )


def _model_version(model: Any) -> str:
    meta = getattr(model, "metadata_", {}) or {}
    version = getattr(model, "version_", None) or meta.get("covid_risk_version", "?")
    ident = meta.get("model_id") or meta.get("training_cohort", {}).get("description", "")
    name = getattr(model, "name", "model")
    return f"covid_risk {version} {name}" + (f" ({ident})" if ident else "")


def _outcomes(model: Any, outcomes: str | Sequence[str] | None) -> tuple[str, ...]:
    available = tuple(model.outcomes_)
    if outcomes is None:
        return available
    wanted = (outcomes,) if isinstance(outcomes, str) else tuple(outcomes)
    unknown = [o for o in wanted if o not in available]
    if unknown or not wanted:
        raise ValueError(
            f"outcomes {unknown or list(wanted)!r} are not predicted by this model; choose from "
            f"{', '.join(available)}."
        )
    return wanted


def _missing_text(setting: str, missing: Sequence[str]) -> list[str]:
    """Return the warning listing important fields not recorded (none when all are)."""
    if not missing:
        return []
    labels = ", ".join(f"{FIELDS[f].label} ({f})" for f in missing)
    return [
        f"Not recorded: {labels}. The model used the path it learned for missing "
        "values; measuring them would sharpen the estimate."
    ]


def _warnings(report: Any, df: pd.DataFrame, setting: str, given: set[str]) -> list[str]:
    out: list[str] = []
    for problem in getattr(report, "implausible", ()) or ():
        out.append(str(problem))
    for col in getattr(report, "unknown_columns", ()) or ():
        out.append(f"Field {col!r} is not part of the patient record and was ignored.")
    missing = [
        f for f in IMPORTANT_FIELDS.get(setting, ())
        if f in df.columns and (f not in given or bool(pd.isna(df[f].iloc[0])))
    ]
    return out + _missing_text(setting, missing)


def _factors(table: pd.DataFrame, direction: str, units: Mapping[str, str]) -> tuple[Factor, ...]:
    rows = table[table["direction"] == direction]
    return tuple(
        Factor(
            feature=str(r.feature),
            text=str(r.factor),
            value=str(r.value),
            unit=units.get(str(r.feature), ""),
            percentage_points=float(r.percentage_points),
        )
        for r in rows.itertuples(index=False)
    )


def _predict_one(
    patient: Mapping[str, Any], model: Any, setting: str, outcomes: tuple[str, ...],
    explain: bool, top: int,
) -> RiskPrediction:
    from covid_risk.validation import validate

    data, report = validate(dict(patient))
    given = {k for k, v in patient.items() if v is not None}
    warnings = _warnings(report, data, setting, given)
    version = _model_version(model)
    risks: list[OutcomeRisk] = []
    if explain:
        from covid_risk.explanation import explain as _explain

        explanations = _explain(data, model=model)
        for o in outcomes:
            ex = explanations[o]
            p = float(ex.probability[0])
            table = ex.factors(0, top=top)
            units = dict(zip(ex.feature_names, ex.units, strict=True))
            risks.append(
                OutcomeRisk(
                    outcome=o, label=FIELDS[o].label, probability=p, band=risk_band(p),
                    raising=_factors(table, "raises", units),
                    lowering=_factors(table, "lowers", units),
                    baseline_probability=float(ex.baseline_probability),
                    note=str(table.attrs.get("note", "") or ""),
                )
            )
    else:
        proba = model.predict_proba(data)
        for o in outcomes:
            p = float(proba[o].iloc[0])
            risks.append(OutcomeRisk(outcome=o, label=FIELDS[o].label, probability=p,
                                     band=risk_band(p)))
    return RiskPrediction(setting=setting, risks=tuple(risks), model_version=version,
                          warnings=tuple(warnings))


def _factor_text(ex: Any, i: int, top: int) -> str:
    """Return the factors of row ``i`` as text, ranked by ``rank_factors``."""
    from covid_risk.explanation import rank_factors
    from covid_risk.labels import describe

    pp = 100.0 * ex.probability_contributions[i]
    ((up, down),) = rank_factors(ex.shap_values[i][None, :], pp[None, :], top)
    return "; ".join(
        f"{describe(ex.feature_names[j], ex.values[i, j])} ({float(pp[j]):+.1f} pp)"
        for j in (*up, *down)
    )


def _predict_frame(
    frame: pd.DataFrame, model: Any, outcomes: tuple[str, ...], explain: bool, top: int,
) -> pd.DataFrame:
    from covid_risk.validation import validate

    data, _report = validate(frame)
    proba = model.predict_proba(data)
    columns: dict[str, Any] = {}
    for o in outcomes:
        p = proba[o].to_numpy(dtype="float64")
        columns[o] = p
        columns[f"{o}_band"] = risk_bands(p)
    out = pd.DataFrame(columns, index=data.index)
    if explain:
        from covid_risk.explanation import explain as _explain

        explanations = _explain(data, model=model)
        for o in outcomes:
            ex = explanations[o]
            out[f"{o}_factors"] = [_factor_text(ex, i, top) for i in range(len(data))]
    return out


def _from_fast(result: Any, model: Any, setting: str) -> RiskPrediction:
    """Turn a :class:`covid_risk.prediction._fastpath.FastResult` into the public result."""
    values = result.values
    nan = math.nan
    missing = [f for f in IMPORTANT_FIELDS.get(setting, ()) if values.get(f, nan) != values.get(
        f, nan)]
    risks = []
    for r in result.outcomes:
        p = r.probability
        risks.append(OutcomeRisk(
            r.outcome, FIELDS[r.outcome].label, p, risk_band(p),
            tuple([Factor(*f) for f in r.raising]) if r.raising else (),
            tuple([Factor(*f) for f in r.lowering]) if r.lowering else (),
            r.baseline_probability, r.note,
        ))
    return RiskPrediction(setting, tuple(risks), _model_version(model),
                          tuple(_missing_text(setting, missing)))


def _predict_bundled_view(
    patient: Mapping[str, Any], setting: str, outcomes: str | Sequence[str] | None,
    explain: bool | None, top: int,
) -> RiskPrediction | None:
    """One dict with the bundled model, straight from its verified file view.

    The view (:func:`covid_risk.models.default_view`) compiles the booster texts with
    LightGBM's C library, so a fresh process answers without importing the ``lightgbm``
    package or scikit-learn. The bundled :class:`RiskModel` gives the same bits (tested);
    it is only loaded when this returns ``None``: a record the fast path leaves to the
    normal path.
    """
    from covid_risk import models

    view = models.default_view(setting)
    _check_setting(view, setting)
    wanted = _outcomes(view, outcomes)
    fast = fast_predictor(view)
    if fast is None:
        return None
    explain_one = True if explain is None else bool(explain)
    result = fast.predict_one(patient, outcomes=wanted, explain=explain_one, top=top)
    return None if result is None else _from_fast(result, view, setting)


def predict_risk(
    patient: Mapping[str, Any] | pd.DataFrame,
    *,
    setting: str = "admission",
    model: Any = None,
    outcomes: str | Sequence[str] | None = None,
    explain: bool | None = None,
    top: int = 5,
) -> RiskPrediction | pd.DataFrame:
    """Predict a patient's risk of each complication, with the factors behind it.

    Parameters
    ----------
    patient : dict or pandas.DataFrame
        One patient as a dict of canonical field names (see
        :func:`covid_risk.field_table`) to values, or a DataFrame of patients.
        Every field except ``age`` and ``sex`` may be left out.
    setting : {"admission", "community"}, default="admission"
        ``"admission"`` for a patient admitted to hospital with COVID-19 (outcomes
        death, ICU, invasive ventilation, deterioration, AKI, VTE);
        ``"community"`` for someone who tested positive outside hospital
        (hospitalisation and death within 28 days).
    model : RiskModel, str or path, optional
        Default: the model bundled with the package for ``setting``.
    outcomes : str or sequence of str, optional
        Only these outcomes (default: all the model predicts).
    explain : bool, optional
        Include the top factors. Default: yes for one patient, no for a DataFrame.
    top : int, default=5
        Factors per direction.

    Returns
    -------
    RiskPrediction or pandas.DataFrame
        For a dict, a :class:`RiskPrediction`; for a DataFrame, one row per patient
        with a probability and a ``<outcome>_band`` column per outcome (and
        ``<outcome>_factors`` text when ``explain=True``).

    Raises
    ------
    ValidationError
        When a value is impossible (the message names the field, value and range).

    Examples
    --------
    >>> import covid_risk as cr
    >>> p = cr.predict_risk({"age": 78, "sex": "male", "respiratory_rate": 28,
    ...                      "spo2": 90, "urea": 11.2, "crp": 140})
    >>> sorted(p.probabilities) == sorted(cr.SETTING_OUTCOMES["admission"])
    True
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 0:
        raise ValueError(f"top must be a whole number >= 0; got {top!r}.")
    if model is None and isinstance(patient, Mapping) and setting in SETTINGS:
        answer = _predict_bundled_view(patient, setting, outcomes, explain, int(top))
        if answer is not None:
            return answer
    resolved = resolve_model(model, setting)
    _check_setting(resolved, setting)
    wanted = _outcomes(resolved, outcomes)
    if isinstance(patient, pd.DataFrame):
        return _predict_frame(patient, resolved, wanted, bool(explain), int(top))
    if not isinstance(patient, Mapping):
        raise ValidationError(
            f"A patient must be a dict of field names to values (or a DataFrame of "
            f"patients); got {type(patient).__name__}."
        )
    explain_one = True if explain is None else bool(explain)
    fast = fast_predictor(resolved)
    if fast is not None:
        result = fast.predict_one(patient, outcomes=wanted, explain=explain_one, top=int(top))
        if result is not None:
            return _from_fast(result, resolved, setting)
    return _predict_one(patient, resolved, setting, wanted, explain_one, int(top))

