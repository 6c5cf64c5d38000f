"""Baselines the LightGBM model is compared with, behind the same predictor interface.

Every baseline has ``name``, ``outcomes_`` and ``predict_proba(df, outcome=None)``
(a DataFrame with one probability column per outcome, or a Series for one), so
:func:`covid_risk.evaluate` treats it exactly like a :class:`RiskModel`.

:class:`LogisticBaseline`
    Logistic regression on the same model matrix as the boosters. Continuous
    features: median imputation, a missing-value indicator (where the training
    data had missing values) and a cubic B-spline basis with knots at
    quantiles; yes/no features: missing as "no" plus an indicator; category
    features: one-hot with a missing column. Standardised, L2-penalised, with
    the penalty ``C`` chosen by 3-fold cross-validated log loss on the training
    rows (grid :data:`LOGISTIC_C_GRID`), one model per outcome. It is fitted on
    every row given to ``fit`` -- for a fair comparison, the same cohort the
    boosters were trained on (the boosters see only its boosting split, so
    this favours the baseline).
:class:`ClinicalScoreBaseline`
    A published clinical score turned into probabilities:

    ``"4c_mortality"`` (death)
        The published in-hospital mortality per 4C score in the ISARIC 4C
        validation cohort (Knight et al. 2020; ``published_targets.json``), with
        a continuity correction ``(deaths + 0.5) / (n + 1)`` from the published
        counts so that score 0 (0 of 160 died) is not a probability of zero. No
        fitting. Other outcomes, when asked for, use a 1-D logistic
        recalibration like CURB-65.
    ``"4c_deterioration"`` (deterioration)
        The published 4C Deterioration coefficients
        (:func:`covid_risk.features.four_c_deterioration_lp`); the intercept is
        not published, so it is re-estimated on the training rows (logistic
        regression with the linear predictor as offset: slope fixed at 1).
        Missing inputs are imputed with the training medians (binary inputs as
        "no") before the linear predictor is computed.
    ``"curb65"``, ``"news2"``, ``"qsofa"`` (every outcome of the setting)
        ``logit p = a + b * score`` fitted on the training rows per outcome.

    A score component whose input is missing counts as 0 points (as a clinician
    scoring an unmeasured value as normal would), so every patient gets a
    probability.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from covid_risk.exceptions import NotFittedError
from covid_risk.features.matrix import matrix_spec, model_matrix
from covid_risk.models._calibration import SigmoidCalibrator, sigmoid
from covid_risk.models._inputs import as_canonical, outcome_labels
from covid_risk.schema import FIELDS, SETTING_OUTCOMES, SETTINGS, as_float

__all__ = [
    "CLINICAL_SCORES",
    "LOGISTIC_C_GRID",
    "ClinicalScoreBaseline",
    "LogisticBaseline",
    "fit_baselines",
]

LOGISTIC_C_GRID: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
"""Inverse L2 penalties tried by :class:`LogisticBaseline` (after standardisation)."""

CLINICAL_SCORES: dict[str, tuple[str, ...]] = {
    "4c_mortality": ("death",),
    "4c_deterioration": ("deterioration",),
    "curb65": SETTING_OUTCOMES["admission"],
    "news2": SETTING_OUTCOMES["admission"],
    "qsofa": SETTING_OUTCOMES["admission"],
}
"""Clinical score -> outcomes it predicts by default (all admission-setting scores)."""


def _check_outcomes(
    outcomes: Sequence[str] | str | None, allowed: Sequence[str], default: Sequence[str], who: str
) -> tuple[str, ...]:
    chosen = tuple(default) if outcomes is None else (
        (outcomes,) if isinstance(outcomes, str) else tuple(outcomes)
    )
    bad = [o for o in chosen if o not in allowed]
    if bad or not chosen:
        raise ValueError(
            f"{who} cannot predict {bad or list(chosen)!r}; choose from {', '.join(allowed)}."
        )
    return chosen


class _Predictor(BaseEstimator):
    """Shared ``predict_proba`` plumbing of the baselines."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "outcomes_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call 'fit' first."
            )

    def _proba(self, df: pd.DataFrame, outcome: str) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def predict_proba(self, df: Any, outcome: str | None = None) -> pd.DataFrame | pd.Series:
        """Return probabilities per outcome (DataFrame) or for one ``outcome`` (Series)."""
        self._check_fitted()
        if outcome is not None and outcome not in self.outcomes_:
            raise ValueError(
                f"{self.name} does not predict {outcome!r}; it predicts "
                f"{', '.join(self.outcomes_)}."
            )
        canonical = as_canonical(df)
        if outcome is not None:
            return pd.Series(self._proba(canonical, outcome), index=canonical.index, name=outcome)
        return pd.DataFrame(
            {o: self._proba(canonical, o) for o in self.outcomes_}, index=canonical.index
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "outcomes_")


# ----------------------------------------------------------------------------- logistic
class _Design:
    """Imputation, missing indicators, splines and one-hot coding of the model matrix."""

    def __init__(self, setting: str, n_knots: int) -> None:
        self.setting = setting
        self.n_knots = n_knots

    def fit(self, M: pd.DataFrame) -> _Design:
        from sklearn.preprocessing import SplineTransformer

        spec = {f["name"]: f for f in matrix_spec(self.setting)["features"]}
        self.columns_: list[tuple[str, str, Any]] = []
        for name in M.columns:
            x = M[name].to_numpy(dtype="float64")
            missing = np.isnan(x)
            indicator = bool(missing.any())
            present = x[~missing]
            kind = spec[name]["kind"]
            if kind == "category":
                levels = np.unique(present)
                self.columns_.append((name, "onehot", (levels, indicator)))
            elif kind == "bool" or np.unique(present).size <= 2:
                self.columns_.append((name, "binary", (indicator,)))
            elif present.size == 0:
                continue
            else:
                median = float(np.median(present))
                n_unique = np.unique(present).size
                if n_unique <= self.n_knots + 2:
                    self.columns_.append((name, "linear", (median, indicator)))
                    continue
                spline = SplineTransformer(
                    n_knots=self.n_knots, degree=3, knots="quantile", extrapolation="constant"
                ).fit(present.reshape(-1, 1))
                self.columns_.append((name, "spline", (median, indicator, spline)))
        return self

    def transform(self, M: pd.DataFrame) -> np.ndarray:
        blocks: list[np.ndarray] = []
        for name, how, params in self.columns_:
            x = M[name].to_numpy(dtype="float64")
            missing = np.isnan(x)
            if how == "onehot":
                levels, indicator = params
                blocks.append((x[:, None] == levels[None, :]).astype("float64"))
                if indicator:
                    blocks.append(missing[:, None].astype("float64"))
            elif how == "binary":
                (indicator,) = params
                blocks.append(np.where(missing, 0.0, x)[:, None])
                if indicator:
                    blocks.append(missing[:, None].astype("float64"))
            else:
                median, indicator = params[0], params[1]
                filled = np.where(missing, median, x)[:, None]
                blocks.append(params[2].transform(filled) if how == "spline" else filled)
                if indicator:
                    blocks.append(missing[:, None].astype("float64"))
        return np.hstack(blocks)


class LogisticBaseline(_Predictor):
    """Logistic regression with splines on the model matrix (see the module docstring).

    Parameters
    ----------
    setting : {"admission", "community"}, default="admission"
        Clinical setting (fixes the features and default outcomes).
    outcomes : sequence of str, optional
        Default: every outcome of the setting.
    n_knots : int, default=5
        Knots of each continuous feature's cubic spline (quantiles).
    Cs : sequence of float, default=LOGISTIC_C_GRID
        Inverse penalties tried by 3-fold cross-validated log loss.
    random_state : int or None, default=0
        Seeds the cross-validation folds.

    Attributes
    ----------
    outcomes_ : tuple of str
    C_ : dict of str to float
        Chosen penalty per outcome.
    n_design_columns_ : int
        Columns of the spline design matrix.
    """

    name = "logistic_regression"

    def __init__(
        self,
        *,
        setting: str = "admission",
        outcomes: Sequence[str] | None = None,
        n_knots: int = 5,
        Cs: Sequence[float] = LOGISTIC_C_GRID,
        random_state: int | None = 0,
    ):
        self.setting = setting
        self.outcomes = outcomes
        self.n_knots = n_knots
        self.Cs = Cs
        self.random_state = random_state

    def fit(self, cohort: Any, y: None = None) -> LogisticBaseline:
        """Fit one penalised spline logistic regression per outcome on all rows of ``cohort``."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GridSearchCV, StratifiedKFold
        from sklearn.preprocessing import StandardScaler

        if self.setting not in SETTINGS:
            raise ValueError(f"setting must be one of {SETTINGS}; got {self.setting!r}.")
        allowed = SETTING_OUTCOMES[self.setting]
        outcomes = _check_outcomes(self.outcomes, allowed, allowed, "LogisticBaseline")
        cohort = as_canonical(cohort)
        M = model_matrix(cohort, setting=self.setting)
        self.design_ = _Design(self.setting, self.n_knots).fit(M)
        Z = self.design_.transform(M)
        self.scaler_ = StandardScaler().fit(Z)
        Z = self.scaler_.transform(Z)
        self.models_: dict[str, Any] = {}
        self.C_: dict[str, float] = {}
        for outcome in outcomes:
            yo = outcome_labels(cohort, outcome)
            keep = ~np.isnan(yo)
            search = GridSearchCV(
                LogisticRegression(max_iter=1000, tol=1e-5),
                {"C": list(self.Cs)},
                scoring="neg_log_loss",
                cv=StratifiedKFold(3, shuffle=True, random_state=self.random_state),
            )
            # one BLAS thread: lbfgs on a few hundred columns gains nothing from more, and
            # oversubscribed BLAS threads made it 100x slower on a busy 2-core machine
            with threadpool_limits(1):
                search.fit(Z[keep], yo[keep].astype(int))
            self.models_[outcome] = search.best_estimator_
            self.C_[outcome] = float(search.best_params_["C"])
        self.n_design_columns_ = int(Z.shape[1])
        self.outcomes_ = outcomes
        return self

    def _proba(self, df: pd.DataFrame, outcome: str) -> np.ndarray:
        Z = self.scaler_.transform(self.design_.transform(model_matrix(df, setting=self.setting)))
        with threadpool_limits(1):
            return self.models_[outcome].predict_proba(Z)[:, 1]


# ----------------------------------------------------------------------------- scores
def _score_total(df: pd.DataFrame, score: str) -> np.ndarray:
    """Score total with missing components counted as 0 points (float)."""
    from covid_risk import features

    table = {
        "4c_mortality": features.four_c_mortality,
        "curb65": features.curb65,
        "news2": features.news2,
        "qsofa": features.qsofa,
    }[score](df)
    components = [
        c for c in table.columns if c != "total" and pd.api.types.is_integer_dtype(table[c].dtype)
    ]
    values = table[components].to_numpy(dtype="float64", na_value=0.0)
    return values.sum(axis=1)


def _four_c_mortality_table() -> np.ndarray:
    """Return the published mortality per 4C score 0-21, continuity-corrected."""
    ref = resources.files("covid_risk") / "data" / "published_targets.json"
    if not ref.is_file():  # pragma: no cover - the file ships with the package
        raise FileNotFoundError(
            "covid_risk/data/published_targets.json is missing; the 4C Mortality baseline "
            "reads the published mortality per score from it."
        )
    target = json.loads(ref.read_text())["isaric_4c_mortality_validation"]
    n = np.asarray(target["score_histogram_n"], dtype="float64")
    deaths = np.round(np.asarray(target["mortality_pct_by_score"], dtype="float64") / 100 * n)
    return (deaths + 0.5) / (n + 1.0)


_BINARY_LP_INPUTS = ("nosocomial", "chest_infiltrates", "on_oxygen")
_NUMERIC_LP_INPUTS = ("age", "respiratory_rate", "spo2", "urea", "crp", "lymphocytes", "gcs")


class ClinicalScoreBaseline(_Predictor):
    """A clinical score turned into probabilities (see the module docstring).

    Parameters
    ----------
    score : {"4c_mortality", "4c_deterioration", "curb65", "news2", "qsofa"}
        Which score.
    outcomes : sequence of str, optional
        Default :data:`CLINICAL_SCORES` ``[score]``.

    Attributes
    ----------
    outcomes_ : tuple of str
    coefficients_ : dict of str to (float, float)
        Per recalibrated outcome, ``(intercept, slope)`` of
        ``logit p = intercept + slope * score`` (slope 1 for 4C Deterioration).
    """

    def __init__(self, score: str = "4c_mortality", *, outcomes: Sequence[str] | None = None):
        self.score = score
        self.outcomes = outcomes

    @property
    def name(self) -> str:
        """The score's name, e.g. ``"4c_mortality"``."""
        return str(self.score)

    def _check_score(self) -> None:
        if self.score not in CLINICAL_SCORES:
            raise ValueError(
                f"score must be one of {', '.join(repr(s) for s in CLINICAL_SCORES)}; "
                f"got {self.score!r}."
            )

    def _lp_inputs(self, df: pd.DataFrame) -> pd.DataFrame:
        """Copy of ``df`` with the 4C Deterioration inputs imputed (training medians)."""
        out = df.copy()
        for name in _BINARY_LP_INPUTS:
            out[name] = pd.array(
                np.nan_to_num(as_float_or_nan(df, name), nan=0.0).astype(bool), dtype="boolean"
            )
        for name, median in self.medians_.items():
            x = as_float_or_nan(df, name)
            out[name] = np.where(np.isnan(x), median, x)
        if "sex" not in out.columns:
            out["sex"] = "female"
        out["sex"] = out["sex"].fillna("female")
        return out

    def _predictor(self, df: pd.DataFrame) -> np.ndarray:
        if self.score == "4c_deterioration":
            from covid_risk.features import four_c_deterioration_lp

            return four_c_deterioration_lp(self._lp_inputs(df)).to_numpy(dtype="float64")
        return _score_total(df, self.score)

    def fit(self, cohort: Any, y: None = None) -> ClinicalScoreBaseline:
        """Estimate what the score leaves open (intercepts, slopes) on the rows of ``cohort``."""
        self._check_score()
        allowed = SETTING_OUTCOMES["admission"]
        outcomes = _check_outcomes(self.outcomes, allowed, CLINICAL_SCORES[self.score], self.name)
        cohort = as_canonical(cohort)
        if self.score == "4c_deterioration":
            self.medians_ = {}
            for name in _NUMERIC_LP_INPUTS:
                x = as_float_or_nan(cohort, name)
                self.medians_[name] = float(np.nanmedian(x)) if np.isfinite(x).any() else np.nan
        x = self._predictor(cohort)
        self.coefficients_: dict[str, tuple[float, float]] = {}
        for outcome in outcomes:
            if self.score == "4c_mortality" and outcome == "death":
                continue
            yo = outcome_labels(cohort, outcome)
            keep = ~np.isnan(yo)
            if self.score == "4c_deterioration":
                intercept = _offset_intercept(x[keep], yo[keep])
                self.coefficients_[outcome] = (intercept, 1.0)
            else:
                cal = SigmoidCalibrator.fit(x[keep], yo[keep])
                self.coefficients_[outcome] = (cal.intercept, cal.slope)
        self.outcomes_ = outcomes
        return self

    def _proba(self, df: pd.DataFrame, outcome: str) -> np.ndarray:
        x = self._predictor(df)
        if self.score == "4c_mortality" and outcome == "death":
            table = _four_c_mortality_table()
            return table[np.clip(x, 0, table.size - 1).astype(int)]
        a, b = self.coefficients_[outcome]
        return sigmoid(a + b * x)


def as_float_or_nan(df: pd.DataFrame, name: str) -> np.ndarray:
    """Float view of a numeric/boolean canonical column (NaN if absent or missing)."""
    if name in FIELDS and FIELDS[name].kind == "category":  # pragma: no cover - not used so
        raise TypeError(name)
    return as_float(df, name)


def _offset_intercept(offset: np.ndarray, y: np.ndarray) -> float:
    """Maximum-likelihood intercept of ``logit p = a + offset`` (Newton on one parameter)."""
    a = float(np.log(y.mean() / (1 - y.mean())) - np.mean(offset))
    for _ in range(100):
        p = sigmoid(a + offset)
        step = float(np.sum(y - p) / max(np.sum(p * (1 - p)), 1e-12))
        a += step
        if abs(step) < 1e-12:
            break
    return a


def fit_baselines(
    cohort: Any,
    *,
    setting: str = "admission",
    outcomes: Sequence[str] | None = None,
    scores: Sequence[str] | None = None,
    random_state: int | None = 0,
    logistic: bool = True,
) -> dict[str, Any]:
    """Fit every baseline that applies to ``setting`` on the same rows.

    Parameters
    ----------
    cohort : pandas.DataFrame or records
        Training cohort (the one the model is trained on).
    setting : {"admission", "community"}, default="admission"
        The clinical scores apply to the admission setting only.
    outcomes : sequence of str, optional
        Restrict the logistic baseline and the scores to these outcomes.
    scores : sequence of str, optional
        Clinical scores to include (default all of :data:`CLINICAL_SCORES`).
    random_state : int or None, default=0
        Seeds the logistic baseline's cross-validation.
    logistic : bool, default=True
        Include the logistic-regression baseline.

    Returns
    -------
    dict of str to predictor
        ``"logistic_regression"`` and each score's name, fitted.
    """
    cohort = as_canonical(cohort)
    out: dict[str, Any] = {}
    if logistic:
        out["logistic_regression"] = LogisticBaseline(
            setting=setting, outcomes=outcomes, random_state=random_state
        ).fit(cohort)
    if setting != "admission":
        return out
    for score in CLINICAL_SCORES if scores is None else scores:
        wanted = CLINICAL_SCORES[score] if outcomes is None else tuple(
            o for o in CLINICAL_SCORES[score] if o in outcomes
        )
        if wanted:
            out[score] = ClinicalScoreBaseline(score, outcomes=wanted).fit(cohort)
    return out
