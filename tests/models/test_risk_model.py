from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from covid_risk.exceptions import NotFittedError, ValidationError
from covid_risk.features.matrix import feature_names
from covid_risk.models import RiskModel, apply_coherence, train
from covid_risk.schema import SETTING_OUTCOMES, schema_hash


def test_estimator_contract(fitted):
    """Keyword-only settings stored as given, clone works, fit returns self, `_` attributes."""
    params = inspect.signature(RiskModel).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    model = RiskModel(setting="admission", num_leaves=5, random_state=3)
    assert model.get_params()["num_leaves"] == 5
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params()
    assert not hasattr(twin, "boosters_")
    for name in ("outcomes_", "boosters_", "calibrators_", "feature_names_", "metadata_",
                 "version_", "held_out_"):
        assert hasattr(fitted, name)
    assert fitted.name == "lightgbm"
    assert fitted.outcomes_ == SETTING_OUTCOMES["admission"]
    assert fitted.feature_names_ == feature_names("admission")


def test_fit_returns_self(admission_cohort, fast):
    """`fit` returns the estimator itself."""
    model = RiskModel(outcomes=["death"], random_state=0, **fast)
    assert model.fit(admission_cohort) is model
    assert model.outcomes_ == ("death",)


def test_unfitted_model_says_what_to_do(admission_test):
    """Predicting before fitting raises NotFittedError naming the remedy."""
    with pytest.raises(NotFittedError, match="not fitted yet"):
        RiskModel().predict_proba(admission_test)


def test_predict_proba_shapes_and_index(fitted, admission_test):
    """A DataFrame per outcome with the input's index, or a named Series for one outcome."""
    df = admission_test.head(50).copy()
    df.index = pd.RangeIndex(1000, 1050)
    p = fitted.predict_proba(df)
    assert list(p.columns) == list(fitted.outcomes_)
    assert p.index.equals(df.index)
    assert p.dtypes.eq("float64").all()
    assert ((p > 0) & (p < 1)).all().all()
    s = fitted.predict_proba(df, outcome="icu")
    assert isinstance(s, pd.Series) and s.name == "icu"
    np.testing.assert_allclose(s.to_numpy(), p["icu"].to_numpy())
    with pytest.raises(ValueError, match="does not predict 'hospitalisation'"):
        fitted.predict_proba(df, outcome="hospitalisation")


def test_predict_raw_is_the_booster_log_odds(fitted, admission_test):
    """predict_raw returns the booster's raw score of the model matrix."""
    X = fitted.model_matrix(admission_test)
    assert list(X.columns) == list(fitted.feature_names_)
    raw = fitted.predict_raw(admission_test, "death")
    expected = fitted.boosters_["death"].predict(X.to_numpy(), raw_score=True)
    np.testing.assert_allclose(raw, expected)
    p = fitted.calibrators_["death"].transform(raw)
    np.testing.assert_allclose(fitted.predict_proba(admission_test, "death").to_numpy(), p)


def test_coherence_on_random_patients(fitted, admission_test):
    """Deterioration is never below death, ICU or IMV, and ICU never below IMV."""
    rng = np.random.default_rng(5)
    df = admission_test.sample(500, random_state=1).reset_index(drop=True)
    for col in ("age", "urea", "crp", "respiratory_rate", "spo2"):
        df[col] = df[col] * rng.uniform(0.7, 1.3, len(df))
    df["spo2"] = df["spo2"].clip(upper=100)
    p = fitted.predict_proba(df)
    for part in ("death", "icu", "imv"):
        assert (p["deterioration"] >= p[part]).all()
    assert (p["icu"] >= p["imv"]).all()
    # the single-outcome path applies the same rule
    np.testing.assert_array_equal(
        fitted.predict_proba(df, outcome="deterioration").to_numpy(), p["deterioration"]
    )


def test_apply_coherence_by_hand():
    """max rules on a hand example: icu raised to imv, deterioration to the largest part."""
    out = apply_coherence(
        {"death": np.array([0.5, 0.1]), "icu": np.array([0.2, 0.1]),
         "imv": np.array([0.3, 0.05]), "deterioration": np.array([0.4, 0.6])}
    )
    np.testing.assert_array_equal(out["icu"], [0.3, 0.1])
    np.testing.assert_array_equal(out["deterioration"], [0.5, 0.6])
    np.testing.assert_array_equal(out["death"], [0.5, 0.1])


def test_coherence_has_one_home():
    """The rules, the max step and the closure live in models._coherence; others re-export."""
    import covid_risk.models as models
    from covid_risk.models import _coherence, _risk_model

    assert models.COHERENCE_RULES is _coherence.COHERENCE_RULES
    assert models.apply_coherence is _coherence.apply_coherence is _risk_model.apply_coherence
    close = _coherence.coherence_closure
    everything = ("death", "icu", "imv", "deterioration", "aki", "vte")
    assert close(["deterioration"], everything) == ["deterioration", "death", "icu", "imv"]
    assert close(["icu"], everything) == ["icu", "imv"]
    assert close(["vte", "icu"], everything) == ["vte", "icu", "imv"]
    assert close(["deterioration"], ("deterioration", "imv")) == ["deterioration", "imv"]
    assert close(["death"], everything) == ["death"]


@pytest.mark.parametrize(
    ("column", "direction"),
    [("age", 1), ("urea", 1), ("respiratory_rate", 1), ("crp", 1), ("spo2", -1)],
)
def test_monotone_constraints_hold(fitted, admission_test, column, direction):
    """Raising age/urea/RR/CRP never lowers death risk; raising SpO2 never raises it.

    Checked on the calibrated death probability and on the deterioration booster's
    log-odds, for 100 random patients over a grid of 25 values.
    """
    patients = admission_test.sample(100, random_state=2).reset_index(drop=True)
    lo, hi = {"age": (20, 100), "urea": (1, 40), "respiratory_rate": (10, 45),
              "crp": (1, 400), "spo2": (75, 100)}[column]
    death, deterioration = [], []
    for value in np.linspace(lo, hi, 25):
        df = patients.copy()
        df[column] = float(value)
        death.append(fitted.predict_proba(df, outcome="death").to_numpy())
        deterioration.append(fitted.predict_raw(df, "deterioration"))
    for curves in (death, deterioration):
        steps = np.diff(np.column_stack(curves), axis=1) * direction
        assert steps.min() >= -1e-12
    steps = np.diff(np.column_stack(death), axis=1) * direction
    assert steps.sum(axis=1).mean() > 0  # and the feature does matter


def test_icu_is_not_forced_to_rise_with_age():
    """Ceiling of care: age is unconstrained for ICU and IMV but constrained for death."""
    from covid_risk.features.matrix import monotone_constraints

    names = feature_names("admission")
    age = names.index("age")
    assert monotone_constraints("admission", "death")[age] == 1
    assert monotone_constraints("admission", "icu")[age] == 0
    assert monotone_constraints("admission", "imv")[age] == 0
    assert set(monotone_constraints("admission", "death", enabled=False)) == {0}


def test_monotone_switch_off(admission_cohort, fast):
    """monotone=False trains boosters without constraints."""
    model = train(admission_cohort, outcomes=["death"], monotone=False, random_state=0, **fast)
    text = model.boosters_["death"].model_to_string()
    assert "[monotone_constraints: ]" in text
    assert model.metadata_["monotone"] == {}


def test_metadata(fitted, admission_cohort):
    """Metadata records versions, schema hash, cohort, splits, calibration and metrics."""
    import lightgbm

    import covid_risk

    meta = fitted.metadata_
    assert meta["library_version"] == covid_risk.__version__
    assert meta["lightgbm_version"] == lightgbm.__version__
    assert meta["schema_hash"] == schema_hash()
    assert sum(meta["splits"].values()) == len(admission_cohort)
    assert meta["splits"] == {"boosting": 2600, "early_stopping": 400, "calibration": 1000}
    assert meta["training_cohort"]["n_rows"] == 4000
    assert meta["training_cohort"]["seed"] == admission_cohort.attrs["seed"]
    assert len(meta["training_cohort"]["data_hash"]) == 64
    assert meta["random_state"] == 0
    assert meta["created"] is None
    for outcome in fitted.outcomes_:
        assert meta["calibration"][outcome]["method"] in ("sigmoid", "isotonic")
        assert meta["metrics"][outcome]["n"] == 1000  # the calibration split
        assert meta["n_trees"][outcome] >= meta["best_iteration"][outcome]  # refit on 75 %
    for outcome in ("death", "icu", "deterioration"):  # VTE is barely learnable at n=4000
        assert 0.7 < meta["metrics"][outcome]["auroc"] <= 1
    assert list(fitted.held_out_.index) == list(fitted.outcomes_)


def test_created_can_be_stamped(admission_cohort, fast):
    """created='now' records a UTC ISO time; an explicit string is kept as given."""
    model = train(admission_cohort, outcomes=["death"], random_state=0, created="now", **fast)
    assert model.metadata_["created"].endswith("+00:00")
    model = train(admission_cohort, outcomes=["death"], random_state=0,
                  created="2026-01-02T03:04:05+00:00", **fast)
    assert model.metadata_["created"] == "2026-01-02T03:04:05+00:00"


def test_true_risk_columns_are_never_features(admission_cohort, fast):
    """Scrambling the true-risk columns changes nothing in the trained model's bytes."""
    scrambled = admission_cohort.copy()
    rng = np.random.default_rng(0)
    for col in [c for c in scrambled.columns if c.startswith("true_risk_")]:
        scrambled[col] = rng.permutation(scrambled[col].to_numpy())
    a = train(admission_cohort, outcomes=["death"], random_state=0, **fast)
    b = train(scrambled, outcomes=["death"], random_state=0, **fast)
    assert a.to_bytes(hmac_key=b"") == b.to_bytes(hmac_key=b"")
    assert not any(n.startswith("true_risk") for n in a.feature_names_)


def test_one_patient_as_a_dict_is_validated(fitted):
    """A plain dict goes through validate: units converted, impossible values refused."""
    patient = {"age": 81, "sex": "male", "respiratory_rate": 28, "spo2": 89, "urea": 15.0,
               "crp": 140, "gcs": 14, "chronic_kidney": True}
    p = fitted.predict_proba(patient)
    assert p.shape == (1, 6)
    bun = dict(patient, urea=15.0 / (10 / 28.014))  # the same urea given as BUN mg/dL
    df = pd.DataFrame([bun])
    from covid_risk.validation import validate

    converted = validate(df, units={"urea": "mg/dL BUN"}).data
    np.testing.assert_allclose(fitted.predict_proba(converted).to_numpy(), p.to_numpy())
    with pytest.raises(ValidationError, match="age"):
        fitted.predict_proba(dict(patient, age=130))


def test_missing_outcome_column_is_a_clear_error(admission_cohort, fast):
    """Training on a cohort without an outcome column names the column."""
    with pytest.raises(ValueError, match="no column 'vte'"):
        train(admission_cohort.drop(columns=["vte"]), random_state=0, **fast)


def test_bad_settings_are_refused(admission_cohort):
    """Unknown options, outcomes, settings, calibration methods and splits are refused."""
    with pytest.raises(TypeError, match="unknown option"):
        train(admission_cohort, leaves=3)
    with pytest.raises(ValueError, match="not outcomes of the 'admission' setting"):
        train(admission_cohort, outcomes=["hospitalisation"])
    with pytest.raises(ValueError, match="setting must be one of"):
        train(admission_cohort, setting="icu")
    with pytest.raises(ValueError, match="calibration must be one of"):
        train(admission_cohort, calibration="platt")
    with pytest.raises(ValueError, match="split must be"):
        train(admission_cohort, split=(0.5, 0.5, 0.5))


def test_unknown_engine_and_stray_client_are_refused(admission_cohort):
    """train() names the allowed engines, and a client without engine='dask' is an error."""
    with pytest.raises(ValueError, match=r"engine='spark' is not known; allowed: 'local' or"):
        train(admission_cohort, engine="spark")
    with pytest.raises(ValueError, match="client= is only used with engine='dask'"):
        train(admission_cohort, client=object())
