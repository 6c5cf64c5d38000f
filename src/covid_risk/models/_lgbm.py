"""LightGBM boosters: parameters, monotone constraints and early-stopped training.

One binary booster per outcome, in two stages:

1. boost on the boosting split, watching the log loss of the early-stopping
   split, and note the best number of rounds ``k``;
2. with ``refit=True`` (the default), boost again from scratch on the boosting
   *and* early-stopping rows for ``round(k * (n_boost + n_stop) / n_boost)``
   rounds -- the usual rescaling, since more rows support more rounds -- so no
   row outside the calibration split is wasted.

Training is deterministic: LightGBM's ``deterministic=True`` with
``force_col_wise=True``, a fixed number of threads (part of the model's
settings, so the same settings give the same trees on any machine with the same
LightGBM version) and every seed derived from the model's ``random_state``. The
final booster is rebuilt from its text form, so the booster in memory is exactly
the one a model file holds.
"""

from __future__ import annotations

import re
from typing import Any

import lightgbm as lgb
import numpy as np

__all__ = ["booster_params", "canonical_text", "train_booster"]

_THREADS = re.compile(r"^\[num_threads: [0-9]+\]$", re.MULTILINE)


def canonical_text(booster: lgb.Booster, num_iteration: int | None = None) -> str:
    """Return the booster's text model with the thread count written as 0.

    In deterministic mode the trees do not depend on the number of threads, so
    the text should not either: ``[num_threads: N]`` becomes ``[num_threads: 0]``
    (LightGBM's "default"), and the same cohort and seed give the same file
    whatever ``n_jobs`` was.
    """
    return _THREADS.sub("[num_threads: 0]", booster.model_to_string(num_iteration=num_iteration))


def booster_params(
    *,
    learning_rate: float,
    num_leaves: int,
    min_child_samples: int,
    reg_lambda: float,
    feature_fraction: float,
    bagging_fraction: float,
    max_bin: int,
    extra_trees: bool,
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
    feature_fraction, bagging_fraction, max_bin, extra_trees : float, int or bool
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
        "extra_trees": bool(extra_trees),
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
    refit: bool = True,
) -> tuple[lgb.Booster, int, int]:
    """Train one booster with early stopping on a separate split, then refit.

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
        Most boosting rounds of the first stage.
    early_stopping_rounds : int
        Stop after this many rounds without improvement of the stopping-split
        log loss.
    refit : bool, default=True
        Boost again on both splits for the rescaled number of rounds.

    Returns
    -------
    booster : lightgbm.Booster
        The final booster, rebuilt from its text model.
    best_iteration : int
        Best number of rounds of the first stage.
    n_trees : int
        Trees in the final booster.
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
    if not refit:
        return lgb.Booster(model_str=canonical_text(booster, best)), best, best
    n_all = len(y_fit) + len(y_stop)
    rounds = max(1, int(round(best * n_all / len(y_fit))))
    all_set = lgb.Dataset(
        np.concatenate([X_fit, X_stop]),
        label=np.concatenate([y_fit, y_stop]),
        feature_name=feature_names,
        params={"max_bin": params["max_bin"]},
        free_raw_data=True,
    )
    final = lgb.train(params, all_set, num_boost_round=rounds)
    return lgb.Booster(model_str=canonical_text(final)), best, rounds
