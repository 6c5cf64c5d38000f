"""Training on a few hundred patients: a real model, recorded adequacy, loud failures."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import covid_risk as cr
from covid_risk.exceptions import CalibrationWarning, SampleSizeWarning
from covid_risk.metrics import calibration_slope, roc_auc
from covid_risk.models._small_cohort import SMALL_COHORT_ROWS, small_cohort_settings


@pytest.fixture(scope="module")
def small_model():
    cohort = cr.make_cohort(300, random_state=41)
    with pytest.warns(SampleSizeWarning, match="Riley et al. 2020"):
        return cr.train(cohort, outcomes=["death"], random_state=0)


def test_three_hundred_patients_give_a_real_model(small_model):
    test = cr.make_cohort(4000, random_state=42)
    y = test["death"].to_numpy()
    p = small_model.predict_proba(test, "death").to_numpy()
    assert np.ptp(p) > 0.3  # not one risk for everybody
    assert roc_auc(y, p) > 0.72
    assert 0.7 < calibration_slope(y, p) < 1.3
    meta = small_model.metadata_
    assert meta["small_cohort"]["rows"] == 300 and meta["splits"] == {"cross_validation": 300}
    assert meta["small_cohort"]["settings"]["min_child_samples"] == 8
    assert meta["params"]["min_child_samples"] == 100  # the estimator's own settings unchanged
    assert small_model.min_child_samples == 100 and small_model.learning_rate == 0.05
    assert meta["metrics"]["death"]["n"] == 300  # out-of-fold metrics on every row
    death = meta["sample_size"]["death"]
    assert death["adequate"] is False and death["required_n"] > 300


def test_small_model_saves_and_shows_in_the_card(small_model, tmp_path):
    small_model.save(tmp_path / "m.crmodel")
    loaded = cr.load(tmp_path / "m.crmodel")
    assert loaded.metadata_["sample_size"] == small_model.metadata_["sample_size"]
    assert "sample_size" in cr.model_card(loaded)


def test_a_booster_without_a_split_is_an_error():
    cohort = cr.make_cohort(300, random_state=43)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="made no split"):
            cr.train(cohort, outcomes=["death"], random_state=0, min_child_samples=1000)


def test_few_events_warn():
    cohort = cr.make_cohort(300, setting="community", random_state=44)
    with pytest.warns(CalibrationWarning, match="fewer than 20"):
        cr.train(cohort, setting="community", outcomes=["death"], random_state=0)


def test_only_defaults_are_scaled():
    assert small_cohort_settings({"min_child_samples": 100, "num_leaves": 8,
                                  "learning_rate": 0.05, "reg_lambda": 5.0}, 300) == {
        "min_child_samples": 8, "num_leaves": 4, "learning_rate": 0.03, "reg_lambda": 0.0}
    assert small_cohort_settings({"min_child_samples": 30, "num_leaves": 16,
                                  "learning_rate": 0.1, "reg_lambda": 1.0}, 300) == {}
    assert SMALL_COHORT_ROWS == 2000
