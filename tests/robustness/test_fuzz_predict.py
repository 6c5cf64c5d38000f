"""Property tests of predict_risk: a valid, coherent prediction or a clear ValidationError."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from covid_risk.exceptions import DataQualityWarning
from covid_risk.prediction._predict import RiskPrediction, predict_risk, risk_band

from .strategies import (
    check_probabilities,
    check_validation_error,
    checked_call,
    frames,
    fuzz_settings,
    good_patients,
    key_text,
    patients,
    values,
)

SETTINGS = st.sampled_from(["admission", "community"])


def _predict(patient, **kwargs):
    """predict_risk under the hang bound; (result or None, ValidationError or None)."""
    return checked_call(predict_risk, patient, **kwargs)[:2]


def _check_prediction(result: RiskPrediction, model, setting: str) -> None:
    """Every outcome of the model, probabilities valid and coherent, bands right, JSON-able."""
    assert isinstance(result, RiskPrediction)
    assert result.setting == setting
    assert result.outcomes == tuple(model.outcomes_)
    check_probabilities(result.probabilities)
    for risk in result.risks:
        assert risk.band == risk_band(risk.probability)
        for factor in (*risk.raising, *risk.lowering):
            assert math.isfinite(factor.percentage_points)
        if risk.baseline_probability is not None:
            assert 0.0 <= risk.baseline_probability <= 1.0
    text = json.dumps(result.to_dict(), allow_nan=False)  # strict JSON: no NaN or inf
    assert json.loads(text)["setting"] == setting
    assert repr(result).startswith("RiskPrediction(")


@fuzz_settings(100)
@given(patients(), SETTINGS, st.sampled_from([False, False, True]))
def test_any_patient_dict_gives_a_valid_prediction_or_a_clear_error(models, patient, setting,
                                                                    explain):
    """Wild dicts in either setting: coherent probabilities in [0, 1] or a ValidationError."""
    model = models[setting]
    result, error = _predict(patient, setting=setting, model=model, explain=explain)
    event("refused" if error is not None else "predicted")
    if error is not None:
        check_validation_error(error, {key_text(k) for k in patient})
    else:
        _check_prediction(result, model, setting)


@fuzz_settings(60)
@given(st.data(), SETTINGS)
def test_any_valid_patient_is_predicted_the_same_as_a_one_row_frame(models, data, setting):
    """Values inside the hard limits always predict, and the dict and frame paths agree exactly."""
    model = models[setting]
    patient = data.draw(good_patients(setting))
    result, error = _predict(patient, setting=setting, model=model, explain=False)
    assert error is None, str(error)
    _check_prediction(result, model, setting)
    frame, error = _predict(pd.DataFrame([patient]), setting=setting, model=model)
    assert error is None, str(error)
    for outcome, p in result.probabilities.items():
        assert frame[outcome].iloc[0] == p, outcome
        assert frame[f"{outcome}_band"].iloc[0] == risk_band(p)


@fuzz_settings(80)
@given(frames())
def test_any_frame_gives_valid_rows_or_a_clear_error(admission_model, frame):
    """Empty, duplicated-column and junk frames: one valid row per patient or a ValidationError."""
    out, error = _predict(frame, model=admission_model)
    event("refused" if error is not None else "predicted")
    if error is not None:
        check_validation_error(error, {key_text(c) for c in frame.columns})
        return
    assert len(out) == len(frame) and len(frame) > 0
    assert list(out.index) == list(frame.index)
    outcomes = list(admission_model.outcomes_)
    for row in range(len(out)):
        check_probabilities({o: float(out[o].iloc[row]) for o in outcomes})
    for o in outcomes:
        bands = [risk_band(p) for p in out[o]]
        assert out[f"{o}_band"].tolist() == bands


@fuzz_settings(60)
@given(st.one_of(values.filter(lambda v: not isinstance(v, dict)),
                 st.lists(patients(), min_size=1, max_size=2)))
def test_anything_but_a_dict_or_frame_is_refused_clearly(admission_model, patient):
    """Lists, strings, numbers, None: a ValidationError saying a patient must be a dict."""
    result, error = _predict(patient, model=admission_model)
    assert result is None
    assert "must be a dict" in str(error)


@fuzz_settings(25)
@given(good_patients("admission"))
def test_default_model_predicts_any_valid_admission(patient):
    """With no model argument the bundled default model gives a valid, coherent prediction."""
    from covid_risk.models import default_model

    result, error = _predict(patient)
    assert error is None, str(error)
    _check_prediction(result, default_model("admission"), "admission")


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"setting": "hospital"}, ValueError, "setting must be one of"),
        ({"outcomes": ["death", "ards"]}, ValueError, "not predicted by this model"),
        ({"outcomes": []}, ValueError, "not predicted by this model"),
        ({"top": -1}, ValueError, "top must be a whole number"),
        ({"top": 2.5}, ValueError, "top must be a whole number"),
        ({"model": "no/such/file.crmodel"}, FileNotFoundError, "does not exist"),
        ({"model": 42}, TypeError, "model must be None"),
    ],
)
def test_bad_arguments_are_named(admission_model, kwargs, exc, words):
    """Arguments other than the patient are checked too, with an error naming them."""
    kwargs = {"model": admission_model, **kwargs}
    with pytest.raises(exc, match=words):
        predict_risk({"age": 70, "sex": "male"}, **kwargs)


def test_extreme_but_possible_values_stay_finite(admission_model):
    """Every field at its hard minimum, then at its hard maximum, predicts finite probabilities."""
    from covid_risk.schema import FIELDS, PREDICTORS

    for end in (0, 1):
        patient = {"age": FIELDS["age"].hard[end], "sex": "male"}
        for name in PREDICTORS:
            f = FIELDS[name]
            if f.kind in ("float", "int") and name != "age":
                patient[name] = f.hard[end]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            result = predict_risk(patient, model=admission_model)
        check_probabilities(result.probabilities)
        assert np.isfinite(list(result.probabilities.values())).all()
