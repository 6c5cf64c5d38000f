"""Tests for the compiled view of a fitted model (covid_risk.models._compiled).

The compiled view is the one place where probabilities are made; these tests check
it by hand on its pieces and bitwise against LightGBM's own ``Booster.predict``.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from covid_risk.models import (
    CompiledModel,
    IsotonicCalibrator,
    SigmoidCalibrator,
    apply_coherence,
    compile_model,
)
from covid_risk.models._compiled import NativeBooster, lightgbm_library_path


@pytest.fixture(scope="module")
def matrix(fitted, admission_test):
    X = fitted.model_matrix(admission_test.iloc[:300]).to_numpy(dtype="float64")
    return np.ascontiguousarray(X)


def test_compile_is_cached_and_rebuilt_when_a_booster_changes(fitted):
    """RiskModel.compile returns one view per model, and a new one after a booster is replaced."""
    view = fitted.compile()
    assert compile_model(fitted) is view and fitted.compile() is view
    assert view.outcomes == tuple(fitted.outcomes_)
    assert view.feature_names == tuple(fitted.feature_names_)
    assert view.trees == {o: fitted.boosters_[o].num_trees() for o in fitted.outcomes_}
    old = fitted.boosters_["vte"]
    try:
        fitted.boosters_["vte"] = type(old)(model_str=old.model_to_string())
        assert fitted.compile() is not view
    finally:
        fitted.boosters_["vte"] = old
    assert "CompiledModel(admission, 6 outcomes" in repr(fitted.compile())


def test_matrix_probabilities_are_predict_proba(fitted, matrix, admission_test):
    """raw -> calibrators -> apply_coherence, and the final values are predict_proba's bits."""
    view = fitted.compile()
    raw, calibrated, final = view.probabilities(matrix)
    for o in fitted.outcomes_:
        want_raw = fitted.boosters_[o].predict(matrix, raw_score=True, num_threads=1)
        np.testing.assert_array_equal(raw[o], want_raw)
        np.testing.assert_array_equal(calibrated[o], fitted.calibrators_[o].transform(want_raw))
    expected = apply_coherence(calibrated)
    proba = fitted.predict_proba(admission_test.iloc[:300])
    for o in fitted.outcomes_:
        np.testing.assert_array_equal(final[o], expected[o])
        np.testing.assert_array_equal(final[o], proba[o].to_numpy())
    # deterioration is never below death, ICU or ventilation
    for part in ("death", "icu", "imv"):
        assert (final["deterioration"] >= final[part]).all()


def test_one_outcome_computes_only_its_coherence_closure(fitted, matrix):
    """Asking for ICU computes ICU and ventilation only; deterioration needs its three parts."""
    view = fitted.compile()
    raw, calibrated, final = view.probabilities(matrix, ("icu",))
    assert list(raw) == ["icu", "imv"]
    np.testing.assert_array_equal(final["icu"], np.maximum(calibrated["icu"], calibrated["imv"]))
    assert view.closure(("deterioration",)) == ("deterioration", "death", "icu", "imv")


def test_one_row_equals_the_matrix_path(fitted, matrix):
    """Single-row raw scores, probabilities and TreeSHAP rows equal the matrix path bitwise."""
    view = fitted.compile()
    raw, _calibrated, final = view.probabilities(matrix)
    outcomes = view.outcomes
    for i in range(0, 300, 7):
        row = np.ascontiguousarray(matrix[i])
        assert view.raw_one(row, outcomes) == [raw[o][i] for o in outcomes]
        assert [view.raw_at(k, row.ctypes.data) for k in range(len(outcomes))] == [
            raw[o][i] for o in outcomes]
        _cal, one = view.probabilities_one(row, outcomes)
        assert [one[o][0] for o in outcomes] == [final[o][i] for o in outcomes]
    phi, base = view.contributions(matrix[:20], "death")
    for i in range(20):
        got = view.contributions_one(np.ascontiguousarray(matrix[i]), "death")
        np.testing.assert_array_equal(got[:-1], phi[i])
        assert got[-1] == base


def test_stacked_sigmoid_is_each_calibrator(fitted, matrix):
    """Calibrating outcomes together in one array gives each calibrator's own transform."""
    view = fitted.compile()
    raws = [-3.0, -0.5, 0.0, 1.25, 4.0, 0.3]
    calibrators = {o: SigmoidCalibrator(intercept=0.1 * k, slope=1.0 + 0.05 * k)
                   for k, o in enumerate(view.outcomes)}
    sig = CompiledModel(setting="admission", feature_names=view.feature_names,
                        boosters={o: NativeBooster.from_lightgbm(fitted.boosters_[o])
                                  for o in view.outcomes},
                        calibrators=calibrators)
    assert sig.all_sigmoid and not CompiledModel(
        setting="admission", feature_names=view.feature_names,
        boosters={o: NativeBooster.from_lightgbm(fitted.boosters_[o]) for o in view.outcomes},
        calibrators={**calibrators, "vte": IsotonicCalibrator(x=(0.0, 1.0), logit_p=(-2.0, 2.0))},
    ).all_sigmoid
    stacked = sig.calibrate_one(view.outcomes, raws)
    alone = sig.calibrate_one(view.outcomes, raws, stacked=False)
    for k, o in enumerate(view.outcomes):
        assert stacked[o][0] == alone[o][0]
        by_hand = 1.0 / (1.0 + np.exp(-(0.1 * k + (1.0 + 0.05 * k) * raws[k])))
        assert stacked[o][0] == pytest.approx(by_hand, rel=1e-15)
    assert sig.baseline("death", 0.0) == pytest.approx(1 / (1 + np.exp(-0.0)))


def test_view_from_booster_texts_needs_no_lightgbm_objects(fitted, matrix):
    """Boosters loaded from their texts through the C API predict LightGBM's bits."""
    texts = {o: fitted.boosters_[o].model_to_string() for o in fitted.outcomes_}
    view = CompiledModel.from_texts(setting="admission", feature_names=fitted.feature_names_,
                                    booster_texts=texts, calibrators=fitted.calibrators_)
    borrowed = fitted.compile()
    assert view.trees == borrowed.trees and view.outcomes == borrowed.outcomes
    raw, _c, final = view.probabilities(matrix)
    want_raw, _wc, want_final = borrowed.probabilities(matrix)
    for o in fitted.outcomes_:
        np.testing.assert_array_equal(raw[o], want_raw[o])
        np.testing.assert_array_equal(final[o], want_final[o])
    phi, base = view.contributions(matrix[:30], "icu")
    want_phi, want_base = borrowed.contributions(matrix[:30], "icu")
    np.testing.assert_array_equal(phi, want_phi)
    assert base == want_base
    row = np.ascontiguousarray(matrix[3])
    assert view.raw_one(row, view.outcomes) == borrowed.raw_one(row, view.outcomes)


def test_a_booster_reading_other_features_is_refused(fitted):
    """The feature count of every booster must match the matrix."""
    with pytest.raises(ValueError, match="features, the matrix"):
        CompiledModel(setting="admission", feature_names=fitted.feature_names_[:-1],
                      boosters={"death": NativeBooster.from_lightgbm(fitted.boosters_["death"])},
                      calibrators=fitted.calibrators_)


def test_compiled_view_imports_neither_lightgbm_nor_sklearn():
    """The compiled view (and the coherence rules) load LightGBM's library, not its package."""
    code = (
        "import sys, covid_risk.models._compiled as c\n"
        "c._native()\n"
        "print(c.lightgbm_library_path().endswith(('.so', '.dylib', '.dll')))\n"
        "print(sorted(m for m in ('lightgbm', 'sklearn', 'scipy', 'covid_risk.models._baselines')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "True"
    assert out[1] == "[]"
    assert lightgbm_library_path() == lightgbm_library_path()
