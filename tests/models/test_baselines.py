from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covid_risk.exceptions import NotFittedError
from covid_risk.models import ClinicalScoreBaseline, LogisticBaseline, fit_baselines
from covid_risk.models._baselines import LOGISTIC_C_GRID, _offset_intercept


@pytest.fixture(scope="module")
def baselines(admission_cohort):
    """Every admission baseline fitted on the 4,000-patient training cohort."""
    return fit_baselines(admission_cohort, random_state=0)


def test_fit_baselines_gives_every_baseline(baselines):
    """Logistic regression plus the five clinical scores, each with the predictor interface."""
    assert list(baselines) == [
        "logistic_regression", "4c_mortality", "4c_deterioration", "curb65", "news2", "qsofa"
    ]
    for name, b in baselines.items():
        assert b.name == name
        assert isinstance(b.outcomes_, tuple) and b.outcomes_
    assert baselines["4c_mortality"].outcomes_ == ("death",)
    assert baselines["4c_deterioration"].outcomes_ == ("deterioration",)
    assert baselines["curb65"].outcomes_ == ("death", "icu", "imv", "deterioration", "aki", "vte")


def test_predictor_interface(baselines, admission_test):
    """predict_proba gives a DataFrame per outcome (same index) or a Series for one."""
    df = admission_test.head(30)
    for b in baselines.values():
        p = b.predict_proba(df)
        assert list(p.columns) == list(b.outcomes_)
        assert p.index.equals(df.index)
        assert ((p > 0) & (p < 1)).all().all()
        s = b.predict_proba(df, outcome=b.outcomes_[0])
        assert isinstance(s, pd.Series) and s.name == b.outcomes_[0]


def test_four_c_mortality_uses_the_published_table():
    """Score 0 -> (0 + 0.5) / (160 + 1); score 14 -> (794 + 0.5) / (1780 + 1) (44.6 % of 1780)."""
    b = ClinicalScoreBaseline("4c_mortality").fit(_patients())
    p = b.predict_proba(_patients(), outcome="death").to_numpy()
    assert p[0] == pytest.approx(0.5 / 161)
    assert p[1] == pytest.approx((round(0.446 * 1780) + 0.5) / 1781)


def _patients() -> pd.DataFrame:
    """Two hand-scored patients: 4C score 0 and 14, with outcomes for fitting."""
    from covid_risk.schema import empty_frame

    df = empty_frame(2)
    df["age"] = [30.0, 72.0]
    df["sex"] = pd.Series(["female", "male"], dtype=object)
    df["diabetes"] = pd.array([False, True], dtype="boolean")
    df["respiratory_rate"] = [16.0, 24.0]
    df["spo2"] = [98.0, 90.0]
    df["gcs"] = pd.array([15, 15], dtype="Int64")
    df["urea"] = [5.0, 9.0]
    df["crp"] = [10.0, 120.0]
    df["death"] = pd.array([False, True], dtype="boolean")
    return df


def test_missing_score_components_count_as_zero():
    """A patient without CRP or urea is scored as if they were normal."""
    df = _patients()
    df.loc[1, "crp"] = np.nan  # 2 points fewer: score 12
    p = ClinicalScoreBaseline("4c_mortality").fit(df).predict_proba(df, "death").to_numpy()
    assert p[1] == pytest.approx((round(0.329 * 2185) + 0.5) / 2186)


def test_offset_intercept_by_hand():
    """With a zero offset the intercept is the log-odds of the event rate."""
    y = np.array([1, 0, 0, 0] * 50, dtype=float)
    assert _offset_intercept(np.zeros(200), y) == pytest.approx(np.log(0.25 / 0.75))
    # a constant offset of 1 shifts it by exactly -1
    assert _offset_intercept(np.ones(200), y) == pytest.approx(np.log(1 / 3) - 1)


def test_recalibrated_scores_rise_with_the_score(baselines):
    """A higher CURB-65, NEWS2 or qSOFA means a higher death probability; 4C Det. slope is 1."""
    for score in ("curb65", "news2", "qsofa"):
        a, b = baselines[score].coefficients_["death"]
        assert b > 0
    assert baselines["4c_deterioration"].coefficients_["deterioration"][1] == 1.0


def test_recalibration_matches_the_training_event_rate(baselines, admission_cohort):
    """Maximum-likelihood recalibration reproduces the mean outcome on the training rows."""
    for score in ("curb65", "4c_deterioration"):
        b = baselines[score]
        outcome = b.outcomes_[-1] if score == "curb65" else "deterioration"
        p = b.predict_proba(admission_cohort, outcome).to_numpy()
        y = admission_cohort[outcome].to_numpy(dtype=float)
        assert p.mean() == pytest.approx(y.mean(), abs=1e-6)


def test_logistic_baseline(baselines, admission_cohort):
    """Splines and missing indicators widen the design; C is chosen from the grid."""
    lr = baselines["logistic_regression"]
    assert lr.outcomes_ == ("death", "icu", "imv", "deterioration", "aki", "vte")
    assert set(lr.C_.values()) <= set(LOGISTIC_C_GRID)
    assert lr.n_design_columns_ > 100
    p = lr.predict_proba(admission_cohort, "death").to_numpy()
    y = admission_cohort["death"].to_numpy(dtype=float)
    assert abs(p.mean() - y.mean()) < 0.01


def test_community_baselines(fast):
    """In the community setting only the logistic baseline applies."""
    from covid_risk.synthetic import make_cohort

    cohort = make_cohort(3000, setting="community", random_state=5)
    out = fit_baselines(cohort, setting="community")
    assert list(out) == ["logistic_regression"]
    assert out["logistic_regression"].outcomes_ == ("hospitalisation", "death")


def test_errors():
    """Unknown score, impossible outcome and unfitted use are clear errors."""
    with pytest.raises(ValueError, match="score must be one of"):
        ClinicalScoreBaseline("apache").fit(_patients())
    with pytest.raises(ValueError, match="cannot predict"):
        ClinicalScoreBaseline("qsofa", outcomes=["hospitalisation"]).fit(_patients())
    with pytest.raises(NotFittedError):
        LogisticBaseline().predict_proba(_patients())
