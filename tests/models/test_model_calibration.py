from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from covid_risk.exceptions import CalibrationWarning
from covid_risk.models import (
    IsotonicCalibrator,
    SigmoidCalibrator,
    calibrator_from_dict,
    fit_calibrator,
)


def scores(n: int, *, a: float, b: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw log-odds and labels drawn with logit P(y=1) = a + b * raw."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(-1.0, 1.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(a + b * raw)))).astype(int)
    return raw, y


def test_sigmoid_recovers_known_intercept_and_slope():
    """Platt scaling on raw log-odds recovers the generating intercept 0.4 and slope 0.7."""
    raw, y = scores(200_000, a=0.4, b=0.7, seed=1)
    cal = SigmoidCalibrator.fit(raw, y)
    assert cal.intercept == pytest.approx(0.4, abs=0.02)
    assert cal.slope == pytest.approx(0.7, abs=0.02)


def test_sigmoid_matches_unpenalised_logistic_regression():
    """The Newton fit equals scikit-learn's unpenalised logistic regression to 1e-5."""
    from sklearn.linear_model import LogisticRegression

    raw, y = scores(5000, a=-0.3, b=1.2, seed=2)
    cal = SigmoidCalibrator.fit(raw, y)
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(raw[:, None], y)
    assert cal.intercept == pytest.approx(ref.intercept_[0], abs=1e-5)
    assert cal.slope == pytest.approx(ref.coef_[0, 0], abs=1e-5)


def test_sigmoid_by_hand():
    """sigmoid(0.5 + 2 * 0.25) = sigmoid(1) = 0.7310586."""
    cal = SigmoidCalibrator(intercept=0.5, slope=2.0)
    assert cal.transform(np.array([0.25]))[0] == pytest.approx(0.7310585786, abs=1e-9)


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrators_are_monotone_and_keep_auroc(method):
    """Both calibrators are non-decreasing and keep AUROC within 0.002 of the raw score."""
    raw, y = scores(20_000, a=0.2, b=0.8, seed=3)
    cal, _ = fit_calibrator(raw, y, method=method)
    grid = np.linspace(-8, 8, 2001)
    assert np.all(np.diff(cal.transform(grid)) >= 0)
    test_raw, test_y = scores(20_000, a=0.2, b=0.8, seed=4)
    p = cal.transform(test_raw)
    assert abs(roc_auc_score(test_y, p) - roc_auc_score(test_y, test_raw)) < 0.002
    assert np.all((p > 0) & (p < 1))


def test_isotonic_has_no_ties_inside_its_range():
    """Interpolating between block centroids leaves no ties between distinct inner scores."""
    raw, y = scores(10_000, a=0.0, b=1.0, seed=5)
    cal = IsotonicCalibrator.fit(raw, y)
    inner = np.sort(raw[(raw > cal.x[0]) & (raw < cal.x[-1])])
    p = cal.transform(inner)
    distinct = np.diff(inner) > 0
    # equal probabilities only where a block's neighbours share a rate (rare)
    assert np.mean(np.diff(p)[distinct] > 0) > 0.99


def test_auto_uses_sigmoid_with_few_events():
    """Auto never tries isotonic below 1000 events and says why."""
    raw, y = scores(3000, a=-2.0, b=1.0, seed=6)
    assert y.sum() < 1000
    cal, info = fit_calibrator(raw, y)
    assert isinstance(cal, SigmoidCalibrator)
    assert info["method"] == "sigmoid" and "isotonic not tried" in info["reason"]
    assert info["events"] == int(y.sum()) and info["n"] == 3000


def test_auto_chooses_isotonic_when_the_truth_is_not_logistic():
    """With many events and a non-logistic link, auto's cross-validation picks isotonic."""
    rng = np.random.default_rng(7)
    raw = rng.normal(0, 2, 40_000)
    p = np.where(raw < 0, 0.1, 0.6)  # a step: no sigmoid fits it
    y = (rng.random(raw.size) < p).astype(int)
    cal, info = fit_calibrator(raw, y)
    assert isinstance(cal, IsotonicCalibrator)
    assert info["cv_log_loss"]["isotonic"] < info["cv_log_loss"]["sigmoid"]


def test_auto_keeps_sigmoid_when_it_is_right():
    """When the truth is logistic in the raw score, auto keeps the two-parameter sigmoid."""
    raw, y = scores(20_000, a=0.1, b=0.9, seed=8)
    cal, info = fit_calibrator(raw, y)
    assert isinstance(cal, SigmoidCalibrator)
    assert "cv_log_loss" in info


def test_forced_isotonic_with_few_events_warns():
    """Isotonic on fewer than 1000 events is fitted but warns with CalibrationWarning."""
    raw, y = scores(2000, a=-2.0, b=1.0, seed=9)
    with pytest.warns(CalibrationWarning, match="tends to overfit"):
        cal, info = fit_calibrator(raw, y, method="isotonic")
    assert isinstance(cal, IsotonicCalibrator) and info["method"] == "isotonic"


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_json_round_trip(method):
    """to_dict survives JSON and rebuilds an identical calibrator."""
    raw, y = scores(5000, a=0.0, b=1.0, seed=10)
    cal, _ = fit_calibrator(raw, y, method=method)
    again = calibrator_from_dict(json.loads(json.dumps(cal.to_dict())))
    assert again == cal
    np.testing.assert_array_equal(again.transform(raw), cal.transform(raw))


def test_bad_input_is_refused():
    """One class, NaN scores, an unknown method and an unknown calibrator are clear errors."""
    with pytest.raises(ValueError, match="only one class"):
        SigmoidCalibrator.fit([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="finite"):
        SigmoidCalibrator.fit([np.nan, 0.2], [0, 1])
    with pytest.raises(ValueError, match="calibration must be one of"):
        fit_calibrator([0.1, 0.2], [0, 1], method="platt")
    with pytest.raises(ValueError, match="Unknown calibrator method"):
        calibrator_from_dict({"method": "temperature"})


def test_prior_pulls_a_small_calibration_set_towards_identity():
    """With the default prior, few events move the map less than plain Platt; many events win."""
    from covid_risk.models._calibration import DEFAULT_PRIOR_SD

    raw, y = scores(1500, a=0.3, b=1.2, seed=11)
    mle = SigmoidCalibrator.fit(raw, y)
    mapped = SigmoidCalibrator.fit(raw, y, prior_sd=DEFAULT_PRIOR_SD)
    assert 0 < mapped.intercept < mle.intercept
    assert 1 < mapped.slope < mle.slope
    raw, y = scores(400_000, a=0.3, b=1.2, seed=12)
    mapped = SigmoidCalibrator.fit(raw, y, prior_sd=DEFAULT_PRIOR_SD)
    assert mapped.intercept == pytest.approx(0.3, abs=0.02)
    assert mapped.slope == pytest.approx(1.2, abs=0.02)


def test_prior_mode_by_hand():
    """With no data information the posterior mode is the prior centre (0, 1)."""
    raw = np.zeros(4)
    y = np.array([0, 1, 0, 1])
    cal = SigmoidCalibrator.fit(raw, y, prior_sd=(0.05, 0.1))
    assert cal.intercept == pytest.approx(0.0, abs=1e-9)
    assert cal.slope == pytest.approx(1.0, abs=1e-9)
