"""Drift between two cohorts: population stability, KS statistics, missingness, outcome rates.

:func:`drift` compares a *reference* cohort (for instance the data a model was
trained on) with a *current* one (new patients, a new synthetic scenario) and
returns a :class:`DriftReport`: one row per feature and one per outcome, each
with a verdict, and an overall verdict.

How the numbers are made
------------------------
- **Population stability index (PSI).** The values of a feature are put in bins;
  with ``r_i`` and ``c_i`` the shares of the reference and current rows in bin
  ``i``, ``PSI = sum_i (c_i - r_i) * ln(c_i / r_i)`` (the symmetrised
  Kullback-Leibler divergence of the two binned distributions; 0 means identical).

  * Numeric features with more than ``bins`` distinct values (reference and
    current together) get ``bins`` *quantile bins of the reference*: the interior
    edges are the reference's ``1/bins, ..., (bins-1)/bins`` quantiles (ties
    merged, so heavily tied features get fewer bins); values below the first or
    above the last edge fall in the end bins, which are open.
  * Numeric features with at most ``bins`` distinct values (vaccine doses,
    deprivation quintile), yes/no features and categories get one bin per value
    seen in either cohort, so a value that never occurs in the reference still
    counts.
  * Missing values are a bin of their own, so a change in missingness moves the
    PSI as well as the ``missing_*`` columns.
  * **Smoothing.** A bin that is empty in one cohort would make the logarithm
    infinite, so every share is floored at ``epsilon = 1e-4`` (one patient in ten
    thousand) before the sum: ``r_i = max(count_i / n, 1e-4)``. Bins empty in
    both cohorts contribute exactly 0. The floor caps one unseen bin's
    contribution at about ``c_i * ln(c_i / 1e-4)``.
  * **New categories.** A bin with current rows but no reference row (a category,
    value or missingness the reference never had, e.g. vaccine doses in a
    pre-vaccination reference) is reported as a *new category* with the share of
    current rows it holds (``new_categories``, ``new_share``), and the feature's
    ``psi`` is ``NaN``: there the PSI would be set by the floor (a dose bin holding
    20% of current rows adds ``0.2 * ln(0.2 / 1e-4) = 1.5``, and 2.3 with a floor
    of 1e-6), not by the data. ``psi_known`` is the PSI over the bins the
    reference has (current rows in new bins left out). The verdict is the worse of
    that PSI's and the new categories' share: 1% of current rows or more
    ``"moderate"``, 5% or more ``"major"`` (a convention of this library: the model
    has never seen these patients).
  * **Noise.** Two independent samples of the same population of ``n`` and ``m``
    rows give, for ``k`` occupied bins, an expected PSI of about
    ``(k - 1) * (1/n + 1/m)`` (the PSI is then approximately a chi-square
    statistic divided by the sample size): 0.0009 for 10 bins and 20,000 rows
    each, 0.018 for 1,000 each. Compare cohorts of a few thousand rows or more.
- **Verdict per feature** from the usual PSI cut-offs: below 0.1 ``"none"``,
  0.1 to below 0.25 ``"moderate"``, 0.25 or more ``"major"`` (Siddiqi, *Credit
  Risk Scorecards*, Wiley 2006; examined in Yurdakul, *Statistical properties of
  population stability index*, PhD dissertation, Western Michigan University,
  2018). The overall verdict is the worst verdict over features and outcomes
  (outcome verdicts are described below).
- **Kolmogorov-Smirnov statistic** (numeric features, recorded values only): the
  largest distance between the two empirical distribution functions, with its
  two-sided p-value (:func:`scipy.stats.ks_2samp`) for continuous features. The KS
  p-value assumes no ties; on discrete or heavily tied features (categories,
  yes/no, integers, any feature with at most ``DISCRETE_MAX_VALUES`` distinct
  recorded values such as vaccine doses, whole-percent SpO2 or respiratory rate)
  it is far too large, so there ``ks_pvalue`` is ``NaN`` and the test is Pearson's
  chi-squared on the 2 x k table of recorded values (``chi2``, ``chi2_df``,
  ``chi2_pvalue``), adjacent values pooled until every expected count is at least
  5 (Cochran's rule). ``test`` names the test used. Tests are reported, not used
  for the verdict: with tens of thousands of rows tiny, harmless shifts have tiny
  p-values.
- **Missingness**: share of rows with the feature missing in each cohort and the
  change (current minus reference).
- **Outcome rates**: for every outcome column present in both cohorts, the event
  rate among rows with a recorded outcome in each, the change, the ratio, the
  two-sided p-value of the two-proportion z-test (pooled variance) and, for
  reference, the PSI of the yes/no/missing distribution. The PSI of a rare yes/no
  outcome barely moves when its rate is halved (4.5% to 1.3% gives 0.04), so the
  outcome verdict uses the rate ratio instead -- a convention of this library, not
  a published standard: ``"major"`` when the ratio is below 1/2 or above 2,
  ``"moderate"`` when below 1/1.25 or above 1.25, and ``"none"`` otherwise or when
  the change is not significant at ``p < 0.01`` (so small cohorts do not raise
  alarms on noise).

Examples
--------
>>> import covid_risk as cr                                     # doctest: +SKIP
>>> ref = cr.make_cohort(20000, setting="community", scenario="wild_type_2020",
...                      random_state=1)                         # doctest: +SKIP
>>> cur = cr.make_cohort(20000, setting="community", scenario="omicron_2022",
...                      random_state=2)                         # doctest: +SKIP
>>> report = drift(ref, cur)                                    # doctest: +SKIP
>>> report.drifted                                              # doctest: +SKIP
('vaccine_doses', 'days_since_vaccination', 'variant_period')
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from covid_risk._json import to_jsonable
from covid_risk.schema import FIELDS, OUTCOMES, PREDICTORS

__all__ = [
    "DISCRETE_MAX_VALUES",
    "EPSILON",
    "NEW_SHARE_MAJOR",
    "NEW_SHARE_MODERATE",
    "PSI_MAJOR",
    "PSI_MODERATE",
    "VERDICTS",
    "DriftReport",
    "drift",
    "psi",
]

PSI_MODERATE = 0.1
"""PSI at or above which a distribution has moved moderately (Siddiqi 2006)."""
PSI_MAJOR = 0.25
"""PSI at or above which a distribution has moved a lot (Siddiqi 2006)."""
EPSILON = 1e-4
"""Floor on every bin share before the PSI's logarithm (see the module notes)."""
NEW_SHARE_MODERATE = 0.01
"""Share of current rows in categories new to the reference from which drift is moderate."""
NEW_SHARE_MAJOR = 0.05
"""Share of current rows in categories new to the reference from which drift is major."""
DISCRETE_MAX_VALUES = 50
"""Numeric features with at most this many distinct recorded values are tested as discrete
(chi-squared) rather than with the Kolmogorov-Smirnov test."""
RATE_RATIO_MODERATE = 1.25
"""Outcome-rate ratio (or its inverse) at or beyond which an outcome has moved moderately."""
RATE_RATIO_MAJOR = 2.0
"""Outcome-rate ratio (or its inverse) at or beyond which an outcome has moved a lot."""
RATE_ALPHA = 0.01
"""Two-proportion z-test level an outcome-rate change must reach to count as drift."""
VERDICTS: tuple[str, ...] = ("none", "moderate", "major")
"""Verdicts from best to worst."""

MISSING_BIN = "missing"

_FEATURE_COLUMNS = (
    "label", "kind", "binning", "n_bins", "psi", "psi_known", "new_categories", "new_share",
    "test", "ks", "ks_pvalue", "chi2", "chi2_df", "chi2_pvalue", "missing_reference",
    "missing_current", "missing_change", "mean_reference", "mean_current", "largest_shift",
    "verdict",
)
_OUTCOME_COLUMNS = (
    "label", "n_reference", "n_current", "rate_reference", "rate_current", "rate_change",
    "rate_ratio", "rate_pvalue", "psi", "verdict",
)


# ============================================================================ the index
def psi(reference_counts: Any, current_counts: Any, *, epsilon: float = EPSILON) -> float:
    """Return the population stability index of two histograms over the same bins.

    Parameters
    ----------
    reference_counts, current_counts : array-like of float
        Counts (or shares) per bin, in the same bin order; each is normalised to
        shares.
    epsilon : float, default=EPSILON
        Floor on each share before taking logarithms.

    Returns
    -------
    float
        ``sum((c - r) * ln(c / r))`` over bins with floored shares ``r`` and ``c``.

    Examples
    --------
    >>> round(psi([50, 50], [40, 60]), 6)   # (0.4-0.5)ln(0.8) + (0.6-0.5)ln(1.2)
    0.040547
    >>> psi([10, 0], [10, 0])
    0.0
    """
    r = np.asarray(reference_counts, dtype="float64")
    c = np.asarray(current_counts, dtype="float64")
    if r.shape != c.shape or r.ndim != 1:
        raise ValueError(
            f"psi needs two 1-d histograms over the same bins; got shapes {r.shape} and "
            f"{c.shape}."
        )
    if (r < 0).any() or (c < 0).any() or r.sum() <= 0 or c.sum() <= 0:
        raise ValueError("psi needs non-negative counts with a positive total in each histogram.")
    r = np.maximum(r / r.sum(), epsilon)
    c = np.maximum(c / c.sum(), epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def _verdict(value: float) -> str:
    if not math.isfinite(value) or value < PSI_MODERATE:
        return "none"
    return "moderate" if value < PSI_MAJOR else "major"


def _rate_verdict(ratio: float, pvalue: float) -> str:
    if not (math.isfinite(ratio) and ratio > 0) or not pvalue < RATE_ALPHA:
        return "none"
    fold = max(ratio, 1.0 / ratio)
    if fold >= RATE_RATIO_MAJOR:
        return "major"
    return "moderate" if fold >= RATE_RATIO_MODERATE else "none"


def _two_proportion_pvalue(k1: float, n1: int, k2: float, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (``NaN`` when undefined)."""
    if n1 == 0 or n2 == 0:
        return math.nan
    pooled = (k1 + k2) / (n1 + n2)
    var = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)
    if var <= 0:
        return 1.0
    z = (k2 / n2 - k1 / n1) / math.sqrt(var)
    return math.erfc(abs(z) / math.sqrt(2.0))


def _worst(verdicts: Iterable[str]) -> str:
    ranks = [VERDICTS.index(v) for v in verdicts]
    return VERDICTS[max(ranks)] if ranks else "none"


def _new_verdict(share: float) -> str:
    if not share >= NEW_SHARE_MODERATE:
        return "none"
    return "major" if share >= NEW_SHARE_MAJOR else "moderate"


def _severity(df: pd.DataFrame) -> pd.DataFrame:
    """Sort rows worst first: verdict, then share in new categories, then PSI."""
    key = pd.DataFrame({
        "rank": [VERDICTS.index(v) for v in df["verdict"]],
        "new": (df["new_share"].fillna(0.0).to_numpy() if "new_share" in df.columns
                else np.zeros(len(df))),
        "psi": df["psi"].fillna(-1.0).to_numpy(),
    })
    order = np.lexsort((-key["psi"].to_numpy(), -key["new"].to_numpy(),
                        -key["rank"].to_numpy()))
    return df.iloc[order]


def _chi2(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float, float]:
    """Pearson's chi-squared test of two samples of a discrete variable (recorded values).

    Adjacent values (in sorted order) are pooled until every expected count is at
    least 5. Returns ``(statistic, degrees of freedom, p-value)``; NaNs when fewer
    than two pooled values remain.
    """
    nan = (math.nan, math.nan, math.nan)
    if ref.size == 0 or cur.size == 0:
        return nan
    values = np.unique(np.concatenate([ref, cur]))
    r = np.bincount(np.searchsorted(values, ref), minlength=values.size).astype(float)
    c = np.bincount(np.searchsorted(values, cur), minlength=values.size).astype(float)
    n_r, n_c = r.sum(), c.sum()
    need = 5.0 * (n_r + n_c) / min(n_r, n_c)  # column total giving expected counts >= 5
    pooled_r, pooled_c = [], []
    acc_r = acc_c = 0.0
    for a, b in zip(r, c, strict=True):
        acc_r, acc_c = acc_r + a, acc_c + b
        if acc_r + acc_c >= need:
            pooled_r.append(acc_r)
            pooled_c.append(acc_c)
            acc_r = acc_c = 0.0
    if acc_r + acc_c > 0:
        if pooled_r:
            pooled_r[-1] += acc_r
            pooled_c[-1] += acc_c
        else:
            pooled_r.append(acc_r)
            pooled_c.append(acc_c)
    if len(pooled_r) < 2:
        return nan
    obs = np.array([pooled_r, pooled_c])
    col = obs.sum(axis=0)
    expected = np.outer([n_r, n_c], col) / (n_r + n_c)
    stat = float(np.sum((obs - expected) ** 2 / expected))
    df = float(len(pooled_r) - 1)
    from scipy.stats import chi2

    return stat, df, float(chi2.sf(stat, df))


# ============================================================================ binning
@dataclass(frozen=True)
class _Binned:
    labels: list[str]
    ref_counts: np.ndarray
    cur_counts: np.ndarray
    binning: str


def _kind(df: pd.DataFrame, name: str) -> str:
    if name in FIELDS:
        return FIELDS[name].kind
    col = df[name]
    if pd.api.types.is_bool_dtype(col.dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(col.dtype):
        return "int"
    if pd.api.types.is_numeric_dtype(col.dtype):
        return "float"
    return "category"


def _numeric(df: pd.DataFrame, name: str) -> np.ndarray:
    return df[name].to_numpy(dtype="float64", na_value=np.nan)


def _strings(df: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    col = df[name]
    missing = col.isna().to_numpy()
    values = col.astype("object").to_numpy()[~missing].astype(str)
    return values, missing


def _fmt_edge(x: float) -> str:
    return f"{x:.4g}"


def _discrete_bins(ref: np.ndarray, cur: np.ndarray, names: list[str] | None = None) -> tuple:
    """One bin per value seen in either cohort (``ref``/``cur`` recorded values only)."""
    values = np.unique(np.concatenate([ref, cur]))
    r = np.bincount(np.searchsorted(values, ref), minlength=values.size)
    c = np.bincount(np.searchsorted(values, cur), minlength=values.size)
    labels = names or [str(v) for v in values.tolist()]
    return labels, r, c


def _bin_feature(ref_df: pd.DataFrame, cur_df: pd.DataFrame, name: str, kind: str,
                 bins: int) -> tuple[_Binned, np.ndarray, np.ndarray]:
    """Bin one feature; return the histogram and the two missingness masks."""
    if kind == "category":
        ref, ref_miss = _strings(ref_df, name)
        cur, cur_miss = _strings(cur_df, name)
        labels, r, c = _discrete_bins(ref, cur)
        binning = "categories"
    else:
        ref_all, cur_all = _numeric(ref_df, name), _numeric(cur_df, name)
        ref_miss, cur_miss = np.isnan(ref_all), np.isnan(cur_all)
        ref, cur = ref_all[~ref_miss], cur_all[~cur_miss]
        distinct = np.unique(np.concatenate([ref, cur]))
        if kind == "bool" or distinct.size <= bins:
            names = ([("yes" if v == 1.0 else "no") for v in distinct.tolist()] if kind == "bool"
                     else [_fmt_edge(v) for v in distinct.tolist()])
            labels, r, c = _discrete_bins(ref, cur, names)
            binning = "values"
        elif ref.size == 0:
            labels, r, c = ["recorded"], np.zeros(1, dtype=np.int64), np.array([cur.size])
            binning = "recorded (no reference values)"
        else:
            edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))
            r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=edges.size + 1)
            c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=edges.size + 1)
            shown = [_fmt_edge(float(e)) for e in edges]
            labels = ([f"< {shown[0]}"]
                      + [f"[{a}, {b})" for a, b in zip(shown[:-1], shown[1:], strict=True)]
                      + [f">= {shown[-1]}"])
            binning = "reference quantiles"
    labels = [*labels, MISSING_BIN]
    r = np.append(np.asarray(r, dtype=np.int64), int(ref_miss.sum()))
    c = np.append(np.asarray(c, dtype=np.int64), int(cur_miss.sum()))
    return _Binned(labels, r, c, binning), ref_miss, cur_miss


def _largest_shift(b: _Binned) -> str:
    r = b.ref_counts / max(b.ref_counts.sum(), 1)
    c = b.cur_counts / max(b.cur_counts.sum(), 1)
    i = int(np.argmax(np.abs(c - r)))
    return f"{b.labels[i]}: {100 * r[i]:.1f}% -> {100 * c[i]:.1f}%"


def _ks(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    if ref.size == 0 or cur.size == 0:
        return math.nan, math.nan
    from scipy.stats import ks_2samp

    res = ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


def _psi_with_new_categories(b: _Binned) -> tuple[float, float, list[str], float]:
    """Return ``(psi, psi over the reference's bins, new bin labels, their current share)``.

    ``psi`` is ``NaN`` when a bin has current rows but no reference row (see the
    module notes); otherwise it equals the PSI over the reference's bins.
    """
    new = (b.ref_counts == 0) & (b.cur_counts > 0)
    labels = [lab for lab, is_new in zip(b.labels, new, strict=True) if is_new]
    share = float(b.cur_counts[new].sum() / max(b.cur_counts.sum(), 1))
    known = ~new
    if b.cur_counts[known].sum() > 0:
        psi_known = psi(b.ref_counts[known], b.cur_counts[known])
    else:
        psi_known = math.nan
    return (math.nan if new.any() else psi_known), psi_known, labels, share


def _feature_test(reference: pd.DataFrame, current: pd.DataFrame, name: str, kind: str
                  ) -> tuple[str, float, float, tuple[float, float, float]]:
    """Return ``(test name, KS, KS p-value, (chi2, df, p))`` for one feature.

    Discrete or heavily tied features get the chi-squared test (and a KS statistic
    without p-value when numeric); continuous ones the KS test.
    """
    nan3 = (math.nan, math.nan, math.nan)
    if kind == "category":
        ref, _ = _strings(reference, name)
        cur, _ = _strings(current, name)
        chi = _chi2(ref, cur)
        return ("chi-squared" if np.isfinite(chi[0]) else ""), math.nan, math.nan, chi
    r_num, c_num = _numeric(reference, name), _numeric(current, name)
    r_rec, c_rec = r_num[~np.isnan(r_num)], c_num[~np.isnan(c_num)]
    discrete = kind in ("bool", "int") or (
        np.unique(np.concatenate([r_rec, c_rec])).size <= DISCRETE_MAX_VALUES)
    if discrete:
        ks = _ks(r_num, c_num)[0] if kind != "bool" else math.nan
        chi = _chi2(r_rec, c_rec)
        return ("chi-squared" if np.isfinite(chi[0]) else ""), ks, math.nan, chi
    ks, ks_p = _ks(r_num, c_num)
    return ("KS" if np.isfinite(ks) else ""), ks, ks_p, nan3


def _label(name: str) -> str:
    f = FIELDS.get(name)
    return f.label if f is not None else name


# ============================================================================ result
@dataclass(frozen=True, eq=False)
class DriftReport:
    """How far a current cohort has moved from a reference cohort. Build with :func:`drift`.

    Attributes
    ----------
    features : pandas.DataFrame
        Index ``feature``; columns ``label``, ``kind``, ``binning`` (how the PSI bins
        were made), ``n_bins`` (including the missing bin), ``psi`` (``NaN`` when
        the current cohort has categories the reference lacks), ``psi_known`` (over
        the reference's bins), ``new_categories`` and ``new_share`` (bins new to the
        reference and the share of current rows in them), ``test`` (``"KS"`` or
        ``"chi-squared"``), ``ks`` and ``ks_pvalue`` (numeric features; the p-value
        only for continuous ones), ``chi2``, ``chi2_df`` and ``chi2_pvalue``
        (discrete features), ``missing_reference``,
        ``missing_current``, ``missing_change`` (shares), ``mean_reference``,
        ``mean_current`` (numeric features), ``largest_shift`` (the bin whose share
        moved most, in words) and ``verdict``.
    outcomes : pandas.DataFrame
        Index ``outcome``; columns ``label``, ``n_reference``, ``n_current`` (rows
        with a recorded outcome), ``rate_reference``, ``rate_current``,
        ``rate_change``, ``rate_ratio``, ``rate_pvalue`` (two-proportion z-test),
        ``psi`` and ``verdict`` (from the rate ratio; see the module notes).
    verdict : str
        ``"none"``, ``"moderate"`` or ``"major"``: the worst verdict of any row.
    n_reference, n_current : int
        Rows compared.
    bins : int
        Quantile bins asked for per numeric feature.
    skipped : tuple of str
        Features left out because they are missing for every row of both cohorts.
    histograms : mapping
        ``histograms[name]`` is a DataFrame with ``bin``, ``reference`` and
        ``current`` counts, for every feature and outcome.
    """

    features: pd.DataFrame
    outcomes: pd.DataFrame
    verdict: str
    n_reference: int
    n_current: int
    bins: int = 10
    skipped: tuple[str, ...] = ()
    histograms: Mapping[str, pd.DataFrame] = field(default_factory=dict, repr=False)

    # -- views ----------------------------------------------------------------
    @property
    def drifted(self) -> tuple[str, ...]:
        """Features whose verdict is not ``"none"``, worst first.

        Ordered by verdict, then share of current rows in new categories, then PSI.
        """
        f = self.features
        return tuple(_severity(f[f["verdict"] != "none"]).index)

    @property
    def summary(self) -> pd.DataFrame:
        """One row per feature and outcome, worst first (verdict, new categories, PSI).

        Index ``variable``; columns ``role`` (``"feature"`` or ``"outcome"``),
        ``psi``, ``new_share``, ``ks``, ``missing_change``, ``rate_change``,
        ``largest_shift`` and ``verdict``.
        """
        feats = self.features.assign(role="feature", rate_change=np.nan)
        outs = self.outcomes.assign(
            role="outcome", ks=np.nan, missing_change=np.nan, new_share=np.nan,
            largest_shift=[
                f"rate {100 * a:.1f}% -> {100 * b:.1f}%"
                for a, b in zip(self.outcomes["rate_reference"], self.outcomes["rate_current"],
                                strict=True)
            ],
        )
        cols = ["role", "psi", "new_share", "ks", "missing_change", "rate_change",
                "largest_shift", "verdict"]
        out = pd.concat([feats[cols], outs[cols]])
        out.index.name = "variable"
        return _severity(out)

    def __repr__(self) -> str:
        parts = []
        for v in ("major", "moderate"):
            names = list(self.features.index[self.features["verdict"] == v])
            names += list(self.outcomes.index[self.outcomes["verdict"] == v])
            if names:
                shown = ", ".join(names[:4]) + (f", +{len(names) - 4}" if len(names) > 4 else "")
                parts.append(f"{v} drift in {shown}")
        moved = "; ".join(parts) if parts else "no drift"
        return (
            f"DriftReport({moved}; {len(self.features)} features, "
            f"n={self.n_reference} vs {self.n_current})"
        )

    def _repr_html_(self) -> str:
        return self.to_html_section()

    # -- export ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Return the verdicts and tables as JSON-able data (``NaN`` becomes ``None``)."""
        return to_jsonable(
            {
                "verdict": self.verdict,
                "n_reference": self.n_reference,
                "n_current": self.n_current,
                "bins": self.bins,
                "thresholds": {"moderate": PSI_MODERATE, "major": PSI_MAJOR},
                "epsilon": EPSILON,
                "drifted": list(self.drifted),
                "skipped": list(self.skipped),
                "features": self.features.reset_index().to_dict(orient="records"),
                "outcomes": self.outcomes.reset_index().to_dict(orient="records"),
            }
        )

    def to_html_section(self, *, reference: str = "reference", current: str = "current") -> str:
        """Return an HTML fragment (paragraphs and tables, no external links) for a report.

        Parameters
        ----------
        reference, current : str, default="reference", "current"
            How the two cohorts are named in the text, e.g. ``"training cohort"``.
        """
        e = html.escape
        drifted = self.drifted
        intro = (
            f"<p>Drift of the {e(current)} ({self.n_current:,} patients) from the "
            f"{e(reference)} ({self.n_reference:,} patients). Overall verdict: "
            f"<b>{e(self.verdict)}</b>. Population stability index (PSI) over quantile bins of "
            f"the {e(reference)}, one bin per value for categories and few-valued features, and "
            f"a bin for missing values; shares floored at {EPSILON:g}. Verdict: PSI below "
            f"{PSI_MODERATE:g} none, below {PSI_MAJOR:g} moderate, else major (Siddiqi 2006). "
            "Values the reference never had are shown as new categories with the share of "
            f"{e(current)} rows they hold instead of a PSI (which the floor would set): "
            f"{100 * NEW_SHARE_MODERATE:g}% or more moderate, {100 * NEW_SHARE_MAJOR:g}% or more "
            "major. Test: Kolmogorov-Smirnov on continuous features, chi-squared on the values "
            "of discrete or heavily tied ones (reported, not used for the verdict). Outcomes: "
            f"major when the event rate changes {RATE_RATIO_MAJOR:g}-fold "
            f"or more, moderate when {RATE_RATIO_MODERATE:g}-fold or more, provided the change is "
            f"significant (two-proportion z-test, p &lt; {RATE_ALPHA:g}).</p>"
        )
        moved = (
            f"<p>Features that moved: {e(', '.join(_label(n) for n in drifted))}.</p>"
            if drifted else "<p>No feature moved beyond the moderate cut-off.</p>"
        )
        outs = self.outcomes
        out_rows = "".join(
            f"<tr><td>{e(str(r.label))}</td><td class=\"num\">{_pct(r.rate_reference)}</td>"
            f"<td class=\"num\">{_pct(r.rate_current)}</td>"
            f"<td class=\"num\">{_num(100 * r.rate_change, 1)}</td>"
            f"<td class=\"num\">{_num(r.rate_ratio, 2)}</td>"
            f"<td class=\"num\">{_pvalue(r.rate_pvalue)}</td><td>{e(r.verdict)}</td></tr>"
            for r in outs.itertuples()
        )
        out_table = (
            "<table><thead><tr><th>outcome</th><th>rate, " + e(reference) + "</th><th>rate, "
            + e(current) + "</th><th>change (points)</th><th>ratio</th><th>p</th><th>verdict</th>"
            "</tr>"
            f"</thead><tbody>{out_rows}</tbody></table>" if len(outs) else
            "<p class=\"note\">No outcome column is present in both cohorts.</p>"
        )
        feats = _severity(self.features)
        feat_rows = "".join(
            f"<tr><td>{e(str(r.label))}</td><td class=\"num\">{e(_psi_text(r))}</td>"
            f"<td>{e(_test_text(r))}</td>"
            f"<td class=\"num\">{_pct(r.missing_reference)}</td>"
            f"<td class=\"num\">{_pct(r.missing_current)}</td>"
            f"<td>{e(str(r.largest_shift))}</td><td>{e(r.verdict)}</td></tr>"
            for r in feats.itertuples()
        )
        feat_table = (
            "<table><thead><tr><th>feature</th><th>PSI</th><th>test</th><th>missing, "
            + e(reference) + "</th><th>missing, " + e(current) + "</th><th>largest shift "
            f"(bin: {e(reference)} -&gt; {e(current)})</th><th>verdict</th></tr></thead>"
            f"<tbody>{feat_rows}</tbody></table>"
        )
        skipped = (
            f"<p class=\"note\">Not compared (missing for everyone in both cohorts): "
            f"{e(', '.join(self.skipped))}.</p>" if self.skipped else ""
        )
        return "\n".join([intro, moved, out_table, feat_table, skipped])


def _psi_text(r: Any) -> str:
    """Return the PSI, or the new categories and their share when the reference lacks them."""
    if r.new_categories:
        text = f"new: {r.new_categories} ({100 * r.new_share:.1f}% of rows)"
        if math.isfinite(r.psi_known):
            text += f"; {r.psi_known:.3f} on the others"
        return text
    return _num(r.psi, 3)


def _test_text(r: Any) -> str:
    """Return the test that fits the feature, its statistic and p-value, in words."""
    if r.test == "KS":
        return f"KS {r.ks:.3f}, p {_p_plain(r.ks_pvalue)}"
    if r.test == "chi-squared" and math.isfinite(r.chi2_df):
        return f"chi-squared {r.chi2:.1f} ({int(r.chi2_df)} df), p {_p_plain(r.chi2_pvalue)}"
    return ""


def _p_plain(x: float) -> str:
    return "< 0.0001" if x < 1e-4 else f"{x:.4f}"


def _pct(x: Any) -> str:
    return "" if x is None or not math.isfinite(float(x)) else f"{100 * float(x):.1f}%"


def _pvalue(x: Any) -> str:
    if x is None or not math.isfinite(float(x)):
        return ""
    return "&lt; 0.0001" if float(x) < 1e-4 else f"{float(x):.4f}"


def _num(x: Any, digits: int) -> str:
    return "" if x is None or not math.isfinite(float(x)) else f"{float(x):.{digits}f}"



# ============================================================================ drift()
def _check_frame(obj: Any, role: str) -> pd.DataFrame:
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(
            f"{role} must be a pandas DataFrame of patient records (e.g. from "
            f"covid_risk.make_cohort or covid_risk.validate); got {type(obj).__name__}."
        )
    if len(obj) == 0:
        raise ValueError(f"The {role} cohort has no rows; drift needs patients in both cohorts.")
    return obj


def drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: Iterable[str] | None = None,
    bins: int = 10,
) -> DriftReport:
    """Compare a current cohort with a reference cohort, feature by feature.

    Parameters
    ----------
    reference : pandas.DataFrame
        The cohort to compare against (e.g. the training data), canonical records.
    current : pandas.DataFrame
        The new cohort.
    features : iterable of str, optional
        Columns to compare. Default: every schema predictor present in both
        cohorts, except those missing for every row of both (listed in
        ``skipped``). Outcome columns present in both are always compared as
        outcomes; ``true_risk_*`` and identifier columns are not features.
    bins : int, default=10
        Quantile bins of the reference per numeric feature (at least 2).

    Returns
    -------
    DriftReport

    Raises
    ------
    TypeError
        When a cohort is not a DataFrame.
    ValueError
        When a cohort is empty, a requested feature is absent from either cohort, or
        ``bins`` is below 2.

    Examples
    --------
    >>> import pandas as pd
    >>> ref = pd.DataFrame({"sex": ["female", "male"] * 500})
    >>> cur = pd.DataFrame({"sex": ["female"] * 800 + ["male"] * 200})
    >>> report = drift(ref, cur)
    >>> round(float(report.features.at["sex", "psi"]), 4)   # 0.3 * ln(0.8/0.2)
    0.4159
    >>> report.verdict
    'major'
    """
    reference = _check_frame(reference, "reference")
    current = _check_frame(current, "current")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins={bins!r} is not allowed: give a whole number of bins, 2 or more "
                         "(the default is 10).")
    bins = int(bins)
    skipped: list[str] = []
    if features is None:
        names = [c for c in PREDICTORS if c in reference.columns and c in current.columns]
        empty = [c for c in names if reference[c].isna().all() and current[c].isna().all()]
        skipped = empty
        names = [c for c in names if c not in empty]
    else:
        names = [features] if isinstance(features, str) else list(features)
        absent = [(c, role) for c in names for role, df in (("reference", reference),
                                                             ("current", current))
                  if c not in df.columns]
        if absent:
            text = "; ".join(f"{c!r} is not a column of the {role} cohort" for c, role in absent)
            raise ValueError(f"Cannot compare: {text}. Pass features present in both cohorts, "
                             "or features=None for every schema predictor they share.")
        bad = [c for c in names if c in OUTCOMES]
        if bad:
            raise ValueError(f"{', '.join(map(repr, bad))} are outcomes; outcomes present in "
                             "both cohorts are compared as outcomes automatically.")

    hist: dict[str, pd.DataFrame] = {}
    rows = []
    for name in names:
        kind = _kind(reference, name)
        binned, ref_miss, cur_miss = _bin_feature(reference, current, name, kind, bins)
        value, known, new_labels, new_share = _psi_with_new_categories(binned)
        test, ks, ks_p, chi = _feature_test(reference, current, name, kind)
        if kind in ("float", "int"):
            r_num, c_num = _numeric(reference, name), _numeric(current, name)
            mean_r = float(np.nanmean(r_num)) if (~ref_miss).any() else math.nan
            mean_c = float(np.nanmean(c_num)) if (~cur_miss).any() else math.nan
        else:
            mean_r = mean_c = math.nan
        m_r, m_c = float(ref_miss.mean()), float(cur_miss.mean())
        rows.append({
            "feature": name, "label": _label(name), "kind": kind, "binning": binned.binning,
            "n_bins": len(binned.labels), "psi": value, "psi_known": known,
            "new_categories": ", ".join(new_labels), "new_share": new_share, "test": test,
            "ks": ks, "ks_pvalue": ks_p, "chi2": chi[0], "chi2_df": chi[1],
            "chi2_pvalue": chi[2],
            "missing_reference": m_r, "missing_current": m_c, "missing_change": m_c - m_r,
            "mean_reference": mean_r, "mean_current": mean_c,
            "largest_shift": _largest_shift(binned),
            "verdict": _worst([_verdict(known), _new_verdict(new_share)]),
        })
        hist[name] = pd.DataFrame({"bin": binned.labels, "reference": binned.ref_counts,
                                   "current": binned.cur_counts})
    feature_table = pd.DataFrame(rows, columns=["feature", *_FEATURE_COLUMNS]).set_index(
        "feature")

    out_rows = []
    for o in (o for o in OUTCOMES if o in reference.columns and o in current.columns):
        y_r, y_c = _numeric(reference, o), _numeric(current, o)
        binned, _, _ = _bin_feature(reference, current, o, "bool", bins)
        value = psi(binned.ref_counts, binned.cur_counts)
        n_r, n_c = int((~np.isnan(y_r)).sum()), int((~np.isnan(y_c)).sum())
        rate_r = float(np.nanmean(y_r)) if n_r else math.nan
        rate_c = float(np.nanmean(y_c)) if n_c else math.nan
        ratio = rate_c / rate_r if rate_r > 0 else math.nan
        pvalue = _two_proportion_pvalue(float(np.nansum(y_r)), n_r, float(np.nansum(y_c)), n_c)
        out_rows.append({
            "outcome": o, "label": _label(o), "n_reference": n_r, "n_current": n_c,
            "rate_reference": rate_r, "rate_current": rate_c, "rate_change": rate_c - rate_r,
            "rate_ratio": ratio, "rate_pvalue": pvalue, "psi": value,
            "verdict": _rate_verdict(ratio, pvalue),
        })
        hist[o] = pd.DataFrame({"bin": binned.labels, "reference": binned.ref_counts,
                                "current": binned.cur_counts})
    outcome_table = pd.DataFrame(out_rows, columns=["outcome", *_OUTCOME_COLUMNS]).set_index(
        "outcome")
    verdict = _worst([*feature_table["verdict"], *outcome_table["verdict"]])
    return DriftReport(
        features=feature_table,
        outcomes=outcome_table,
        verdict=verdict,
        n_reference=len(reference),
        n_current=len(current),
        bins=bins,
        skipped=tuple(skipped),
        histograms=hist,
    )

