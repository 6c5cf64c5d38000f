"""Update a fitted model's calibration on local patients (the model-updating ladder).

A model trained elsewhere -- here, on synthetic patients -- usually ranks a new
population well but misjudges its absolute risk: the outcome rate differs (case
mix, testing policy, time of admission) and the spread of the log-odds may be too
wide or too narrow. The standard remedy keeps the trees (so the ranking and the
explanations stay) and re-estimates the map from score to probability, with as
few parameters as the local events support (Steyerberg, *Clinical Prediction
Models*, 2nd ed. 2019, ch. 20; Van Calster et al. 2019, BMC Med 17:230):

``intercept``
    Recalibration in the large: ``logit p' = a + logit p`` (one parameter).
``slope``
    Logistic recalibration: ``logit p' = a + b * logit p`` (intercept and slope).
``refit``
    The calibrator is fitted again on the local raw log-odds
    (:func:`covid_risk.models.fit_calibrator`, method ``"auto"``, unpenalised):
    sigmoid, or isotonic when the events suffice and it is clearly better.

The rule of ``method="auto"``, per outcome, on ``e = min(events, non-events)``:

* ``e < 10``: error -- not even the intercept can be estimated (at least 10
  events per estimated parameter, the usual floor: Peduzzi et al. 1996, J Clin
  Epidemiol 49:1373);
* ``10 <= e < 20``: ``intercept`` (one parameter);
* ``20 <= e < 1000``: ``slope`` (two parameters). Steyerberg et al. (2004), Stat
  Med 23:2567, found that re-estimating the intercept and slope was already
  beneficial with small updating sets, while revising the model itself needed far
  more data; the calibration slope of an imported model is rarely 1 (0.6-2.1
  in the real cohorts that motivated this module);
* ``e >= 1000``: ``refit`` -- only then may the flexible (isotonic) calibrator be
  considered (:data:`~covid_risk.models._calibration.ISOTONIC_MIN_EVENTS`; a
  flexible calibration curve needs at least 200 events and 200 non-events, Van
  Calster et al. 2016, J Clin Epidemiol 74:167).

Both updates fold into the existing calibrator types exactly -- a sigmoid
calibrator ``sigmoid(c + d * raw)`` becomes ``sigmoid(a + b * c + b * d * raw)``,
an isotonic one has its knots' log-odds mapped by ``a + b * logit`` -- so a
recalibrated model is saved and loaded by the unchanged model-file format, and
the explanations (which read the calibrator) still add up. The update is recorded
in ``metadata_["recalibration"]`` (a list, one entry per update): local patients,
events, method per outcome, and the observed/expected ratio and calibration slope
on the local patients before and after, with 95 % confidence intervals. "After"
is cross-fitted (each patient scored by an update fitted in 5 folds without
them), so it is not flattered by refitting on the same rows.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from covid_risk.exceptions import CalibrationWarning, CovidRiskError
from covid_risk.models._calibration import (
    Calibrator,
    IsotonicCalibrator,
    SigmoidCalibrator,
    fit_calibrator,
    sigmoid,
)
from covid_risk.models._coherence import apply_coherence
from covid_risk.models._inputs import as_canonical, outcome_labels

__all__ = [
    "MIN_EVENTS_INTERCEPT",
    "MIN_EVENTS_REFIT",
    "MIN_EVENTS_SLOPE",
    "RECALIBRATION_METHODS",
    "RecalibrationError",
    "auto_method",
    "calibration_summary",
    "recalibrate",
    "update_calibrator",
]

RECALIBRATION_METHODS: tuple[str, ...] = ("auto", "intercept", "slope", "refit")
MIN_EVENTS_INTERCEPT: int = 10
"""Fewest events (and non-events) to update the intercept."""
MIN_EVENTS_SLOPE: int = 20
"""Fewest events (and non-events) for ``auto`` to update intercept and slope."""
MIN_EVENTS_REFIT: int = 1000
"""Fewest events (and non-events) for ``auto`` to refit the calibrator."""

_NEEDED = {"intercept": MIN_EVENTS_INTERCEPT, "slope": MIN_EVENTS_SLOPE,
           "refit": MIN_EVENTS_SLOPE}
_FOLDS = 5
_Z = 1.959964


class RecalibrationError(CovidRiskError, ValueError):
    """The local data cannot support the requested recalibration (too few events)."""


def auto_method(events: int, n: int) -> str:
    """Return the update ``method="auto"`` chooses for ``events`` among ``n`` patients.

    Raises
    ------
    RecalibrationError
        When fewer than :data:`MIN_EVENTS_INTERCEPT` events or non-events.
    """
    e = min(int(events), int(n) - int(events))
    if e < MIN_EVENTS_INTERCEPT:
        raise RecalibrationError(_too_few(e, events, n, MIN_EVENTS_INTERCEPT, "any"))
    if e < MIN_EVENTS_SLOPE:
        return "intercept"
    if e < MIN_EVENTS_REFIT:
        return "slope"
    return "refit"


def _too_few(e: int, events: int, n: int, needed: int, what: str, outcome: str = "") -> str:
    rate = min(events, n - events) / n if n else 0.0
    more = (f" (about {math.ceil(needed / rate):,} patients at this outcome rate)"
            if rate > 0 else "")
    name = f" of {outcome!r}" if outcome else ""
    return (
        f"Too few events to recalibrate{name}: {events} events and {n - events} non-events "
        f"among {n} patients; {what} update needs at least {needed} of each{more}. "
        "Collect more local patients, or pass outcomes=[...] to skip this outcome."
    )


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-12, 1 - 1e-12)
    return np.log(p) - np.log1p(-p)


def _fit_intercept(lp: np.ndarray, y: np.ndarray) -> float:
    """Maximum-likelihood intercept of ``y`` with offset ``lp`` (Newton, 1-D)."""
    a = 0.0
    for _ in range(100):
        p = sigmoid(a + lp)
        step = float(np.sum(y - p)) / max(float(np.sum(p * (1 - p))), 1e-12)
        a += step
        if abs(step) < 1e-10:
            break
    return a


def _fit_update(lp: np.ndarray, y: np.ndarray, method: str) -> tuple[float, float]:
    """Return ``(a, b)`` of ``logit p' = a + b * lp`` for ``intercept`` or ``slope``."""
    if method == "intercept":
        return _fit_intercept(lp, y), 1.0
    fitted = SigmoidCalibrator.fit(lp, y)
    return fitted.intercept, fitted.slope


def update_calibrator(calibrator: Calibrator, a: float, b: float) -> Calibrator:
    """Return ``calibrator`` followed by ``logit p' = a + b * logit p``, in the same type.

    Parameters
    ----------
    calibrator : SigmoidCalibrator or IsotonicCalibrator
        The model's calibrator.
    a, b : float
        Intercept and slope of the update (``b > 0``).
    """
    if not b > 0:
        raise RecalibrationError(f"The recalibration slope must be positive; got {b:.3g}.")
    if isinstance(calibrator, SigmoidCalibrator):
        return SigmoidCalibrator(intercept=a + b * calibrator.intercept,
                                 slope=b * calibrator.slope)
    if isinstance(calibrator, IsotonicCalibrator):
        return IsotonicCalibrator(x=calibrator.x,
                                  logit_p=tuple(a + b * v for v in calibrator.logit_p))
    raise TypeError(f"Cannot update a {type(calibrator).__name__}.")


def _slope_with_se(y: np.ndarray, p: np.ndarray) -> tuple[float, float, float]:
    """Return (intercept, slope, SE of slope) of the logistic fit of ``y`` on ``logit p``."""
    lp = _logit(p)
    fitted = SigmoidCalibrator.fit(lp, y)
    q = sigmoid(fitted.intercept + fitted.slope * lp)
    w = q * (1 - q)
    info = np.array([[w.sum(), (w * lp).sum()], [(w * lp).sum(), (w * lp * lp).sum()]])
    cov = np.linalg.pinv(info)
    return fitted.intercept, fitted.slope, float(math.sqrt(max(cov[1, 1], 0.0)))


def calibration_summary(y: Any, p: Any) -> dict[str, Any]:
    """Return observed/expected and calibration slope with 95 % confidence intervals.

    O/E's interval is ``exp(ln(O/E) +- 1.96 * sqrt(1/O - 1/n))`` (Debray et al. 2017,
    BMJ 356:i6460); the slope's is Wald's, from the logistic regression of the
    outcome on the predicted log-odds.

    Parameters
    ----------
    y : array-like of {0, 1}
        Outcomes.
    p : array-like of float
        Predicted probabilities.
    """
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    observed, expected, n = float(y.sum()), float(p.sum()), y.size
    oe = observed / expected
    half = _Z * math.sqrt(max(1 / max(observed, 1.0) - 1 / n, 0.0))
    _, slope, se = _slope_with_se(y, p)
    r = 4
    return {
        "n": int(n), "events": int(observed),
        "observed_rate": round(observed / n, r), "mean_predicted": round(expected / n, r),
        "oe": round(oe, r),
        "oe_ci": [round(oe * math.exp(-half), r), round(oe * math.exp(half), r)],
        "slope": round(slope, r),
        "slope_ci": [round(slope - _Z * se, r), round(slope + _Z * se, r)],
    }


def _update_outcome(
    calibrator: Calibrator, raw: np.ndarray, y: np.ndarray, method: str
) -> Calibrator:
    if method == "refit":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CalibrationWarning)
            fitted, _ = fit_calibrator(raw, y, method="auto", prior_sd=None)
        return fitted
    a, b = _fit_update(_logit(calibrator.transform(raw)), y, method)
    return update_calibrator(calibrator, a, b)


def _cross_fitted(
    calibrator: Calibrator, raw: np.ndarray, y: np.ndarray, method: str, seed: int
) -> np.ndarray:
    out = np.empty_like(raw)
    folds = np.random.default_rng(seed).permutation(raw.size) % _FOLDS
    for k in range(_FOLDS):
        test = folds == k
        train_y = y[~test]
        if train_y.min() == train_y.max():
            out[test] = calibrator.transform(raw[test])
            continue
        try:
            fold_cal = _update_outcome(calibrator, raw[~test], train_y, method)
        except RecalibrationError:
            fold_cal = _update_outcome(calibrator, raw[~test], train_y, "intercept")
        out[test] = fold_cal.transform(raw[test])
    return out


def recalibrate(
    cohort: Any,
    *,
    model: Any = None,
    setting: str = "admission",
    outcomes: Sequence[str] | None = None,
    method: str = "auto",
    random_state: int | None = None,
) -> Any:
    """Return a copy of ``model`` whose calibration is updated on local patients.

    The trees are kept (ranking, AUROC and explanations unchanged); only each
    outcome's calibrator is updated, by the ladder and rule in the module
    docstring (:mod:`covid_risk.models._recalibrate`).

    Parameters
    ----------
    cohort : pandas.DataFrame or records
        Local patients with their predictors and one yes/no column per outcome to
        update (validated like any input).
    model : RiskModel, optional
        Model to update; default the bundled model of ``setting``.
    setting : {"admission", "community"}, default="admission"
        Setting of the bundled model (ignored when ``model`` is given).
    outcomes : sequence of str, optional
        Outcomes to update; default every outcome of the model with a column in
        ``cohort``. The others keep their calibrators.
    method : {"auto", "intercept", "slope", "refit"}, default="auto"
        ``"slope"`` updates intercept and slope. ``"auto"`` chooses per outcome
        by the number of events (module docstring).
    random_state : int or None, default=None
        Seeds the folds of the cross-fitted "after" metrics (default 0).

    Returns
    -------
    RiskModel
        A new model; ``metadata_["recalibration"]`` records the update.

    Raises
    ------
    RecalibrationError
        When an outcome has too few events or non-events for the method (the
        message says how many are needed).
    """
    from covid_risk.models._default import default_model

    if method not in RECALIBRATION_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, RECALIBRATION_METHODS))}; got {method!r}."
        )
    base = default_model(setting) if model is None else model
    base._check_fitted()
    canonical = as_canonical(cohort)
    if outcomes is None:
        wanted = tuple(o for o in base.outcomes_ if o in canonical.columns)
        if not wanted:
            raise ValueError(
                "The local cohort has no outcome column of this model; it needs one yes/no "
                f"column per outcome to update ({', '.join(base.outcomes_)})."
            )
    else:
        wanted = (outcomes,) if isinstance(outcomes, str) else tuple(dict.fromkeys(outcomes))
        for o in wanted:
            base._check_outcome(o)
    seed = 0 if random_state is None else int(random_state)
    X = base.model_matrix(canonical).to_numpy(dtype="float64")
    compiled = base.compile()
    raw_all = compiled.raw(X, base.outcomes_, threads=1)
    labels = {o: outcome_labels(canonical, o) for o in wanted}

    # check every outcome before fitting any
    chosen: dict[str, str] = {}
    for o in wanted:
        y = labels[o][~np.isnan(labels[o])]
        events, n = int(y.sum()), int(y.size)
        if method == "auto":
            try:
                chosen[o] = auto_method(events, n)
            except RecalibrationError:
                raise RecalibrationError(
                    _too_few(min(events, n - events), events, n, MIN_EVENTS_INTERCEPT,
                             "an intercept-only", o)
                ) from None
        else:
            needed = _NEEDED[method]
            if min(events, n - events) < needed:
                raise RecalibrationError(
                    _too_few(min(events, n - events), events, n, needed,
                             f"a {method!r}", o)
                )
            chosen[o] = method

    calibrators = dict(base.calibrators_)
    before = apply_coherence({o: base.calibrators_[o].transform(raw_all[o])
                              for o in base.outcomes_})
    crossed = {o: base.calibrators_[o].transform(raw_all[o]) for o in base.outcomes_}
    for o in wanted:
        keep = ~np.isnan(labels[o])
        raw, y = raw_all[o][keep], labels[o][keep]
        calibrators[o] = _update_outcome(base.calibrators_[o], raw, y, chosen[o])
        crossed[o] = calibrators[o].transform(raw_all[o])
        crossed[o][keep] = _cross_fitted(base.calibrators_[o], raw, y, chosen[o], seed)
    after = apply_coherence(crossed)

    record = {
        "n": int(len(canonical)),
        "random_state": seed,
        "method": method,
        "rule": ("auto: min(events, non-events) < 10 error; < 20 intercept; < 1000 intercept "
                 "and slope; else refit") if method == "auto" else "requested",
        "outcomes": {},
    }
    for o in wanted:
        keep = ~np.isnan(labels[o])
        y = labels[o][keep]
        record["outcomes"][o] = {
            "method": chosen[o],
            "n": int(y.size),
            "events": int(y.sum()),
            "before": calibration_summary(y, before[o][keep]),
            "after": calibration_summary(y, after[o][keep]),
            "calibrator": calibrators[o].method,
        }
    metadata = copy.deepcopy(base.metadata_)
    metadata["recalibration"] = [*metadata.get("recalibration", []), record]
    new = type(base)(**base.get_params())
    return new._set_fitted(
        outcomes=base.outcomes_, boosters=dict(base.boosters_), calibrators=calibrators,
        feature_names=base.feature_names_, metadata=metadata, version=base.version_,
    )
