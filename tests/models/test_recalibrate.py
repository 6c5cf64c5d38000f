"""Recalibration on local patients: recovers known miscalibration, saves, explains, refuses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, logit

import covid_risk as cr
from covid_risk.metrics import calibration_slope, observed_expected_ratio, roc_auc
from covid_risk.models import IsotonicCalibrator, SigmoidCalibrator
from covid_risk.models._recalibrate import RecalibrationError, auto_method, update_calibrator


def _miscalibrated(n, seed, a, b, outcome="death", setting="admission"):
    cohort = cr.make_cohort(n, setting=setting, random_state=seed)
    risk = np.clip(cohort[f"true_risk_{outcome}"].to_numpy(), 1e-9, 1 - 1e-9)
    cohort[outcome] = np.random.default_rng(seed).random(n) < expit(a + b * logit(risk))
    return cohort


@pytest.fixture(scope="module")
def local():
    return _miscalibrated(1500, 101, a=1.0, b=0.6)


@pytest.fixture(scope="module")
def recalibrated(local):
    return cr.recalibrate(local, outcomes=["death"], random_state=0)


def test_recovers_known_miscalibration(recalibrated):
    test = _miscalibrated(8000, 202, a=1.0, b=0.6)
    y = test["death"].to_numpy()
    before = cr.default_model("admission").predict_proba(test, "death").to_numpy()
    after = recalibrated.predict_proba(test, "death").to_numpy()
    assert observed_expected_ratio(y, before) > 1.3 and calibration_slope(y, before) < 0.7
    assert 0.9 < observed_expected_ratio(y, after) < 1.1
    assert 0.85 < calibration_slope(y, after) < 1.15
    assert roc_auc(y, after) == pytest.approx(roc_auc(y, before), abs=1e-9)
    record = recalibrated.metadata_["recalibration"][-1]
    death = record["outcomes"]["death"]
    assert death["method"] == "slope" and death["n"] == 1500
    assert death["before"]["oe_ci"][0] > 1 and death["before"]["slope_ci"][1] < 1
    assert death["after"]["oe_ci"][0] < 1 < death["after"]["oe_ci"][1]
    # other outcomes keep their calibrators and the trees are shared
    base = cr.default_model("admission")
    assert recalibrated.calibrators_["icu"] == base.calibrators_["icu"]
    assert recalibrated.boosters_["death"] is base.boosters_["death"]


def test_save_load_and_card(recalibrated, tmp_path):
    path = tmp_path / "local.crmodel"
    recalibrated.save(path)
    loaded = cr.load(path)
    assert loaded.metadata_["recalibration"] == recalibrated.metadata_["recalibration"]
    patients = cr.make_cohort(50, random_state=3)
    np.testing.assert_array_equal(loaded.predict_proba(patients).to_numpy(),
                                  recalibrated.predict_proba(patients).to_numpy())
    card = cr.model_card(loaded)
    assert "recalibration" in card
    assert "recalibration" not in cr.model_card(cr.default_model("admission"))


def test_explanations_still_add_up(recalibrated):
    patients = cr.make_cohort(20, random_state=4)
    ex = cr.explain(patients, model=recalibrated, outcome="death")
    shown = recalibrated.predict_proba(patients, "death").to_numpy()
    np.testing.assert_allclose(ex.probability, shown, atol=1e-12)
    np.testing.assert_allclose(ex.probability_contributions.sum(axis=1),
                               shown - ex.baseline_probability, atol=1e-10)


def test_too_few_events_says_how_many():
    small = _miscalibrated(40, 5, a=-1.0, b=1.0)
    with pytest.raises(RecalibrationError, match=r"at least 10 .*patients at this outcome rate"):
        cr.recalibrate(small, outcomes=["death"])
    with pytest.raises(RecalibrationError, match="at least 20"):
        cr.recalibrate(_miscalibrated(100, 5, a=-1.5, b=1.0), outcomes=["death"], method="slope")


def test_auto_rule_and_update_algebra():
    assert auto_method(10, 300) == "intercept"
    assert auto_method(25, 300) == "slope"
    assert auto_method(1200, 3000) == "refit"
    with pytest.raises(RecalibrationError):
        auto_method(295, 300)
    raw = np.linspace(-4, 3, 50)
    sig = SigmoidCalibrator(0.3, 0.8)
    iso = IsotonicCalibrator(x=(-2.0, 0.0, 2.0), logit_p=(-3.0, -1.0, 1.5))
    for cal in (sig, iso):
        upd = update_calibrator(cal, -0.5, 1.3)
        np.testing.assert_allclose(upd.transform(raw),
                                   expit(-0.5 + 1.3 * logit(cal.transform(raw))), rtol=1e-9)
    with pytest.raises(RecalibrationError):
        update_calibrator(sig, 0.0, -1.0)


def test_intercept_only_when_events_are_few():
    local = _miscalibrated(120, 9, a=-1.0, b=1.0)
    model = cr.recalibrate(local, outcomes=["death"], method="intercept", random_state=1)
    death = model.metadata_["recalibration"][-1]["outcomes"]["death"]
    assert death["method"] == "intercept"
    assert model.calibrators_["death"].slope == cr.default_model().calibrators_["death"].slope


def test_cli_recalibrate(tmp_path, local):
    from covid_risk.cli._main import main

    src = tmp_path / "local.csv"
    cols = [c for c in local.columns if not c.startswith("true_risk_")]
    local[cols].to_csv(src, index=False)
    out = tmp_path / "m2.crmodel"
    assert main(["--quiet", "recalibrate", str(src), "--outcomes", "death", "--out", str(out)]) == 0
    assert cr.load(out).metadata_["recalibration"][-1]["outcomes"]["death"]["method"] == "slope"
    few = tmp_path / "few.csv"
    local[cols].head(30).to_csv(few, index=False)
    assert main(["--quiet", "recalibrate", str(few), "--out", str(out)]) == 2
