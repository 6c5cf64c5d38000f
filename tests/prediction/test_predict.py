"""Tests for predict_risk: one patient in, calibrated risks, bands, factors and warnings out.

Small models are trained once per module; the bundled default model is replaced by
the small admission model where ``model=None`` is tested.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest

import covid_risk.models
from covid_risk.exceptions import DataQualityWarning, ValidationError
from covid_risk.explanation import explain
from covid_risk.labels import risk_bands
from covid_risk.models import RiskModel, train
from covid_risk.prediction._predict import (
    IMPORTANT_FIELDS,
    RISK_BANDS,
    Factor,
    OutcomeRisk,
    RiskPrediction,
    predict_risk,
    resolve_model,
    risk_band,
)
from covid_risk.schema import FIELDS, SETTING_OUTCOMES
from covid_risk.synthetic import make_cohort
from covid_risk.validation import validate

FAST = {"learning_rate": 0.1, "n_estimators": 300, "early_stopping_rounds": 20}

PATIENT = {
    "age": 78, "sex": "male", "respiratory_rate": 28, "spo2": 90, "on_oxygen": True,
    "gcs": 15, "urea": 11.2, "crp": 140, "lymphocytes": 0.7, "chest_infiltrates": True,
    "chronic_cardiac": True, "diabetes": True,
}
"""A complete admission record: every important field is recorded."""


@pytest.fixture(scope="module")
def model() -> RiskModel:
    """A small admission model (sigmoid calibrators)."""
    return train(make_cohort(3000, random_state=31), random_state=0, **FAST)


@pytest.fixture(scope="module")
def community() -> RiskModel:
    """A small community model."""
    return train(make_cohort(6000, setting="community", random_state=32), setting="community",
                 random_state=0, **FAST)


# --------------------------------------------------------------------------- one patient
def test_one_dict_gives_a_full_prediction(model):
    """Every field of the result is filled and agrees with the model's own predict_proba."""
    pred = predict_risk(PATIENT, model=model)
    assert isinstance(pred, RiskPrediction)
    assert pred.setting == "admission"
    assert pred.outcomes == SETTING_OUTCOMES["admission"]
    assert pred.model_version.startswith("covid_risk ")
    assert pred.warnings == ()
    proba = model.predict_proba(validate(PATIENT).data)
    for r in pred.risks:
        assert isinstance(r, OutcomeRisk)
        assert r.label == FIELDS[r.outcome].label
        assert r.probability == proba[r.outcome].iloc[0]
        assert r.band == risk_band(r.probability)
        assert 0.0 < r.baseline_probability < 1.0
        assert 1 <= len(r.raising) <= 5 and len(r.lowering) <= 5
        assert all(isinstance(f, Factor) and f.text and f.value for f in r.raising + r.lowering)
    assert pred["death"] is pred.risks[0]
    assert pred.probabilities == {r.outcome: r.probability for r in pred.risks}
    assert repr(pred).startswith("RiskPrediction(admission: death ")
    table = pred.summary
    assert list(table.index) == list(pred.outcomes)
    assert list(table.columns) == ["probability", "band", "top_raising", "top_lowering"]
    assert table.loc["death", "top_raising"] == pred["death"].raising[0].text


def test_factor_signs_order_and_additivity(model):
    """Raising factors are positive and largest first, lowering negative; all of them add up."""
    pred = predict_risk(PATIENT, model=model, top=100)
    ex = explain(validate(PATIENT).data, model=model)
    for r in pred.risks:
        up = [f.percentage_points for f in r.raising]
        down = [f.percentage_points for f in r.lowering]
        assert all(v > 0 for v in up) and up == sorted(up, reverse=True)
        assert all(v < 0 for v in down) and down == sorted(down)
        # with every factor shown, they add up to probability - baseline (percentage points)
        total = sum(up) + sum(down)
        assert total == pytest.approx(100 * (r.probability - r.baseline_probability), abs=1e-9)
        assert r.baseline_probability == ex[r.outcome].baseline_probability
        table = ex[r.outcome].factors(0, top=5)
        five = predict_risk(PATIENT, model=model, outcomes=r.outcome)[r.outcome]
        assert [f.feature for f in five.raising] == list(
            table.loc[table.direction == "raises", "feature"])
        assert [f.text for f in five.lowering] == list(
            table.loc[table.direction == "lowers", "factor"])
    resp = next(f for f in pred["death"].raising + pred["death"].lowering
                if f.feature == "respiratory_rate")
    assert resp.text == "Respiratory rate 28 /min" and resp.value == "28 /min"
    assert resp.unit == "/min"


def test_explain_false_and_top(model):
    """explain=False gives probabilities only; top limits the factors; bad top is refused."""
    plain = predict_risk(PATIENT, model=model, explain=False)
    full = predict_risk(PATIENT, model=model)
    assert plain.probabilities == full.probabilities
    assert all(r.raising == () and r.baseline_probability is None for r in plain.risks)
    two = predict_risk(PATIENT, model=model, top=2)
    assert all(len(r.raising) <= 2 and len(r.lowering) <= 2 for r in two.risks)
    assert two["death"].raising == full["death"].raising[:2]
    none = predict_risk(PATIENT, model=model, top=0)
    assert all(r.raising == () and r.lowering == () for r in none.risks)
    for bad in (-1, True, 1.5, "3"):
        with pytest.raises(ValueError, match="top must be a whole number"):
            predict_risk(PATIENT, model=model, top=bad)


def test_to_dict_round_trips_through_json(model):
    """to_dict is plain JSON: dumping and loading gives the same dict, with rounded percents."""
    pred = predict_risk({**PATIENT, "crp": None}, model=model)
    d = pred.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert list(d) == ["setting", "model_version", "risks", "warnings"]
    death = d["risks"]["death"]
    assert death["probability"] == pred["death"].probability
    assert death["percent"] == round(100 * pred["death"].probability, 1)
    assert death["band"] == pred["death"].band
    first = death["raising"][0]
    assert set(first) == {"feature", "text", "value", "unit", "percentage_points"}
    assert first["percentage_points"] == round(pred["death"].raising[0].percentage_points, 4)
    assert d["warnings"] == list(pred.warnings) and len(d["warnings"]) == 1
    f = Factor("urea", "Urea 11.2 mmol/L", "11.2 mmol/L", "mmol/L", 1.234567891)
    assert f.to_dict()["percentage_points"] == 1.2346
    plain = predict_risk(PATIENT, model=model, explain=False).to_dict()
    assert plain["risks"]["vte"]["baseline_probability"] is None
    assert plain["risks"]["vte"]["raising"] == []


# ------------------------------------------------------------------------------- bands
@pytest.mark.parametrize(
    ("p", "band"),
    [(0.0, "low"), (0.0299, "low"), (0.03, "intermediate"), (0.1499, "intermediate"),
     (0.15, "high"), (0.4999, "high"), (0.5, "very high"), (1.0, "very high")],
)
def test_risk_band_edges(p, band):
    """Band cut-offs at 3 %, 15 % and 50 %: the lower edge belongs to the higher band."""
    assert risk_band(p) == band


def test_vectorised_bands_match_risk_band():
    """The DataFrame path's vectorised bands equal risk_band on a fine grid (NaN included)."""
    grid = np.r_[np.linspace(0, 1, 2001), [0.03, 0.15, 0.5, np.nextafter(0.03, 0), np.nan]]
    assert list(risk_bands(grid)) == [risk_band(p) for p in grid]
    assert [name for name, _ in RISK_BANDS] == ["low", "intermediate", "high", "very high"]


# ----------------------------------------------------------------------------- warnings
def test_missing_important_fields_are_listed(model):
    """A record without the important fields says which ones, in the documented order."""
    pred = predict_risk({"age": 70, "sex": "female", "spo2": 95, "crp": None}, model=model)
    missing = [f for f in IMPORTANT_FIELDS["admission"] if f != "spo2"]
    labels = ", ".join(f"{FIELDS[f].label} ({f})" for f in missing)
    assert pred.warnings == (
        f"Not recorded: {labels}. The model used the path it learned for missing values; "
        "measuring them would sharpen the estimate.",
    )


def test_implausible_values_are_kept_and_warned(model):
    """An implausible value is used, announced as a DataQualityWarning and listed first."""
    with pytest.warns(DataQualityWarning, match="respiratory_rate"):
        pred = predict_risk({**PATIENT, "respiratory_rate": 60}, model=model)
    assert len(pred.warnings) == 1
    assert "'respiratory_rate'" in pred.warnings[0]
    assert "plausible range 8 to 50" in pred.warnings[0]
    with pytest.warns(DataQualityWarning):
        pred = predict_risk({**PATIENT, "heart_rte": 80}, model=model)
    assert pred.warnings == (
        "Field 'heart_rte' is not part of the patient record and was ignored.",)


@pytest.mark.parametrize(
    ("extra", "field", "value"),
    [({"age": 150}, "age", "150"), ({"spo2": 120}, "spo2", "120"),
     ({"sex": "unknown"}, "sex", "'unknown'"), ({"gcs": 2}, "gcs", "2")],
)
def test_impossible_values_raise_naming_the_field(model, extra, field, value):
    """Impossible values raise a ValidationError naming the field and the value."""
    with pytest.raises(ValidationError) as info:
        predict_risk({**PATIENT, **extra}, model=model)
    assert f"'{field}'" in str(info.value) and value in str(info.value)
    assert any(p.field == field for p in info.value.problems)


def test_missing_required_field_and_wrong_input_type(model):
    """No sex, or a list instead of a dict, are refused with a clear error."""
    with pytest.raises(ValidationError, match="'sex'"):
        predict_risk({"age": 70}, model=model)
    with pytest.raises(ValidationError, match="must be a dict"):
        predict_risk([PATIENT], model=model)


# ---------------------------------------------------------------------------- outcomes
def test_outcomes_filter(model):
    """One outcome by name, several in the caller's order, unknown ones refused."""
    one = predict_risk(PATIENT, model=model, outcomes="vte")
    assert one.outcomes == ("vte",)
    two = predict_risk(PATIENT, model=model, outcomes=["imv", "death"])
    full = predict_risk(PATIENT, model=model)
    assert two.outcomes == ("imv", "death")
    assert two["imv"] == full["imv"] and two["death"] == full["death"]
    with pytest.raises(ValueError, match="hospitalisation"):
        predict_risk(PATIENT, model=model, outcomes=["hospitalisation"])
    with pytest.raises(ValueError, match="not predicted"):
        predict_risk(PATIENT, model=model, outcomes=[])
    with pytest.raises(KeyError, match="this prediction has vte"):
        one["death"]


# ----------------------------------------------------------------------------- DataFrames
def test_dataframe_in_dataframe_out(model):
    """A DataFrame gives one row per patient with probabilities and bands, as predict_proba."""
    cohort = make_cohort(25, random_state=33)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        out = predict_risk(cohort, model=model)
        data = validate(cohort).data
    outcomes = SETTING_OUTCOMES["admission"]
    assert list(out.columns) == [c for o in outcomes for c in (o, f"{o}_band")]
    assert out.index.equals(data.index)
    proba = model.predict_proba(data)
    for o in outcomes:
        np.testing.assert_array_equal(out[o].to_numpy(), proba[o].to_numpy())
        assert list(out[f"{o}_band"]) == [risk_band(p) for p in proba[o]]


def test_dataframe_factors_match_the_one_patient_factors(model):
    """explain=True on a DataFrame writes each row's factors as predict_risk ranks them."""
    frame = pd.DataFrame([PATIENT, {"age": 55, "sex": "female", "spo2": 97}])
    out = predict_risk(frame, model=model, explain=True, outcomes=["death", "aki"], top=3)
    assert list(out.columns) == ["death", "death_band", "aki", "aki_band", "death_factors",
                                 "aki_factors"]
    for i, patient in enumerate([PATIENT, {"age": 55, "sex": "female", "spo2": 97}]):
        pred = predict_risk(patient, model=model, top=3)
        for o in ("death", "aki"):
            r = pred[o]
            text = "; ".join(f"{f.text} ({f.percentage_points:+.1f} pp)"
                             for f in r.raising + r.lowering)
            assert out.loc[i, f"{o}_factors"] == text
            assert out.loc[i, o] == r.probability


# ------------------------------------------------------------------------------- models
def test_model_none_uses_the_bundled_default(model, monkeypatch):
    """model=None: a dict asks covid_risk.models.default_view, a DataFrame default_model."""
    asked = []
    monkeypatch.setattr(covid_risk.models, "default_view",
                        lambda setting: asked.append(("view", setting)) or model)
    monkeypatch.setattr(covid_risk.models, "default_model",
                        lambda setting: asked.append(("model", setting)) or model)
    assert predict_risk(PATIENT) == predict_risk(PATIENT, model=model)
    assert asked == [("view", "admission")]
    frame = pd.DataFrame([PATIENT])
    pd.testing.assert_frame_equal(predict_risk(frame), predict_risk(frame, model=model))
    assert asked[1:] == [("model", "admission")]


def test_an_unusual_record_falls_back_to_the_bundled_model(model, monkeypatch):
    """A record the fast path leaves to validate (implausible value) loads the full model."""
    asked = []
    monkeypatch.setattr(covid_risk.models, "default_view",
                        lambda setting: asked.append("view") or model)
    monkeypatch.setattr(covid_risk.models, "default_model",
                        lambda setting: asked.append("model") or model)
    unusual = {**PATIENT, "respiratory_rate": 75}  # plausible range ends below: flagged
    with pytest.warns(DataQualityWarning):
        got = predict_risk(unusual)
    assert asked == ["view", "model"]
    with pytest.warns(DataQualityWarning):
        assert got == predict_risk(unusual, model=model)


def test_model_from_a_file_is_loaded_once(model, tmp_path):
    """A path loads the model file (cached by path, size and time); bad paths and types raise."""
    path = tmp_path / "small.crmodel"
    model.save(path, hmac_key=b"")
    pred = predict_risk(PATIENT, model=str(path))
    assert pred.probabilities == predict_risk(PATIENT, model=model).probabilities
    assert resolve_model(path, "admission") is resolve_model(str(path), "admission")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        predict_risk(PATIENT, model=tmp_path / "nothing.crmodel")
    with pytest.raises(TypeError, match="model must be None"):
        predict_risk(PATIENT, model=42)
    with pytest.raises(ValueError, match="setting must be one of"):
        predict_risk(PATIENT, model=model, setting="icu")


def test_community_setting(community, model):
    """The community setting predicts hospitalisation and death and warns about its own fields."""
    person = {"age": 67, "sex": "female", "bmi": 33.0, "diabetes": True, "vaccine_doses": 2}
    pred = predict_risk(person, model=community, setting="community")
    assert pred.setting == "community"
    assert pred.outcomes == ("hospitalisation", "death")
    proba = community.predict_proba(validate(person).data)
    assert pred["death"].probability == proba["death"].iloc[0]
    assert pred.warnings == (
        "Not recorded: Ethnicity (ethnicity), Deprivation quintile (deprivation_quintile), "
        "Variant period (variant_period). The model used the path it learned for missing "
        "values; measuring them would sharpen the estimate.",
    )
    with pytest.raises(ValueError, match="trained for the 'admission' setting"):
        predict_risk(person, model=model, setting="community")


def test_bundled_default_model_when_present():
    """The bundled admission model predicts without a model argument (when it is installed)."""
    try:
        covid_risk.models.default_model("admission")
    except FileNotFoundError:
        pytest.skip("the bundled default model is not built yet")
    pred = predict_risk(PATIENT)
    assert pred.outcomes == SETTING_OUTCOMES["admission"]
    assert all(0 < r.probability < 1 and not math.isnan(r.probability) for r in pred.risks)
