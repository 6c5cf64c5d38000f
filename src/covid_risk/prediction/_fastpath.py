"""The single-patient fast path behind :func:`covid_risk.predict_risk`: orchestration only.

A clinician's tool calls ``predict_risk(patient_dict)`` once per patient. The
normal path turns the dict into a one-row canonical DataFrame
(:func:`covid_risk.validate`), builds the model matrix with pandas and explains it
with :func:`covid_risk.explain`: tens of milliseconds for a computation whose trees
take microseconds. This module strings together, for one record, the pieces each
rule already has in its own home -- it restates none of them:

1. :func:`covid_risk.validation.parse_patient` parses the record with
   :func:`~covid_risk.validation.validate`'s own per-value parsers, limits and
   cross-field rules, and gives up (``None``) on anything ``validate`` would raise,
   warn, flag or drop, so errors and warnings are always the normal path's;
2. :class:`covid_risk.features.matrix.RowRecipe` builds the model-matrix row from
   the same derived-feature definitions as :func:`~covid_risk.features.model_matrix`;
3. the model's compiled view (:class:`covid_risk.models.CompiledModel`, which
   ``predict_proba`` and ``explain`` use too) gives the raw scores, calibrated and
   coherent probabilities and the TreeSHAP contributions through LightGBM's
   single-row C API;
4. :func:`covid_risk.explanation.probability_view`,
   :func:`covid_risk.explanation.rank_factors`, :mod:`covid_risk.labels` and
   :meth:`covid_risk.explanation.RiskExplanation.coherence_note` turn them into the
   factors and the note.

The probabilities, baseline probabilities, factor contributions and notes are
therefore **bitwise identical** to the normal path; ``tests/test_fastpath.py``
checks it on thousands of random patients in both settings and is the contract.

Threads
-------
The compiled view gives each thread its own LightGBM single-row handles. For
explanations, the TreeSHAP rows of the outcomes may be shared with one helper
thread while a core is idle (see :data:`EXPLAIN_THREADS`).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from covid_risk.validation import parse_patient

__all__ = [
    "FastOutcome",
    "FastPredictor",
    "FastResult",
    "fast_predictor",
    "parse_patient",
]

_MEMO_LIMIT = 200_000

# --------------------------------------------------------------------- explanation threads
def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_CORES = _cores()

EXPLAIN_THREADS: int = 2 if _CORES >= 2 else 1
"""Threads computing one patient's TreeSHAP rows (2 on a machine with two or more cores).

Set to 1 to keep every explanation on the calling thread. With 2, the outcomes
are shared between the calling thread and one helper thread by number of trees,
but only while the machine has spare capacity (the one-minute load average, which
counts the caller itself, is below the number of cores; checked at most once a
second): on a saturated machine a second thread only adds waiting. When the
helper is busy (another thread is explaining) the caller does it all itself, so
concurrent callers never queue behind each other.
"""

_RAW_SHARE = 0.1
"""Cost of a raw score and its calibration relative to a TreeSHAP row (measured 0.05-0.15)."""

PARALLEL_MIN_TREES: int = 300
"""Fewest trees (over the outcomes explained) for the helper thread to be worth waking."""

_LOAD_CHECK = [0.0, False]  # [time of the last check, whether a core was idle]


def _idle_core() -> bool:
    """Whether the machine has capacity to spare (load average below the cores; cached 1 s)."""
    now = time.monotonic()
    if now - _LOAD_CHECK[0] > 1.0:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # pragma: no cover - not available
            load = 0.0
        _LOAD_CHECK[:] = [now, load < _CORES]
    return bool(_LOAD_CHECK[1])


_POOL = None
_POOL_LOCK = threading.Lock()
_POOL_CREATE = threading.Lock()


def _pool() -> Any:
    global _POOL
    if _POOL is None:
        with _POOL_CREATE:
            if _POOL is None:
                from concurrent.futures import ThreadPoolExecutor

                _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="covid_risk_shap")
    return _POOL


# ------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class FastOutcome:
    """One outcome of a fast prediction (what ``predict_risk`` turns into an ``OutcomeRisk``).

    Attributes
    ----------
    outcome : str
        Outcome name.
    probability : float
        Final probability (calibrated, coherent), as ``RiskModel.predict_proba``.
    baseline_probability : float or None
        Calibrated probability of the booster's base value (None without explanation).
    raising, lowering : tuple of tuple
        Top factors each way, ``(feature, text, value, unit, percentage_points)``,
        largest first, as ``RiskExplanation.factors`` ranks them.
    note : str
        The coherence note ("" when the coherence step did not change the value).
    """

    outcome: str
    probability: float
    baseline_probability: float | None = None
    raising: tuple[tuple[str, str, str, str, float], ...] = ()
    lowering: tuple[tuple[str, str, str, str, float], ...] = ()
    note: str = ""


@dataclass(frozen=True)
class FastResult:
    """A fast prediction for one patient.

    Attributes
    ----------
    values : dict of str to float
        The patient's parsed canonical values, field -> float (NaN = missing), for
        the fields given.
    outcomes : tuple of FastOutcome
        One per outcome asked for, in that order.
    """

    values: Mapping[str, float]
    outcomes: tuple[FastOutcome, ...]


# ------------------------------------------------------------------------- the predictor
_TEXT_MEMO: dict[tuple[str, float], tuple[str, str]] = {}


def _texts(name: str, value: np.float64) -> tuple[str, str]:
    """``(describe(name, value), format_value(name, value))``, memoised per feature and value."""
    key = (name, float(value)) if value == value else (name, None)
    hit = _TEXT_MEMO.get(key)  # type: ignore[arg-type]
    if hit is None:
        from covid_risk.labels import describe, format_value

        hit = (describe(name, value), format_value(name, value))
        if len(_TEXT_MEMO) >= _MEMO_LIMIT:
            _TEXT_MEMO.clear()
        _TEXT_MEMO[key] = hit  # type: ignore[index]
    return hit


class FastPredictor:
    """One patient at a time through a fitted :class:`~covid_risk.models.RiskModel`'s compiled view.

    Build it with :func:`fast_predictor` (which caches it on the model).

    Parameters
    ----------
    model : RiskModel
        A fitted model (exactly :class:`~covid_risk.models.RiskModel`, not a
        subclass that could change how probabilities are made).

    Attributes
    ----------
    outcomes : tuple of str
        The model's outcomes.
    feature_names : tuple of str
        Model-matrix columns, in order.
    compiled : CompiledModel
        The model's compiled view.
    disabled_reason : str
        Why the fast path is off for this model ("" when it is on): a model
        feature without a row recipe, or a booster that cannot be compiled.
    """

    def __init__(self, model: Any) -> None:
        from covid_risk.features.matrix import RowRecipe
        from covid_risk.labels import feature_unit

        self.outcomes: tuple[str, ...] = tuple(model.outcomes_)
        self.feature_names: tuple[str, ...] = tuple(model.feature_names_)
        self.setting: str = str(model.setting)
        self._units = tuple(feature_unit(n) for n in self.feature_names)
        self._groups: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.disabled_reason = ""
        self.compiled: Any = None
        self._recipe: Any = None
        self._stack_sigmoid = False
        try:
            self._recipe = RowRecipe(self.feature_names)
            self.compiled = model.compile()
        except ValueError as exc:
            self.disabled_reason = str(exc)
            return
        self._stack_sigmoid = self.compiled.all_sigmoid

    def row(self, values: Mapping[str, float]) -> np.ndarray:
        """Return the model-matrix row of parsed values (see :func:`parse_patient`)."""
        return self._recipe.row(values)

    # the C-floor timing of benchmarks/bench_latency.py calls these two
    def _state(self) -> Any:
        return self.compiled

    def _raw(self, state: Any, k: int, pointer: int) -> float:
        return state.raw_at(k, pointer)

    def _needed_for(self, wanted: tuple[str, ...]) -> tuple[str, ...]:
        return self.compiled.closure(wanted)

    # -- the public call ------------------------------------------------------------
    def predict_one(
        self,
        patient: Mapping[str, Any],
        *,
        outcomes: Sequence[str] | None = None,
        explain: bool = False,
        top: int = 5,
    ) -> FastResult | None:
        """Predict one patient, or return ``None`` when the normal path must decide.

        Parameters
        ----------
        patient : mapping
            One patient record (field name -> value).
        outcomes : sequence of str, optional
            Outcomes to return, in this order (default: the model's). They must be
            outcomes of the model.
        explain : bool, default=False
            Also compute the top factors each way (LightGBM TreeSHAP).
        top : int, default=5
            Factors per direction.

        Returns
        -------
        FastResult or None
            ``None`` when the fast path is disabled for the model or the record is
            anything but unremarkable (see :func:`parse_patient`).
        """
        if self.disabled_reason:
            return None
        values = parse_patient(patient)
        if values is None:
            return None
        wanted = self.outcomes if outcomes is None else tuple(outcomes)
        X = self._recipe.row(values)
        compiled = self.compiled
        # With an idle core, a helper thread starts on its share of the TreeSHAP rows now,
        # while this thread computes the probabilities and then its own share.
        mine, helper = self._start_helper(wanted, X) if explain else (wanted, None)
        calibrated, final = compiled.probabilities_one(X, wanted, stacked=self._stack_sigmoid)
        if not explain:
            return FastResult(values, tuple(FastOutcome(o, float(final[o][0])) for o in wanted))
        contribs = {o: compiled.contributions_one(X, o) for o in mine}
        if helper is not None:
            contribs.update(helper.result())
        return FastResult(values, self._explain(wanted, contribs, X, calibrated, final, int(top)))

    def _start_helper(self, wanted: tuple[str, ...], X: np.ndarray) -> tuple[tuple[str, ...], Any]:
        """Hand the helper thread its outcomes; return this thread's outcomes and the future."""
        groups = self._groups.get(wanted)
        if groups is None:
            groups = self._groups[wanted] = self._split(wanted, self._needed_for(wanted))
        if not groups[1] or not _idle_core() or not _POOL_LOCK.acquire(blocking=False):
            return wanted, None
        try:  # ctypes drops the GIL, so the other core walks the trees meanwhile
            future = _pool().submit(self._contrib_many, groups[1], X)
        except BaseException:  # pragma: no cover - pool shut down at interpreter exit
            _POOL_LOCK.release()
            return wanted, None
        future.add_done_callback(lambda _f: _POOL_LOCK.release())
        return groups[0], future

    def _contrib_many(self, outcomes: tuple[str, ...], X: np.ndarray) -> dict[str, np.ndarray]:
        return {o: self.compiled.contributions_one(X, o) for o in outcomes}

    def _split(
        self, wanted: tuple[str, ...], needed: tuple[str, ...] = ()
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Share the outcomes between this thread and the helper by number of trees.

        This thread also computes the raw scores, calibration and coherence of the
        ``needed`` outcomes meanwhile, counted as :data:`_RAW_SHARE` of their trees.
        Nothing is shared when there are few trees or the helper is switched off.
        """
        all_trees = self.compiled.trees
        trees = {o: all_trees[o] for o in wanted}
        if EXPLAIN_THREADS < 2 or len(wanted) < 2 or sum(trees.values()) < PARALLEL_MIN_TREES:
            return wanted, ()
        here: list[str] = []
        there: list[str] = []
        load = [_RAW_SHARE * sum(all_trees[o] for o in needed), 0.0]
        for o in sorted(wanted, key=lambda o: -trees[o]):
            k = 0 if load[0] <= load[1] else 1
            (here if k == 0 else there).append(o)
            load[k] += trees[o]
        if not here:  # this thread keeps at least one outcome
            here.append(there.pop())
        return tuple(o for o in wanted if o in here), tuple(o for o in wanted if o in there)

    def _explain(
        self, wanted: tuple[str, ...], contribs: dict[str, np.ndarray], X: np.ndarray,
        calibrated: dict[str, np.ndarray], final: dict[str, np.ndarray], top: int,
    ) -> tuple[FastOutcome, ...]:
        """Explain every outcome, one row per outcome in each numpy call.

        Row ``i`` goes through exactly the element-wise operations (and per-row sums)
        that :func:`~covid_risk.explanation.explain` applies to a one-patient matrix, so
        the results are the same bits.
        """
        from covid_risk.explanation import probability_view, rank_factors

        p = X.shape[0]
        C = np.stack([contribs[o] for o in wanted])  # (k, p + 1): TreeSHAP, base value
        phi = C[:, :p]
        bases = [float(b) for b in C[:, p]]
        baseline = self.compiled.baseline
        baselines = [baseline(o, b) for o, b in zip(wanted, bases, strict=True)]
        probability = np.array([final[o][0] for o in wanted])
        contributions, _fallback = probability_view(phi, probability - np.array(baselines))
        pp = 100.0 * contributions
        ranked = rank_factors(phi, pp, top)
        names = self.feature_names
        units = self._units
        out = []
        for i, o in enumerate(wanted):
            up, down = ranked[i]
            points = pp[i].tolist()

            def factor(j: int, points: list[float] = points) -> tuple[str, str, str, str, float]:
                text, value = _texts(names[j], X[j])
                return (names[j], text, value, units[j], points[j])

            note = self._note(o, X, phi[i], bases[i], baselines[i], contributions[i:i + 1],
                              calibrated, final)
            out.append(FastOutcome(
                o, float(probability[i]), baselines[i],
                tuple(factor(j) for j in up), tuple(factor(j) for j in down), note,
            ))
        return tuple(out)

    def _note(self, outcome, X, phi, base, baseline, contributions, calibrated, final) -> str:
        """Return the coherence note, found and written as ``explain`` does."""
        if final[outcome][0] == calibrated[outcome][0]:  # unchanged: no note, skip the lookup
            return ""
        from covid_risk.explanation import coherence_sources

        source = coherence_sources(outcome, calibrated[outcome], final)[0]
        if not source:
            return ""
        import pandas as pd

        from covid_risk.explanation import RiskExplanation

        one = np.zeros(1)
        ex = RiskExplanation(
            outcome=outcome, feature_names=self.feature_names, labels=self.feature_names,
            units=self._units, values=X.reshape(1, -1), shap_values=phi.reshape(1, -1),
            base_value=base, raw=one, probability=final[outcome],
            baseline_probability=baseline, probability_contributions=contributions,
            calibrated_probability=calibrated[outcome], fallback=np.zeros(1, dtype=bool),
            index=pd.RangeIndex(1), coherence=(source,),
        )
        return ex.coherence_note(0)

    def __repr__(self) -> str:
        state = "on" if not self.disabled_reason else f"off: {self.disabled_reason}"
        return (
            f"FastPredictor({self.setting}, {len(self.outcomes)} outcomes, "
            f"{len(self.feature_names)} features, {state})"
        )


# ------------------------------------------------------------------------------ the cache
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _eligible(model: Any) -> bool:
    """Return whether the model has a fast path (a plain fitted RiskModel, or a file view)."""
    from covid_risk.models._view import ModelView

    if type(model) is ModelView:
        return True
    # a RiskModel can only exist once its module is imported: do not import it (and
    # scikit-learn with it) just to find out that a view is not one
    module = sys.modules.get("covid_risk.models._risk_model")
    return module is not None and type(model) is module.RiskModel and hasattr(model, "boosters_")


def _current(fp: FastPredictor, model: Any) -> bool:
    """Whether ``fp`` was built from the model's present boosters and calibrators."""
    if not hasattr(model, "boosters_"):  # a ModelView: immutable, compiled once
        return fp.compiled is None or fp.compiled is model.compile()
    if fp.compiled is None:
        return (tuple(model.outcomes_) == fp.outcomes
                and tuple(model.feature_names_) == fp.feature_names)
    return fp.compiled.is_compiled_from(model)


def fast_predictor(model: Any) -> FastPredictor | None:
    """Return the model's :class:`FastPredictor` (built once, cached on the model).

    Parameters
    ----------
    model : Any
        A fitted model. Only a plain :class:`~covid_risk.models.RiskModel` has a
        fast path; anything else gives ``None``.

    Returns
    -------
    FastPredictor or None
        ``None`` when the model is not eligible. A disabled predictor is returned
        (and cached) but always answers ``None``; see its ``disabled_reason``.
        Refitting the model (new boosters or calibrators) rebuilds it on the next
        call.
    """
    if not _eligible(model):
        return None
    try:
        fp = _CACHE.get(model)
    except TypeError:  # pragma: no cover - unhashable model
        return None
    if fp is not None and _current(fp, model):
        return fp
    with _CACHE_LOCK:
        fp = _CACHE.get(model)
        if fp is None or not _current(fp, model):
            fp = FastPredictor(model)
            _CACHE[model] = fp
    return fp
