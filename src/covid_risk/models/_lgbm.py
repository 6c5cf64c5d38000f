"""LightGBM boosters: parameters, monotone constraints and early-stopped training.

One binary booster per outcome. Training is deterministic: LightGBM's
``deterministic=True`` with ``force_col_wise=True``, a fixed number of threads
(part of the model's settings, so the same settings give the same trees on any
machine with the same LightGBM version) and every seed derived from the model's
``random_state``. After early stopping the booster is cut to its best iteration
and rebuilt from its text form, so the booster in memory is exactly the one a
model file holds.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

__all__ = ["booster_params", "train_booster"]


def booster_params(
    *,
    learning_rate: float,
    num_leaves: int,
    min_child_samples: int,
    reg_lambda: float,
    feature_fraction: float,
    bagging_fraction: float,
    max_bin: int,
    monotone: list[int],
    monotone_method: str,
    n_jobs: int,
    seed: int,
) -> dict[str, Any]:
    """Return the LightGBM parameter dict for one outcome's booster.

    Parameters
    ----------
    learning_rate, num_leaves, min_child_samples, reg_lambda : float or int
        As in :class:`covid_risk.models.RiskModel`.
    feature_fraction, bagging_fraction, max_bin : float or int
        As in :class:`covid_risk.models.RiskModel`.
    monotone : list of int
        ``monotone_constraints`` vector (one -1/0/+1 per feature).
    monotone_method : {"basic", "intermediate", "advanced"}
        LightGBM's ``monotone_constraints_method``.
    n_jobs : int
        Threads (``num_threads``); fixed so training is reproducible.
    seed : int
        Master seed; LightGBM derives its bagging and feature seeds from it.
    """
    params: dict[str, Any] = {
        "objective": "binary",
        "metric": "binary_logloss",
        "learning_rate": float(learning_rate),
        "num_leaves": int(num_leaves),
        "min_data_in_leaf": int(min_child_samples),
        "lambda_l2": float(reg_lambda),
        "feature_fraction": float(feature_fraction),
        "bagging_fraction": float(bagging_fraction),
        "bagging_freq": 1 if bagging_fraction < 1.0 else 0,
        "max_bin": int(max_bin),
        "num_threads": int(n_jobs),
        "deterministic": True,
        "force_col_wise": True,
        "seed": int(seed),
        "verbosity": -1,
    }
    if any(monotone):
        params["monotone_constraints"] = [int(m) for m in monotone]
        params["monotone_constraints_method"] = monotone_method
    return params


def train_booster(
    X_fit: np.ndarray,
    y_fit: np.ndarray,
    X_stop: np.ndarray,
    y_stop: np.ndarray,
    *,
    params: dict[str, Any],
    feature_names: list[str],
    n_estimators: int,
    early_stopping_rounds: int,
) -> tuple[lgb.Booster, int]:
    """Train one booster with early stopping on a separate split.

    Parameters
    ----------
    X_fit, y_fit : ndarray
        Boosting split (float matrix, 0/1 labels).
    X_stop, y_stop : ndarray
        Early-stopping split (disjoint from the boosting split).
    params : dict
        From :func:`booster_params`.
    feature_names : list of str
        Model-matrix column names, stored in the booster.
    n_estimators : int
        Most boosting rounds.
    early_stopping_rounds : int
        Stop after this many rounds without improvement of the stopping-split
        log loss.

    Returns
    -------
    booster : lightgbm.Booster
        Cut to the best iteration and rebuilt from its text model.
    best_iteration : int
        Number of trees kept.
    """
    fit_set = lgb.Dataset(
        X_fit, label=y_fit, feature_name=feature_names, params={"max_bin": params["max_bin"]},
        free_raw_data=True,
    )
    stop_set = lgb.Dataset(X_stop, label=y_stop, reference=fit_set)
    booster = lgb.train(
        params,
        fit_set,
        num_boost_round=int(n_estimators),
        valid_sets=[stop_set],
        valid_names=["early_stopping"],
        callbacks=[lgb.early_stopping(int(early_stopping_rounds), verbose=False)],
    )
    best = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
    best = int(best)
    text = booster.model_to_string(num_iteration=best)
    return lgb.Booster(model_str=text), best
