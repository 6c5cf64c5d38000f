"""One compiled view of a fitted model: boosters, calibrators and coherence, for rows and matrices.

:class:`CompiledModel` is the single place where a fitted model's numbers are
made. It owns

* one native LightGBM booster handle per outcome (:class:`NativeBooster`), either
  borrowed from a :class:`lightgbm.Booster` or loaded straight from the booster's
  text through LightGBM's C API (``LGBM_BoosterLoadModelFromString``) -- the
  shared library is located with :func:`importlib.util.find_spec` and loaded with
  ctypes, so this module never imports the ``lightgbm`` package (nor
  scikit-learn, which that package imports);
* per thread, LightGBM's *single-row fast predictors*
  (``LGBM_BoosterPredictForMatSingleRowFastInit`` with ``num_threads=1``) for raw
  scores and TreeSHAP contributions of one row;
* the calibrators (applied together in one array when they are all sigmoid) and
  the coherence step (:func:`covid_risk.models.apply_coherence` over
  :func:`covid_risk.models.coherence_closure`).

It gives raw, calibrated and final (coherent) probabilities and TreeSHAP
contributions for one row (:meth:`CompiledModel.raw_one`,
:meth:`CompiledModel.probabilities_one`, :meth:`CompiledModel.contributions_one`)
and for a matrix (:meth:`CompiledModel.raw`, :meth:`CompiledModel.probabilities`,
:meth:`CompiledModel.contributions`). :meth:`RiskModel.predict_proba
<covid_risk.models.RiskModel.predict_proba>`, :func:`covid_risk.explain` and the
single-patient path of :func:`covid_risk.predict_risk` all go through it, so there
is one implementation of how a probability is made.

A view built from a model (:meth:`CompiledModel.from_model`, cached per model by
:func:`compile_model`, which :meth:`RiskModel.compile` calls) predicts matrices
with each booster's own ``Booster.predict``; a view built from booster texts
(:meth:`CompiledModel.from_texts`) uses ``LGBM_BoosterPredictForMat``, the C
function ``Booster.predict`` calls. Single rows always use the single-row fast
predictors, which run the same predictor code.

Threads
-------
Each thread gets its own single-row handles and output buffer
(``threading.local``), so concurrent calls never share mutable state; ctypes
releases the GIL while LightGBM walks the trees.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from covid_risk.models._coherence import apply_coherence, coherence_closure

__all__ = ["CompiledModel", "NativeBooster", "compile_model", "lightgbm_library_path"]

# Prediction types and data types of the LightGBM C API.
_PREDICT_RAW_SCORE = 1
_PREDICT_CONTRIB = 3
_DTYPE_FLOAT64 = 1
_ONE_THREAD = b"num_threads=1"


# ------------------------------------------------------------------------ LightGBM C API
def lightgbm_library_path() -> str:
    """Return the path of LightGBM's shared library without importing the ``lightgbm`` package.

    The folders are searched in the order of LightGBM's own ``_find_lib_path``, so
    the library found is the one ``import lightgbm`` loads (the process then holds
    one copy, and handles are shared between this module and ``lightgbm``).

    Raises
    ------
    ImportError
        When LightGBM is not installed or its library is missing.
    """
    spec = importlib.util.find_spec("lightgbm")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("LightGBM is not installed; covid_risk needs it to predict.")
    package = Path(next(iter(spec.submodule_search_locations))).resolve()
    if sys.platform.startswith("win"):  # pragma: no cover - not tested here
        name = "lib_lightgbm.dll"
    elif sys.platform == "darwin":  # pragma: no cover - not tested here
        name = "lib_lightgbm.dylib"
    else:
        name = "lib_lightgbm.so"
    for folder in (package.parent, package / "bin", package / "lib"):
        if (folder / name).is_file():
            return str(folder / name)
    raise ImportError(f"LightGBM's library {name} was not found next to its package.")


class _Native:
    """ctypes prototypes of the LightGBM C functions used here."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(lightgbm_library_path())
        c_int, c_int32, c_void_p = ctypes.c_int, ctypes.c_int32, ctypes.c_void_p
        pointer_int64 = ctypes.POINTER(ctypes.c_int64)

        def bind(name: str, *argtypes: Any) -> Any:
            fn = getattr(lib, name)
            fn.argtypes = list(argtypes)
            fn.restype = c_int
            return fn

        self.load = bind("LGBM_BoosterLoadModelFromString", ctypes.c_char_p,
                         ctypes.POINTER(c_int), ctypes.POINTER(c_void_p))
        self.free_booster = bind("LGBM_BoosterFree", c_void_p)
        self.num_feature = bind("LGBM_BoosterGetNumFeature", c_void_p, ctypes.POINTER(c_int))
        self.num_models = bind("LGBM_BoosterNumberOfTotalModel", c_void_p,
                               ctypes.POINTER(c_int))
        self.predict_mat = bind(
            "LGBM_BoosterPredictForMat", c_void_p, c_void_p, c_int, c_int32, c_int32, c_int,
            c_int, c_int, c_int, ctypes.c_char_p, pointer_int64, c_void_p,
        )
        self.fast_init = bind(
            "LGBM_BoosterPredictForMatSingleRowFastInit", c_void_p, c_int, c_int, c_int, c_int,
            c_int32, ctypes.c_char_p, ctypes.POINTER(c_void_p),
        )
        self.fast_predict = bind("LGBM_BoosterPredictForMatSingleRowFast", c_void_p, c_void_p,
                                 pointer_int64, c_void_p)
        self.fast_free = bind("LGBM_FastConfigFree", c_void_p)
        self.error = lib.LGBM_GetLastError
        self.error.argtypes = []
        self.error.restype = ctypes.c_char_p

    def check(self, status: int, what: str) -> None:
        """Raise ``RuntimeError`` with LightGBM's message when a call failed."""
        if status != 0:
            raise RuntimeError(f"LightGBM could not {what}: "
                               f"{self.error().decode(errors='replace')}")


_NATIVE: _Native | None = None
_NATIVE_LOCK = threading.Lock()


def _native() -> _Native:
    global _NATIVE
    if _NATIVE is None:
        with _NATIVE_LOCK:
            if _NATIVE is None:
                _NATIVE = _Native()
    return _NATIVE


class NativeBooster:
    """One LightGBM booster as a C handle: borrowed from a ``lightgbm.Booster`` or loaded from text.

    Use :meth:`from_lightgbm` or :meth:`from_text`.

    Attributes
    ----------
    handle : int
        The ``BoosterHandle``.
    num_feature : int
        Features the booster reads.
    num_trees : int
        Trees in the booster.
    """

    __slots__ = ("_free", "_owner", "handle", "num_feature", "num_trees")

    def __init__(self, handle: int, owner: Any = None, free: Any = None) -> None:
        self.handle = handle
        self._owner = owner  # the lightgbm.Booster that owns the handle, kept alive
        self._free = free  # LGBM_BoosterFree when this object owns the handle
        if owner is not None:  # matrices go through owner.predict: no ctypes needed yet
            self.num_feature = int(owner.num_feature())
            self.num_trees = int(owner.num_trees())
            return
        native = _native()
        n = ctypes.c_int()
        native.check(native.num_feature(handle, ctypes.byref(n)), "read the feature count")
        self.num_feature = int(n.value)
        native.check(native.num_models(handle, ctypes.byref(n)), "read the tree count")
        self.num_trees = int(n.value)

    @classmethod
    def from_lightgbm(cls, booster: Any) -> NativeBooster:
        """Borrow the handle of a ``lightgbm.Booster`` (which is kept alive with it)."""
        return cls(booster._handle.value if hasattr(booster._handle, "value")
                   else booster._handle, owner=booster)

    @classmethod
    def from_text(cls, text: str) -> NativeBooster:
        """Load a booster from LightGBM's text model (``Booster.model_to_string``).

        LightGBM's C parser trusts its input (a crafted text can crash or hang the
        process), so pass only texts proven well-formed by
        :func:`covid_risk.models._files.check_booster_text` -- every
        :class:`~covid_risk.models.ModelView` holds only such texts -- or written by
        LightGBM in this process.
        """
        native = _native()
        handle = ctypes.c_void_p()
        iterations = ctypes.c_int()
        native.check(native.load(text.encode("utf-8"), ctypes.byref(iterations),
                                 ctypes.byref(handle)), "load a booster")
        return cls(handle.value, free=native.free_booster)

    @property
    def lightgbm_booster(self) -> Any:
        """The ``lightgbm.Booster`` the handle is borrowed from (None when loaded from text)."""
        return self._owner

    def predict(self, X: np.ndarray, *, contrib: bool = False, threads: int = 1) -> np.ndarray:
        """Raw scores ``(n,)`` or TreeSHAP contributions ``(n, p + 1)`` of a float64 matrix."""
        if self._owner is not None:
            if contrib:
                return self._owner.predict(X, pred_contrib=True, num_threads=threads)
            return self._owner.predict(X, raw_score=True, num_threads=threads)
        X = np.ascontiguousarray(X, dtype=np.float64)
        n, p = X.shape
        width = p + 1 if contrib else 1
        out = np.empty(n * width, dtype=np.float64)
        out_len = ctypes.c_int64()
        native = _native()
        native.check(native.predict_mat(
            self.handle, X.ctypes.data, _DTYPE_FLOAT64, n, p, 1,
            _PREDICT_CONTRIB if contrib else _PREDICT_RAW_SCORE, 0, -1,
            f"num_threads={int(threads)}".encode(), ctypes.byref(out_len), out.ctypes.data,
        ), "predict")
        return out.reshape(n, width) if contrib else out

    def __del__(self) -> None:
        handle, self.handle = getattr(self, "handle", None), None
        free = getattr(self, "_free", None)
        if handle and free is not None:
            try:
                free(handle)
            except Exception:  # pragma: no cover - interpreter shutdown
                pass


class _FastHandle:
    """One single-row fast predictor (freed with the object; keeps its booster alive)."""

    __slots__ = ("_booster", "_free", "pointer")

    def __init__(self, booster: NativeBooster, predict_type: int, ncol: int) -> None:
        native = _native()
        out = ctypes.c_void_p()
        native.check(native.fast_init(booster.handle, predict_type, 0, -1, _DTYPE_FLOAT64, ncol,
                                      _ONE_THREAD, ctypes.byref(out)),
                     "set up single-row prediction")
        self._booster = booster
        self._free = native.fast_free
        self.pointer = out.value

    def __del__(self) -> None:
        pointer, self.pointer = self.pointer, None
        if pointer:
            try:
                self._free(pointer)
            except Exception:  # pragma: no cover - interpreter shutdown
                pass


class _ThreadState(threading.local):
    """Per-thread single-row handles and output buffer of one CompiledModel."""

    def __init__(self, boosters: Sequence[NativeBooster], ncol: int) -> None:
        self.boosters = tuple(boosters)
        self.ncol = ncol
        self.raw = [_FastHandle(b, _PREDICT_RAW_SCORE, ncol) for b in self.boosters]
        self.contrib: list[_FastHandle | None] = [None] * len(self.boosters)
        self.out = np.empty(ncol + 1, dtype=np.float64)
        self.out_pointer = self.out.ctypes.data
        self.out_len_ref = ctypes.byref(ctypes.c_int64())

    def contrib_handle(self, k: int) -> _FastHandle:
        handle = self.contrib[k]
        if handle is None:
            handle = self.contrib[k] = _FastHandle(self.boosters[k], _PREDICT_CONTRIB, self.ncol)
        return handle


# ------------------------------------------------------------------------- the view
class CompiledModel:
    """A fitted model compiled for prediction: boosters, calibrators and coherence.

    Build it with :meth:`from_model` (or :func:`compile_model`, which caches it per
    model) or :meth:`from_texts`.

    Parameters
    ----------
    setting : str
        Clinical setting of the model.
    feature_names : sequence of str
        Model-matrix columns, in order.
    boosters : mapping of str to NativeBooster
        One booster per outcome, in the model's outcome order.
    calibrators : mapping of str to calibrator
        One calibrator per outcome (``transform(raw) -> probability``).

    Attributes
    ----------
    setting : str
    outcomes : tuple of str
    feature_names : tuple of str
    trees : dict of str to int
        Trees per outcome.
    all_sigmoid : bool
        Every calibrator is a :class:`~covid_risk.models.SigmoidCalibrator` (then
        one row's outcomes are calibrated together in one array).

    Raises
    ------
    ValueError
        When a booster reads another number of features than the matrix has.
    """

    def __init__(
        self,
        *,
        setting: str,
        feature_names: Sequence[str],
        boosters: Mapping[str, NativeBooster],
        calibrators: Mapping[str, Any],
    ) -> None:
        from covid_risk.models._calibration import SigmoidCalibrator

        self.setting = str(setting)
        self.outcomes: tuple[str, ...] = tuple(boosters)
        self.feature_names: tuple[str, ...] = tuple(feature_names)
        self._boosters = {o: boosters[o] for o in self.outcomes}
        self._calibrators = {o: calibrators[o] for o in self.outcomes}
        self._index = {o: k for k, o in enumerate(self.outcomes)}
        ncol = len(self.feature_names)
        for o, b in self._boosters.items():
            if b.num_feature != ncol:
                raise ValueError(f"the {o} booster has {b.num_feature} features, the matrix {ncol}")
        self.trees = {o: b.num_trees for o, b in self._boosters.items()}
        self.all_sigmoid = all(type(c) is SigmoidCalibrator for c in self._calibrators.values())
        self._sigmoid_params: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._baselines: dict[tuple[str, float], float] = {}
        self._closures: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._logistic = SigmoidCalibrator(intercept=0.0, slope=1.0)
        self._state_lock = threading.Lock()
        self._local: _ThreadState | None = None

    @classmethod
    def from_model(cls, model: Any) -> CompiledModel:
        """Compile a fitted :class:`~covid_risk.models.RiskModel` (borrowing its boosters).

        Anything with ``outcomes_``, ``feature_names_``, ``boosters_`` (LightGBM
        boosters) and ``calibrators_`` compiles the same way.
        """
        return cls(
            setting=getattr(model, "setting", ""),
            feature_names=model.feature_names_,
            boosters={o: NativeBooster.from_lightgbm(model.boosters_[o]) for o in model.outcomes_},
            calibrators=model.calibrators_,
        )

    @classmethod
    def from_texts(
        cls,
        *,
        setting: str,
        feature_names: Sequence[str],
        booster_texts: Mapping[str, str],
        calibrators: Mapping[str, Any],
    ) -> CompiledModel:
        """Compile a model from its booster texts and calibrators, without the ``lightgbm`` package.

        Parameters
        ----------
        setting : str
            Clinical setting.
        feature_names : sequence of str
            Model-matrix columns, in order.
        booster_texts : mapping of str to str
            Outcome -> LightGBM text model, in the model's outcome order. Check
            texts that come from a file first (:func:`covid_risk.models._files`
            verifies a model file before anything is built).
        calibrators : mapping of str to calibrator
            Outcome -> calibrator.
        """
        return cls(
            setting=setting,
            feature_names=feature_names,
            boosters={o: NativeBooster.from_text(t) for o, t in booster_texts.items()},
            calibrators=calibrators,
        )

    def is_compiled_from(self, model: Any) -> bool:
        """Whether this view was compiled from the model's present boosters and calibrators."""
        if tuple(model.outcomes_) != self.outcomes or tuple(
                model.feature_names_) != self.feature_names:
            return False
        boosters, calibrators = model.boosters_, model.calibrators_
        for o in self.outcomes:
            if (boosters.get(o) is not self._boosters[o].lightgbm_booster
                    or calibrators.get(o) is not self._calibrators[o]):
                return False
        return True

    def closure(self, outcomes: Sequence[str]) -> tuple[str, ...]:
        """``outcomes`` and every outcome of the model their coherence reads (cached)."""
        key = tuple(outcomes)
        hit = self._closures.get(key)
        if hit is None:
            hit = self._closures[key] = tuple(coherence_closure(key, self.outcomes))
        return hit

    def calibrator(self, outcome: str) -> Any:
        """Return the calibrator of ``outcome``."""
        return self._calibrators[outcome]

    # -- matrices -------------------------------------------------------------------
    def raw(
        self, X: np.ndarray, outcomes: Sequence[str] | None = None, *, threads: int = 1
    ) -> dict[str, np.ndarray]:
        """Raw log-odds ``{outcome: (n,)}`` of a float64 model matrix."""
        wanted = self.outcomes if outcomes is None else outcomes
        return {o: np.asarray(self._boosters[o].predict(X, threads=threads),
                              dtype="float64").reshape(-1) for o in wanted}

    def calibrate(self, raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calibrated probabilities ``{outcome: (n,)}`` of raw log-odds, outcome by outcome."""
        return {o: np.asarray(self._calibrators[o].transform(r), dtype="float64").reshape(-1)
                for o, r in raw.items()}

    def probabilities(
        self, X: np.ndarray, outcomes: Sequence[str] | None = None, *, threads: int = 1
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Return (raw, calibrated, final) per outcome of a float64 model matrix.

        The outcomes computed are ``outcomes`` (default all) and every outcome their
        coherence reads; ``final`` is the calibrated probability after
        :func:`~covid_risk.models.apply_coherence`, what ``predict_proba`` returns.
        """
        needed = self.outcomes if outcomes is None else self.closure(outcomes)
        raw = self.raw(X, needed, threads=threads)
        calibrated = self.calibrate(raw)
        return raw, calibrated, apply_coherence(calibrated)

    def contributions(self, X: np.ndarray, outcome: str) -> tuple[np.ndarray, float]:
        """Return (TreeSHAP values ``(n, p)``, base value) of ``outcome`` (one thread)."""
        contrib = np.asarray(self._boosters[outcome].predict(X, contrib=True, threads=1),
                             dtype="float64")
        return contrib[:, :-1], float(contrib[0, -1])

    def baseline(self, outcome: str, base: float) -> float:
        """Return the calibrated probability of a base value (cached per outcome and value)."""
        key = (outcome, base)
        hit = self._baselines.get(key)
        if hit is None:
            cal = self._calibrators[outcome]
            hit = float(np.asarray(cal.transform(np.array([base])), dtype="float64")[0])
            self._baselines[key] = hit
        return hit

    # -- one row --------------------------------------------------------------------
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

    def raw_one(self, row: np.ndarray, outcomes: Sequence[str]) -> list[float]:
        """Raw log-odds of one C-contiguous float64 row, one per outcome (single-row C API)."""
        state = self._state()
        native = _native()
        pointer = row.ctypes.data
        out: list[float] = []
        index = self._index
        for o in outcomes:
            if native.fast_predict(state.raw[index[o]].pointer, pointer, state.out_len_ref,
                                   state.out_pointer) != 0:  # pragma: no cover - LightGBM error
                raise RuntimeError(native.error().decode(errors="replace"))
            out.append(float(state.out[0]))
        return out

    def raw_at(self, k: int, pointer: int) -> float:
        """Raw log-odds of booster ``k`` for the float64 row at ``pointer`` (the C floor)."""
        state = self._state()
        native = _native()
        if native.fast_predict(state.raw[k].pointer, pointer, state.out_len_ref,
                               state.out_pointer) != 0:  # pragma: no cover - LightGBM error
            raise RuntimeError(native.error().decode(errors="replace"))
        return float(state.out[0])

    def contributions_one(self, row: np.ndarray, outcome: str) -> np.ndarray:
        """TreeSHAP values and base value ``(p + 1,)`` of one C-contiguous float64 row."""
        state = self._state()
        native = _native()
        handle = state.contrib_handle(self._index[outcome])
        if native.fast_predict(handle.pointer, row.ctypes.data, state.out_len_ref,
                               state.out_pointer) != 0:  # pragma: no cover - LightGBM error
            raise RuntimeError(native.error().decode(errors="replace"))
        return state.out.copy()

    def calibrate_one(
        self, outcomes: Sequence[str], raws: Sequence[float], *, stacked: bool | None = None
    ) -> dict[str, np.ndarray]:
        """Calibrated probabilities ``{outcome: (1,)}`` of one row's raw scores.

        With ``stacked`` (default: when every calibrator is sigmoid) ``intercept +
        slope * raw`` and the logistic function are applied to all outcomes in one
        array: the same element-wise operations as each calibrator's ``transform``
        of a one-element array.
        """
        outcomes = tuple(outcomes)
        if self.all_sigmoid if stacked is None else stacked:
            params = self._sigmoid_params.get(outcomes)
            if params is None:
                params = self._sigmoid_params[outcomes] = (
                    np.array([self._calibrators[o].intercept for o in outcomes]),
                    np.array([self._calibrators[o].slope for o in outcomes]),
                )
            p = self._logistic.transform(params[0] + params[1] * np.array(raws))
            return {o: p[i:i + 1] for i, o in enumerate(outcomes)}
        return {
            o: np.asarray(self._calibrators[o].transform(np.array([r])), dtype="float64")
            .reshape(-1) for o, r in zip(outcomes, raws, strict=True)
        }

    def probabilities_one(
        self, row: np.ndarray, outcomes: Sequence[str], *, stacked: bool | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Return (calibrated, final) ``{outcome: (1,)}`` of one row.

        The outcomes computed are ``outcomes`` and every outcome their coherence reads.
        """
        needed = self.closure(outcomes)
        calibrated = self.calibrate_one(needed, self.raw_one(row, needed), stacked=stacked)
        return calibrated, apply_coherence(calibrated)

    def __repr__(self) -> str:
        return (f"CompiledModel({self.setting}, {len(self.outcomes)} outcomes, "
                f"{len(self.feature_names)} features, {sum(self.trees.values())} trees)")


# ------------------------------------------------------------------------------ the cache
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def compile_model(model: Any) -> CompiledModel:
    """Return the model's :class:`CompiledModel` (compiled once, cached on the model).

    Refitting the model (new boosters or calibrators) recompiles on the next call.

    Parameters
    ----------
    model : RiskModel
        A fitted model.
    """
    try:
        hit = _CACHE.get(model)
    except TypeError:  # pragma: no cover - unhashable model
        return CompiledModel.from_model(model)
    if hit is not None and hit.is_compiled_from(model):
        return hit
    with _CACHE_LOCK:
        hit = _CACHE.get(model)
        if hit is None or not hit.is_compiled_from(model):
            hit = CompiledModel.from_model(model)
            _CACHE[model] = hit
    return hit
