"""Evaluate risk predictions: discrimination, calibration, clinical utility, subgroups.

:func:`evaluate` scores any *predictor* -- the LightGBM :class:`RiskModel`, a
logistic-regression baseline, a clinical score turned into probabilities -- on a
cohort with observed outcomes, through one code path, and returns an
:class:`Evaluation`: a frozen result with a short ``repr``, ``summary`` and
``comparison`` DataFrames, a ``subgroups`` table, plots and ``to_dict()``.

Predictor interface
-------------------
``predictor.outcomes_``
    Tuple of the outcome names it predicts.
``predictor.predict_proba(df, outcome=None)``
    A DataFrame with one float column per outcome and ``df``'s index (or a Series
    when ``outcome`` is given).
``predictor.name`` (optional)
    Shown in tables and plots; defaults to the class name.

How the numbers are made
------------------------
- **Rows.** For each outcome, rows whose observed label is missing are excluded and
  counted (``n_missing_label``). Rows where the model or any baseline predicts
  ``NaN`` for that outcome are excluded for *every* predictor, so all predictors
  are compared on the same rows, and counted (``n_missing_prediction``).
- **Point estimates** are computed on all remaining rows; see
  :mod:`covid_risk.metrics` for each definition.
- **Confidence intervals** are percentile intervals over ``n_bootstrap``
  resamples of patients (cohort rows drawn with replacement, *not* stratified by
  outcome, so the uncertainty of prevalence-dependent metrics such as O/E and
  Brier is included). One resample of patients is shared by every outcome, every
  predictor and every subgroup, so differences (model minus baseline, ceiling
  minus model) get paired intervals. Equal-frequency calibration bins are fixed
  from the full sample. A resample where a metric is undefined (e.g. a subgroup
  with one class) is left out of that metric's interval. Resamples run in blocks
  of ten; each block gets its own seed from
  ``numpy.random.SeedSequence(random_state).spawn``, so results are identical for
  any ``n_jobs``.
- **Calibration error.** ``ece`` is the binned expected calibration error (equal-
  frequency bins fixed from the full sample). Every bin's observed rate is noisy, so
  ECE is biased upward: predictions that are exactly right show about 0.009 on
  10,000 patients. ``ici``, ``e50`` and ``e90`` are the mean, median and 90th
  percentile of ``|c(p) - p|`` over patients, where ``c`` is the smoothed
  calibration curve of :func:`covid_risk.metrics.smoothed_calibration` (Austin &
  Steyerberg, Stat Med 2019), refitted on every resample. ``ici_floor`` is the ICI
  the same predictions show when labels are drawn from them (perfect calibration
  by construction; mean over 100 draws with a fixed seed, its interval the range
  over the draws rather than a bootstrap interval). An ICI inside that range is
  as good as perfect calibration can look on this many patients.
- **Distance to the truth.** When the cohort has ``true_risk_<outcome>`` columns
  (synthetic cohorts), the true risk is evaluated as one more predictor (``"true
  risk"``): its AUROC against the sampled labels is the *ceiling* no model can
  beat on average, and each predictor also gets ``mae_true`` (mean absolute
  difference between predicted and true probability) and the calibration
  intercept and slope with the true risk in place of the 0/1 label (what the
  label-based ones converge to without label noise; slope 1 and intercept 0 are
  perfect, slope below 1 means predictions are too extreme); see
  :func:`covid_risk.metrics.truth_calibration`.
- **Subgroups** (sex, age band, ethnicity, deprivation quintile, vaccination): n,
  events, observed rate, mean predicted risk, O/E and calibration-in-the-large per
  group, and AUROC (``NaN``, never 0, when a group has only one class) with
  bootstrap intervals for AUROC and O/E. Missing values form an explicit
  ``"missing"`` group.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from covid_risk import metrics as _m
from covid_risk._json import to_jsonable
from covid_risk.exceptions import DataQualityWarning
from covid_risk.schema import FIELDS, OUTCOMES

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "AGE_BANDS",
    "DEFAULT_N_BOOTSTRAP",
    "DEFAULT_SUBGROUPS",
    "METRIC_LABELS",
    "TRUTH_NAME",
    "Evaluation",
    "OutcomeEvaluation",
    "evaluate",
]

DEFAULT_N_BOOTSTRAP = 1000
"""Default bootstrap resamples behind every interval (see :func:`evaluate`)."""

TRUTH_NAME = "true risk"
"""Name under which the true risk (synthetic cohorts) appears as a predictor."""

TRUE_RISK_PREFIX = "true_risk_"
MISSING_GROUP = "missing"
DEFAULT_SUBGROUPS: tuple[str, ...] = (
    "sex",
    "age_band",
    "ethnicity",
    "deprivation_quintile",
    "vaccination",
)
"""Subgroup variables reported by default."""

AGE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("<50", -math.inf, 50.0),
    ("50-59", 50.0, 60.0),
    ("60-69", 60.0, 70.0),
    ("70-79", 70.0, 80.0),
    (">=80", 80.0, math.inf),
)
"""Age bands as ``(label, lower inclusive, upper exclusive)`` in years."""

_BASE_METRICS: tuple[str, ...] = (
    "auroc",
    "auprc",
    "brier",
    "log_loss",
    "calibration_intercept",
    "calibration_slope",
    "ece",
    "ici",
    "e50",
    "e90",
    "oe_ratio",
    "observed_rate",
    "mean_predicted",
)
_TRUTH_METRICS: tuple[str, ...] = (
    "mae_true",
    "true_calibration_intercept",
    "true_calibration_slope",
)
_PAIRED_METRICS: tuple[str, ...] = ("ceiling_auroc", "auroc_gap")

METRIC_LABELS: dict[str, str] = {
    "auroc": "AUROC",
    "auprc": "AUPRC (average precision)",
    "brier": "Brier score",
    "log_loss": "Log loss",
    "calibration_intercept": "Calibration intercept (in the large)",
    "calibration_slope": "Calibration slope",
    "ece": "Expected calibration error",
    "ici": "Integrated calibration index (ICI)",
    "e50": "Median absolute calibration error (E50)",
    "e90": "90th percentile absolute calibration error (E90)",
    "ici_floor": "ICI of a perfectly calibrated predictor (noise floor)",
    "oe_ratio": "Observed / expected events",
    "observed_rate": "Observed event rate",
    "mean_predicted": "Mean predicted risk",
    "ceiling_auroc": "AUROC of the true risk (ceiling)",
    "auroc_gap": "Ceiling AUROC minus AUROC",
    "mae_true": "Mean absolute error vs true risk",
    "true_calibration_intercept": "Calibration intercept vs true risk",
    "true_calibration_slope": "Calibration slope vs true risk",
}
"""Readable name of every metric reported, in report order."""

_BLOCK = 10  # bootstrap resamples per parallel task (fixed: keeps results n_jobs-free)
_FLOOR_DRAWS = 100  # label redraws behind the ICI noise floor of each predictor
_FLOOR_SEED = 2019  # fixed: the floor is a property of the predictions, not of the bootstrap
_COMPARISON_METRICS: tuple[str, ...] = (
    "auroc",
    "auprc",
    "brier",
    "calibration_intercept",
    "calibration_slope",
    "ece",
    "ici",
    "oe_ratio",
    "mae_true",
    "true_calibration_slope",
)


# =========================================================================== kernels
class _Scores:
    """Predictions of one predictor for one outcome, prepared for reweighting.

    Sorting, tie groups, calibration bins and logits are computed once; every
    bootstrap resample is then a weight vector over ``rows`` and costs a few
    ``bincount`` and dot products (plus a warm-started Newton fit).
    """

    def __init__(
        self,
        rows: np.ndarray,
        y: np.ndarray,
        p: np.ndarray,
        truth: np.ndarray | None,
        *,
        n_bins: int,
        binning: str,
    ) -> None:
        self.rows = rows
        self.y = y
        self.p = p
        self.truth = truth
        self.values, self.inv = np.unique(p, return_inverse=True)
        self.inv = self.inv.ravel()
        self.n_bins = int(n_bins)
        self.bins = _m.bin_ids(p, n_bins, binning)
        self.x = _m.logit(p)
        q = np.clip(p, _m.EPS, 1.0 - _m.EPS)
        self.sq_err = (p - y) ** 2
        self.nll = -(y * np.log(q) + (1.0 - y) * np.log1p(-q))
        self.abs_err = None if truth is None else np.abs(p - truth)
        self.cal_basis = _m._rcs_basis(self.x, _m._calibration_knots(self.x))
        ones = np.ones_like(p)
        self.cal_start = _m._newton_glm(self.cal_basis, y, ones)
        a0 = _m._newton_logistic(None, y, ones, self.x)[0]
        a1, b1 = _m._newton_logistic(self.x, y, ones, 0.0 * self.x)
        self.start_citl = (a0 if np.isfinite(a0) else 0.0, 1.0)
        self.start_slope = (a1, b1) if np.isfinite(b1) else (0.0, 1.0)
        if truth is not None:
            ta, tb = _m.truth_calibration(p, truth)
            self.start_true_citl = (ta if np.isfinite(ta) else 0.0, 1.0)
            self.start_true_slope = (0.0, 1.0)
            if np.isfinite(tb):
                self.start_true_slope = _m._newton_logistic(self.x, truth, ones, 0.0)

    def compute(
        self, w: np.ndarray, thresholds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return base metrics, truth metrics and net benefit at ``thresholds``."""
        pos, neg = _m._group_counts(self.inv, self.y, w, self.values.size)
        total = w.sum()
        events = pos.sum()
        expected = float(_m._dot(w, self.p))
        nz = w > 0
        xw, yw, ww = self.x[nz], self.y[nz], w[nz]
        citl = _m._newton_logistic(None, yw, ww, xw, start=self.start_citl)[0]
        slope = _m._newton_logistic(xw, yw, ww, 0.0, start=self.start_slope)[1]
        basis = self.cal_basis[:, nz]
        cal = _m._calibration_error_values(
            basis, _m._newton_glm(basis, yw, ww, start=self.cal_start), self.p[nz], ww)
        with np.errstate(invalid="ignore", divide="ignore"):
            base = np.array(
                [
                    _m._auc_from_counts(pos, neg),
                    _m._ap_from_counts(pos, neg),
                    _m._dot(w, self.sq_err) / total,
                    _m._dot(w, self.nll) / total,
                    citl,
                    slope,
                    _m._ece_from_bins(self.bins, self.y, self.p, w, self.n_bins),
                    cal["ici"],
                    cal["e50"],
                    cal["e90"],
                    events / expected if expected > 0 else np.nan,
                    events / total,
                    expected / total,
                ]
            )
        if self.truth is None:
            truth = np.full(len(_TRUTH_METRICS), np.nan)
        else:
            tw = self.truth[nz]
            a = _m._newton_logistic(None, tw, ww, xw, start=self.start_true_citl)[0]
            b = _m._newton_logistic(xw, tw, ww, 0.0, start=self.start_true_slope)[1]
            truth = np.array([_m._dot(w, self.abs_err) / total, a, b])
        nb = _m._net_benefit_from_counts(self.values, pos, neg, thresholds)
        return base, truth, nb


class _Partition:
    """One subgroup variable over the rows of one outcome: integer group codes.

    Rows are keyed by (group, tie group of the prediction); the distinct keys sort
    by group, then prediction, so per-group AUROC for every group at once is one
    ``bincount`` and one ``cumsum`` over at most ``n`` keys.
    """

    def __init__(self, variable: str, codes: np.ndarray, labels: Sequence[str],
                 scores: _Scores) -> None:
        self.variable = variable
        self.labels = tuple(labels)
        self.codes = codes
        self.n_groups = len(labels)
        nu = scores.values.size
        keys, self.key_inv = np.unique(codes * nu + scores.inv, return_inverse=True)
        self.key_inv = self.key_inv.ravel()
        self.key_group = keys // nu
        self.group_start = np.searchsorted(self.key_group, np.arange(self.n_groups))

    def compute(self, scores: _Scores, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return AUROC and O/E per group for weights ``w``."""
        g, k = self.n_groups, self.key_group.size
        wy = w * scores.y
        pos = np.bincount(self.key_inv, weights=wy, minlength=k)
        neg = np.bincount(self.key_inv, weights=w - wy, minlength=k)
        cum = np.cumsum(neg)
        before_group = np.concatenate([[0.0], cum])[self.group_start][self.key_group]
        below = cum - neg - before_group
        concordant = np.bincount(self.key_group, weights=pos * (below + 0.5 * neg), minlength=g)
        n_pos = np.bincount(self.key_group, weights=pos, minlength=g)
        n_neg = np.bincount(self.key_group, weights=neg, minlength=g)
        expected = np.bincount(self.codes, weights=w * scores.p, minlength=g)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = concordant / (n_pos * n_neg)
            oe = n_pos / expected
        auc[(n_pos <= 0) | (n_neg <= 0)] = np.nan
        oe[expected <= 0] = np.nan
        return auc, oe


def _ici_floor(s: _Scores, seed: np.random.SeedSequence, ci: float,
               draws: int = _FLOOR_DRAWS) -> tuple[float, float, float]:
    """ICI of a perfectly calibrated predictor with the same predictions as ``s``.

    Labels are drawn ``draws`` times from ``Bernoulli(p)``, so the predictions are
    perfectly calibrated by construction, and the ICI is computed each time the
    way it is for the real labels. Returns the mean and the central ``ci`` range
    over the draws: the noise floor an ICI estimate cannot go below on average.
    """
    rng = np.random.default_rng(seed)
    ones = np.ones(s.p.size)
    start = np.zeros(s.cal_basis.shape[0])
    if start.size >= 2:
        start[1] = 1.0  # logit(c(p)) = logit(p): the identity curve
    values = np.full(draws, np.nan)
    for b in range(draws):
        y = (rng.random(s.p.size) < s.p).astype("float64")
        beta = _m._newton_glm(s.cal_basis, y, ones, start=start)
        values[b] = _m._calibration_error_values(s.cal_basis, beta, s.p, ones)["ici"]
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1.0 - ci) / 2.0, (1.0 + ci) / 2.0])
    return float(values.mean()), float(lo), float(hi)


def _bootstrap_block(
    seed: np.random.SeedSequence,
    size: int,
    n_rows: int,
    scores: Sequence[_Scores],
    partitions: Sequence[tuple[int, _Partition]],
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run ``size`` bootstrap resamples; return metrics, truth, net benefit, subgroups."""
    with threadpool_limits(limits=1, user_api="blas"):
        return _bootstrap_resamples(seed, size, n_rows, scores, partitions, thresholds)


def _bootstrap_resamples(
    seed: np.random.SeedSequence,
    size: int,
    n_rows: int,
    scores: Sequence[_Scores],
    partitions: Sequence[tuple[int, _Partition]],
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_sub = sum(p.n_groups for _, p in partitions)
    base = np.empty((size, len(scores), len(_BASE_METRICS)))
    truth = np.empty((size, len(scores), len(_TRUTH_METRICS)))
    nb = np.empty((size, len(scores), thresholds.size))
    sub = np.empty((size, n_sub, 2))
    for b in range(size):
        counts = np.bincount(rng.integers(0, n_rows, n_rows), minlength=n_rows)
        w_all = counts.astype("float64")
        for k, s in enumerate(scores):
            base[b, k], truth[b, k], nb[b, k] = s.compute(w_all[s.rows], thresholds)
        j = 0
        for k, part in partitions:
            s = scores[k]
            auc, oe = part.compute(s, w_all[s.rows])
            sub[b, j : j + part.n_groups, 0] = auc
            sub[b, j : j + part.n_groups, 1] = oe
            j += part.n_groups
    return base, truth, nb, sub


def _run_bootstrap(
    n_bootstrap: int,
    random_state: int | None,
    n_jobs: int | None,
    n_rows: int,
    scores: Sequence[_Scores],
    partitions: Sequence[tuple[int, _Partition]],
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    sizes = [_BLOCK] * (n_bootstrap // _BLOCK)
    if n_bootstrap % _BLOCK:
        sizes.append(n_bootstrap % _BLOCK)
    seeds = np.random.SeedSequence(random_state).spawn(len(sizes))
    args = [(seed, size, n_rows, scores, partitions, thresholds)
            for seed, size in zip(seeds, sizes, strict=True)]
    if n_jobs in (None, 1) or len(sizes) == 1:
        parts = [_bootstrap_resamples(*a) for a in args]  # the caller limits BLAS
    else:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=n_jobs)(delayed(_bootstrap_block)(*a) for a in args)
    return tuple(np.concatenate([p[i] for p in parts], axis=0) for i in range(4))


def _interval(samples: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over axis 0, ignoring NaN; NaN where no sample is finite."""
    if samples.shape[0] == 0:
        nan = np.full(samples.shape[1:], np.nan)
        return nan, nan.copy()
    alpha = (1.0 - ci) / 2.0
    finite = np.isfinite(samples)
    filled = np.where(finite, samples, np.nan)
    ok = finite.any(axis=0)
    lo = np.full(samples.shape[1:], np.nan)
    hi = np.full(samples.shape[1:], np.nan)
    if ok.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            q = np.nanquantile(filled, [alpha, 1.0 - alpha], axis=0)
        lo[ok], hi[ok] = q[0][ok], q[1][ok]
    return lo, hi


# ======================================================================== results
def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _fmt_ci(est: float, lo: float, hi: float, digits: int = 3) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return _fmt(est, digits)
    sep = "-" if lo >= 0 and hi >= 0 else " to "
    return f"{_fmt(est, digits)} [{_fmt(lo, digits)}{sep}{_fmt(hi, digits)}]"



def _outcome_label(outcome: str) -> str:
    f = FIELDS.get(outcome)
    return f.label if f is not None else outcome


@dataclass(frozen=True, eq=False)
class OutcomeEvaluation:
    """How well one predictor predicts one outcome.

    Attributes
    ----------
    outcome : str
        Outcome column.
    predictor : str
        Predictor name.
    n : int
        Rows evaluated.
    n_events : int
        Rows with the outcome.
    n_missing_label : int
        Rows excluded because the outcome was not recorded.
    n_missing_prediction : int
        Rows excluded because a compared predictor returned ``NaN``.
    metrics : pandas.DataFrame
        Index ``metric``; columns ``label``, ``estimate``, ``ci_lower``, ``ci_upper``.
    calibration : pandas.DataFrame
        Reliability-diagram data (see :func:`covid_risk.metrics.calibration_curve`).
    roc : pandas.DataFrame
        ROC curve: ``threshold``, ``fpr``, ``tpr``.
    decision_curve : pandas.DataFrame
        ``threshold``, ``net_benefit`` with ``ci_lower``/``ci_upper``, ``treat_all``,
        ``treat_none``.
    ci : float
        Coverage of the intervals.
    n_bootstrap : int
        Bootstrap resamples behind the intervals (0: no intervals).
    """

    outcome: str
    predictor: str
    n: int
    n_events: int
    n_missing_label: int
    n_missing_prediction: int
    metrics: pd.DataFrame
    calibration: pd.DataFrame
    roc: pd.DataFrame
    decision_curve: pd.DataFrame
    ci: float = 0.95
    n_bootstrap: int = 0

    def __getitem__(self, metric: str) -> float:
        """Return the point estimate of ``metric`` (e.g. ``"auroc"``)."""
        if metric not in self.metrics.index:
            raise KeyError(
                f"No metric {metric!r} for {self.predictor}/{self.outcome}. "
                f"Available: {', '.join(self.metrics.index)}."
            )
        return float(self.metrics.at[metric, "estimate"])

    def interval(self, metric: str) -> tuple[float, float]:
        """Return the bootstrap interval ``(lower, upper)`` of ``metric``."""
        self[metric]  # raises a helpful KeyError
        row = self.metrics.loc[metric]
        return float(row["ci_lower"]), float(row["ci_upper"])

    @property
    def has_truth(self) -> bool:
        """Whether distance-to-truth metrics are available."""
        return "mae_true" in self.metrics.index

    @property
    def summary(self) -> pd.DataFrame:
        """The metrics table (estimate and interval per metric)."""
        return self.metrics.copy()

    def __repr__(self) -> str:
        est = self.metrics["estimate"]
        lo, hi = self.interval("auroc")
        return (
            f"OutcomeEvaluation({self.outcome}, {self.predictor}, n={self.n}, "
            f"events={self.n_events}: AUROC {_fmt_ci(est['auroc'], lo, hi)}, "
            f"Brier {_fmt(est['brier'])}, slope {_fmt(est['calibration_slope'], 2)}, "
            f"O/E {_fmt(est['oe_ratio'], 2)})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-able dictionary of counts, metrics and curves (not the ROC points)."""
        return to_jsonable(
            {
                "outcome": self.outcome,
                "predictor": self.predictor,
                "n": self.n,
                "n_events": self.n_events,
                "n_missing_label": self.n_missing_label,
                "n_missing_prediction": self.n_missing_prediction,
                "metrics": {
                    m: {
                        "estimate": r["estimate"],
                        "ci_lower": r["ci_lower"],
                        "ci_upper": r["ci_upper"],
                    }
                    for m, r in self.metrics.iterrows()
                },
                "calibration_curve": self.calibration,
                "decision_curve": self.decision_curve,
            }
        )

    # -- plots on one axes --------------------------------------------------
    def plot_roc(self, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """Plot the ROC curve; return the figure (draw on ``ax`` when given)."""
        fig, ax = _axes(ax)
        _draw_roc(ax, [self], self.outcome, **kwargs)
        return fig

    def plot_calibration(self, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """Plot the reliability diagram; return the figure."""
        fig, ax = _axes(ax)
        _draw_calibration(ax, [self], self.outcome, **kwargs)
        return fig

    def plot_decision_curve(self, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """Plot net benefit against treat-all and treat-none; return the figure."""
        fig, ax = _axes(ax)
        _draw_decision(ax, [self], self.outcome, **kwargs)
        return fig


@dataclass(frozen=True, eq=False)
class Evaluation:
    """Evaluation of a model (and optional baselines) on a cohort, per outcome.

    Get one outcome with ``evaluation["death"]``. Build with :func:`evaluate`.

    Attributes
    ----------
    model_name : str
        Name of the evaluated model.
    n : int
        Rows in the cohort.
    outcomes : tuple of str
        Outcomes evaluated, in order.
    results : mapping
        ``results[predictor][outcome]`` is an :class:`OutcomeEvaluation`; the model
        comes first, then baselines, then ``"true risk"`` when the cohort has it.
    comparison : pandas.DataFrame
        One row per outcome and predictor with the headline metrics and, for
        baselines and the true risk, the paired difference in AUROC from the model
        (``delta_auroc`` with its interval).
    subgroups : pandas.DataFrame
        One row per outcome, subgroup variable and group for the model.
    settings : mapping
        How the evaluation was run (bootstrap, bins, thresholds, seed).
    notes : tuple of str
        What was excluded or skipped, in words.
    """

    model_name: str
    n: int
    outcomes: tuple[str, ...]
    results: Mapping[str, Mapping[str, OutcomeEvaluation]]
    comparison: pd.DataFrame
    subgroups: pd.DataFrame
    settings: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    # -- access ---------------------------------------------------------------
    def __getitem__(self, outcome: str) -> OutcomeEvaluation:
        """Return the model's :class:`OutcomeEvaluation` for ``outcome``."""
        try:
            return self.results[self.model_name][outcome]
        except KeyError:
            raise KeyError(
                f"Outcome {outcome!r} was not evaluated. Evaluated: {', '.join(self.outcomes)}."
            ) from None

    def __iter__(self):
        """Iterate over the evaluated outcomes."""
        return iter(self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)

    @property
    def baselines(self) -> tuple[str, ...]:
        """Names of the baselines evaluated alongside the model."""
        return tuple(k for k in self.results if k not in (self.model_name, TRUTH_NAME))

    @property
    def has_truth(self) -> bool:
        """Whether the cohort carried true risks (distance-to-truth metrics)."""
        return TRUTH_NAME in self.results

    @property
    def summary(self) -> pd.DataFrame:
        """The model's metrics: one row per outcome and metric with estimate and interval.

        Index ``(outcome, metric)``; columns ``label``, ``estimate``, ``ci_lower``,
        ``ci_upper``.
        """
        frames = {o: self[o].metrics for o in self.outcomes}
        out = pd.concat(frames, names=["outcome", "metric"])
        return out

    @property
    def counts(self) -> pd.DataFrame:
        """Rows evaluated, events and exclusions per outcome."""
        rows = []
        for o in self.outcomes:
            r = self[o]
            rows.append(
                {
                    "outcome": o,
                    "n": r.n,
                    "events": r.n_events,
                    "prevalence": r.n_events / r.n if r.n else np.nan,
                    "n_missing_label": r.n_missing_label,
                    "n_missing_prediction": r.n_missing_prediction,
                }
            )
        return pd.DataFrame(rows).set_index("outcome")

    def table(self) -> pd.DataFrame:
        """Return a readable wide table: one row per outcome, ``estimate [CI]`` strings."""
        cols = ["auroc", "auprc", "brier", "calibration_intercept", "calibration_slope",
                "ece", "oe_ratio"]
        if self.has_truth:
            cols += ["ceiling_auroc", "mae_true"]
        rows = []
        for o in self.outcomes:
            r = self[o]
            row: dict[str, Any] = {"outcome": o, "n": r.n, "events": r.n_events}
            for c in cols:
                if c in r.metrics.index:
                    m = r.metrics.loc[c]
                    row[METRIC_LABELS[c]] = _fmt_ci(m["estimate"], m["ci_lower"], m["ci_upper"])
            rows.append(row)
        return pd.DataFrame(rows).set_index("outcome")

    # -- display --------------------------------------------------------------
    def __repr__(self) -> str:
        parts = []
        for o in self.outcomes:
            r = self[o]
            lo, hi = r.interval("auroc")
            parts.append(f"{o} AUROC {_fmt_ci(r['auroc'], lo, hi)}")
        k = len(self.outcomes)
        head = f"{self.model_name}, {k} outcome{'s' if k != 1 else ''}, n={self.n}"
        if self.baselines:
            head += f", vs {', '.join(self.baselines)}"
        return f"Evaluation({head}: {', '.join(parts)})"

    def _repr_html_(self) -> str:
        title = (
            f"<p><b>Evaluation of {_html_escape(self.model_name)}</b> on {self.n} patients; "
            f"{int(self.settings.get('ci', 0.95) * 100)}% bootstrap intervals from "
            f"{self.settings.get('n_bootstrap', 0)} resamples.</p>"
        )
        notes = "".join(f"<li>{_html_escape(n)}</li>" for n in self.notes)
        notes = f"<ul>{notes}</ul>" if notes else ""
        return title + self.table().to_html(escape=True) + notes

    # -- plots ----------------------------------------------------------------
    def _selected(self, outcome: str | Sequence[str] | None) -> tuple[str, ...]:
        if outcome is None:
            return self.outcomes
        chosen = (outcome,) if isinstance(outcome, str) else tuple(outcome)
        for o in chosen:
            self[o]  # helpful KeyError
        return chosen

    def _plot(self, drawer, outcome, predictors) -> Figure:
        chosen = self._selected(outcome)
        names = tuple(self.results) if predictors is None else tuple(predictors)
        fig, axes = _grid(len(chosen))
        for ax, o in zip(axes, chosen, strict=False):
            items = [self.results[p][o] for p in names if o in self.results.get(p, {})]
            drawer(ax, items, o)
        return fig

    def plot_roc(self, outcome: str | Sequence[str] | None = None, *,
                 predictors: Sequence[str] | None = None) -> Figure:
        """Plot ROC curves of the model, baselines and true risk; one panel per outcome.

        Parameters
        ----------
        outcome : str or sequence of str, optional
            Outcome(s) to plot; all by default.
        predictors : sequence of str, optional
            Which predictors to draw; all by default.

        Returns
        -------
        matplotlib.figure.Figure
            Not shown; display it in a notebook or save it with ``savefig``.
        """
        return self._plot(_draw_roc, outcome, predictors)

    def plot_calibration(self, outcome: str | Sequence[str] | None = None, *,
                         predictors: Sequence[str] | None = None) -> Figure:
        """Plot reliability diagrams (observed against predicted risk per bin).

        Parameters
        ----------
        outcome : str or sequence of str, optional
            Outcome(s) to plot; all by default.
        predictors : sequence of str, optional
            Which predictors to draw; by default the model and baselines.

        Returns
        -------
        matplotlib.figure.Figure
        """
        if predictors is None:
            predictors = [p for p in self.results if p != TRUTH_NAME]
        return self._plot(_draw_calibration, outcome, predictors)

    def plot_decision_curve(self, outcome: str | Sequence[str] | None = None, *,
                            predictors: Sequence[str] | None = None) -> Figure:
        """Plot decision curves: net benefit against treat-all and treat-none.

        Parameters
        ----------
        outcome : str or sequence of str, optional
            Outcome(s) to plot; all by default.
        predictors : sequence of str, optional
            Which predictors to draw; all by default.

        Returns
        -------
        matplotlib.figure.Figure
        """
        return self._plot(_draw_decision, outcome, predictors)

    def figures(self, outcome: str | Sequence[str] | None = None) -> dict[str, Figure]:
        """Return every standard figure by name (the hook an HTML report embeds)."""
        return {
            "roc": self.plot_roc(outcome),
            "calibration": self.plot_calibration(outcome),
            "decision_curve": self.plot_decision_curve(outcome),
        }

    # -- export ---------------------------------------------------------------
    def to_html(self, path: Any, **kwargs: Any) -> Any:
        """Write the self-contained HTML report; see :func:`covid_risk.render_report`.

        A thin wrapper: the report module (imported here, on use) builds the page from
        this object's ``summary``, ``comparison``, ``subgroups`` and ``figures``.
        """
        from covid_risk.evaluation.report import render_report

        return render_report(self, path, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Return everything but the ROC points as JSON-able data (``NaN`` becomes ``None``)."""
        return to_jsonable(
            {
                "model": self.model_name,
                "n": self.n,
                "outcomes": list(self.outcomes),
                "settings": dict(self.settings),
                "notes": list(self.notes),
                "results": {
                    p: {o: r.to_dict() for o, r in by_outcome.items()}
                    for p, by_outcome in self.results.items()
                },
                "comparison": self.comparison.reset_index(),
                "subgroups": self.subgroups,
            }
        )


def _html_escape(text: str) -> str:
    import html

    return html.escape(str(text))


# ========================================================================== plots
def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, axes = _grid(1)
    return fig, axes[0]


def _grid(k: int) -> tuple[Figure, list[Axes]]:
    """Build a figure with ``k`` panels without pyplot (no global state, nothing shown)."""
    from matplotlib.figure import Figure

    ncols = min(3, max(k, 1))
    nrows = max(1, math.ceil(k / ncols))
    fig = Figure(figsize=(4.6 * ncols, 4.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[k:]:
        ax.set_visible(False)
    return fig, axes[:k]


def _style(r: OutcomeEvaluation) -> dict[str, Any]:
    if r.predictor == TRUTH_NAME:
        return {"color": "0.45", "linestyle": "--", "linewidth": 1.2}
    return {"linewidth": 1.6}


def _draw_roc(ax: Axes, items: Sequence[OutcomeEvaluation], outcome: str, **kw: Any) -> None:
    for r in items:
        ax.plot(r.roc["fpr"], r.roc["tpr"], label=f"{r.predictor} ({_fmt(r['auroc'])})",
                **{**_style(r), **kw})
    ax.plot([0, 1], [0, 1], color="0.7", linestyle=":", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("False positive rate (1 - specificity)")
    ax.set_ylabel("True positive rate (sensitivity)")
    ax.set_title(f"ROC: {_outcome_label(outcome)}")
    ax.legend(loc="lower right", fontsize="small", title="AUROC", title_fontsize="small")


def _draw_calibration(ax: Axes, items: Sequence[OutcomeEvaluation], outcome: str,
                      **kw: Any) -> None:
    top = 0.0
    for r in items:
        c = r.calibration
        yerr = np.vstack([c["observed"] - c["observed_lower"], c["observed_upper"] - c["observed"]])
        ax.errorbar(c["mean_predicted"], c["observed"], yerr=yerr, marker="o", markersize=4,
                    capsize=2, label=r.predictor, **{**_style(r), **kw})
        top = max(top, float(c["mean_predicted"].max()), float(c["observed_upper"].max()))
        if "mean_true_risk" in c and r is items[0]:
            ax.plot(c["mean_predicted"], c["mean_true_risk"], color="0.45", linestyle="--",
                    marker="x", markersize=4, label=f"{TRUTH_NAME} ({r.predictor} bins)")
    top = min(1.0, max(top * 1.05, 0.05))
    ax.plot([0, top], [0, top], color="0.7", linestyle=":", linewidth=1)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("Mean predicted probability")
    ax.set_ylabel("Observed proportion")
    ax.set_title(f"Calibration: {_outcome_label(outcome)}")
    ax.legend(loc="upper left", fontsize="small")


def _draw_decision(ax: Axes, items: Sequence[OutcomeEvaluation], outcome: str,
                   **kw: Any) -> None:
    if not items:
        return
    first = items[0].decision_curve
    t = first["threshold"]
    for r in items:
        ax.plot(t, r.decision_curve["net_benefit"], label=r.predictor, **{**_style(r), **kw})
    ax.plot(t, first["treat_all"], color="0.3", linewidth=1, label="treat all")
    ax.plot(t, first["treat_none"], color="black", linewidth=1, label="treat none")
    top = max(float(np.nanmax(first["treat_all"])),
              max(float(np.nanmax(r.decision_curve["net_benefit"])) for r in items))
    top = top if np.isfinite(top) and top > 0 else 0.01
    ax.set_ylim(-0.15 * top, 1.1 * top)
    ax.set_xlim(float(t.min()), float(t.max()))
    ax.set_xlabel("Threshold probability")
    ax.set_ylabel("Net benefit")
    ax.set_title(f"Decision curve: {_outcome_label(outcome)}")
    ax.legend(loc="upper right", fontsize="small")


# ============================================================ cohort preparation
def _predictor_name(obj: Any) -> str:
    name = getattr(obj, "name", None)
    return str(name) if name else type(obj).__name__


def _check_predictor(obj: Any, role: str) -> tuple[str, ...]:
    outcomes = getattr(obj, "outcomes_", None)
    if outcomes is None or not callable(getattr(obj, "predict_proba", None)):
        raise TypeError(
            f"The {role} must have an 'outcomes_' attribute (tuple of outcome names) and a "
            f"'predict_proba(df, outcome=None)' method. Got {type(obj).__name__}. "
            "Fit the model first, or wrap your scores in an object with that interface."
        )
    if isinstance(outcomes, str):
        outcomes = (outcomes,)
    return tuple(outcomes)


def _labels(cohort: pd.DataFrame, outcome: str) -> np.ndarray:
    col = cohort[outcome]
    try:
        y = col.to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(
            f"The outcome column {outcome!r} must hold true/false (or 1/0) with missing "
            f"values as NA. Got values such as {col.dropna().unique()[:5].tolist()}."
        ) from None
    bad = ~np.isnan(y) & (y != 0.0) & (y != 1.0)
    if bad.any():
        raise ValueError(
            f"The outcome column {outcome!r} must hold true/false (or 1/0). "
            f"Got {np.unique(y[bad])[:5].tolist()}; fix or remove those rows."
        )
    return y


def _predict(obj: Any, name: str, df: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    pred = obj.predict_proba(df)
    if isinstance(pred, pd.Series):
        pred = pred.to_frame(name=pred.name if pred.name is not None else outcomes[0])
    if not isinstance(pred, pd.DataFrame):
        pred = pd.DataFrame(np.asarray(pred, dtype="float64").reshape(len(df), -1),
                            index=df.index, columns=list(outcomes)[: np.shape(pred)[-1]])
    if len(pred) != len(df) or not pred.index.equals(df.index):
        raise ValueError(
            f"{name}.predict_proba returned {len(pred)} rows with a different index from the "
            f"{len(df)} cohort rows; it must return one row per input row, same index."
        )
    missing = [o for o in outcomes if o not in pred.columns]
    if missing:
        raise ValueError(
            f"{name}.predict_proba returned no column for {', '.join(map(repr, missing))} "
            f"although its outcomes_ lists them. Columns returned: {list(pred.columns)}."
        )
    out = {}
    for o in outcomes:
        p = pd.to_numeric(pred[o], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        bad = np.isfinite(p) & ((p < 0.0) | (p > 1.0)) | np.isinf(p)
        if bad.any():
            raise ValueError(
                f"{name} predicted values outside [0, 1] for {o!r} "
                f"(e.g. {p[bad][:3].tolist()}); predict_proba must return probabilities."
            )
        out[o] = p
    return pd.DataFrame(out, index=df.index)


def _group_codes(
    cohort: pd.DataFrame, variable: str
) -> tuple[np.ndarray, list[str]] | str:
    """Return (codes, labels) for a subgroup variable, or a note explaining the skip."""
    if variable == "age_band":
        if "age" not in cohort.columns:
            return "age_band subgroup skipped: the cohort has no 'age' column."
        age = pd.to_numeric(cohort["age"], errors="coerce").to_numpy("float64", na_value=np.nan)
        labels = [b[0] for b in AGE_BANDS]
        edges = np.array([b[2] for b in AGE_BANDS[:-1]])
        codes = np.searchsorted(edges, age, side="right")
        values = codes.astype("int64")
        missing = np.isnan(age)
    elif variable == "vaccination":
        if "vaccine_doses" not in cohort.columns:
            return "vaccination subgroup skipped: the cohort has no 'vaccine_doses' column."
        doses = pd.to_numeric(cohort["vaccine_doses"], errors="coerce").to_numpy(
            "float64", na_value=np.nan)
        missing = np.isnan(doses)
        if missing.all():
            return "vaccination subgroup skipped: vaccine_doses is missing for every patient."
        labels = ["0 doses", ">=1 dose"]
        values = (np.nan_to_num(doses) >= 1).astype("int64")
    else:
        if variable not in cohort.columns:
            msg = f"{variable} subgroup skipped: the cohort has no {variable!r} column."
            if variable not in DEFAULT_SUBGROUPS:
                raise ValueError(
                    f"Unknown subgroup {variable!r}: it is neither a cohort column nor one of "
                    f"{', '.join(DEFAULT_SUBGROUPS)}."
                )
            return msg
        col = cohort[variable]
        missing = col.isna().to_numpy()
        if missing.all():
            return f"{variable} subgroup skipped: {variable} is missing for every patient."
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            num = pd.to_numeric(col, errors="coerce")
            if (num.dropna() % 1 == 0).all():
                col = num.astype("Int64")
        text = col.astype("string")
        present = set(text.dropna().unique())
        known = list(FIELDS[variable].categories) if (
            variable in FIELDS and FIELDS[variable].kind == "category") else []
        labels = [c for c in known if c in present]
        labels += sorted(present - set(labels), key=_natural_key)
        values = np.asarray(pd.Categorical(text, categories=labels).codes, dtype="int64")
    if missing.any():
        labels = [*labels, MISSING_GROUP]
        values = np.where(missing, len(labels) - 1, values)
    return values.astype("int64"), list(labels)


def _natural_key(s: str) -> tuple[int, float, str]:
    try:
        return (0, float(s), s)
    except ValueError:
        return (1, 0.0, s)


# =================================================================== evaluate()
def evaluate(
    model: Any,
    cohort: pd.DataFrame,
    *,
    outcomes: Iterable[str] | None = None,
    baselines: Mapping[str, Any] | None = None,
    subgroups: Iterable[str] | None = DEFAULT_SUBGROUPS,
    n_bootstrap: int = DEFAULT_N_BOOTSTRAP,
    ci: float = 0.95,
    thresholds: Sequence[float] | np.ndarray | None = None,
    n_bins: int = 10,
    binning: str = "quantile",
    n_jobs: int | None = 1,
    random_state: int | None = 0,
) -> Evaluation:
    """Evaluate a risk model (and optional baselines) on a cohort with observed outcomes.

    Parameters
    ----------
    model : predictor
        Anything with ``outcomes_`` and ``predict_proba(df, outcome=None)``, e.g. a
        fitted :class:`RiskModel` or a baseline.
    cohort : pandas.DataFrame
        Canonical patient records with one boolean column per evaluated outcome and,
        on synthetic cohorts, ``true_risk_<outcome>`` columns. Outcome and true-risk
        columns are removed before the predictors see the data.
    outcomes : iterable of str, optional
        Outcomes to evaluate; default every outcome in ``model.outcomes_``. Each must
        be a cohort column.
    baselines : mapping of str to predictor, optional
        Comparators evaluated by the same code on the same rows, keyed by the name
        shown in tables; each is evaluated on the outcomes it predicts.
    subgroups : iterable of str, default=DEFAULT_SUBGROUPS
        Subgroup variables: ``"sex"``, ``"age_band"`` (<50, 50-59, 60-69, 70-79,
        >=80), ``"ethnicity"``, ``"deprivation_quintile"``, ``"vaccination"`` (0
        doses vs >=1), or any other cohort column (grouped by value). Default
        variables absent from the cohort, or missing for everybody, are skipped
        with a note. ``()`` for none.
    n_bootstrap : int, default=1000
        Bootstrap resamples for the intervals; 0 for point estimates only. With 200
        the Monte-Carlo error in the width of a 95% percentile interval is about
        8%; 1,000 brings it near 3.5% (Efron & Tibshirani 1993; Carpenter &
        Bithell, Stat Med 2000). Pass a smaller number for quick looks.
    ci : float, default=0.95
        Coverage of the percentile intervals.
    thresholds : array-like of float, optional
        Decision-curve thresholds, strictly between 0 and 1; default 0.01 to 0.80
        in steps of 0.01.
    n_bins : int, default=10
        Bins for the calibration curve and the expected calibration error.
    binning : {"quantile", "uniform"}, default="quantile"
        Equal-frequency (default) or equal-width bins.
    n_jobs : int, optional, default=1
        Parallel workers for the bootstrap (joblib; ``-1`` for all cores). Results
        do not depend on it.
    random_state : int, optional, default=0
        Seed of the bootstrap; ``None`` for a fresh one.

    Returns
    -------
    Evaluation

    Raises
    ------
    TypeError
        When ``model`` or a baseline lacks the predictor interface.
    ValueError
        When the cohort lacks an outcome column the model predicts, labels are not
        true/false, a predictor returns values outside [0, 1], or settings are out
        of range.

    Examples
    --------
    >>> ev = evaluate(model, cohort, baselines={"4C score": four_c})  # doctest: +SKIP
    >>> ev["death"]["auroc"], ev.comparison, ev.subgroups             # doctest: +SKIP
    >>> ev.plot_calibration("death")                                  # doctest: +SKIP
    """
    n_bootstrap, thresholds = _check_settings(cohort, n_bootstrap, ci, thresholds, n_bins,
                                              binning)
    model_name, outcomes = _resolve_outcomes(model, outcomes, cohort)
    predictors = _collect_predictors(model, model_name, baselines)
    preds = _predict_all(predictors, cohort, outcomes)
    notes: list[str] = []
    # the fits and products below are tiny: BLAS threads only spin (see metrics._dot)
    with threadpool_limits(limits=1, user_api="blas"):
        scores, index, meta = _score_outcomes(cohort, outcomes, preds, notes, n_bins=n_bins,
                                              binning=binning)
        codes = _subgroup_codes(cohort, tuple(subgroups or ()), notes)
        partitions = _subgroup_partitions(codes, scores, index, model_name)
        est = _estimate(scores, partitions, thresholds, n_rows=len(cohort),
                        n_bootstrap=n_bootstrap, random_state=random_state, n_jobs=n_jobs)
        pos_of = {key: k for k, key in enumerate(index)}
        results: dict[str, dict[str, OutcomeEvaluation]] = {}
        comparison_rows = []
        floor_seeds = np.random.SeedSequence(_FLOOR_SEED).spawn(len(index))
        for k, (p, o) in enumerate(index):
            f_est, f_lo, f_hi = _ici_floor(scores[k], floor_seeds[k], ci)
            if n_bootstrap == 0:  # no intervals at all, as for every other metric
                f_lo = f_hi = float("nan")
            floor = {"ici_floor": (f_est, f_lo, f_hi)}
            table = _metric_table(_paired_samples(k, index, pos_of, meta, est), ci, floor)
            results.setdefault(p, {})[o] = _outcome_result(
                scores[k], p, o, table, est.boot_nb[:, k, :], est.point[k][2], meta[o],
                thresholds=thresholds, ci=ci, n_bins=n_bins, binning=binning,
                n_bootstrap=n_bootstrap,
            )
            comparison_rows.append(
                _comparison_row(k, p, o, table, pos_of.get((model_name, o)), est, ci)
            )
    settings = {
        "n_bootstrap": n_bootstrap,
        "ci": float(ci),
        "bootstrap": "patients resampled with replacement, not stratified; percentile intervals",
        "n_bins": int(n_bins),
        "binning": binning,
        "thresholds": [float(thresholds.min()), float(thresholds.max()), int(thresholds.size)],
        "random_state": random_state,
        "subgroups": list(codes),
    }
    return Evaluation(
        model_name=model_name,
        n=len(cohort),
        outcomes=tuple(outcomes),
        results=results,
        comparison=_comparison_table(comparison_rows),
        subgroups=_subgroup_table(index, scores, partitions, est.point_sub, est.boot_sub, ci),
        settings=settings,
        notes=tuple(notes),
    )


@dataclass
class _Estimates:
    """Point estimates and bootstrap samples of every scores entry and subgroup.

    ``point[k]`` is ``(base metrics, truth metrics, net benefit)`` of scores entry
    ``k``; ``boot_*`` hold one row per resample (empty when ``n_bootstrap`` is 0).
    """

    point: list
    point_sub: list
    boot_base: np.ndarray
    boot_truth: np.ndarray
    boot_nb: np.ndarray
    boot_sub: np.ndarray


def _check_settings(
    cohort: Any, n_bootstrap: Any, ci: float, thresholds: Any, n_bins: int, binning: str,
) -> tuple[int, np.ndarray]:
    """Refuse a bad cohort or setting; return ``n_bootstrap`` as int and the thresholds."""
    if not isinstance(cohort, pd.DataFrame):
        raise TypeError(f"cohort must be a pandas DataFrame. Got {type(cohort).__name__}.")
    if len(cohort) == 0:
        raise ValueError("The cohort has no rows; nothing to evaluate.")
    if isinstance(n_bootstrap, bool) or int(n_bootstrap) != n_bootstrap or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a whole number >= 0. Got {n_bootstrap!r}.")
    if not 0.0 < float(ci) < 1.0:
        raise ValueError(f"ci must be strictly between 0 and 1 (e.g. 0.95). Got {ci!r}.")
    if thresholds is None:
        thresholds = np.round(np.arange(0.01, 0.805, 0.01), 2)
    thresholds = _m._check_thresholds(thresholds)
    _m.bin_ids(np.zeros(0), n_bins, binning)  # validates n_bins and binning
    return int(n_bootstrap), thresholds


def _resolve_outcomes(
    model: Any, outcomes: Iterable[str] | None, cohort: pd.DataFrame
) -> tuple[str, tuple[str, ...]]:
    """Return the model's name and the outcomes to evaluate (each predicted and recorded)."""
    model_outcomes = _check_predictor(model, "model")
    model_name = _predictor_name(model)
    if outcomes is None:
        outcomes = model_outcomes
    else:
        outcomes = (outcomes,) if isinstance(outcomes, str) else tuple(outcomes)
        unknown = [o for o in outcomes if o not in model_outcomes]
        if unknown:
            raise ValueError(
                f"The model does not predict {', '.join(map(repr, unknown))}. "
                f"It predicts: {', '.join(model_outcomes)}."
            )
    if not outcomes:
        raise ValueError("No outcome to evaluate: the model's outcomes_ is empty.")
    absent = [o for o in outcomes if o not in cohort.columns]
    if absent:
        raise ValueError(
            f"The cohort has no {', '.join(map(repr, absent))} column, which the model "
            "predicts. Add the observed outcome (true/false per patient) or pass "
            "outcomes=[...] with the outcomes the cohort records."
        )
    return model_name, outcomes


def _collect_predictors(
    model: Any, model_name: str, baselines: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Return the model and the baselines by display name, checking names and interfaces."""
    predictors: dict[str, Any] = {model_name: model}
    for name, base in dict(baselines or {}).items():
        if name in predictors or name == TRUTH_NAME:
            raise ValueError(
                f"Baseline name {name!r} clashes with the model's name or {TRUTH_NAME!r}; "
                "give it another key in baselines."
            )
        _check_predictor(base, f"baseline {name!r}")
        predictors[str(name)] = base
    return predictors


def _predict_all(
    predictors: Mapping[str, Any], cohort: pd.DataFrame, outcomes: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """Predict every outcome each predictor knows, with outcome and truth columns hidden."""
    hidden = [c for c in cohort.columns
              if c in OUTCOMES or c in outcomes or str(c).startswith(TRUE_RISK_PREFIX)]
    features = cohort.drop(columns=hidden)
    preds: dict[str, pd.DataFrame] = {}
    for name, obj in predictors.items():
        wanted = [o for o in outcomes if o in _check_predictor(obj, name)]
        if wanted:
            preds[name] = _predict(obj, name, features, wanted)
    return preds


def _score_outcomes(
    cohort: pd.DataFrame, outcomes: Sequence[str], preds: Mapping[str, pd.DataFrame],
    notes: list[str], *, n_bins: int, binning: str,
) -> tuple[list[_Scores], list[tuple[str, str]], dict[str, dict[str, Any]]]:
    """Prepare one :class:`_Scores` per (predictor, outcome), on rows all predictors share.

    Returns
    -------
    scores : list of _Scores
        Per predictor and outcome, then the true risk when the cohort has it.
    index : list of (str, str)
        ``(predictor, outcome)`` of each scores entry.
    meta : dict of str to dict
        Per outcome, rows left out and whether a true risk is available.
    """
    scores: list[_Scores] = []
    index: list[tuple[str, str]] = []
    meta: dict[str, dict[str, Any]] = {}
    for o in outcomes:
        y_all = _labels(cohort, o)
        labelled = ~np.isnan(y_all)
        n_missing_label = int((~labelled).sum())
        if n_missing_label:
            notes.append(f"{o}: {n_missing_label} rows with no recorded outcome excluded.")
        names = [p for p in preds if o in preds[p].columns]
        predicted = np.ones(len(cohort), dtype=bool)
        for p in names:
            predicted &= np.isfinite(preds[p][o].to_numpy())
        n_missing_pred = int((labelled & ~predicted).sum())
        if n_missing_pred:
            who = [p for p in names if np.isnan(preds[p][o].to_numpy()[labelled]).any()]
            msg = (f"{o}: {n_missing_pred} rows excluded because {', '.join(who)} returned "
                   "no prediction (all predictors are compared on the same rows).")
            notes.append(msg)
            warnings.warn(msg, DataQualityWarning, stacklevel=3)
        rows = np.flatnonzero(labelled & predicted)
        if rows.size == 0:
            raise ValueError(
                f"No row has both a recorded {o!r} outcome and a prediction; cannot evaluate."
            )
        y = y_all[rows]
        if y.min() == y.max():
            notes.append(f"{o}: only one class among the {rows.size} rows; AUROC and "
                         "calibration fits are undefined (NaN).")
        truth = _true_risk(cohort, o, rows, notes)
        meta[o] = {"n_missing_label": n_missing_label, "n_missing_prediction": n_missing_pred,
                   "truth": truth is not None}
        for p in names:
            scores.append(_Scores(rows, y, preds[p][o].to_numpy()[rows], truth,
                                  n_bins=n_bins, binning=binning))
            index.append((p, o))
        if truth is not None:
            scores.append(_Scores(rows, y, truth, None, n_bins=n_bins, binning=binning))
            index.append((TRUTH_NAME, o))
    return scores, index, meta


def _true_risk(
    cohort: pd.DataFrame, outcome: str, rows: np.ndarray, notes: list[str]
) -> np.ndarray | None:
    """Return the cohort's ``true_risk_<outcome>`` on ``rows``, or ``None`` (with a note)."""
    tcol = TRUE_RISK_PREFIX + outcome
    if tcol not in cohort.columns:
        return None
    t = pd.to_numeric(cohort[tcol], errors="coerce").to_numpy("float64", na_value=np.nan)[rows]
    if np.isnan(t).any():
        notes.append(f"{outcome}: {tcol} has missing values; distance to truth not reported.")
        return None
    if ((t < 0) | (t > 1)).any():
        raise ValueError(f"{tcol} must hold probabilities in [0, 1].")
    return t


def _subgroup_codes(
    cohort: pd.DataFrame, variables: Sequence[str], notes: list[str]
) -> dict[str, tuple[np.ndarray, list[str]]]:
    """Group codes and labels per usable subgroup variable (skipped ones become notes)."""
    codes: dict[str, tuple[np.ndarray, list[str]]] = {}
    for v in variables:
        res = _group_codes(cohort, v)
        if isinstance(res, str):
            notes.append(res)
            continue
        codes[v] = res
    return codes


def _subgroup_partitions(
    codes: Mapping[str, tuple[np.ndarray, list[str]]], scores: Sequence[_Scores],
    index: Sequence[tuple[str, str]], model_name: str,
) -> list[tuple[int, _Partition]]:
    """Partition the model's scores entries by every subgroup variable (model only)."""
    partitions: list[tuple[int, _Partition]] = []
    for k, (p, _o) in enumerate(index):
        if p != model_name:
            continue
        for v, (group_codes, labels) in codes.items():
            partitions.append((k, _Partition(v, group_codes[scores[k].rows], labels, scores[k])))
    return partitions


def _estimate(
    scores: Sequence[_Scores], partitions: Sequence[tuple[int, _Partition]],
    thresholds: np.ndarray, *, n_rows: int, n_bootstrap: int, random_state: int | None,
    n_jobs: int | None,
) -> _Estimates:
    """Compute the point estimates and, when ``n_bootstrap > 0``, the bootstrap samples."""
    ones_all = np.ones(n_rows)
    point = [s.compute(ones_all[s.rows], thresholds) for s in scores]
    point_sub = [part.compute(scores[k], ones_all[scores[k].rows]) for k, part in partitions]
    if n_bootstrap > 0:
        boot = _run_bootstrap(n_bootstrap, random_state, n_jobs, n_rows, scores, partitions,
                              thresholds)
        return _Estimates(point, point_sub, *boot)
    n_sub = sum(part.n_groups for _, part in partitions)
    return _Estimates(
        point, point_sub,
        boot_base=np.empty((0, len(scores), len(_BASE_METRICS))),
        boot_truth=np.empty((0, len(scores), len(_TRUTH_METRICS))),
        boot_nb=np.empty((0, len(scores), thresholds.size)),
        boot_sub=np.empty((0, n_sub, 2)),
    )


def _paired_samples(
    k: int, index: Sequence[tuple[str, str]], pos_of: Mapping[tuple[str, str], int],
    meta: Mapping[str, dict[str, Any]], est: _Estimates,
) -> dict[str, tuple[float, np.ndarray]]:
    """Return each metric's point estimate and bootstrap samples for scores entry ``k``.

    The ceiling AUROC and the gap to it are paired with the true-risk entry of
    the same outcome on the same resamples.
    """
    a_idx = _BASE_METRICS.index("auroc")
    point, boot_base = est.point, est.boot_base
    p, o = index[k]
    out = {m: (point[k][0][j], boot_base[:, k, j]) for j, m in enumerate(_BASE_METRICS)}
    if meta[o]["truth"] and p != TRUTH_NAME:
        kt = pos_of[(TRUTH_NAME, o)]
        ceil_pt, ceil_bs = point[kt][0][a_idx], boot_base[:, kt, a_idx]
        out["ceiling_auroc"] = (ceil_pt, ceil_bs)
        out["auroc_gap"] = (ceil_pt - point[k][0][a_idx], ceil_bs - boot_base[:, k, a_idx])
        for j, m in enumerate(_TRUTH_METRICS):
            out[m] = (point[k][1][j], est.boot_truth[:, k, j])
    return out


def _metric_table(smp: Mapping[str, tuple[float, np.ndarray]], ci: float,
                  fixed: Mapping[str, tuple[float, float, float]] | None = None
                  ) -> pd.DataFrame:
    """Tabulate estimates and percentile intervals in :data:`METRIC_LABELS` order.

    ``fixed`` rows come with their own ``(estimate, lower, upper)`` (the ICI noise
    floor, whose range is over label redraws rather than bootstrap resamples).
    """
    fixed = dict(fixed or {})
    order = [m for m in METRIC_LABELS if m in smp]
    est = np.array([smp[m][0] for m in order], dtype="float64")
    lo, hi = _interval(np.column_stack([smp[m][1] for m in order]), ci)
    values = {m: (e, a, b) for m, e, a, b in zip(order, est, lo, hi, strict=True)}
    values.update(fixed)
    order = [m for m in METRIC_LABELS if m in values]
    return pd.DataFrame(
        {"label": [METRIC_LABELS[m] for m in order],
         "estimate": [values[m][0] for m in order],
         "ci_lower": [values[m][1] for m in order],
         "ci_upper": [values[m][2] for m in order]},
        index=pd.Index(order, name="metric"),
    ).astype({"estimate": "float64", "ci_lower": "float64", "ci_upper": "float64"})


def _outcome_result(
    s: _Scores, predictor: str, outcome: str, table: pd.DataFrame, boot_nb: np.ndarray,
    net_benefit: np.ndarray, meta: Mapping[str, Any], *, thresholds: np.ndarray, ci: float,
    n_bins: int, binning: str, n_bootstrap: int,
) -> OutcomeEvaluation:
    """Build one predictor's :class:`OutcomeEvaluation`: metrics, curves and decision curve."""
    nb_lo, nb_hi = _interval(boot_nb, ci)
    prev = float(s.y.mean())
    dc = pd.DataFrame(
        {"threshold": thresholds, "net_benefit": net_benefit, "ci_lower": nb_lo,
         "ci_upper": nb_hi,
         "treat_all": prev - (1.0 - prev) * thresholds / (1.0 - thresholds),
         "treat_none": np.zeros_like(thresholds)}
    )
    calib = _m.calibration_curve(s.y, s.p, n_bins=n_bins, strategy=binning,
                                 true_risk=s.truth, ci=ci)
    return OutcomeEvaluation(
        outcome=outcome, predictor=predictor, n=int(s.rows.size), n_events=int(s.y.sum()),
        n_missing_label=meta["n_missing_label"],
        n_missing_prediction=meta["n_missing_prediction"],
        metrics=table, calibration=calib, roc=_m.roc_curve(s.y, s.p),
        decision_curve=dc, ci=float(ci), n_bootstrap=n_bootstrap,
    )


def _comparison_row(
    k: int, predictor: str, outcome: str, table: pd.DataFrame, km: int | None,
    est: _Estimates, ci: float,
) -> dict[str, Any]:
    """Return one comparison row, with AUROC paired against the model (entry ``km``)."""
    a_idx = _BASE_METRICS.index("auroc")
    row: dict[str, Any] = {"outcome": outcome, "predictor": predictor}
    for m in _COMPARISON_METRICS:
        if m in table.index:
            row[m] = table.at[m, "estimate"]
            if m == "auroc":
                row["auroc_lower"], row["auroc_upper"] = table.at[m, "ci_lower"], \
                    table.at[m, "ci_upper"]
        else:
            row[m] = np.nan
    if km is not None and km != k:
        d_pt = est.point[k][0][a_idx] - est.point[km][0][a_idx]
        d_lo, d_hi = _interval(
            (est.boot_base[:, k, a_idx] - est.boot_base[:, km, a_idx])[:, None], ci)
        row.update(delta_auroc=d_pt, delta_auroc_lower=d_lo[0], delta_auroc_upper=d_hi[0])
    else:
        row.update(delta_auroc=np.nan, delta_auroc_lower=np.nan, delta_auroc_upper=np.nan)
    return row


def _comparison_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Stack the comparison rows into the ``Evaluation.comparison`` table."""
    cols = ["auroc", "auroc_lower", "auroc_upper", "delta_auroc", "delta_auroc_lower",
            "delta_auroc_upper", *[m for m in _COMPARISON_METRICS if m != "auroc"]]
    return pd.DataFrame(rows).set_index(["outcome", "predictor"])[cols]


def _subgroup_table(
    index: Sequence[tuple[str, str]],
    scores: Sequence[_Scores],
    partitions: Sequence[tuple[int, _Partition]],
    point_sub: Sequence[tuple[np.ndarray, np.ndarray]],
    boot_sub: np.ndarray,
    ci: float,
) -> pd.DataFrame:
    columns = ["outcome", "variable", "group", "n", "events", "observed_rate", "mean_predicted",
               "oe_ratio", "oe_lower", "oe_upper", "calibration_intercept", "auroc",
               "auroc_lower", "auroc_upper"]
    rows = []
    j = 0
    lo, hi = _interval(boot_sub, ci)
    for (k, part), (auc, oe) in zip(partitions, point_sub, strict=True):
        s = scores[k]
        outcome = index[k][1]
        n = np.bincount(part.codes, minlength=part.n_groups)
        events = np.bincount(part.codes, weights=s.y, minlength=part.n_groups)
        sum_p = np.bincount(part.codes, weights=s.p, minlength=part.n_groups)
        for g, label in enumerate(part.labels):
            if n[g] == 0:
                continue
            mask = part.codes == g
            citl = _m._newton_logistic(None, s.y[mask], np.ones(int(n[g])), s.x[mask])[0]
            rows.append(
                {
                    "outcome": outcome, "variable": part.variable, "group": label,
                    "n": int(n[g]), "events": int(events[g]),
                    "observed_rate": events[g] / n[g], "mean_predicted": sum_p[g] / n[g],
                    "oe_ratio": oe[g], "oe_lower": lo[j + g, 1], "oe_upper": hi[j + g, 1],
                    "calibration_intercept": citl, "auroc": auc[g],
                    "auroc_lower": lo[j + g, 0], "auroc_upper": hi[j + g, 0],
                }
            )
        j += part.n_groups
    return pd.DataFrame(rows, columns=columns)

