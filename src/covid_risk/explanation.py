"""Why a patient got their risk: exact TreeSHAP in log-odds and an additive probability view.

:func:`explain` explains the predictions of a :class:`~covid_risk.models.RiskModel`
for one or many patients and returns one :class:`RiskExplanation` per outcome.

Method
------
**Log-odds (exact TreeSHAP).** Each outcome's LightGBM booster outputs a raw score
``raw`` in log-odds. LightGBM's built-in TreeSHAP (``Booster.predict(X,
pred_contrib=True)``, the algorithm of Lundberg et al. 2020 with tree-path-dependent
feature perturbation) splits it exactly into one contribution per feature plus a base
value (the expected raw score over the training data as seen by the trees)::

    raw_i = base_value + sum_j shap_values[i, j]

These values are the same as ``shap.TreeExplainer(booster)`` gives (checked in the
tests to 1e-6) and are computed without the ``shap`` package.

**Probability (additive, calibrated).** The probability a clinician sees is not the
sigmoid of ``raw``: it is ``calibrator.transform(raw)`` (sigmoid or isotonic
calibration, fitted on held-out data), possibly raised by the model's *coherence*
step (see below). The probability view distributes the difference between that
probability and the **baseline probability** -- the calibrated probability of the
base value, ``calibrator.transform(base_value)``, i.e. the risk of a patient about
whom the model knows nothing beyond the training population -- over the features in
proportion to their log-odds contributions::

    probability_contributions[i, j] = shap_values[i, j] * (probability_i - baseline)
                                      / sum_j shap_values[i, j]

so that ``sum_j probability_contributions[i, j] == probability_i - baseline``
exactly (to rounding, ~1e-16). Because the calibrator never decreases, the ratio is
non-negative and **every feature keeps the sign it has in log-odds**: a factor that
raises the log-odds raises the probability (where an isotonic calibrator is flat the
ratio is zero and so is every contribution: the probability did not move). The ratio
is the slope of the secant of the calibration curve between the base value and the
patient's raw score, so features are rescaled by the local steepness of the
calibrated risk curve (a +0.5 log-odds push is worth more percentage points at 30 %
than at 1 %). This is a linear rescaling, not a separate Shapley game on the
probability scale (shap's ``model_output="probability"`` needs interventional
perturbation over a background sample, is much slower, and would explain the
uncalibrated sigmoid, not the calibrated probability shown).

*Fallback.* When the log-odds contributions cancel out (``|sum_j shap| <= 1e-9``)
the ratio is undefined, and when coherence moved the probability against the
direction of the log-odds (``delta * sum_j shap < 0``) the ratio would flip every
sign. In both cases the difference is distributed in proportion to the absolute
log-odds contributions, ``|shap_j| / sum_k |shap_k|``, so all features that
mattered share it with the sign of the difference and the sum stays exact; if every
contribution is zero it is shared evenly by all features. Rows that used the
fallback are marked in :attr:`RiskExplanation.fallback`.

**Coherence.** :meth:`RiskModel.predict_proba` may post-process calibrated
probabilities so that they are clinically coherent (deterioration is never below
death, ICU or invasive-ventilation risk). The probability view always adds up to the
final probability that ``predict_proba`` returns, so when coherence raised a
patient's deterioration risk to, say, their death risk, the extra probability is
attributed through the deterioration booster's own contributions like the rest
(through the fallback rule when the deterioration log-odds pointed the other way);
:attr:`RiskExplanation.calibrated_probability` keeps the probability before the
coherence step and :attr:`RiskExplanation.coherence` names the outcome whose
probability was used (``"adjusted"`` if no contained outcome explains the change).
``factors(i).attrs["note"]``, :meth:`RiskExplanation.coherence_note` and the
waterfall title say so in words.

Global views
------------
:meth:`RiskExplanation.importance` (mean absolute contribution per feature),
:meth:`RiskExplanation.dependence` (value vs contribution for one feature) and
:func:`global_importance` (feature x outcome table for a cohort).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from covid_risk.labels import describe, feature_label, feature_unit, format_value
from covid_risk.schema import FIELDS

if TYPE_CHECKING:  # pragma: no cover
    import shap
    from matplotlib.figure import Figure

__all__ = [
    "RiskExplanation",
    "explain",
    "global_importance",
    "probability_view",
    "coherence_sources",
    "rank_factors",
]

_SUM_TOL = 1e-9
"""Below this |sum of log-odds contributions| the proportional view is undefined."""

_COHERENCE_TOL = 1e-12

_MISSING_GREY = "#b0b0b0"


# --------------------------------------------------------------------------------------
# core computation (vectorised, no shap import)
# --------------------------------------------------------------------------------------
def probability_view(shap_values: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distribute probability differences over features in proportion to log-odds SHAP.

    Parameters
    ----------
    shap_values : ndarray of shape (n, p)
        Log-odds contributions.
    delta : ndarray of shape (n,)
        Probability minus baseline probability, per row.

    Returns
    -------
    contributions : ndarray of shape (n, p)
        Rows sum to ``delta`` exactly (to floating-point rounding).
    fallback : ndarray of bool, shape (n,)
        Rows where the proportional rule was undefined or would flip signs
        (``|sum| <= 1e-9`` or ``delta * sum < 0``) and the difference was shared in
        proportion to ``|shap|`` instead (evenly when all are zero).
    """
    phi = np.asarray(shap_values, dtype="float64")
    delta = np.asarray(delta, dtype="float64")
    if phi.ndim != 2 or delta.shape != (phi.shape[0],):
        raise ValueError(
            f"shap_values must be (n, p) and delta (n,); got {phi.shape} and {delta.shape}."
        )
    total = phi.sum(axis=1)
    fallback = (np.abs(total) <= _SUM_TOL) | (delta * total < 0)
    safe_total = np.where(fallback, 1.0, total)
    out = phi * (delta / safe_total)[:, None]
    if fallback.any():
        mag = np.abs(phi[fallback])
        norm = mag.sum(axis=1)
        p = phi.shape[1]
        weights = np.where(
            norm[:, None] > 0, mag / np.where(norm > 0, norm, 1.0)[:, None], 1.0 / max(p, 1)
        )
        out[fallback] = weights * delta[fallback][:, None]
    return out, fallback


def rank_factors(
    shap_values: np.ndarray, percentage_points: np.ndarray, top: int = 5
) -> list[tuple[list[int], list[int]]]:
    """Rank the factors raising and lowering each row's risk (the one ranking rule).

    Factors are ranked by their probability contribution (what the clinician
    reads), ties broken by the log-odds contribution; features contributing zero
    percentage points are left out. :meth:`RiskExplanation.factors`,
    :func:`covid_risk.predict_risk` (dict and DataFrame) and the single-patient
    fast path all rank with this function.

    Parameters
    ----------
    shap_values : ndarray of shape (n, p)
        Log-odds contributions.
    percentage_points : ndarray of shape (n, p)
        Probability contributions in percentage points.
    top : int, default=5
        Most factors per direction.

    Returns
    -------
    list of (list of int, list of int)
        Per row, the column positions of the factors raising the risk (largest
        first) and of those lowering it (largest first).

    Examples
    --------
    >>> import numpy as np
    >>> phi = np.array([[0.5, -0.2, 0.0, 0.1]])
    >>> rank_factors(phi, 10 * phi, top=5)
    [([0, 3], [1])]
    """
    phi = np.asarray(shap_values, dtype="float64")
    pp = np.asarray(percentage_points, dtype="float64")
    order_up = np.lexsort((-phi, -pp))
    order_down = np.lexsort((phi, pp))
    out = []
    for i in range(pp.shape[0]):
        row = pp[i]
        order = order_up[i]
        up = order[row[order] > 0][:top].tolist()
        order = order_down[i]
        down = order[row[order] < 0][:top].tolist()
        out.append((up, down))
    return out


def _canonical(records: Any) -> pd.DataFrame:
    """Canonical frames pass through; anything else is validated (as the models do)."""
    from covid_risk.models._inputs import as_canonical

    return as_canonical(records)


def _default_model(setting: str) -> Any:
    from covid_risk.models import default_model

    return default_model(setting)


def _matrix(model: Any, df: pd.DataFrame) -> np.ndarray:
    X = model.model_matrix(df)
    X = X.to_numpy(dtype="float64") if isinstance(X, pd.DataFrame) else np.asarray(X, "float64")
    return np.ascontiguousarray(X)


def _probabilities(
    model: Any, df: pd.DataFrame, X: np.ndarray, wanted: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Return (raw log-odds, calibrated, final) probabilities per outcome.

    ``final`` is exactly what ``model.predict_proba`` returns. For a plain
    :class:`~covid_risk.models.RiskModel` it comes from the model's compiled view
    (:meth:`~covid_risk.models.CompiledModel.probabilities`, which
    ``predict_proba`` uses too) on the same matrix ``X``, so the patient's model
    matrix is built once. Any other model is asked through its ``predict_proba``.
    """
    from covid_risk.models import RiskModel
    from covid_risk.models._compiled import compile_model

    compiled = compile_model(model)
    plain = isinstance(model, RiskModel) and type(model).predict_proba is RiskModel.predict_proba
    if plain:
        return compiled.probabilities(X, wanted, threads=1)
    outcomes = tuple(model.outcomes_)
    raw, calibrated, _final = compiled.probabilities(X, threads=1)
    proba = model.predict_proba(df)
    if isinstance(proba, pd.Series):  # a single-outcome model
        proba = proba.to_frame(outcomes[0])
    final = {o: proba[o].to_numpy(dtype="float64") for o in outcomes}
    return raw, calibrated, final


def coherence_sources(
    outcome: str, calibrated: np.ndarray, final: dict[str, np.ndarray]
) -> tuple[str, ...]:
    """Per row, the outcome whose probability replaced ``outcome``'s ("" when none did).

    The one rule behind :attr:`RiskExplanation.coherence` and the single-patient
    path's notes: a row changed when the final probability differs from the
    calibrated one by more than 1e-12.

    Candidates are the outcomes ``outcome`` contains under the model's coherence
    rules (:data:`covid_risk.models.COHERENCE_RULES`), first listed first; a
    change no candidate explains is reported as ``"adjusted"``.

    Parameters
    ----------
    outcome : str
        The outcome explained.
    calibrated : ndarray of shape (n,)
        Its calibrated probabilities, before the coherence step.
    final : dict of str to ndarray
        Final probabilities of ``outcome`` and the outcomes its rules read.

    Returns
    -------
    tuple of str
        One entry per row.
    """
    from covid_risk.models import coherence_closure

    mine = final[outcome]
    changed = np.abs(mine - calibrated) > _COHERENCE_TOL
    source = np.full(len(mine), "", dtype=object)
    if changed.any():
        source[changed] = "adjusted"
        candidates = coherence_closure([outcome], tuple(final))[1:]
        for other in reversed(candidates):  # the first listed wins
            source[changed & (final[other] == mine)] = other
    return tuple(source.tolist())


def _build(
    model: Any,
    outcome: str,
    index: pd.Index,
    X: np.ndarray,
    probabilities: tuple[dict[str, np.ndarray], ...],
    names: tuple[str, ...],
    labels: tuple[str, ...],
    units: tuple[str, ...],
) -> RiskExplanation:
    from covid_risk.models._compiled import compile_model

    raw_all, calibrated_all, final = probabilities
    compiled = compile_model(model)
    phi, base = compiled.contributions(X, outcome)
    baseline = compiled.baseline(outcome, base)
    probability = final[outcome].copy()
    contributions, fallback = probability_view(phi, probability - baseline)
    arrays = dict(
        values=X, shap_values=phi, raw=raw_all[outcome].copy(), probability=probability,
        calibrated_probability=calibrated_all[outcome].copy(),
        probability_contributions=contributions, fallback=fallback,
    )
    for a in arrays.values():
        a.setflags(write=False)
    return RiskExplanation(
        outcome=outcome, feature_names=names, labels=labels, units=units,
        base_value=base, baseline_probability=baseline, index=index,
        coherence=coherence_sources(outcome, calibrated_all[outcome], final),
        model_name=str(getattr(model, "name", type(model).__name__)),
        **arrays,
    )


def explain(
    records: Any,
    *,
    model: Any = None,
    outcome: str | None = None,
    setting: str = "admission",
) -> RiskExplanation | dict[str, RiskExplanation]:
    """Explain the risk predictions of a model for one or many patients.

    Parameters
    ----------
    records : dict, list of dict or pandas.DataFrame
        Patient records. A canonical DataFrame (as from :func:`covid_risk.validate` or
        :func:`covid_risk.make_cohort`) is used as it is; anything else is validated
        first (and may raise :class:`~covid_risk.exceptions.ValidationError`).
    model : RiskModel, optional
        A fitted model. Default: the bundled default model for ``setting``.
    outcome : str, optional
        Explain this outcome only. Default: every outcome of the model.
    setting : {"admission", "community"}, default="admission"
        Which default model to use when ``model`` is None (ignored otherwise).

    Returns
    -------
    RiskExplanation or dict of str to RiskExplanation
        One explanation when ``outcome`` is given; otherwise a dict keyed by outcome
        in the model's ``outcomes_`` order.

    Raises
    ------
    ValueError
        When ``outcome`` is not one of the model's outcomes.

    Notes
    -----
    See the module documentation for the method: exact TreeSHAP in log-odds from
    LightGBM's ``pred_contrib``, and a probability view that adds up exactly to the
    probability :meth:`RiskModel.predict_proba` returns.

    Examples
    --------
    >>> ex = explain({"age": 81, "sex": "male", "respiratory_rate": 31},
    ...              outcome="death")  # doctest: +SKIP
    >>> ex.factors(0)  # doctest: +SKIP
    """
    if model is None:
        model = _default_model(setting)
    outcomes = tuple(model.outcomes_)
    if outcome is not None and outcome not in outcomes:
        raise ValueError(
            f"outcome {outcome!r} is not predicted by this model; choose one of "
            f"{', '.join(repr(o) for o in outcomes)} or leave outcome=None for all."
        )
    df = _canonical(records)
    if len(df) == 0:
        raise ValueError("There are no patients to explain: the records are empty.")
    X = _matrix(model, df)
    names = tuple(model.feature_names_)
    if X.shape[1] != len(names):
        raise ValueError(
            f"The model matrix has {X.shape[1]} columns but the model has {len(names)} "
            "feature names; the model and this version of covid_risk do not match."
        )
    labels = tuple(feature_label(n) for n in names)
    units = tuple(feature_unit(n) for n in names)
    wanted = outcomes if outcome is None else (outcome,)
    probabilities = _probabilities(model, df, X, wanted)
    out = {o: _build(model, o, df.index, X, probabilities, names, labels, units) for o in wanted}
    return out[outcome] if outcome is not None else out


def global_importance(
    model: Any,
    cohort: Any,
    *,
    outcomes: Sequence[str] | None = None,
    scale: str = "log_odds",
    index: str = "label",
) -> pd.DataFrame:
    """Mean absolute contribution of every feature to every outcome over a cohort.

    Parameters
    ----------
    model : RiskModel
        A fitted model.
    cohort : pandas.DataFrame or records
        Patients to average over (validated unless canonical).
    outcomes : sequence of str, optional
        Default: every outcome of the model.
    scale : {"log_odds", "probability"}, default="log_odds"
        Mean |SHAP| in log-odds, or mean |probability contribution| in percentage
        points.
    index : {"label", "name"}, default="label"
        Index the rows by clinical label or by model feature name.

    Returns
    -------
    pandas.DataFrame
        One row per feature, one column per outcome, rows sorted by the mean over
        outcomes (largest first).
    """
    if scale not in ("log_odds", "probability"):
        raise ValueError(f"scale must be 'log_odds' or 'probability'; got {scale!r}.")
    if index not in ("label", "name"):
        raise ValueError(f"index must be 'label' or 'name'; got {index!r}.")
    explained = explain(cohort, model=model)
    wanted = tuple(model.outcomes_) if outcomes is None else tuple(outcomes)
    unknown = [o for o in wanted if o not in explained]
    if unknown:
        raise ValueError(
            f"outcome(s) {unknown} not predicted by this model; choose from {list(explained)}."
        )
    first = explained[wanted[0]]
    rows = first.labels if index == "label" else first.feature_names
    data = {}
    for o in wanted:
        ex = explained[o]
        values = ex.shap_values if scale == "log_odds" else 100 * ex.probability_contributions
        data[o] = np.abs(values).mean(axis=0)
    table = pd.DataFrame(data, index=pd.Index(rows, name="feature"))
    order = np.argsort(-table.to_numpy().mean(axis=1), kind="stable")
    table = table.iloc[order]
    table.columns.name = "mean |SHAP| (log-odds)" if scale == "log_odds" else "mean |pp|"
    return table


def _outcome_label(outcome: str) -> str:
    return FIELDS[outcome].label if outcome in FIELDS else outcome


def _column_text(name: str, values: np.ndarray) -> np.ndarray:
    """Value texts of one feature column, formatting each distinct value once."""
    values = np.asarray(values, dtype="float64")
    out = np.full(values.shape, format_value(name, np.nan), dtype=object)
    seen = ~np.isnan(values)
    if seen.any():
        uniques, inverse = np.unique(values[seen], return_inverse=True)
        texts = np.array([format_value(name, u) for u in uniques], dtype=object)
        out[seen] = texts[inverse]
    return out


def _percent_pair(a: float, b: float) -> tuple[str, str]:
    """Two probabilities as percentages with enough decimals to tell them apart."""
    for digits in (1, 2, 3, 4):
        ta, tb = f"{a:.{digits}%}", f"{b:.{digits}%}"
        if ta != tb:
            break
    return ta, tb


def _outcome_text(outcome: str) -> str:
    """Return the outcome's label as it reads in a sentence ("death", "ICU admission")."""
    label = _outcome_label(outcome)
    return label if label[:2].isupper() else label[:1].lower() + label[1:]


# --------------------------------------------------------------------------------------
# the result object
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class RiskExplanation:
    """Per-patient explanation of one outcome's risk.

    Attributes
    ----------
    outcome : str
        The outcome explained (e.g. ``"death"``).
    feature_names : tuple of str
        Model-matrix column names, in order.
    labels : tuple of str
        Clinician-readable label of each feature ("Respiratory rate").
    units : tuple of str
        Unit of each feature ("" when unitless).
    values : ndarray of shape (n, p)
        Feature values as given to the booster (categories as integer codes,
        booleans 1/0, NaN = not recorded).
    shap_values : ndarray of shape (n, p)
        Exact TreeSHAP contributions in log-odds.
    base_value : float
        Expected raw log-odds (LightGBM's ``pred_contrib`` last column).
    raw : ndarray of shape (n,)
        Raw log-odds of the booster (``raw_score=True``), equal to
        ``base_value + shap_values.sum(axis=1)`` up to rounding (~1e-12).
    probability : ndarray of shape (n,)
        The final probability, exactly what ``model.predict_proba`` returns.
    baseline_probability : float
        ``calibrator.transform(base_value)``: the calibrated risk of a patient
        the model knows nothing about.
    probability_contributions : ndarray of shape (n, p)
        Probability view: rows sum to ``probability - baseline_probability``.
    calibrated_probability : ndarray of shape (n,)
        Calibrated probability before the coherence step.
    fallback : ndarray of bool, shape (n,)
        Rows where the proportional probability view was undefined (see module docs).
    index : pandas.Index
        Index of the records explained.
    coherence : tuple of str
        Per row, the outcome whose probability replaced this outcome's in the
        coherence step ("" when none did).
    model_name : str
        Name of the explained model.
    """

    outcome: str
    feature_names: tuple[str, ...]
    labels: tuple[str, ...]
    units: tuple[str, ...]
    values: np.ndarray
    shap_values: np.ndarray
    base_value: float
    raw: np.ndarray
    probability: np.ndarray
    baseline_probability: float
    probability_contributions: np.ndarray
    calibrated_probability: np.ndarray
    fallback: np.ndarray
    index: pd.Index = field(default_factory=lambda: pd.RangeIndex(0))
    coherence: tuple[str, ...] = ()
    model_name: str = "model"

    # -- basics -----------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.shap_values.shape[0])

    @property
    def n_patients(self) -> int:
        """Number of patients explained."""
        return len(self)

    def __repr__(self) -> str:
        n = len(self)
        if n == 1:
            what = (
                f"probability={self.probability[0]:.1%}, "
                f"baseline={self.baseline_probability:.1%}"
            )
        else:
            what = (
                f"n={n}, mean probability={self.probability.mean():.1%}, "
                f"baseline={self.baseline_probability:.1%}"
            )
        return f"RiskExplanation(outcome={self.outcome!r}, {what}, features={len(self.labels)})"

    def _row(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"patient {i} is out of range: this explanation has {n} patient(s).")
        return i % n

    def _feature(self, feature: str) -> int:
        if feature in self.feature_names:
            return self.feature_names.index(feature)
        if feature in self.labels:
            return self.labels.index(feature)
        raise KeyError(
            f"Unknown feature {feature!r}; give a feature name or label, e.g. "
            f"{', '.join(repr(n) for n in self.feature_names[:4])}, ..."
        )

    def text(self, i: int = 0) -> tuple[str, ...]:
        """Return every feature of patient ``i`` as label and value ("Respiratory rate 31 /min")."""
        r = self._row(i)
        pairs = zip(self.feature_names, self.values[r], strict=True)
        return tuple(describe(n, v) for n, v in pairs)

    def value_text(self, i: int = 0) -> tuple[str, ...]:
        """Return every feature value of patient ``i`` with its unit ("31 /min", "not recorded")."""
        r = self._row(i)
        pairs = zip(self.feature_names, self.values[r], strict=True)
        return tuple(format_value(n, v) for n, v in pairs)

    def coherence_note(self, i: int = 0) -> str:
        """Say whether the coherence step replaced patient ``i``'s probability ("" if not)."""
        r = self._row(i)
        source = self.coherence[r] if self.coherence else ""
        if not source:
            return ""
        before, after = _percent_pair(self.calibrated_probability[r], self.probability[r])
        this = _outcome_text(self.outcome)
        if source == "adjusted":
            return (
                f"The calibrated {this} probability {before} was adjusted to {after} by the "
                "model's coherence step."
            )
        other = _outcome_text(source)
        return (
            f"The calibrated {this} probability {before} was raised to the {other} "
            f"probability {after} by the coherence step ({this} risk is never below "
            f"{other} risk); the difference is attributed through the {this} model's "
            "contributions."
        )

    # -- per patient -----------------------------------------------------------------
    def factors(self, i: int = 0, top: int = 5) -> pd.DataFrame:
        """Top factors pushing patient ``i``'s risk up and down.

        Parameters
        ----------
        i : int, default=0
            Row of the patient (position, not index label).
        top : int, default=5
            Up to this many factors in each direction.

        Returns
        -------
        pandas.DataFrame
            Columns ``direction`` ("raises"/"lowers"), ``factor`` (label with value
            and unit, e.g. "Respiratory rate 31 /min"), ``feature``, ``value``
            (value text), ``log_odds``, ``percentage_points``; the factors raising
            the risk first (largest first), then those lowering it (largest first).
            Features with zero contribution are left out. ``attrs["note"]`` holds
            the coherence note when the coherence step changed the probability.
        """
        r = self._row(i)
        phi = self.shap_values[r]
        pp = 100.0 * self.probability_contributions[r]
        # Rank by the probability view (what the clinician reads); ties by log-odds.
        ((up, down),) = rank_factors(phi[None, :], pp[None, :], top)
        rows = []
        for direction, idx in (("raises", up), ("lowers", down)):
            for j in idx:
                name = self.feature_names[j]
                rows.append(
                    {
                        "direction": direction,
                        "factor": describe(name, self.values[r, j]),
                        "feature": name,
                        "value": format_value(name, self.values[r, j]),
                        "log_odds": float(phi[j]),
                        "percentage_points": float(pp[j]),
                    }
                )
        columns = ["direction", "factor", "feature", "value", "log_odds", "percentage_points"]
        table = pd.DataFrame(rows, columns=columns)
        table.attrs["note"] = self.coherence_note(r)
        return table

    @property
    def summary(self) -> pd.DataFrame:
        """One row per patient: probability, baseline, raw log-odds and the top factor each way."""
        n = len(self)
        pp = self.probability_contributions
        top_up = np.argmax(pp, axis=1)
        top_down = np.argmin(pp, axis=1)

        def pick(j: np.ndarray, positive: bool) -> list[str]:
            out = []
            for r in range(n):
                c = pp[r, j[r]]
                ok = c > 0 if positive else c < 0
                out.append(describe(self.feature_names[j[r]], self.values[r, j[r]]) if ok else "")
            return out

        return pd.DataFrame(
            {
                "outcome": self.outcome,
                "probability": self.probability,
                "baseline_probability": self.baseline_probability,
                "raw_log_odds": self.raw,
                "calibrated_probability": self.calibrated_probability,
                "coherence": list(self.coherence) if self.coherence else [""] * n,
                "top_factor_up": pick(top_up, True),
                "top_factor_down": pick(top_down, False),
            },
            index=self.index if len(self.index) == n else pd.RangeIndex(n),
        )

    # -- global views ---------------------------------------------------------------
    def importance(self) -> pd.DataFrame:
        """Mean absolute contribution per feature over the patients explained.

        Returns
        -------
        pandas.DataFrame
            Index: feature names; columns ``label``, ``unit``, ``mean_abs_log_odds``,
            ``mean_abs_percentage_points``; sorted by ``mean_abs_log_odds``
            (largest first).
        """
        table = pd.DataFrame(
            {
                "label": self.labels,
                "unit": self.units,
                "mean_abs_log_odds": np.abs(self.shap_values).mean(axis=0),
                "mean_abs_percentage_points": 100 * np.abs(self.probability_contributions).mean(
                    axis=0
                ),
            },
            index=pd.Index(self.feature_names, name="feature"),
        )
        return table.sort_values("mean_abs_log_odds", ascending=False, kind="stable")

    def dependence(self, feature: str) -> pd.DataFrame:
        """Value of one feature against its contribution, one row per patient.

        Parameters
        ----------
        feature : str
            Feature name (``"respiratory_rate"``) or label (``"Respiratory rate"``).

        Returns
        -------
        pandas.DataFrame
            Columns ``value`` (as given to the model, NaN = not recorded),
            ``value_text``, ``log_odds``, ``percentage_points``; same index as
            the records. ``attrs`` holds the feature's ``label`` and ``unit``.
        """
        j = self._feature(feature)
        name = self.feature_names[j]
        values = self.values[:, j]
        table = pd.DataFrame(
            {
                "value": values,
                "value_text": _column_text(name, values),
                "log_odds": self.shap_values[:, j],
                "percentage_points": 100 * self.probability_contributions[:, j],
            },
            index=self.index if len(self.index) == len(self) else pd.RangeIndex(len(self)),
        )
        table.attrs.update(feature=name, label=self.labels[j], unit=self.units[j])
        return table

    # -- interoperability -------------------------------------------------------------
    def to_shap(self, *, scale: str = "log_odds") -> shap.Explanation:
        """Return a :class:`shap.Explanation` for shap's own plots.

        Parameters
        ----------
        scale : {"log_odds", "probability"}, default="log_odds"
            ``"log_odds"``: exact TreeSHAP values with the base value;
            ``"probability"``: the probability view with the baseline probability.

        Returns
        -------
        shap.Explanation
            ``values`` (n, p), ``base_values`` (n,), ``data`` (n, p) the feature
            values, ``display_data`` the value texts with units, ``feature_names``
            the clinical labels. Use ``shap.plots.waterfall(ex.to_shap()[0])``,
            ``shap.plots.beeswarm(ex.to_shap())`` or ``shap.plots.bar(...)``.
        """
        import shap

        if scale == "log_odds":
            values, base = self.shap_values, self.base_value
        elif scale == "probability":
            values, base = self.probability_contributions, self.baseline_probability
        else:
            raise ValueError(f"scale must be 'log_odds' or 'probability'; got {scale!r}.")
        n = len(self)
        display = np.empty((n, len(self.feature_names)), dtype=object)
        for j, name in enumerate(self.feature_names):
            display[:, j] = _column_text(name, self.values[:, j])
        return shap.Explanation(
            values=np.array(values),
            base_values=np.full(n, base),
            data=np.array(self.values),
            display_data=display,
            feature_names=list(self.labels),
        )

    # -- plots ------------------------------------------------------------------------
    def plot_waterfall(self, i: int = 0, top: int = 10, *, scale: str = "probability") -> Figure:
        """Waterfall of patient ``i``: from the baseline risk to their risk, factor by factor.

        Parameters
        ----------
        i : int, default=0
            Row of the patient.
        top : int, default=10
            Show this many largest factors; the rest are grouped in one bar.
        scale : {"probability", "log_odds"}, default="probability"
            Percentage points (adds up to the calibrated probability) or log-odds.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.figure import Figure

        r = self._row(i)
        if scale == "probability":
            contrib = 100 * self.probability_contributions[r]
            start, end = 100 * self.baseline_probability, 100 * self.probability[r]
            unit, fmt = "risk (%)", "{:+.1f} pp"
        elif scale == "log_odds":
            contrib = self.shap_values[r]
            start, end = self.base_value, self.raw[r]
            unit, fmt = "log-odds", "{:+.2f}"
        else:
            raise ValueError(f"scale must be 'probability' or 'log_odds'; got {scale!r}.")
        order = np.argsort(-np.abs(contrib), kind="stable")
        shown = order[: max(int(top), 1)]
        rest = order[len(shown):]
        names = [describe(self.feature_names[j], self.values[r, j]) for j in shown]
        amounts = [float(contrib[j]) for j in shown]
        if len(rest):
            names.append(f"{len(rest)} other features")
            amounts.append(float(contrib[rest].sum()))
        k = len(amounts)
        edges = start + np.concatenate([[0.0], np.cumsum(amounts)])
        lo, hi = float(min(edges.min(), end)), float(max(edges.max(), end))
        span = max(hi - lo, 1e-9)
        fig = Figure(figsize=(8.0, 0.45 * k + 1.8), layout="constrained")
        ax = fig.add_subplot()
        for pos, amount in enumerate(amounts):
            y = k - 1 - pos
            left = float(edges[pos])
            colour = "#c0392b" if amount > 0 else "#2e86c1"
            ax.barh(y, amount, left=left, color=colour, height=0.6)
            ax.text(
                left + amount + (0.01 if amount >= 0 else -0.01) * span,
                y, fmt.format(amount), va="center", ha="left" if amount >= 0 else "right",
                fontsize=8,
            )
        ax.set_yticks(range(k), list(reversed(names)))
        ax.set_ylim(-1.0, k - 0.1)
        ax.set_xlim(lo - 0.15 * span, hi + 0.15 * span)
        value = f"{end:.1f}%" if scale == "probability" else f"{end:.2f}"
        baseline = f"{start:.1f}%" if scale == "probability" else f"{start:.2f}"
        ax.axvline(start, color="grey", linestyle=":", linewidth=1)
        ax.axvline(end, color="black", linestyle="--", linewidth=1)
        ax.text(start, k - 0.6, f"baseline {baseline}", color="grey", fontsize=8,
                ha="center", va="bottom")
        ax.text(end, -0.55, f"this patient {value}", fontsize=8, ha="center", va="top")
        ax.set_xlabel(unit)
        title = f"{_outcome_label(self.outcome)}: {value} (baseline {baseline})"
        source = self.coherence[r] if self.coherence and scale == "probability" else ""
        if source:
            what = (
                "adjusted by the coherence step" if source == "adjusted"
                else f"raised by the coherence step to the {_outcome_label(source)} probability"
            )
            title += f"\n({what})"
        ax.set_title(title, fontsize=10)
        return fig

    def plot_summary(
        self, top: int = 15, *, scale: str = "log_odds", random_state: int = 0
    ) -> Figure:
        """Beeswarm of contributions for the ``top`` most important features.

        Each dot is one patient; its colour is the feature value (blue low, red
        high, grey not recorded; scaled between the 5th and 95th percentile of
        the patients shown). Category fields are coloured by their code (schema
        order), which has no "low" or "high" meaning.

        Parameters
        ----------
        top : int, default=15
            Number of features (by mean absolute contribution).
        scale : {"log_odds", "probability"}, default="log_odds"
            Log-odds or percentage points.
        random_state : int, default=0
            Seed of the vertical jitter.

        Returns
        -------
        matplotlib.figure.Figure
        """
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import LinearSegmentedColormap, Normalize
        from matplotlib.figure import Figure

        if scale == "log_odds":
            contrib, xlabel = self.shap_values, "contribution (log-odds)"
        elif scale == "probability":
            contrib = 100 * self.probability_contributions
            xlabel = "contribution (percentage points)"
        else:
            raise ValueError(f"scale must be 'log_odds' or 'probability'; got {scale!r}.")
        order = np.argsort(-np.abs(contrib).mean(axis=0), kind="stable")[: max(int(top), 1)]
        k = len(order)
        rng = np.random.default_rng(random_state)
        # blue -> purple -> red (no grey middle, so grey can mean "not recorded")
        cmap = LinearSegmentedColormap.from_list("low_high", ["#1e88e5", "#7c3aed", "#e5004f"])
        fig = Figure(figsize=(8.0, 0.4 * k + 1.5), layout="constrained")
        ax = fig.add_subplot()
        any_missing = False
        for pos, j in enumerate(order):
            y = k - 1 - pos
            x = contrib[:, j]
            v = self.values[:, j]
            seen = ~np.isnan(v)
            colour_value = np.full(len(v), np.nan)
            if seen.any():
                lo, hi = np.nanpercentile(v, [5, 95])
                span = hi - lo if hi > lo else 1.0
                colour_value[seen] = np.clip((v[seen] - lo) / span, 0, 1)
            jitter = rng.uniform(-0.3, 0.3, size=len(x))
            if (~seen).any():
                ax.scatter(x[~seen], y + jitter[~seen], s=6, color=_MISSING_GREY, alpha=0.7,
                           label="not recorded" if not any_missing else None)
                any_missing = True
            ax.scatter(x[seen], y + jitter[seen], s=6, c=cmap(colour_value[seen]), alpha=0.8)
        ax.set_yticks(range(k), [self.labels[j] for j in reversed(order)])
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.set_xlabel(xlabel)
        title = f"{_outcome_label(self.outcome)}: contributions over {len(self)} patients"
        ax.set_title(title, fontsize=10)
        if any_missing:
            ax.legend(loc="lower right", fontsize=8, markerscale=2, frameon=False)
        bar = fig.colorbar(
            ScalarMappable(Normalize(0, 1), cmap), ax=ax, ticks=[0, 1], fraction=0.04, aspect=30
        )
        bar.ax.set_yticklabels(["low", "high"])
        bar.set_label("feature value")
        return fig

