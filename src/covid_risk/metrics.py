"""Performance metrics for predicted probabilities of a binary outcome.

Pure, vectorised functions of labels ``y`` (0/1), predicted probabilities ``p``
and optional non-negative ``sample_weight``. Weights are what make the bootstrap
in :mod:`covid_risk.evaluate` cheap: a bootstrap resample is the original rows
weighted by how often each was drawn, so every metric here is written for
weights and never re-sorts the data per resample.

Conventions
-----------
- Every function returns ``nan`` (never 0) when the metric is undefined, e.g.
  AUROC when only one class is present.
- Ties in ``p`` are handled exactly: tied predictions count one half in AUROC and
  form one threshold in the precision-recall and ROC curves.
- Probabilities are clipped to ``[eps, 1 - eps]`` with ``eps = 1e-15`` before any
  logarithm or logit (log loss, calibration intercept and slope).
- Calibration intercept and slope are maximum-likelihood logistic fits solved by
  Newton-Raphson (IRLS) without any penalty; a penalised fit such as
  scikit-learn's default ``LogisticRegression`` would bias the slope towards 0.

Functions
---------
roc_auc, average_precision, brier_score, log_loss, calibration_intercept,
calibration_slope, expected_calibration_error, smoothed_calibration,
calibration_errors (ICI, E50, E90), observed_expected_ratio, net_benefit,
treat_all_net_benefit, roc_curve, calibration_curve, truth_calibration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "EPS",
    "average_precision",
    "CALIBRATION_KNOTS",
    "bin_ids",
    "brier_score",
    "calibration_curve",
    "calibration_errors",
    "calibration_intercept",
    "calibration_slope",
    "expected_calibration_error",
    "log_loss",
    "logit",
    "net_benefit",
    "observed_expected_ratio",
    "roc_auc",
    "roc_curve",
    "smoothed_calibration",
    "treat_all_net_benefit",
    "truth_calibration",
    "wilson_interval",
]

EPS = 1e-15
"""Clipping applied to probabilities before a logarithm or logit."""

BIN_STRATEGIES = ("quantile", "uniform")


# --------------------------------------------------------------------------- checks
def _check(
    y: np.ndarray | Sequence[float] | pd.Series,
    p: np.ndarray | Sequence[float] | pd.Series,
    sample_weight: np.ndarray | Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``y``, ``p`` and weights as float64 arrays after checking them."""
    y = np.asarray(y, dtype="float64").ravel()
    p = np.asarray(p, dtype="float64").ravel()
    if y.shape != p.shape:
        raise ValueError(
            f"y and p must have the same length. Got {y.size} labels and {p.size} "
            "probabilities."
        )
    if not np.all((y == 0.0) | (y == 1.0)):
        bad = y[~((y == 0.0) | (y == 1.0))][:5]
        raise ValueError(
            f"y must hold only 0 and 1 (missing labels removed first). Got {bad.tolist()}."
        )
    if not np.all((p >= 0.0) & (p <= 1.0)):
        bad = p[~((p >= 0.0) & (p <= 1.0))][:5]
        raise ValueError(
            f"p must hold probabilities in [0, 1] (no missing values). Got {bad.tolist()}."
        )
    if sample_weight is None:
        w = np.ones_like(p)
    else:
        w = np.asarray(sample_weight, dtype="float64").ravel()
        if w.shape != p.shape:
            raise ValueError(
                f"sample_weight must have one weight per row ({p.size}). Got {w.size}."
            )
        if not np.all(np.isfinite(w) & (w >= 0.0)):
            raise ValueError("sample_weight must be finite and non-negative.")
    return y, p, w


def logit(p: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Return ``log(p / (1 - p))`` after clipping ``p`` to ``[eps, 1 - eps]``."""
    q = np.clip(np.asarray(p, dtype="float64"), eps, 1.0 - eps)
    return np.log(q) - np.log1p(-q)


def _expit(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    e = np.exp(-np.abs(z))
    inv = 1.0 / (1.0 + e)
    return np.where(z >= 0, inv, e * inv)


def _logistic_terms(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``1 / (1 + exp(-z))`` and ``log(1 + exp(z))``, both computed stably."""
    e = np.exp(-np.abs(z))
    inv = 1.0 / (1.0 + e)
    mu = np.where(z >= 0, inv, e * inv)
    return mu, np.maximum(z, 0.0) + np.log1p(e)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product of two 1-D arrays without BLAS.

    ``np.einsum`` runs a plain C loop; BLAS ``ddot`` can spin-wait for threads and
    become 100x slower on a busy machine, and this sits on the bootstrap hot path.
    """
    return float(np.einsum("i,i->", a, b))


def _wmean(x: np.ndarray, w: np.ndarray) -> float:
    total = w.sum()
    return float(_dot(w, x) / total) if total > 0 else float("nan")


# ------------------------------------------------------------ ranking (grouped kernels)
def _group_counts(
    inv: np.ndarray, y: np.ndarray, w: np.ndarray, n_groups: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per distinct prediction (ascending order)."""
    wy = w * y
    pos = np.bincount(inv, weights=wy, minlength=n_groups)
    neg = np.bincount(inv, weights=w - wy, minlength=n_groups)
    return pos, neg


def _auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUROC from positives/negatives per distinct prediction in ascending order.

    Each positive scores the negatives strictly below it plus one half of those tied
    with it (the Mann-Whitney statistic with mid-ranks).
    """
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos <= 0 or n_neg <= 0:
        return float("nan")
    below = np.cumsum(neg) - neg
    return float(_dot(pos, below + 0.5 * neg) / (n_pos * n_neg))


def _ap_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    """Average precision from counts per distinct prediction in ascending order.

    ``sum_k (R_k - R_{k-1}) P_k`` over thresholds from the highest prediction down,
    the step-wise (non-interpolated) definition used by scikit-learn.
    """
    n_pos = pos.sum()
    if n_pos <= 0 or neg.sum() <= 0:
        return float("nan")
    pos_d, neg_d = pos[::-1], neg[::-1]
    tp = np.cumsum(pos_d)
    called = tp + np.cumsum(neg_d)
    keep = pos_d > 0
    return float(np.sum(pos_d[keep] * tp[keep] / called[keep]) / n_pos)


def _groups(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values, inv = np.unique(p, return_inverse=True)
    return values, inv.ravel()


def roc_auc(y, p, *, sample_weight=None) -> float:
    """Return the area under the ROC curve (concordance statistic).

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability (any score that ranks works).
    sample_weight : array-like of float, optional
        Non-negative row weights (bootstrap counts).

    Returns
    -------
    float
        AUROC with ties counted one half; ``nan`` when only one class is present.
    """
    y, p, w = _check(y, p, sample_weight)
    values, inv = _groups(p)
    return _auc_from_counts(*_group_counts(inv, y, w, values.size))


def average_precision(y, p, *, sample_weight=None) -> float:
    """Return the area under the precision-recall curve as average precision.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    float
        Step-wise average precision (equals scikit-learn's
        ``average_precision_score``); ``nan`` when only one class is present.
    """
    y, p, w = _check(y, p, sample_weight)
    values, inv = _groups(p)
    return _ap_from_counts(*_group_counts(inv, y, w, values.size))


def roc_curve(y, p, *, sample_weight=None) -> pd.DataFrame:
    """Return the ROC curve, one row per distinct threshold from high to low.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold`` (predict positive when ``p >= threshold``; the first
        row is ``inf``: nobody positive), ``fpr`` and ``tpr``. All-``nan`` rates
        when a class is absent.
    """
    y, p, w = _check(y, p, sample_weight)
    values, inv = _groups(p)
    pos, neg = _group_counts(inv, y, w, values.size)
    tp = np.concatenate([[0.0], np.cumsum(pos[::-1])])
    fp = np.concatenate([[0.0], np.cumsum(neg[::-1])])
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / tp[-1] if tp[-1] > 0 else np.full_like(tp, np.nan)
        fpr = fp / fp[-1] if fp[-1] > 0 else np.full_like(fp, np.nan)
    thresholds = np.concatenate([[np.inf], values[::-1]])
    return pd.DataFrame({"threshold": thresholds, "fpr": fpr, "tpr": tpr})


# -------------------------------------------------------------- probability scoring
def brier_score(y, p, *, sample_weight=None) -> float:
    """Return the Brier score, the mean squared difference between ``p`` and ``y``.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    float
        Weighted mean of ``(p - y)**2``; lower is better.
    """
    y, p, w = _check(y, p, sample_weight)
    return _wmean((p - y) ** 2, w)


def log_loss(y, p, *, sample_weight=None, eps: float = EPS) -> float:
    """Return the mean negative log-likelihood (cross-entropy).

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability, clipped to ``[eps, 1 - eps]``.
    sample_weight : array-like of float, optional
        Non-negative row weights.
    eps : float, default=1e-15
        Clipping that keeps a confident wrong prediction finite.

    Returns
    -------
    float
        Weighted mean of ``-(y log p + (1 - y) log(1 - p))``.
    """
    y, p, w = _check(y, p, sample_weight)
    return _log_loss(y, np.clip(p, eps, 1.0 - eps), w)


def _log_loss(y: np.ndarray, q: np.ndarray, w: np.ndarray) -> float:
    return _wmean(-(y * np.log(q) + (1.0 - y) * np.log1p(-q)), w)


def observed_expected_ratio(y, p, *, sample_weight=None) -> float:
    """Return observed over expected events, ``sum(y) / sum(p)``.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    float
        1 when the number of predicted events matches; above 1 means risk is
        under-predicted. ``nan`` when no event is expected.
    """
    y, p, w = _check(y, p, sample_weight)
    expected = float(_dot(w, p))
    return float(_dot(w, y)) / expected if expected > 0 else float("nan")


# ------------------------------------------------------------------ logistic fits
_SHORT_STEP = 1.0
"""Newton steps no longer than this (in coefficient units) are taken without checking
the likelihood: near the optimum of a logistic likelihood the full step is safe, and
skipping the check saves a ``log1p`` over every row on the bootstrap hot path."""


_STEP_TOL = 1e-6
"""A Newton step this small (relative) is the last one: Newton converges quadratically
near the optimum, so after it the coefficients are within about 1e-12 of the maximum."""


def _loglik(z: np.ndarray, wy: np.ndarray, w: np.ndarray) -> float:
    """Weighted Bernoulli log-likelihood at linear predictor ``z``."""
    _, log1pexp = _logistic_terms(z)
    return float(_dot(wy, z) - _dot(w, log1pexp))


def _newton_logistic(
    x: np.ndarray | None,
    y: np.ndarray,
    w: np.ndarray,
    offset: np.ndarray,
    start: tuple[float, float] = (0.0, 1.0),
    max_iter: int = 100,
) -> tuple[float, float]:
    """Maximum-likelihood logistic regression of ``y`` on ``a + b x + offset``.

    With ``x=None`` only the intercept ``a`` is fitted (``b`` is returned as
    ``nan``). Newton-Raphson with step halving on the weighted log-likelihood; no
    penalty. Returns ``(nan, nan)`` when both classes are not present, the design
    is singular, or the fit does not converge (for example under separation).
    """
    wy = w * y
    total, events = w.sum(), wy.sum()
    if events <= 0 or events >= total:
        return float("nan"), float("nan")
    if x is None:
        a = float(start[0])
        z0 = offset
        for _ in range(max_iter):
            mu = _expit(a + z0)
            grad = events - _dot(w, mu)
            hess = _dot(w, mu * (1.0 - mu))
            if hess <= 0:
                return float("nan"), float("nan")
            step = grad / hess
            a += step
            if abs(step) < _STEP_TOL * (1.0 + abs(a)):
                return a, float("nan")
        return float("nan"), float("nan")

    beta = np.array(start, dtype="float64")
    z = beta[0] + beta[1] * x + offset
    ll = None
    for _ in range(max_iter):
        mu = _expit(z)
        r = wy - w * mu
        v = w * mu * (1.0 - mu)
        vx = v * x
        g0, g1 = r.sum(), _dot(r, x)
        h00, h01, h11 = v.sum(), vx.sum(), _dot(vx, x)
        det = h00 * h11 - h01**2
        if not np.isfinite(det) or det <= 1e-12 * max(h00 * h11, 1e-300):
            return float("nan"), float("nan")
        step = np.array([h11 * g0 - h01 * g1, h00 * g1 - h01 * g0]) / det
        if np.max(np.abs(step)) < _STEP_TOL * (1.0 + np.max(np.abs(beta))):
            beta = beta + step  # quadratic convergence: this step leaves ~_STEP_TOL**2
            return float(beta[0]), float(beta[1])
        if np.max(np.abs(step)) <= _SHORT_STEP:
            beta = beta + step
            z = beta[0] + beta[1] * x + offset
            ll = None
            continue
        # a long step (far from the optimum): halve it until the likelihood rises
        if ll is None:
            ll = _loglik(z, wy, w)
        t = 1.0
        while True:
            new = beta + t * step
            z_new = new[0] + new[1] * x + offset
            ll_new = _loglik(z_new, wy, w)
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            t *= 0.5
            if t < 1e-9:
                return float("nan"), float("nan")
        beta, z, ll = new, z_new, ll_new
    return float("nan"), float("nan")


def calibration_intercept(y, p, *, sample_weight=None) -> float:
    """Return calibration-in-the-large: the intercept ``a`` in ``logit P(y) = a + logit(p)``.

    Logistic regression of ``y`` on an intercept with ``logit(p)`` as offset (slope
    fixed at 1), fitted by unpenalised maximum likelihood.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability, clipped to ``[1e-15, 1 - 1e-15]`` before the logit.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    float
        0 when the average risk is right; positive when risk is under-predicted.
        ``nan`` when only one class is present.
    """
    y, p, w = _check(y, p, sample_weight)
    return _newton_logistic(None, y, w, logit(p))[0]


def calibration_slope(y, p, *, sample_weight=None) -> float:
    """Return the calibration slope ``b`` in ``logit P(y) = a + b logit(p)``.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability, clipped to ``[1e-15, 1 - 1e-15]`` before the logit.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    float
        1 for well-calibrated spread; below 1 means predictions are too extreme
        (typical of overfitting), above 1 too moderate. ``nan`` when only one class
        is present or all predictions are equal.
    """
    y, p, w = _check(y, p, sample_weight)
    return _newton_logistic(logit(p), y, w, np.zeros_like(p))[1]


# --------------------------------------------------------------------- binning
def bin_ids(p: np.ndarray, n_bins: int = 10, strategy: str = "quantile") -> np.ndarray:
    """Return the bin of each prediction, ``0 .. n_bins - 1``.

    Parameters
    ----------
    p : ndarray of float
        Predicted probabilities.
    n_bins : int, default=10
        Number of bins.
    strategy : {"quantile", "uniform"}, default="quantile"
        ``"quantile"``: equal-frequency bins with edges at the quantiles of ``p``
        (ties never split, so bins can be unequal or empty); ``"uniform"``:
        equal-width bins on ``[0, 1]``. A value on an inner edge goes to the lower
        bin, as in scikit-learn's ``calibration_curve``.

    Returns
    -------
    ndarray of int
    """
    if strategy not in BIN_STRATEGIES:
        raise ValueError(
            f"strategy must be one of {', '.join(map(repr, BIN_STRATEGIES))}. "
            f"Got {strategy!r} instead."
        )
    if int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive whole number. Got {n_bins!r} instead.")
    p = np.asarray(p, dtype="float64")
    if strategy == "quantile":
        edges = np.percentile(p, np.linspace(0.0, 100.0, int(n_bins) + 1)) if p.size else None
    else:
        edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    if edges is None:
        return np.zeros(0, dtype=np.intp)
    return np.searchsorted(edges[1:-1], p)


def _ece_from_bins(bins: np.ndarray, y: np.ndarray, p: np.ndarray, w: np.ndarray,
                   n_bins: int) -> float:
    total = w.sum()
    if total <= 0:
        return float("nan")
    wt = np.bincount(bins, weights=w, minlength=n_bins)
    oy = np.bincount(bins, weights=w * y, minlength=n_bins)
    ep = np.bincount(bins, weights=w * p, minlength=n_bins)
    # sum_b (n_b / n) |obs_b - pred_b| = sum_b |O_b - E_b| / n
    return float(np.abs(oy - ep).sum() / total) if wt.any() else float("nan")


def expected_calibration_error(
    y, p, *, n_bins: int = 10, strategy: str = "quantile", sample_weight=None
) -> float:
    """Return the expected calibration error over bins of predicted probability.

    ``ECE = sum_b (n_b / n) |mean(y)_b - mean(p)_b|``.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability.
    n_bins : int, default=10
        Number of bins.
    strategy : {"quantile", "uniform"}, default="quantile"
        Equal-frequency (default: every bin has enough patients to estimate its
        observed rate, which matters for rare outcomes) or equal-width bins; see
        :func:`bin_ids`. Bin edges come from the unweighted predictions.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    float
        0 for perfect calibration within bins.
    """
    y, p, w = _check(y, p, sample_weight)
    return _ece_from_bins(bin_ids(p, n_bins, strategy), y, p, w, int(n_bins))


# ---------------------------------------------------- smoothed calibration curve
CALIBRATION_KNOTS: tuple[float, ...] = (0.05, 0.35, 0.65, 0.95)
"""Quantiles of ``logit(p)`` used as knots of the smoothed calibration curve
(Harrell's default placement for a 4-knot restricted cubic spline)."""


def _rcs_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline terms ``[1, x, C_1 .. C_{k-2}]`` (Harrell's form), one per row.

    Returns an array of shape ``(terms, len(x))``. Linear beyond the outer knots.
    With fewer than 3 knots the terms are ``[1, x]``, and ``[1]`` when ``x``
    takes a single value.
    """
    cols = [np.ones_like(x)]
    k = knots.size
    if k >= 2:
        cols.append(x)
    if k >= 3:
        t1, tk1, tk = knots[0], knots[-2], knots[-1]
        scale = (tk - t1) ** 2
        tail1 = np.maximum(x - tk1, 0.0) ** 3
        tail2 = np.maximum(x - tk, 0.0) ** 3
        for tj in knots[:-2]:
            c = (np.maximum(x - tj, 0.0) ** 3 - tail1 * (tk - tj) / (tk - tk1)
                 + tail2 * (tk1 - tj) / (tk - tk1))
            cols.append(c / scale)
    return np.vstack(cols)


def _calibration_knots(x: np.ndarray, quantiles: Sequence[float] = CALIBRATION_KNOTS
                       ) -> np.ndarray:
    """Distinct knots at ``quantiles`` of ``x`` (fewer when ``x`` has few values)."""
    if x.size == 0:
        return np.zeros(0)
    values = np.unique(x)
    if values.size == 1:
        return values[:1]
    if values.size < 5:  # too few distinct predictions for a spline: a straight line
        return values[[0, -1]]
    return np.unique(np.quantile(x, quantiles))


def _lin(basis: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Linear predictor ``beta @ basis`` for terms-by-rows ``basis``."""
    return beta @ basis


def _newton_glm(
    basis: np.ndarray, y: np.ndarray, w: np.ndarray, start: np.ndarray | None = None,
    max_iter: int = 50,
) -> np.ndarray:
    """Unpenalised weighted logistic regression of ``y`` on ``basis`` (Newton, step halving).

    ``basis`` has one row per term and one column per observation (see
    :func:`_rcs_basis`). Returns the coefficients, or NaNs when both classes are
    not present, the design is singular or the fit does not converge. Callers
    on a hot path limit BLAS to one thread (tiny products, see :func:`_dot`).
    """
    m = basis.shape[0]
    wy = w * y
    events, total = wy.sum(), w.sum()
    fail = np.full(m, np.nan)
    if events <= 0 or events >= total:
        return fail
    if start is None or not np.all(np.isfinite(start)):
        beta = np.zeros(m)
        beta[0] = np.log(events / (total - events))
    else:
        beta = np.array(start, dtype="float64")
    z = _lin(basis, beta)
    ll = None
    for _ in range(max_iter):
        mu = _expit(z)
        g = basis @ (wy - w * mu)
        h = (basis * (w * mu * (1.0 - mu))) @ basis.T
        try:
            step = np.linalg.solve(h, g)
        except np.linalg.LinAlgError:
            return fail
        if not np.all(np.isfinite(step)):
            return fail
        if np.max(np.abs(step)) < _STEP_TOL * (1.0 + np.max(np.abs(beta))):
            return beta + step  # quadratic convergence: this step leaves ~_STEP_TOL**2
        if np.max(np.abs(step)) <= _SHORT_STEP:
            beta = beta + step
            z = _lin(basis, beta)
            ll = None
            continue
        if ll is None:
            ll = _loglik(z, wy, w)
        t = 1.0
        while True:
            new = beta + t * step
            z_new = _lin(basis, new)
            ll_new = _loglik(z_new, wy, w)
            if ll_new >= ll - 1e-12 * abs(ll):
                break
            t *= 0.5
            if t < 1e-9:
                return fail
        beta, z, ll = new, z_new, ll_new
    return fail


def _weighted_quantiles(d: np.ndarray, w: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles of ``d`` with row weights ``w``, numpy's default ("linear") rule.

    Integer weights count as repeated rows (so a bootstrap resample gives exactly
    the quantile of the resampled values); other weights interpolate between the
    sorted values at cumulative weight ``(W - 1) q``.
    """
    keep = w > 0
    d, w = d[keep], w[keep]
    if d.size == 0:
        return np.full(len(qs), np.nan)
    if np.all(w == np.floor(w)):
        rep = np.repeat(d, w.astype(np.int64))
        pos = (rep.size - 1) * np.asarray(qs, dtype="float64")
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, rep.size - 1)
        part = np.partition(rep, np.unique(np.concatenate([lo, hi])))
        return part[lo] + (pos - lo) * (part[hi] - part[lo])
    order = np.argsort(d, kind="stable")
    d, c = d[order], np.cumsum(w[order])
    out = np.empty(len(qs))
    for i, q in enumerate(qs):
        r = max((c[-1] - 1.0) * q, 0.0)
        lo = np.floor(r)
        i_lo = min(int(np.searchsorted(c, lo, side="right")), d.size - 1)
        i_hi = min(int(np.searchsorted(c, lo + 1.0, side="right")), d.size - 1)
        out[i] = d[i_lo] + (r - lo) * (d[i_hi] - d[i_lo])
    return out


def smoothed_calibration(y, p, *, sample_weight=None) -> np.ndarray:
    """Return the smoothed observed risk at each prediction (the calibration curve).

    Logistic regression of ``y`` on a restricted cubic spline of ``logit(p)``
    with knots at the 5th, 35th, 65th and 95th percentiles of ``logit(p)``
    (:data:`CALIBRATION_KNOTS`), fitted by unpenalised maximum likelihood: a
    deterministic smoother of observed against predicted risk in the sense of
    Austin & Steyerberg (Stat Med 2019;38:4051), who use loess. With fewer than
    five distinct predictions the spline becomes a straight line in
    ``logit(p)`` (the calibration intercept-and-slope model), and an intercept
    alone when all predictions are equal.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability, clipped to ``[1e-15, 1 - 1e-15]`` before the logit.
    sample_weight : array-like of float, optional
        Non-negative row weights (the knots come from the unweighted predictions).

    Returns
    -------
    ndarray of float
        Estimated ``P(y = 1 | p)`` per row; all ``nan`` when only one class is
        present or the fit fails.
    """
    y, p, w = _check(y, p, sample_weight)
    x = logit(p)
    basis = _rcs_basis(x, _calibration_knots(x))
    beta = _newton_glm(basis, y, w)
    return _expit(_lin(basis, beta))


def calibration_errors(y, p, *, sample_weight=None) -> dict[str, float]:
    """Return ICI, E50, E90 and Emax of the smoothed calibration curve.

    With ``c(p)`` the smoothed observed risk of :func:`smoothed_calibration`, the
    absolute calibration error of a row is ``|c(p_i) - p_i|``; the integrated
    calibration index ``ICI`` is its (weighted) mean over the rows, ``E50`` its
    median, ``E90`` its 90th percentile and ``Emax`` its maximum (Austin &
    Steyerberg, Stat Med 2019;38:4051). Unlike the binned ECE it does not add
    the within-bin sampling noise of every bin's observed rate: the curve has
    four parameters whatever the sample size.

    A perfectly calibrated predictor does not show exactly 0: the curve is fitted
    to sampled labels, so ICI has a noise floor of order ``sqrt(4 / n)`` times the
    typical ``sqrt(p (1 - p))``. :func:`covid_risk.evaluate` reports that floor for
    every predictor (``ici_floor``: the ICI of the same predictions with labels
    drawn from them); an ICI within the floor's range is as good as a perfect
    predictor can show on that many patients.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    dict
        ``{"ici": ..., "e50": ..., "e90": ..., "emax": ...}``; ``nan`` when only
        one class is present.
    """
    y, p, w = _check(y, p, sample_weight)
    x = logit(p)
    basis = _rcs_basis(x, _calibration_knots(x))
    beta = _newton_glm(basis, y, w)
    return _calibration_error_values(basis, beta, p, w)


def _calibration_error_values(basis: np.ndarray, beta: np.ndarray, p: np.ndarray,
                              w: np.ndarray) -> dict[str, float]:
    nan = float("nan")
    total = w.sum()
    if not np.all(np.isfinite(beta)) or total <= 0:
        return {"ici": nan, "e50": nan, "e90": nan, "emax": nan}
    d = np.abs(_expit(_lin(basis, beta)) - p)
    e50, e90 = _weighted_quantiles(d, w, (0.5, 0.9))
    return {"ici": float(_dot(w, d) / total), "e50": float(e50), "e90": float(e90),
            "emax": float(d[w > 0].max())}


def calibration_curve(
    y,
    p,
    *,
    n_bins: int = 10,
    strategy: str = "quantile",
    true_risk=None,
    ci: float = 0.95,
) -> pd.DataFrame:
    """Return reliability-diagram data: observed against predicted risk per bin.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability.
    n_bins : int, default=10
        Number of bins.
    strategy : {"quantile", "uniform"}, default="quantile"
        See :func:`bin_ids`.
    true_risk : array-like of float, optional
        The true probability of each row (synthetic data); adds ``mean_true_risk``.
    ci : float, default=0.95
        Coverage of the Wilson interval around each observed proportion.

    Returns
    -------
    pandas.DataFrame
        One row per non-empty bin: ``bin``, ``n``, ``events``, ``mean_predicted``,
        ``observed``, ``observed_lower``, ``observed_upper`` and, with
        ``true_risk``, ``mean_true_risk``. ``mean_predicted`` and ``observed``
        equal scikit-learn's ``calibration_curve``.
    """
    y, p, w = _check(y, p)
    bins = bin_ids(p, n_bins, strategy)
    n = np.bincount(bins, minlength=n_bins).astype("float64")
    events = np.bincount(bins, weights=y, minlength=n_bins)
    sum_p = np.bincount(bins, weights=p, minlength=n_bins)
    keep = n > 0
    n, events, sum_p = n[keep], events[keep], sum_p[keep]
    obs = events / n
    lower, upper = wilson_interval(events, n, ci=ci)
    out = pd.DataFrame(
        {
            "bin": np.flatnonzero(keep),
            "n": n.astype("int64"),
            "events": events.astype("int64"),
            "mean_predicted": sum_p / n,
            "observed": obs,
            "observed_lower": lower,
            "observed_upper": upper,
        }
    )
    if true_risk is not None:
        t = np.asarray(true_risk, dtype="float64").ravel()
        if t.shape != p.shape:
            raise ValueError("true_risk must have one value per row of p.")
        out["mean_true_risk"] = np.bincount(bins, weights=t, minlength=n_bins)[keep] / n
    return out


def wilson_interval(events: np.ndarray, n: np.ndarray, *, ci: float = 0.95
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Return the Wilson score interval for proportions ``events / n``.

    Parameters
    ----------
    events, n : ndarray of float
        Successes and trials (``n > 0``).
    ci : float, default=0.95
        Coverage.

    Returns
    -------
    tuple of ndarray
        Lower and upper bounds.
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + ci / 2.0)
    events = np.asarray(events, dtype="float64")
    n = np.asarray(n, dtype="float64")
    prop = events / n
    denom = 1.0 + z**2 / n
    centre = (prop + z**2 / (2.0 * n)) / denom
    half = z * np.sqrt(prop * (1.0 - prop) / n + z**2 / (4.0 * n**2)) / denom
    # Rounding can put a bound a hair on the wrong side of the observed proportion
    # (6.9e-18 above 0 events); the interval must contain it.
    lower = np.minimum(np.clip(centre - half, 0.0, 1.0), prop)
    upper = np.maximum(np.clip(centre + half, 0.0, 1.0), prop)
    return lower, upper


# ------------------------------------------------------------------ decision curve
def _check_thresholds(thresholds) -> np.ndarray:
    t = np.atleast_1d(np.asarray(thresholds, dtype="float64"))
    if t.ndim != 1 or not np.all((t > 0.0) & (t < 1.0)):
        raise ValueError(
            "thresholds must be probabilities strictly between 0 and 1 "
            f"(e.g. np.arange(0.01, 0.81, 0.01)). Got {t[:5].tolist()}..."
        )
    return t


def _net_benefit_from_counts(
    values: np.ndarray, pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray
) -> np.ndarray:
    """Net benefit at each threshold from counts per distinct prediction (ascending)."""
    total = pos.sum() + neg.sum()
    if total <= 0:
        return np.full(thresholds.shape, np.nan)
    # suffix sums: patients with p >= t are treated
    tp_at = np.concatenate([np.cumsum(pos[::-1])[::-1], [0.0]])
    fp_at = np.concatenate([np.cumsum(neg[::-1])[::-1], [0.0]])
    k = np.searchsorted(values, thresholds, side="left")
    odds = thresholds / (1.0 - thresholds)
    return (tp_at[k] - fp_at[k] * odds) / total


def net_benefit(y, p, thresholds, *, sample_weight=None) -> np.ndarray:
    """Return the net benefit of treating patients with ``p >= t``, for each threshold.

    ``NB(t) = TP/n - FP/n * t / (1 - t)`` (Vickers and Elkin, 2006).

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    p : array-like of float
        Predicted probability.
    thresholds : array-like of float
        Threshold probabilities strictly between 0 and 1.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    ndarray of float
        One net benefit per threshold. Treating nobody has net benefit 0.
    """
    y, p, w = _check(y, p, sample_weight)
    t = _check_thresholds(thresholds)
    values, inv = _groups(p)
    pos, neg = _group_counts(inv, y, w, values.size)
    return _net_benefit_from_counts(values, pos, neg, t)


def treat_all_net_benefit(y, thresholds, *, sample_weight=None) -> np.ndarray:
    """Return the net benefit of treating everybody, ``prev - (1 - prev) t / (1 - t)``.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcome.
    thresholds : array-like of float
        Threshold probabilities strictly between 0 and 1.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    ndarray of float
    """
    y_arr = np.asarray(y, dtype="float64").ravel()
    y_arr, _, w = _check(y_arr, np.zeros_like(y_arr), sample_weight)
    t = _check_thresholds(thresholds)
    prev = _wmean(y_arr, w)
    return prev - (1.0 - prev) * t / (1.0 - t)


# ------------------------------------------------------------ distance to the truth
def truth_calibration(p, true_risk, *, sample_weight=None) -> tuple[float, float]:
    """Return calibration intercept and slope of ``p`` against the true risk.

    The same two logistic fits as :func:`calibration_intercept` and
    :func:`calibration_slope`, with the true probability ``t`` in place of the
    sampled 0/1 label (a fractional outcome: each row contributes
    ``t log q + (1 - t) log(1 - q)``). These are the values the label-based
    intercept and slope converge to when labels are drawn again and again for the
    same patients, so they carry the same meaning without the label noise: slope 1
    and intercept 0 are perfect, a slope of 0.5 means predicted log-odds are twice
    as extreme as the truth. Fitting on the probability scale, unlike least squares
    on logits, is not dominated by patients whose true risk is near 0 or 1.

    Parameters
    ----------
    p : array-like of float
        Predicted probability.
    true_risk : array-like of float
        True probability of the same rows.
    sample_weight : array-like of float, optional
        Non-negative row weights.

    Returns
    -------
    tuple of float
        ``(intercept, slope)``; the slope is ``nan`` when all predictions are equal.
    """
    _, p, w = _check(np.zeros(np.size(p)), p, sample_weight)
    _, t, _ = _check(np.zeros(np.size(true_risk)), true_risk)
    if t.shape != p.shape:
        raise ValueError("true_risk must have one value per row of p.")
    x = logit(p)
    intercept = _newton_logistic(None, t, w, x)[0]
    slope = _newton_logistic(x, t, w, 0.0)[1]
    return intercept, slope
