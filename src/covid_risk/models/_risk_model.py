"""RiskModel: one calibrated LightGBM booster per outcome, behind one estimator.

How a probability is made
-------------------------
1. The records become the canonical DataFrame (validated when they are not
   canonical yet) and then the model matrix (:func:`covid_risk.features.model_matrix`).
2. Each outcome's booster gives raw log-odds (:meth:`RiskModel.predict_raw`).
3. Each outcome's calibrator, fitted on a held-out split, turns them into a
   probability.
4. Coherence: the outcomes of the admission setting are nested -- invasive
   ventilation implies ICU admission, and death, ICU admission and invasive
   ventilation each imply deterioration (ISARIC 4C definition). Separately
   fitted models can disagree by a little, so after calibration the probability
   of a containing outcome is raised to the largest probability of the outcomes
   it contains: ``icu = max(icu, imv)``, then
   ``deterioration = max(deterioration, death, icu, imv)``. A patient's
   deterioration probability is therefore never below their death, ICU or
   ventilation probability, and ICU never below ventilation. Raising (rather
   than lowering) keeps the estimate of the more common outcome from being
   dragged down by noise in a rarer one; on held-out synthetic data the
   adjustment moves few patients and by little (see the benchmarks).

Training splits
---------------
``fit`` shuffles the rows with ``random_state`` and cuts them into three
disjoint parts (default 65 / 10 / 25 %): boosting, early stopping and
calibration. The number of rounds is chosen on the early-stopping split; with
``refit=True`` the final booster is then boosted on the first two parts
together. The calibrator is fitted on the calibration split only, which no tree
has seen. The held-out metrics in ``metadata_["metrics"]`` (and ``held_out_``)
are measured on the calibration split with the calibrator cross-fitted in five
folds, so no row is scored by a calibrator that saw it. Rows whose label for an
outcome is missing are left out of that outcome only.

Cohorts of fewer than 2,000 patients are not split three ways: see
:mod:`covid_risk.models._small_cohort` (scaled settings, 5-fold cross-validated
early stopping, calibration on out-of-fold scores).

Default settings
----------------
The defaults were chosen on synthetic cohorts (50,000 training and 50,000 test
admitted patients of the default scenario, from different seeds; see
``benchmarks/bench_models.py``). Trees of 2, 4 and 8 leaves, learning rates
0.02-0.1, leaves of 20-400 rows, L2 penalties 1-50, 15-1023 bins and feature
fractions 0.05-1 all gave a death test log loss within 0.001 of each other;
extremely randomised trees and the refit on the boosting and early-stopping rows gave the most
consistent gains (0.0005-0.001), and 8 leaves were clearly better than stumps
for the outcomes that involve interactions (ICU and ventilation: ceiling of
care times need; acute kidney injury) while as good for death. Extra monotone
constraints on the inflammatory and cardiac labs, or the 4C scores as inputs,
did not help.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

from covid_risk._version import __version__
from covid_risk.exceptions import CalibrationWarning, NotFittedError
from covid_risk.features.matrix import (
    feature_names,
    matrix_spec,
    model_matrix,
    monotone_constraints,
)
from covid_risk.models._calibration import (
    CALIBRATION_METHODS,
    DEFAULT_PRIOR_SD,
    Calibrator,
    SigmoidCalibrator,
    fit_calibrator,
)
from covid_risk.models._coherence import COHERENCE_RULES, apply_coherence
from covid_risk.models._files import model_to_bytes, save_model
from covid_risk.models._inputs import as_canonical, outcome_labels
from covid_risk.models._lgbm import booster_params, train_booster
from covid_risk.models._small_cohort import (
    SMALL_COHORT_ROWS,
    check_calibration_events,
    check_not_constant,
    sample_size_record,
    small_cohort_settings,
    train_cross_validated,
)
from covid_risk.models._view import MODEL_NAME
from covid_risk.schema import OUTCOMES, SETTING_OUTCOMES, SETTINGS, schema_hash

__all__ = ["COHERENCE_RULES", "RiskModel", "apply_coherence"]

_COHORT_ATTRS = ("generator_version", "scenario", "seed", "setting", "n_patients")


def _outcome_seed(seed: int, outcome: str) -> int:
    """Return a LightGBM seed per outcome, independent of which other outcomes are trained."""
    index = OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES)
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] % (2**31 - 1))


def _resolve_created(created: Any, cohort: pd.DataFrame) -> str | None:
    """Creation time recorded in the metadata (deterministic unless ``"now"``)."""
    if created is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        if epoch:
            stamp = _dt.datetime.fromtimestamp(int(epoch), tz=_dt.timezone.utc)
            return stamp.isoformat(timespec="seconds")
        value = cohort.attrs.get("created") if hasattr(cohort, "attrs") else None
        return str(value) if value is not None else None
    if isinstance(created, str) and created == "now":
        return _dt.datetime.now(tz=_dt.timezone.utc).isoformat(timespec="seconds")
    if isinstance(created, _dt.datetime):
        return created.isoformat(timespec="seconds")
    return str(created)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def _metrics(y: np.ndarray, raw: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Held-out metrics of one outcome (rounded so metadata stays readable)."""
    out: dict[str, float] = {"n": int(y.size), "events": int(y.sum())}
    if 0 < y.sum() < y.size:
        logit = np.log(np.clip(p, 1e-12, 1)) - np.log1p(-np.clip(p, 0, 1 - 1e-12))
        slope = SigmoidCalibrator.fit(logit, y)
        out.update(
            auroc=roc_auc_score(y, p),
            auroc_uncalibrated=roc_auc_score(y, raw),
            log_loss=log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]),
            brier=brier_score_loss(y, p),
            calibration_slope=slope.slope,
            observed_rate=float(y.mean()),
            mean_predicted=float(p.mean()),
        )
    return {k: (round(float(v), 6) if isinstance(v, float) else v) for k, v in out.items()}


def _cross_fitted(
    raw: np.ndarray, y: np.ndarray, calibrator: Calibrator, seed: int, prior_sd: Any
) -> np.ndarray:
    """Return the calibration rows' probabilities, each from a calibrator fitted without it.

    The calibrator's own method is refitted on 4/5 of the labelled rows and applied
    to the remaining fifth (5 folds); rows without a label get the full calibrator.
    """
    out = calibrator.transform(raw)
    labelled = np.flatnonzero(~np.isnan(y))
    folds = np.random.default_rng(seed).permutation(labelled.size) % 5
    if isinstance(calibrator, SigmoidCalibrator):
        def refit(r: np.ndarray, t: np.ndarray) -> Calibrator:
            return SigmoidCalibrator.fit(r, t, prior_sd=prior_sd)
    else:
        refit = type(calibrator).fit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        for k in range(5):
            train_rows, test_rows = labelled[folds != k], labelled[folds == k]
            yk = y[train_rows]
            if yk.min() == yk.max() or test_rows.size == 0:
                continue
            out[test_rows] = refit(raw[train_rows], yk).transform(raw[test_rows])
    return out


class RiskModel(BaseEstimator):
    """Calibrated LightGBM risk model: one booster and one calibrator per outcome.

    Parameters
    ----------
    setting : {"admission", "community"}, default="admission"
        Clinical setting; fixes the predictors and the default outcomes.
    outcomes : sequence of str, optional
        Outcomes to model (default: every outcome of the setting,
        :data:`covid_risk.schema.SETTING_OUTCOMES`).
    monotone : bool, default=True
        Apply the clinically clear monotone constraints of
        :data:`covid_risk.features.matrix.MONOTONE_DIRECTIONS`.
    calibration : {"auto", "sigmoid", "isotonic"}, default="auto"
        Calibrator fitted on the held-out calibration split's raw log-odds
        (``auto``: isotonic only with >= 1000 events and non-events and a
        cross-validated log loss lower by more than 0.002; otherwise sigmoid).
    calibration_prior_sd : (float, float) or None, default=(0.05, 0.1)
        Prior standard deviations of the sigmoid calibrator's intercept (around
        0) and slope (around 1); ``None`` for unpenalised Platt scaling. See
        :mod:`covid_risk.models._calibration`.
    n_estimators : int, default=5000
        Most boosting rounds (early stopping normally ends far sooner).
    learning_rate : float, default=0.05
        Shrinkage.
    num_leaves : int, default=8
        Leaves per tree. Small trees suit the smooth, mostly additive risk
        surfaces of clinical data; 8 leaves still capture the interactions of
        ICU care (ceiling of care x need) and acute kidney injury.
    min_child_samples : int, default=100
        Fewest rows in a leaf.
    reg_lambda : float, default=5.0
        L2 penalty on leaf values.
    feature_fraction : float, default=0.8
        Share of features tried per tree.
    bagging_fraction : float, default=0.8
        Share of rows used per tree (resampled every round).
    max_bin : int, default=255
        Histogram bins per feature.
    extra_trees : bool, default=True
        Draw split thresholds at random (LightGBM's extremely randomised trees):
        smoother, lower-variance risk curves on smooth clinical effects.
    refit : bool, default=True
        After early stopping, boost again on the boosting and early-stopping
        rows together for the rescaled number of rounds (see
        :mod:`covid_risk.models._lgbm`).
    monotone_method : {"basic", "intermediate", "advanced"}, default="intermediate"
        LightGBM's ``monotone_constraints_method``.
    early_stopping_rounds : int, default=50
        Rounds without improvement on the early-stopping split before stopping.
        50 kept the same best rounds and test log loss as 200 on the benchmark
        cohorts (to 0.0002 for every outcome) for 22 % less training time.
    split : tuple of float, default=(0.65, 0.10, 0.25)
        Shares of the rows for boosting, early stopping and calibration. A
        quarter goes to calibration because the calibrator's intercept is only
        as precise as the events it sees (on 50,000 patients, ICU and VTE have a
        few thousand); the trees still see 75 % of the rows after the refit.
    n_jobs : int, default=1
        LightGBM threads for training. In LightGBM's deterministic mode the trees
        do not depend on it, so it is not saved in model files (a loaded model
        has the default). One thread is the default because on a busy machine
        spinning OpenMP threads can make training many times slower: on a 2-core
        machine, 100,000 admitted patients (all outcomes) took 76 s with one
        thread and 43 s with two when idle, but a boosting round took 313 ms
        instead of 6 ms with two threads while another process held a core. Pass
        ``n_jobs=2`` (or more) on a machine you have to yourself.
    created : str, datetime, "now" or None, default=None
        Creation time stored in the metadata. ``None`` takes it from the
        ``SOURCE_DATE_EPOCH`` environment variable or the cohort's
        ``attrs["created"]`` and otherwise records none, so that the same cohort
        and seed give a byte-identical model file; ``"now"`` stamps the current
        UTC time.
    random_state : int or None, default=None
        Seed of the split and of LightGBM. ``None`` draws one (recorded in
        ``metadata_``).

    Attributes
    ----------
    outcomes_ : tuple of str
        Outcomes modelled.
    boosters_ : dict of str to lightgbm.Booster
        One booster per outcome, cut to its best iteration.
    calibrators_ : dict of str to calibrator
        One calibrator per outcome (``transform(raw_log_odds) -> probability``).
    feature_names_ : tuple of str
        Model-matrix columns, in order.
    metadata_ : dict
        Versions, schema hash, training cohort, split sizes, calibration choices,
        held-out metrics, creation time (JSON-able).
    held_out_ : pandas.DataFrame
        The held-out metrics as a table, one row per outcome.
    version_ : str
        covid_risk version that fitted the model.

    Examples
    --------
    >>> import covid_risk as cr  # doctest: +SKIP
    >>> cohort = cr.make_cohort(5000, random_state=1)  # doctest: +SKIP
    >>> model = cr.RiskModel(random_state=0).fit(cohort)  # doctest: +SKIP
    >>> model.predict_proba(cohort.head(3))  # doctest: +SKIP
    """

    name = MODEL_NAME

    def __init__(
        self,
        *,
        setting: str = "admission",
        outcomes: Sequence[str] | None = None,
        monotone: bool = True,
        calibration: str = "auto",
        calibration_prior_sd: tuple[float, float] | None = DEFAULT_PRIOR_SD,
        n_estimators: int = 5000,
        learning_rate: float = 0.05,
        num_leaves: int = 8,
        min_child_samples: int = 100,
        reg_lambda: float = 5.0,
        feature_fraction: float = 0.8,
        bagging_fraction: float = 0.8,
        max_bin: int = 255,
        extra_trees: bool = True,
        refit: bool = True,
        monotone_method: str = "intermediate",
        early_stopping_rounds: int = 50,
        split: tuple[float, float, float] = (0.65, 0.10, 0.25),
        n_jobs: int = 1,
        created: Any = None,
        random_state: int | None = None,
    ):
        self.setting = setting
        self.outcomes = outcomes
        self.monotone = monotone
        self.calibration = calibration
        self.calibration_prior_sd = calibration_prior_sd
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.feature_fraction = feature_fraction
        self.bagging_fraction = bagging_fraction
        self.max_bin = max_bin
        self.extra_trees = extra_trees
        self.refit = refit
        self.monotone_method = monotone_method
        self.early_stopping_rounds = early_stopping_rounds
        self.split = split
        self.n_jobs = n_jobs
        self.created = created
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def _check_settings(self) -> tuple[str, ...]:
        if self.setting not in SETTINGS:
            raise ValueError(
                f"setting must be one of {', '.join(repr(s) for s in SETTINGS)}; "
                f"got {self.setting!r}."
            )
        allowed = SETTING_OUTCOMES[self.setting]
        outcomes = allowed if self.outcomes is None else tuple(self.outcomes)
        if isinstance(self.outcomes, str):
            outcomes = (self.outcomes,)
        unknown = [o for o in outcomes if o not in allowed]
        if unknown or not outcomes:
            raise ValueError(
                f"outcomes {unknown or list(outcomes)!r} are not outcomes of the "
                f"{self.setting!r} setting; choose from {', '.join(allowed)}."
            )
        if self.calibration not in CALIBRATION_METHODS:
            raise ValueError(
                f"calibration must be one of {', '.join(repr(m) for m in CALIBRATION_METHODS)}; "
                f"got {self.calibration!r}."
            )
        split = tuple(float(s) for s in self.split)
        if len(split) != 3 or min(split) <= 0 or abs(sum(split) - 1.0) > 1e-9:
            raise ValueError(
                "split must be three positive shares (boosting, early stopping, calibration) "
                f"summing to 1; got {self.split!r}."
            )
        return tuple(dict.fromkeys(outcomes))

    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' (or "
                "covid_risk.train) first, or load a saved model with covid_risk.load."
            )

    # --------------------------------------------------------------------- fit
    def fit(self, cohort: Any, y: None = None) -> RiskModel:
        """Fit one booster and one calibrator per outcome.

        The steps, in order (:mod:`covid_risk.models._dask_train` runs the same
        ones, swapping only :meth:`_train_boosters` for ``lightgbm.dask``):
        :meth:`_check_settings`, :meth:`_training_seed`, :meth:`_prepare`,
        :meth:`_split_rows`, :meth:`_check_classes`, :meth:`_train_boosters`,
        :meth:`_fit_calibrators`, :meth:`_held_out_metrics`,
        :meth:`_training_record`, :meth:`_build_metadata` and :meth:`_set_fitted`.

        Parameters
        ----------
        cohort : pandas.DataFrame or records
            Canonical patient records with one boolean column per outcome
            (``true_risk_*`` columns, when present, are never used).
        y : None
            Ignored; the outcomes are columns of ``cohort``.

        Returns
        -------
        RiskModel
            ``self``, fitted.
        """
        outcomes = self._check_settings()
        seed = self._training_seed()
        canonical, labels, X = self._prepare(cohort, outcomes)
        if len(canonical) < SMALL_COHORT_ROWS:
            return self._fit_small(cohort, canonical, labels, X, outcomes, seed)
        parts = self._split_rows(len(canonical), seed)
        for outcome in outcomes:
            y_o = labels[outcome]
            self._check_classes(
                outcome,
                {k: (int(np.count_nonzero(~np.isnan(y_o[v]))), float(np.nansum(y_o[v])))
                 for k, v in parts.items()},
            )
        names = list(feature_names(self.setting))
        boosters, best, n_trees = self._train_boosters(X, labels, parts, seed, names)
        cal = parts["calibration"]
        raw_cal = {o: boosters[o].predict(X[cal], raw_score=True, num_threads=self.n_jobs)
                   for o in outcomes}
        y_cal = {o: labels[o][cal] for o in outcomes}
        check_not_constant(boosters, X[cal], len(canonical))
        calibrators, calibration_info = self._fit_calibrators(raw_cal, y_cal, seed)
        check_calibration_events(calibration_info)
        metrics = self._held_out_metrics(raw_cal, y_cal, calibrators, seed)
        adequacy = sample_size_record(labels, metrics, len(names), always=False)
        metadata = self._build_metadata(
            outcomes=outcomes,
            training=self._training_record(cohort, canonical, X, labels),
            cohort=canonical,
            seed=seed,
            splits={k: int(v.size) for k, v in parts.items()},
            best=best,
            n_trees=n_trees,
            calibration_info=calibration_info,
            metrics=metrics,
        )
        if adequacy is not None:
            metadata["sample_size"] = adequacy
        return self._set_fitted(
            outcomes=outcomes, boosters=boosters, calibrators=calibrators,
            feature_names=names, metadata=metadata,
        )

    def _fit_small(
        self, cohort: Any, canonical: pd.DataFrame, labels: dict[str, np.ndarray],
        X: np.ndarray, outcomes: tuple[str, ...], seed: int,
    ) -> RiskModel:
        """Fit on fewer than ``SMALL_COHORT_ROWS`` rows (:mod:`~covid_risk.models._small_cohort`).

        Settings still at their defaults are scaled to the data; the rounds are
        chosen by 5-fold cross-validation, the final trees boosted on all rows (as many) and
        the calibrator fitted on the out-of-fold raw log-odds of all rows.
        """
        n = len(canonical)
        adapted = small_cohort_settings(self.get_params(), n)
        names = list(feature_names(self.setting))
        for outcome in outcomes:
            y_o = labels[outcome]
            self._check_classes(outcome, {"cohort": (int(np.count_nonzero(~np.isnan(y_o))),
                                                     float(np.nansum(y_o)))})
        original = {k: v for k, v in self.get_params().items() if k in adapted}
        scaled = self.set_params(**adapted)
        try:
            boosters, best, n_trees, oof = {}, {}, {}, {}
            for outcome in outcomes:
                y_o = labels[outcome]
                rows = np.flatnonzero(~np.isnan(y_o))
                boosters[outcome], best[outcome], n_trees[outcome], scores = (
                    train_cross_validated(
                        X[rows], y_o[rows], params=scaled._booster_params(outcome, seed),
                        feature_names=names, n_estimators=self.n_estimators,
                        early_stopping_rounds=self.early_stopping_rounds, seed=seed,
                    ))
                full = boosters[outcome].predict(X, raw_score=True, num_threads=self.n_jobs)
                full[rows] = scores
                oof[outcome] = full
        finally:
            self.set_params(**original)
        check_not_constant(boosters, X, n)
        prior = self.calibration_prior_sd
        if prior == DEFAULT_PRIOR_SD:
            self.calibration_prior_sd = None
        try:
            calibrators, calibration_info = self._fit_calibrators(oof, labels, seed)
            check_calibration_events(calibration_info, stacklevel=5)
            metrics = self._held_out_metrics(oof, labels, calibrators, seed)
        finally:
            self.calibration_prior_sd = prior
        adequacy = sample_size_record(labels, metrics, len(names), always=True, stacklevel=5)
        metadata = self._build_metadata(
            outcomes=outcomes,
            training=self._training_record(cohort, canonical, X, labels),
            cohort=canonical,
            seed=seed,
            splits={"cross_validation": n},
            best=best,
            n_trees=n_trees,
            calibration_info=calibration_info,
            metrics=metrics,
        )
        metadata["metrics_split"] = (
            "out-of-fold (5-fold cross-validation; calibrator cross-fitted in 5 folds)")
        metadata["small_cohort"] = {
            "rows": n, "below": SMALL_COHORT_ROWS, "settings": adapted, "defaults": original,
            "rounds": "5-fold cross-validated early stopping; final trees on all rows for "
                      "the best rounds",
            "calibration": "fitted on out-of-fold raw log-odds of all rows"
                           + (", unpenalised" if prior == DEFAULT_PRIOR_SD else ""),
        }
        metadata["sample_size"] = adequacy
        return self._set_fitted(
            outcomes=outcomes, boosters=boosters, calibrators=calibrators,
            feature_names=names, metadata=metadata,
        )

    def _training_seed(self) -> int:
        """Return ``random_state`` as an int, or draw a fresh seed when it is ``None``."""
        if self.random_state is None:
            return int(np.random.SeedSequence().entropy % (2**31 - 1))
        return int(self.random_state)

    def _prepare(
        self, cohort: Any, outcomes: Sequence[str]
    ) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
        """Validate the records and return the canonical frame, labels and model matrix.

        Parameters
        ----------
        cohort : pandas.DataFrame or records
            Training records with one boolean column per outcome.
        outcomes : sequence of str
            Outcomes to train (from :meth:`_check_settings`).

        Returns
        -------
        canonical : pandas.DataFrame
            The validated canonical records.
        labels : dict of str to ndarray
            Per outcome, float 0/1 labels with NaN where missing.
        X : ndarray
            The C-contiguous float64 model matrix.
        """
        canonical = as_canonical(cohort)
        n = len(canonical)
        if n < 100:
            raise ValueError(f"Training needs at least 100 patients; got {n}.")
        labels = {o: outcome_labels(canonical, o) for o in outcomes}
        X = np.ascontiguousarray(
            model_matrix(canonical, setting=self.setting).to_numpy(dtype="float64")
        )
        return canonical, labels, X

    def _split_rows(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """Shuffle ``n`` rows with ``seed`` and cut them by ``split`` into the three parts.

        Returns
        -------
        dict of str to ndarray
            Sorted row numbers of the ``"boosting"``, ``"early_stopping"`` and
            ``"calibration"`` splits (disjoint, covering every row).
        """
        order = np.random.default_rng(seed).permutation(n)
        shares = np.asarray(self.split, dtype="float64")
        cuts = np.round(np.cumsum(shares)[:2] * n).astype(int)
        return {
            "boosting": np.sort(order[: cuts[0]]),
            "early_stopping": np.sort(order[cuts[0] : cuts[1]]),
            "calibration": np.sort(order[cuts[1] :]),
        }

    @staticmethod
    def _check_classes(outcome: str, counts: Mapping[str, tuple[int, float]]) -> None:
        """Refuse an outcome that has only one class in some split.

        Parameters
        ----------
        outcome : str
            Outcome checked (named in the error).
        counts : mapping of str to (int, float)
            Per split name, the rows with a label and the events among them.
        """
        for split_name, (n, events) in counts.items():
            if events == 0 or events == n:
                raise ValueError(
                    f"Outcome {outcome!r} has only one class in the {split_name} split "
                    f"({int(n)} rows, {int(events)} events); use a larger cohort."
                )

    def _booster_params(self, outcome: str, seed: int) -> dict[str, Any]:
        """Return the LightGBM parameters of ``outcome``'s booster (its own seed)."""
        return booster_params(
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            reg_lambda=self.reg_lambda,
            feature_fraction=self.feature_fraction,
            bagging_fraction=self.bagging_fraction,
            max_bin=self.max_bin,
            extra_trees=self.extra_trees,
            monotone=monotone_constraints(self.setting, outcome, enabled=self.monotone),
            monotone_method=self.monotone_method,
            n_jobs=self.n_jobs,
            seed=_outcome_seed(seed, outcome),
        )

    def _train_boosters(
        self,
        X: np.ndarray,
        labels: Mapping[str, np.ndarray],
        parts: Mapping[str, np.ndarray],
        seed: int,
        names: list[str],
    ) -> tuple[dict[str, lgb.Booster], dict[str, int], dict[str, int]]:
        """Boost each outcome on its labelled boosting rows, stopping early on its own.

        Returns
        -------
        boosters : dict of str to lightgbm.Booster
            The final booster per outcome.
        best : dict of str to int
            Best number of rounds on the early-stopping split.
        n_trees : dict of str to int
            Trees in the final booster (more than ``best`` after a refit).
        """
        boosters: dict[str, lgb.Booster] = {}
        best: dict[str, int] = {}
        n_trees: dict[str, int] = {}
        for outcome, y_o in labels.items():
            fit_rows, stop_rows = (parts[k][~np.isnan(y_o[parts[k]])]
                                   for k in ("boosting", "early_stopping"))
            boosters[outcome], best[outcome], n_trees[outcome] = train_booster(
                X[fit_rows],
                y_o[fit_rows],
                X[stop_rows],
                y_o[stop_rows],
                params=self._booster_params(outcome, seed),
                feature_names=names,
                n_estimators=self.n_estimators,
                early_stopping_rounds=self.early_stopping_rounds,
                refit=self.refit,
            )
        return boosters, best, n_trees

    def _fit_calibrators(
        self, raw: Mapping[str, np.ndarray], y: Mapping[str, np.ndarray], seed: int
    ) -> tuple[dict[str, Calibrator], dict[str, dict]]:
        """Fit each outcome's calibrator on the calibration split's labelled rows.

        Parameters
        ----------
        raw, y : mapping of str to ndarray
            Per outcome, the calibration split's raw log-odds and labels (NaN: missing).
        seed : int
            Training seed.

        Returns
        -------
        calibrators : dict of str to Calibrator
        info : dict of str to dict
            What :func:`fit_calibrator` chose, per outcome (for the metadata).
        """
        calibrators: dict[str, Calibrator] = {}
        info: dict[str, dict] = {}
        for outcome, y_o in y.items():
            keep = ~np.isnan(y_o)
            calibrators[outcome], info[outcome] = fit_calibrator(
                raw[outcome][keep],
                y_o[keep],
                method=self.calibration,
                prior_sd=self.calibration_prior_sd,
                random_state=seed,
            )
        return calibrators, info

    def _held_out_metrics(
        self,
        raw: Mapping[str, np.ndarray],
        y: Mapping[str, np.ndarray],
        calibrators: Mapping[str, Calibrator],
        seed: int,
    ) -> dict[str, dict]:
        """Return the held-out metrics per outcome, measured on the calibration split.

        It is the only split no tree has seen; each row is scored by a calibrator
        cross-fitted in 5 folds without it, then coherence is applied.
        """
        prior = self.calibration_prior_sd
        p = apply_coherence(
            {o: _cross_fitted(raw[o], y[o], calibrators[o], seed, prior) for o in y}
        )
        metrics: dict[str, dict] = {}
        for o, y_o in y.items():
            keep = ~np.isnan(y_o)
            metrics[o] = _metrics(y_o[keep], raw[o][keep], p[o][keep])
        return metrics

    def _training_record(
        self, original: Any, canonical: pd.DataFrame, X: np.ndarray,
        labels: Mapping[str, np.ndarray],
    ) -> dict[str, Any]:
        """Describe the training cohort for ``metadata_["training_cohort"]``.

        Row count, setting, a hash of the model matrix and labels, events per
        outcome, and the generator's attributes when the cohort carries them.
        """
        digest = hashlib.sha256(X.tobytes())
        for o in labels:
            digest.update(np.nan_to_num(labels[o], nan=-1.0).tobytes())
        attrs = getattr(original, "attrs", None) or getattr(canonical, "attrs", {}) or {}
        training = {
            "n_rows": int(len(canonical)),
            "setting": self.setting,
            "data_hash": digest.hexdigest(),
            "events": {o: int(np.nansum(labels[o])) for o in labels},
        }
        for key in _COHORT_ATTRS:
            if key in attrs and key not in ("setting",):
                training[key] = _jsonable(attrs[key])
        return training

    def _build_metadata(
        self,
        *,
        outcomes: Sequence[str],
        training: dict[str, Any],
        cohort: pd.DataFrame | None,
        seed: int,
        splits: Mapping[str, int],
        best: Mapping[str, int],
        n_trees: Mapping[str, int],
        calibration_info: Mapping[str, dict],
        metrics: Mapping[str, dict],
    ) -> dict:
        """Assemble ``metadata_``: versions, settings, splits, calibration and metrics.

        ``cohort`` (its ``attrs["created"]``) is consulted for the creation time when
        ``created`` is ``None``; pass ``None`` when there is no in-memory cohort.
        """
        params = _jsonable(self.get_params())
        params["random_state"] = seed
        params["created"] = None
        params.pop("n_jobs", None)  # the trees do not depend on it (deterministic mode)
        created_from = pd.DataFrame() if cohort is None else cohort
        return {
            "library": "covid_risk",
            "library_version": __version__,
            "lightgbm_version": lgb.__version__,
            "schema_hash": schema_hash(),
            "setting": self.setting,
            "outcomes": list(outcomes),
            "created": _resolve_created(self.created, created_from),
            "training_cohort": training,
            "splits": dict(splits),
            "random_state": seed,
            "params": params,
            "monotone": matrix_spec(self.setting)["monotone"] if self.monotone else {},
            "best_iteration": dict(best),
            "n_trees": dict(n_trees),
            "calibration": dict(calibration_info),
            "coherence": "icu = max(icu, imv); deterioration = max(deterioration, death, icu, imv)",
            "metrics_split": "calibration (calibrator cross-fitted in 5 folds)",
            "metrics": dict(metrics),
        }

    def _set_fitted(
        self,
        *,
        outcomes: tuple[str, ...],
        boosters: dict[str, lgb.Booster],
        calibrators: dict[str, Calibrator],
        feature_names: Sequence[str],
        metadata: dict,
        version: str | None = None,
    ) -> RiskModel:
        """Set every fitted attribute at once (the one place training and loading do).

        ``held_out_`` is the table of ``metadata["metrics"]`` in outcome order;
        ``version_`` the covid_risk version that made the model (default: the installed
        one, for a model trained now). Returns ``self``.
        """
        self.outcomes_ = tuple(outcomes)
        self.boosters_ = boosters
        self.calibrators_ = calibrators
        self.feature_names_ = tuple(feature_names)
        self.version_ = __version__ if version is None else version
        self.metadata_ = metadata
        held_out = pd.DataFrame.from_dict(metadata.get("metrics", {}), orient="index")
        self.held_out_ = held_out.reindex([o for o in self.outcomes_ if o in held_out.index])
        return self

    # ----------------------------------------------------------------- predict
    def model_matrix(self, df: Any) -> pd.DataFrame:
        """Return the float model matrix the boosters see (validating ``df`` if needed)."""
        self._check_fitted()
        return model_matrix(as_canonical(df), setting=self.setting)

    def compile(self) -> Any:
        """Return the model's compiled view (:class:`~covid_risk.models.CompiledModel`).

        It is built once and cached on the model (rebuilt when the boosters or
        calibrators are replaced); ``predict_proba``, :func:`covid_risk.explain`
        and :func:`covid_risk.predict_risk` all make their probabilities with it.
        """
        self._check_fitted()
        from covid_risk.models._compiled import compile_model

        return compile_model(self)

    def _threads(self, X: np.ndarray) -> int:
        return 1 if X.shape[0] < 2000 else self.n_jobs

    def _raw(self, X: np.ndarray, outcome: str) -> np.ndarray:
        return self.compile().raw(X, (outcome,), threads=self._threads(X))[outcome]

    def _check_outcome(self, outcome: str) -> None:
        if outcome not in self.outcomes_:
            raise ValueError(
                f"This model does not predict {outcome!r}; it predicts "
                f"{', '.join(self.outcomes_)}."
            )

    def predict_raw(self, df: Any, outcome: str) -> np.ndarray:
        """Return the booster's raw log-odds for ``outcome`` (before calibration).

        Parameters
        ----------
        df : pandas.DataFrame or records
            Patient records.
        outcome : str
            One of ``outcomes_``.
        """
        self._check_fitted()
        self._check_outcome(outcome)
        X = self.model_matrix(df).to_numpy(dtype="float64")
        return self._raw(X, outcome)

    def predict_proba(self, df: Any, outcome: str | None = None) -> pd.DataFrame | pd.Series:
        """Return calibrated, coherent probabilities.

        Parameters
        ----------
        df : pandas.DataFrame or records
            Patient records (canonical, or anything :func:`covid_risk.validate`
            accepts).
        outcome : str, optional
            One outcome; default all of ``outcomes_``.

        Returns
        -------
        pandas.DataFrame or pandas.Series
            One float column per outcome (same index as ``df``), or a Series
            named ``outcome`` when one is asked for.
        """
        self._check_fitted()
        if outcome is not None:
            self._check_outcome(outcome)
        canonical = as_canonical(df)
        X = model_matrix(canonical, setting=self.setting).to_numpy(dtype="float64")
        wanted = None if outcome is None else (outcome,)
        probs = self.compile().probabilities(X, wanted, threads=self._threads(X))[2]
        if outcome is not None:
            return pd.Series(probs[outcome], index=canonical.index, name=outcome)
        return pd.DataFrame({o: probs[o] for o in self.outcomes_}, index=canonical.index)

    # -------------------------------------------------------------------- save
    def save(self, path: Any, *, hmac_key: str | bytes | None = None) -> None:
        """Write the model to one file (no pickle); see :func:`covid_risk.load`.

        Parameters
        ----------
        path : str or path-like
            Destination (conventionally ``.crmodel``); written atomically.
        hmac_key : str or bytes, optional
            Sign the manifest with HMAC-SHA256. Default: the ``COVID_RISK_MODEL_KEY``
            environment variable if set, else unsigned. Pass ``b""`` to force
            an unsigned file.
        """
        self._check_fitted()
        save_model(self, path, hmac_key=hmac_key)

    def to_bytes(self, *, hmac_key: str | bytes | None = None) -> bytes:
        """Return the model file's bytes (what :meth:`save` writes)."""
        self._check_fitted()
        return model_to_bytes(self, hmac_key=hmac_key)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "boosters_")
