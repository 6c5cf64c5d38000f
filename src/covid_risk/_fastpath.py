"""The single-patient fast path behind :func:`covid_risk.predict_risk`.

A clinician's tool calls ``predict_risk(patient_dict)`` once per patient. The
normal path turns the dict into a one-row canonical DataFrame
(:func:`covid_risk.validate`), builds the model matrix with pandas, asks each
LightGBM booster through :meth:`lightgbm.Booster.predict` (about 50 us of Python
overhead per call) and, for the factors, builds a DataFrame per outcome. That
costs tens of milliseconds for a computation whose trees take microseconds.

:class:`FastPredictor` compiles, once per fitted model, everything that does not
depend on the patient:

* the per-field parsing rules and limits of the schema (the same acceptance as
  :func:`covid_risk.validate`);
* the recipe of the model matrix: feature order, category codes and the derived
  features (comorbidity count, NLR, SpO2/FiO2, urea/creatinine ratio) as scalar
  arithmetic with the same IEEE operations as the vectorised code;
* one LightGBM *single-row fast predictor* per booster and per thread
  (``LGBM_BoosterPredictForMatSingleRowFastInit`` with ``num_threads=1``, raw
  scores and, for explanations, TreeSHAP contributions), called through ctypes.

It returns exactly what the normal path returns
---------------------------------------------
The fast path is an optimisation, never a second implementation of the rules:

* it accepts only input that is unremarkable -- every key a predictor of the
  schema, every value a number, yes/no or category that parses without any
  doubt, inside the hard *and* the plausible range, age and sex present, no
  cross-field inconsistency. Anything else (unknown keys, impossible or
  implausible values, values needing lenient parsing it does not handle) makes
  :meth:`FastPredictor.predict_one` return ``None`` and the caller takes the
  normal path, so errors, warnings and their messages are the normal path's by
  construction;
* the boosters' single-row C API runs the same LightGBM predictor code as
  ``Booster.predict``; calibration, coherence and the probability view of the
  explanation call the model's own calibrators,
  :func:`covid_risk.models.apply_coherence` and
  :func:`covid_risk.explanation.probability_view` on one-element arrays. The
  probabilities, baseline probabilities and factor contributions are therefore
  **bitwise identical** to the normal path (the tests check this on thousands of
  random patients in both settings);
* when a predictor is compiled it checks its own model-matrix recipe and booster
  outputs against the normal path on a set of probe patients; if anything
  differs (say, a model saved by another version with other derived features)
  the fast path disables itself for that model and every call takes the normal
  path (:attr:`FastPredictor.disabled_reason` says why).

Threads
-------
Compilation is guarded by a lock; each thread gets its own LightGBM fast
predictor handles and buffers (``threading.local``), so concurrent calls never
share mutable state and never wait on each other. ctypes releases the GIL while
LightGBM walks the trees.
"""

from __future__ import annotations

import ctypes
import math
import os
import re
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from covid_risk.models._coherence import apply_coherence, coherence_closure
from covid_risk.schema import COMORBIDITIES_4C, FIELDS, PREDICTORS, Field

__all__ = [
    "FastOutcome",
    "FastPredictor",
    "FastResult",
    "fast_predictor",
    "parse_patient",
]

# Prediction types of the LightGBM C API.
_PREDICT_RAW_SCORE = 1
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1
_PARAMETERS = b"num_threads=1"

_NAN = math.nan
_STRICT_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SEPARATORS = re.compile(r"[\s\-]+")
_MEMO_LIMIT = 200_000
_COHERENCE_TOL = 1e-12


# ----------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class _Rule:
    """How one predictor field is parsed and checked (from the schema)."""

    name: str
    kind: str
    low: float  # hard limit minus validate's tolerance
    high: float  # hard limit plus validate's tolerance
    plausible_low: float
    plausible_high: float
    required: bool
    categories: Mapping[str, int]


def _rule(f: Field) -> _Rule:
    from covid_risk.validation import SEX_ALIASES

    lo, hi = (float(f.hard[0]), float(f.hard[1])) if (
        f.hard and f.kind in ("float", "int")) else (-math.inf, math.inf)
    plo, phi = (float(f.plausible[0]), float(f.plausible[1])) if (
        f.plausible and f.kind in ("float", "int")) else (-math.inf, math.inf)
    # validate() allows 1e-9 of the largest limit (at least 1e-9) around the hard range
    biggest = max(abs(lo), abs(hi))
    tol = 1e-9 * max(1.0, biggest if math.isfinite(biggest) else 0.0)
    cats: dict[str, int] = {c: i for i, c in enumerate(f.categories)}
    if f.name == "sex":
        for alias, cat in SEX_ALIASES.items():
            cats[alias] = f.categories.index(cat)
    return _Rule(f.name, f.kind, lo - tol, hi + tol, plo, phi, f.required, cats)


_RULES: dict[str, _Rule] = {name: _rule(FIELDS[name]) for name in PREDICTORS}
_REQUIRED: tuple[str, ...] = tuple(n for n, r in _RULES.items() if r.required)


def _tokens() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    from covid_risk.validation import FALSE_TOKENS, MISSING_TOKENS, TRUE_TOKENS

    return frozenset(TRUE_TOKENS), frozenset(FALSE_TOKENS), frozenset(MISSING_TOKENS)


_TRUE, _FALSE, _MISSING = _tokens()


class _Unusual(Exception):
    """Raised inside the parser when the normal path must decide."""


def _number(v: Any) -> float:
    t = type(v)
    if t is float:
        return v
    if t is int:
        try:
            return float(v)
        except OverflowError:
            raise _Unusual from None
    if t is bool or isinstance(v, np.bool_):
        raise _Unusual
    if isinstance(v, (float, np.floating, np.integer)):
        try:
            return float(v)
        except (OverflowError, ValueError):
            raise _Unusual from None
    if t is str:
        if _STRICT_NUMBER.fullmatch(v):
            return float(v)
        if v.strip().lower() in _MISSING:
            return _NAN
    raise _Unusual


def _boolean(v: Any) -> float:
    if v is True:
        return 1.0
    if v is False:
        return 0.0
    if isinstance(v, np.bool_):
        return float(v)
    t = type(v)
    if t is str:
        s = v.strip().lower()
        if s in _TRUE:
            return 1.0
        if s in _FALSE:
            return 0.0
        if s in _MISSING:
            return _NAN
        raise _Unusual
    if t is float or isinstance(v, np.floating):
        if v != v:
            return _NAN
    if isinstance(v, (int, float, np.integer, np.floating)):
        if v == 1:
            return 1.0
        if v == 0:
            return 0.0
    raise _Unusual


def _category(v: Any, lookup: Mapping[str, int]) -> float:
    if type(v) is str:
        i = lookup.get(v)
        if i is not None:
            return float(i)
        s = v.strip()
        low = s.lower()
        if low in _MISSING:
            return _NAN
        i = lookup.get(_SEPARATORS.sub("_", low))
        if i is not None:
            return float(i)
        raise _Unusual
    if (type(v) is float or isinstance(v, np.floating)) and v != v:
        return _NAN
    raise _Unusual


def parse_patient(patient: Mapping[str, Any]) -> dict[str, float] | None:
    """Parse one patient dict the way :func:`covid_risk.validate` would, if it is unremarkable.

    Parameters
    ----------
    patient : mapping of str to value
        Canonical field names to values (numbers, yes/no, category names, None).

    Returns
    -------
    dict of str to float or None
        Field -> canonical value as the model matrix codes it (float; booleans
        1.0/0.0, categories their position in the schema's categories, NaN for
        missing), for every key of ``patient``. ``None`` when anything would make
        ``validate`` raise, warn, flag or drop something (unknown key, impossible
        or implausible value, missing age or sex, diastolic not below systolic,
        FiO2 above room air without oxygen), or when a value needs parsing the
        fast path does not do (numbers written with commas or spaces, numpy
        strings, ...): the caller then takes the normal path.

    Examples
    --------
    >>> parse_patient({"age": 70, "sex": "male", "on_oxygen": "yes"})
    {'age': 70.0, 'sex': 1.0, 'on_oxygen': 1.0}
    >>> parse_patient({"age": 70, "sex": "male", "respiratory_rate": 95}) is None
    True
    """
    out: dict[str, float] = {}
    rules = _RULES
    try:
        for key, v in patient.items():
            rule = rules.get(key) if type(key) is str else None
            if rule is None:
                return None
            if v is None or v is pd.NA or v is pd.NaT:
                x = _NAN
            else:
                kind = rule.kind
                if kind == "float" or kind == "int":
                    x = _number(v)
                    if x == x:
                        x = x * 1.0 + 0.0  # validate's unit step (turns -0.0 into 0.0)
                        if not (rule.low <= x <= rule.high):
                            return None
                        if x < rule.plausible_low or x > rule.plausible_high:
                            return None
                        if kind == "int" and not x.is_integer():
                            return None
                elif kind == "bool":
                    x = _boolean(v)
                else:
                    x = _category(v, rule.categories)
            out[key] = x
    except _Unusual:
        return None
    for name in _REQUIRED:
        x = out.get(name, _NAN)
        if x != x:
            return None
    dia, sys = out.get("diastolic_bp", _NAN), out.get("systolic_bp", _NAN)
    if dia >= sys:  # NaN compares False, as in validate
        return None
    if out.get("fio2", _NAN) > 0.21 + 1e-9 and out.get("on_oxygen", _NAN) == 0.0:
        return None
    return out


# ------------------------------------------------------------------- model matrix recipe
def _ratio(num: float, den: float) -> float:
    """``covid_risk.features.derived._ratio`` for one value (NaN unless both finite, den > 0)."""
    if math.isfinite(num) and math.isfinite(den) and den > 0:
        return num / den
    return _NAN


def _comorbidity_count(v: Mapping[str, float]) -> float:
    total = 0
    for name in COMORBIDITIES_4C:
        x = v.get(name, _NAN)
        if x == x:
            total += int(x)
    return float(total)


def _nlr(v: Mapping[str, float]) -> float:
    return _ratio(v.get("neutrophils", _NAN), v.get("lymphocytes", _NAN))


def _spo2_fio2(v: Mapping[str, float]) -> float:
    from covid_risk.features.derived import ROOM_AIR_FIO2

    fio2 = v.get("fio2", _NAN)
    if fio2 != fio2 and v.get("on_oxygen", _NAN) == 0.0:
        fio2 = ROOM_AIR_FIO2
    return _ratio(v.get("spo2", _NAN), fio2)


def _urea_creatinine(v: Mapping[str, float]) -> float:
    return _ratio(v.get("urea", _NAN) * 1000.0, v.get("creatinine", _NAN))


_DERIVED = {
    "comorbidity_count": _comorbidity_count,
    "nlr": _nlr,
    "spo2_fio2": _spo2_fio2,
    "urea_creatinine_ratio": _urea_creatinine,
}


# ------------------------------------------------------------------------ LightGBM C API
class _Native:
    """ctypes bindings to LightGBM's single-row fast prediction."""

    def __init__(self) -> None:
        from lightgbm.basic import _LIB

        lib = ctypes.CDLL(_LIB._name)  # the library lightgbm already loaded, own prototypes
        init = lib.LGBM_BoosterPredictForMatSingleRowFastInit
        init.argtypes = [
            ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
            ctypes.c_int32, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
        ]
        init.restype = ctypes.c_int
        predict = lib.LGBM_BoosterPredictForMatSingleRowFast
        predict.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p,
        ]
        predict.restype = ctypes.c_int
        free = lib.LGBM_FastConfigFree
        free.argtypes = [ctypes.c_void_p]
        free.restype = ctypes.c_int
        error = lib.LGBM_GetLastError
        error.restype = ctypes.c_char_p
        self.init, self.predict, self.free, self.error = init, predict, free, error


_NATIVE: _Native | None = None
_NATIVE_LOCK = threading.Lock()


def _native() -> _Native:
    global _NATIVE
    if _NATIVE is None:
        with _NATIVE_LOCK:
            if _NATIVE is None:
                _NATIVE = _Native()
    return _NATIVE


class _Handle:
    """One LightGBM single-row fast predictor (freed with the object; keeps its booster alive)."""

    __slots__ = ("_booster", "_free", "pointer")

    def __init__(self, booster: Any, predict_type: int, ncol: int) -> None:
        native = _native()
        out = ctypes.c_void_p()
        status = native.init(
            booster._handle, predict_type, 0, -1, _DTYPE_FLOAT64, ncol, _PARAMETERS,
            ctypes.byref(out),
        )
        if status != 0:
            raise RuntimeError(
                "LightGBM could not set up single-row prediction: "
                f"{native.error().decode(errors='replace')}"
            )
        self._booster = booster
        self._free = native.free
        self.pointer = out.value

    def __del__(self) -> None:
        pointer, self.pointer = self.pointer, None
        if pointer:
            try:
                self._free(pointer)
            except Exception:  # pragma: no cover - interpreter shutdown
                pass


class _ThreadState(threading.local):
    """Per-thread handles and output buffer of one FastPredictor."""

    def __init__(self, boosters: Sequence[Any], ncol: int) -> None:
        self.boosters = tuple(boosters)
        self.ncol = ncol
        self.raw = [_Handle(b, _PREDICT_RAW_SCORE, ncol) for b in self.boosters]
        self.contrib: list[_Handle | None] = [None] * len(self.boosters)
        self.out = np.empty(ncol + 1, dtype=np.float64)
        self.out_pointer = self.out.ctypes.data
        self.out_len = ctypes.c_int64()
        self.out_len_ref = ctypes.byref(self.out_len)

    def contrib_handle(self, k: int) -> _Handle:
        handle = self.contrib[k]
        if handle is None:
            handle = self.contrib[k] = _Handle(self.boosters[k], _PREDICT_CONTRIB, self.ncol)
        return handle


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


_LOGISTIC = None  # SigmoidCalibrator(0, 1): exactly the calibrators' logistic function


def _logistic() -> Any:
    global _LOGISTIC
    if _LOGISTIC is None:
        from covid_risk.models import SigmoidCalibrator

        _LOGISTIC = SigmoidCalibrator(intercept=0.0, slope=1.0)
    return _LOGISTIC


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
    """A fitted :class:`~covid_risk.models.RiskModel` compiled for one patient at a time.

    Build it with :func:`fast_predictor` (which caches it on the model); it holds
    references to the model's boosters and calibrators as they were when it was
    compiled.

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
    disabled_reason : str
        Why the fast path is off for this model ("" when it is on).
    """

    def __init__(self, model: Any) -> None:
        from covid_risk.labels import feature_unit

        self.outcomes: tuple[str, ...] = tuple(model.outcomes_)
        self.feature_names: tuple[str, ...] = tuple(model.feature_names_)
        self.setting: str = str(model.setting)
        self._boosters = {o: model.boosters_[o] for o in self.outcomes}
        self._calibrators = {o: model.calibrators_[o] for o in self.outcomes}
        self._index = {o: k for k, o in enumerate(self.outcomes)}
        self._units = tuple(feature_unit(n) for n in self.feature_names)
        self._baselines: dict[tuple[str, float], float] = {}
        self._needed: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._groups: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._trees = {o: int(b.num_trees()) for o, b in self._boosters.items()}
        self.disabled_reason = ""
        ncol = len(self.feature_names)
        self._positions: dict[str, int] = {}
        self._derived: list[tuple[int, Any]] = []
        for j, name in enumerate(self.feature_names):
            if name in _RULES:
                self._positions[name] = j
            elif name in _DERIVED:
                self._derived.append((j, _DERIVED[name]))
            else:
                self.disabled_reason = f"model feature {name!r} has no fast recipe"
        for o, b in self._boosters.items():
            if b.num_feature() != ncol:
                self.disabled_reason = (
                    f"the {o} booster has {b.num_feature()} features, the matrix {ncol}"
                )
        self._template = [_NAN] * ncol
        from covid_risk.models import SigmoidCalibrator

        self._stack_sigmoid = all(type(c) is SigmoidCalibrator
                                  for c in self._calibrators.values())
        self._sigmoid_params: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._state_lock = threading.Lock()
        self._local: _ThreadState | None = None
        if not self.disabled_reason:
            self.disabled_reason = self._self_check(model)

    # -- pieces ---------------------------------------------------------------------
    def _state(self) -> _ThreadState:
        local = self._local
        if local is None:
            with self._state_lock:
                if self._local is None:
                    self._local = _ThreadState(
                        [self._boosters[o] for o in self.outcomes], len(self.feature_names)
                    )
                local = self._local
        return local

    def row(self, values: Mapping[str, float]) -> np.ndarray:
        """Return the model-matrix row of parsed values (see :func:`parse_patient`)."""
        row = self._template.copy()
        positions = self._positions
        for name, x in values.items():
            j = positions.get(name)
            if j is not None:
                row[j] = x
        for j, fn in self._derived:
            row[j] = fn(values)
        return np.array(row, dtype=np.float64)

    def _raw(self, state: _ThreadState, k: int, pointer: int) -> float:
        if _native().predict(state.raw[k].pointer, pointer, state.out_len_ref,
                             state.out_pointer) != 0:  # pragma: no cover - LightGBM error
            raise RuntimeError(_native().error().decode(errors="replace"))
        return float(state.out[0])

    def _contrib(self, state: _ThreadState, k: int, pointer: int) -> np.ndarray:
        handle = state.contrib_handle(k)
        if _native().predict(handle.pointer, pointer, state.out_len_ref,
                             state.out_pointer) != 0:  # pragma: no cover - LightGBM error
            raise RuntimeError(_native().error().decode(errors="replace"))
        return state.out.copy()

    def _baseline(self, outcome: str, base: float) -> float:
        key = (outcome, base)
        hit = self._baselines.get(key)
        if hit is None:
            cal = self._calibrators[outcome]
            hit = float(np.asarray(cal.transform(np.array([base])), dtype="float64")[0])
            self._baselines[key] = hit
        return hit

    def _needed_for(self, wanted: tuple[str, ...]) -> tuple[str, ...]:
        hit = self._needed.get(wanted)
        if hit is None:
            hit = self._needed[wanted] = tuple(coherence_closure(wanted, self.outcomes))
        return hit

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
        needed = self._needed_for(wanted)
        X = self.row(values)
        pointer = X.ctypes.data
        state = self._state()
        index = self._index
        # With an idle core, a helper thread starts on its share of the TreeSHAP rows now,
        # while this thread computes the probabilities and then its own share.
        mine, helper = self._start_helper(wanted, needed, X) if explain else (wanted, None)
        calibrated = self._calibrate(state, needed, pointer)
        final = {o: np.asarray(v, dtype="float64") for o, v in apply_coherence(calibrated).items()}
        if not explain:
            return FastResult(values, tuple(FastOutcome(o, float(final[o][0])) for o in wanted))
        contribs = {o: self._contrib(state, index[o], pointer) for o in mine}
        if helper is not None:
            contribs.update(helper.result())
        return FastResult(values, self._explain(wanted, contribs, X, calibrated, final, int(top)))

    def _calibrate(
        self, state: _ThreadState, needed: tuple[str, ...], pointer: int
    ) -> dict[str, np.ndarray]:
        """Raw scores through the calibrators: ``{outcome: (1,) probability}``.

        When every calibrator is a :class:`~covid_risk.models.SigmoidCalibrator`,
        ``intercept + slope * raw`` and the logistic function are applied to all
        outcomes in one array: the same element-wise operations as each calibrator's
        ``transform`` of a one-element array (the self-check compares the results with
        ``predict_proba`` and switches this off if they differ).
        """
        index = self._index
        raws = [self._raw(state, index[o], pointer) for o in needed]
        if self._stack_sigmoid:
            params = self._sigmoid_params.get(needed)
            if params is None:
                params = self._sigmoid_params[needed] = (
                    np.array([self._calibrators[o].intercept for o in needed]),
                    np.array([self._calibrators[o].slope for o in needed]),
                )
            p = _logistic().transform(params[0] + params[1] * np.array(raws))
            return {o: p[i:i + 1] for i, o in enumerate(needed)}
        return {
            o: np.asarray(self._calibrators[o].transform(np.array([r])), dtype="float64")
            .reshape(-1) for o, r in zip(needed, raws, strict=True)
        }

    def _start_helper(
        self, wanted: tuple[str, ...], needed: tuple[str, ...], X: np.ndarray
    ) -> tuple[tuple[str, ...], Any]:
        """Hand the helper thread its outcomes; return this thread's outcomes and the future."""
        key = (wanted, needed)
        groups = self._groups.get(key)
        if groups is None:
            groups = self._groups[key] = self._split(wanted, needed)
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
        state = self._state()  # this thread's own handles
        pointer = X.ctypes.data
        return {o: self._contrib(state, self._index[o], pointer) for o in outcomes}

    def _split(
        self, wanted: tuple[str, ...], needed: tuple[str, ...] = ()
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Share the outcomes between this thread and the helper by number of trees.

        This thread also computes the raw scores, calibration and coherence of the
        ``needed`` outcomes meanwhile, counted as :data:`_RAW_SHARE` of their trees.
        Nothing is shared when there are few trees or the helper is switched off.
        """
        trees = {o: self._trees[o] for o in wanted}
        if EXPLAIN_THREADS < 2 or len(wanted) < 2 or sum(trees.values()) < PARALLEL_MIN_TREES:
            return wanted, ()
        here: list[str] = []
        there: list[str] = []
        load = [_RAW_SHARE * sum(self._trees[o] for o in needed), 0.0]
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
        baselines = [self._baseline(o, b) for o, b in zip(wanted, bases, strict=True)]
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
        """Return the coherence note, written by ``RiskExplanation.coherence_note``."""
        mine = float(final[outcome][0])
        if not abs(mine - float(calibrated[outcome][0])) > _COHERENCE_TOL:
            return ""
        source = "adjusted"
        for other in reversed(coherence_closure([outcome], tuple(final))[1:]):
            if float(final[other][0]) == mine:
                source = other
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

    # -- self check -----------------------------------------------------------------
    def _self_check(self, model: Any) -> str:
        """Compare the recipe and the boosters with the normal path on probe patients."""
        from covid_risk.validation import validate

        probes = _probe_patients()
        try:
            data = validate(probes).data
            expected = model.model_matrix(data).to_numpy(dtype="float64")
        except Exception as exc:  # pragma: no cover - a broken model is the normal path's to report
            return f"the normal path failed on the probe patients ({type(exc).__name__})"
        state = self._state()
        for i, patient in enumerate(probes):
            values = parse_patient(patient)
            if values is None:
                return f"probe patient {i} was not accepted by the fast parser"
            X = self.row(values)
            if not np.array_equal(X, expected[i], equal_nan=True):
                bad = [self.feature_names[j] for j in np.flatnonzero(
                    ~((X == expected[i]) | (np.isnan(X) & np.isnan(expected[i]))))]
                return f"the fast model-matrix recipe differs from model_matrix in {bad}"
        for k, o in enumerate(self.outcomes):
            want = self._boosters[o].predict(expected, raw_score=True, num_threads=1)
            got = [self._raw(state, k, np.ascontiguousarray(expected[i]).ctypes.data)
                   for i in range(len(probes))]
            if not np.array_equal(np.asarray(got), want):
                return f"single-row prediction of the {o} booster differs from Booster.predict"
        proba = model.predict_proba(data)
        for stacked in (self._stack_sigmoid, False):
            self._stack_sigmoid = stacked
            same = all(
                r.probability == proba[r.outcome].iloc[i]
                for i, patient in enumerate(probes)
                for r in self.predict_one(patient).outcomes
            )
            if same:
                return ""
        return "fast probabilities differ from predict_proba on the probe patients"

    def __repr__(self) -> str:
        state = "on" if not self.disabled_reason else f"off: {self.disabled_reason}"
        return (
            f"FastPredictor({self.setting}, {len(self.outcomes)} outcomes, "
            f"{len(self.feature_names)} features, {state})"
        )


def _probe_patients() -> list[dict[str, Any]]:
    """Return fixed, plausible patients exercising every field kind and missing values."""
    full = {
        "age": 71.0, "sex": "male", "bmi": 31.5, "ethnicity": "south_asian",
        "deprivation_quintile": 4, "smoking": "former", "care_home": False,
        "vaccine_doses": 2, "days_since_vaccination": 120.0, "variant_period": "delta",
        "days_since_onset": 6.0, "nosocomial": False, "chronic_cardiac": True,
        "chronic_pulmonary": False, "chronic_kidney": True, "liver_disease": False,
        "dementia": False, "chronic_neuro": False, "connective_tissue": False,
        "diabetes": True, "hiv": False, "malignancy": False, "obesity": True,
        "hypertension": True, "asthma": False, "immunosuppression": False,
        "organ_transplant": False, "haematological_cancer": False,
        "respiratory_rate": 26.0, "spo2": 91.0, "on_oxygen": True, "fio2": 0.4,
        "heart_rate": 104.0, "systolic_bp": 112.0, "diastolic_bp": 64.0,
        "temperature": 38.4, "gcs": 14, "urea": 11.2, "creatinine": 130.0, "crp": 140.0,
        "lymphocytes": 0.6, "neutrophils": 8.1, "platelets": 210.0, "ldh": 420.0,
        "d_dimer": 1.9, "ferritin": 900.0, "troponin": 25.0, "albumin": 31.0,
        "chest_infiltrates": True,
    }
    return [
        full,
        {"age": 45.0, "sex": "female"},
        {"age": 88, "sex": "female", "on_oxygen": False, "spo2": 95.0, "ethnicity": "black",
         "smoking": "current", "variant_period": "omicron", "dementia": True},
        {"age": 60.5, "sex": "male", "on_oxygen": True, "spo2": 88.0, "lymphocytes": 0.3,
         "neutrophils": 5.0, "creatinine": 80.0, "urea": 1.5, "ethnicity": "other"},
        {"age": 33.0, "sex": "female", "fio2": 0.21, "on_oxygen": False, "spo2": 99.0,
         "ethnicity": "mixed", "smoking": "never", "variant_period": "wild_type",
         "neutrophils": 0.5, "lymphocytes": 2.0},
        {**full, "variant_period": "alpha", "ethnicity": "white", "obesity": None,
         "diabetes": None, "fio2": None},
    ]


# ------------------------------------------------------------------------------ the cache
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _eligible(model: Any) -> bool:
    from covid_risk.models import RiskModel

    return type(model) is RiskModel and hasattr(model, "boosters_")


def _current(fp: FastPredictor, model: Any) -> bool:
    """Whether ``fp`` was compiled from the model's present boosters and calibrators."""
    if tuple(model.outcomes_) != fp.outcomes or tuple(model.feature_names_) != fp.feature_names:
        return False
    boosters, calibrators = model.boosters_, model.calibrators_
    for o in fp.outcomes:
        if boosters.get(o) is not fp._boosters[o] or calibrators.get(o) is not fp._calibrators[o]:
            return False
    return True


def fast_predictor(model: Any) -> FastPredictor | None:
    """Return the model's compiled :class:`FastPredictor` (compiled once, cached on the model).

    Parameters
    ----------
    model : Any
        A fitted model. Only a plain :class:`~covid_risk.models.RiskModel` has a
        fast path; anything else gives ``None``.

    Returns
    -------
    FastPredictor or None
        ``None`` when the model is not eligible. A predictor whose self-check
        failed is returned (and cached) but always answers ``None``; see its
        ``disabled_reason``. Refitting the model (new boosters or calibrators)
        recompiles on the next call.
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
