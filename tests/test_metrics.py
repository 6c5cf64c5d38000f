"""Tests for covid_risk.metrics: hand-computed values and scikit-learn cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve as sk_calibration_curve
from sklearn.linear_model import LogisticRegression

from covid_risk import metrics as m


def _expit(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def drawn():
    """Labels drawn from known probabilities (large n), with ties in p."""
    rng = np.random.default_rng(42)
    n = 200_000
    p = _expit(rng.normal(-1.0, 1.2, n))
    y = (rng.random(n) < p).astype(float)
    return y, p


@pytest.fixture(scope="module")
def small():
    """A small sample with many ties and integer weights."""
    rng = np.random.default_rng(7)
    n = 400
    p = np.round(rng.beta(2, 4, n), 1)
    y = (rng.random(n) < p).astype(float)
    w = rng.integers(0, 4, n).astype(float)
    return y, p, w


# ----------------------------------------------------------------- discrimination
def test_auroc_hand_example_with_ties():
    """AUROC counts tied positive/negative pairs as one half: 7/9 on this example."""
    y = [0, 0, 1, 0, 1, 1]
    p = [0.1, 0.3, 0.3, 0.6, 0.6, 0.9]
    assert m.roc_auc(y, p) == pytest.approx(7 / 9)
    assert m.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p))


def test_auroc_is_nan_not_zero_with_one_class():
    """AUROC is undefined (NaN) when only one class is present."""
    assert math.isnan(m.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(m.roc_auc([0, 0], [0.2, 0.5]))


def test_auroc_and_ap_match_sklearn_with_ties_and_weights(small):
    """Weighted AUROC and average precision equal scikit-learn's on tied data."""
    y, p, w = small
    assert m.roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert m.roc_auc(y, p, sample_weight=w) == pytest.approx(
        skm.roc_auc_score(y, p, sample_weight=w), abs=1e-12)
    assert m.average_precision(y, p) == pytest.approx(
        skm.average_precision_score(y, p), abs=1e-12)
    assert m.average_precision(y, p, sample_weight=w) == pytest.approx(
        skm.average_precision_score(y, p, sample_weight=w), abs=1e-12)


def test_average_precision_hand_example():
    """AP = 0.5 * 1 + 0 * 0.5 + 0.5 * 2/3 for labels 1,0,1 ranked in that order."""
    assert m.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 1 / 3)


def test_integer_weights_equal_repeated_rows(small):
    """Weight k gives the same metrics as repeating the row k times (bootstrap basis)."""
    y, p, w = small
    reps = w.astype(int)
    yr, pr = np.repeat(y, reps), np.repeat(p, reps)
    for f in (m.roc_auc, m.average_precision, m.brier_score, m.log_loss,
              m.observed_expected_ratio, m.calibration_intercept, m.calibration_slope):
        assert f(y, p, sample_weight=w) == pytest.approx(f(yr, pr), rel=1e-7), f.__name__
    t = [0.1, 0.25, 0.5]
    np.testing.assert_allclose(m.net_benefit(y, p, t, sample_weight=w), m.net_benefit(yr, pr, t))


def test_roc_curve_matches_sklearn(small):
    """ROC points equal scikit-learn's roc_curve without dropped points."""
    y, p, _ = small
    curve = m.roc_curve(y, p)
    fpr, tpr, _ = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(curve["fpr"], fpr)
    np.testing.assert_allclose(curve["tpr"], tpr)
    assert curve["threshold"].iloc[0] == np.inf


# ------------------------------------------------------------ probability scores
def test_brier_and_log_loss_hand_example():
    """Brier of (1, 0.8) and (0, 0.4) is 0.1; log loss is -(ln 0.8 + ln 0.6) / 2."""
    assert m.brier_score([1, 0], [0.8, 0.4]) == pytest.approx(0.1)
    assert m.log_loss([1, 0], [0.8, 0.4]) == pytest.approx(-(math.log(0.8) + math.log(0.6)) / 2)


def test_log_loss_clips_at_1e_15(small):
    """A certain wrong prediction costs -ln(1e-15), not infinity; matches sklearn."""
    assert m.log_loss([1], [0.0]) == pytest.approx(-math.log(1e-15), rel=1e-6)
    y, p, w = small
    assert m.log_loss(y, p, sample_weight=w) == pytest.approx(
        skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), sample_weight=w))


def test_observed_expected_hand_example():
    """Two events against 1.5 expected gives O/E 4/3."""
    assert m.observed_expected_ratio([1, 0, 1, 0], [0.5, 0.5, 0.25, 0.25]) == pytest.approx(4 / 3)


# ----------------------------------------------------------------- calibration fits
def test_calibration_slope_one_and_intercept_zero_on_true_probabilities(drawn):
    """Labels drawn from p give slope ~1 and calibration-in-the-large ~0."""
    y, p = drawn
    assert m.calibration_slope(y, p) == pytest.approx(1.0, abs=0.02)
    assert m.calibration_intercept(y, p) == pytest.approx(0.0, abs=0.015)


def test_calibration_slope_half_when_logits_doubled(drawn):
    """Doubling every predicted log-odds halves the calibration slope."""
    y, p = drawn
    assert m.calibration_slope(y, _expit(2 * m.logit(p))) == pytest.approx(0.5, abs=0.01)


def test_calibration_intercept_recovers_a_shift(drawn):
    """Predicting logit(p) - 1 is recovered as calibration-in-the-large of +1."""
    y, p = drawn
    assert m.calibration_intercept(y, _expit(m.logit(p) - 1.0)) == pytest.approx(1.0, abs=0.015)


def test_newton_fit_equals_unpenalised_sklearn(small):
    """The IRLS solver gives the same maximum-likelihood fit as unpenalised sklearn."""
    y, p, _ = small
    p = np.clip(p, 0.05, 0.95)
    x = m.logit(p)
    lr = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(x[:, None], y)
    a, b = m._newton_logistic(x, y, np.ones_like(y), 0.0)
    assert b == pytest.approx(lr.coef_[0, 0], abs=1e-6)
    assert a == pytest.approx(lr.intercept_[0], abs=1e-6)
    assert m.calibration_slope(y, p) == pytest.approx(b)


def test_calibration_fits_nan_when_undefined():
    """One class, constant predictions or perfect separation give NaN, not a number."""
    assert math.isnan(m.calibration_slope([1, 1, 1], [0.2, 0.3, 0.4]))
    assert math.isnan(m.calibration_intercept([0, 0], [0.2, 0.3]))
    assert math.isnan(m.calibration_slope([0, 1, 0, 1], [0.3] * 4))
    assert math.isnan(m.calibration_slope([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]))


# ------------------------------------------------------------------------- ECE
def test_ece_hand_example_quantile():
    """Two equal-frequency bins: 0.5 * |0 - 0.15| + 0.5 * |1 - 0.35| = 0.4."""
    ece = m.expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4], n_bins=2)
    assert ece == pytest.approx(0.4)


def test_ece_hand_example_uniform():
    """Ten equal-width bins: (0.05 + 2 * 0.35 + 0.05) / 4 = 0.2."""
    ece = m.expected_calibration_error([0, 0, 1, 1], [0.05, 0.15, 0.15, 0.95], strategy="uniform")
    assert ece == pytest.approx(0.2)


def test_ece_rejects_unknown_strategy():
    """An unknown binning strategy is an error naming the allowed ones."""
    with pytest.raises(ValueError, match="'quantile', 'uniform'"):
        m.expected_calibration_error([0, 1], [0.2, 0.8], strategy="kmeans")


# ------------------------------------------------- smoothed calibration (ICI, E50, E90)
def test_ici_of_the_true_risk_is_near_zero_and_below_the_binned_ece():
    """Labels drawn from the predictions themselves (perfect calibration), n = 20,000.

    The 4-parameter curve's error at a point has standard error about
    sqrt(p (1 - p) * 4 / n) <= sqrt(0.25 * 4 / 20000) = 0.0071, so ICI (a mean of
    absolute errors) must be below that and E90 below twice it; the binned ECE adds
    the noise of ten bin rates (about 0.8 * sqrt(0.25 * 10 / 20000) = 0.009).
    """
    rng = np.random.default_rng(0)
    t = rng.uniform(0.0, 1.0, 20_000)
    y = (rng.random(t.size) < t).astype(float)
    e = m.calibration_errors(y, t)
    assert 0.0 < e["ici"] < 0.0071
    assert e["e50"] <= e["e90"] <= e["emax"] and e["e90"] < 2 * 0.0071
    assert e["ici"] < m.expected_calibration_error(y, t) / 1.5


def test_ici_e50_e90_of_a_miscalibrated_predictor_match_their_integrals():
    """Predicting q = sqrt(t) when the risk is t ~ U(0, 1): the curve is c(q) = q**2.

    The error is g(t) = sqrt(t) - t with P(g >= v) = sqrt(1 - 4v), so
    ICI = E g = 2/3 - 1/2 = 1/6, E50 = 3/16 (sqrt(1 - 4v) = 1/2) and
    E90 = 0.2475 (sqrt(1 - 4v) = 1/10).
    """
    rng = np.random.default_rng(0)
    t = rng.uniform(0.0, 1.0, 100_000)
    y = (rng.random(t.size) < t).astype(float)
    e = m.calibration_errors(y, np.sqrt(t))
    assert e["ici"] == pytest.approx(1 / 6, abs=0.003)
    assert e["e50"] == pytest.approx(3 / 16, abs=0.003)
    assert e["e90"] == pytest.approx(0.2475, abs=0.003)
    curve = m.smoothed_calibration(y, np.sqrt(t))
    assert np.max(np.abs(curve - t)) < 0.02


def test_calibration_errors_hand_examples_with_few_distinct_predictions():
    """One value: the curve is the event rate; two values: it passes through both rates."""
    e = m.calibration_errors([0, 1, 1, 1], [0.5] * 4)
    assert (e["ici"], e["e50"], e["e90"]) == pytest.approx((0.25, 0.25, 0.25))
    # rates 2/5 at p=0.2 and 3/5 at p=0.6: errors 0.2 (x5) and 0 (x5)
    y = [1, 1, 0, 0, 0, 1, 1, 1, 0, 0]
    p = [0.2] * 5 + [0.6] * 5
    np.testing.assert_allclose(m.smoothed_calibration(y, p), [0.4] * 5 + [0.6] * 5, atol=1e-7)
    e = m.calibration_errors(y, p)
    assert (e["ici"], e["e50"], e["e90"]) == pytest.approx((0.1, 0.1, 0.2), abs=1e-7)
    assert math.isnan(m.calibration_errors([1, 1, 1], [0.2, 0.3, 0.4])["ici"])


def test_calibration_errors_integer_weights_equal_repeated_rows():
    """A bootstrap resample as weights gives exactly the numbers of the repeated rows."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0.05, 0.9, 400)
    y = (rng.random(400) < p ** 1.3).astype(float)
    w = rng.integers(0, 4, 400).astype(float)
    # knots come from the unweighted predictions, so compare with the same basis
    x = m.logit(p)
    knots = m._calibration_knots(x)
    rep = np.repeat(np.arange(400), w.astype(int))
    b_w = m._newton_glm(m._rcs_basis(x, knots), y, w)
    b_r = m._newton_glm(m._rcs_basis(x[rep], knots), y[rep], np.ones(rep.size))
    np.testing.assert_allclose(b_w, b_r, rtol=1e-7, atol=1e-9)
    e_w = m._calibration_error_values(m._rcs_basis(x, knots), b_w, p, w)
    e_r = m._calibration_error_values(m._rcs_basis(x[rep], knots), b_r, p[rep],
                                      np.ones(rep.size))
    for k in ("ici", "e50", "e90", "emax"):
        assert e_w[k] == pytest.approx(e_r[k], rel=1e-7)


def test_calibration_curve_matches_sklearn(small):
    """Observed and mean predicted per bin equal sklearn's calibration_curve."""
    y, p, _ = small
    for strategy in ("quantile", "uniform"):
        ours = m.calibration_curve(y, p, n_bins=10, strategy=strategy)
        prob_true, prob_pred = sk_calibration_curve(y, p, n_bins=10, strategy=strategy)
        np.testing.assert_allclose(ours["observed"], prob_true)
        np.testing.assert_allclose(ours["mean_predicted"], prob_pred)
        assert ours["n"].sum() == y.size
        assert (ours["observed_lower"] <= ours["observed"]).all()
        assert (ours["observed"] <= ours["observed_upper"]).all()


def test_wilson_interval_known_value():
    """Wilson 95% interval of 5/10 is (0.2366, 0.7634)."""
    lo, hi = m.wilson_interval(np.array([5.0]), np.array([10.0]))
    assert lo[0] == pytest.approx(0.2366, abs=1e-4)
    assert hi[0] == pytest.approx(0.7634, abs=1e-4)


# ------------------------------------------------------------------ net benefit
def test_net_benefit_hand_example():
    """At t=0.3 three are treated (2 TP, 1 FP): NB = 2/5 - 1/5 * 0.3/0.7."""
    y = [1, 1, 0, 0, 1]
    p = [0.9, 0.4, 0.35, 0.1, 0.2]
    nb = m.net_benefit(y, p, [0.3, 0.4, 0.95])
    np.testing.assert_allclose(nb, [0.4 - 0.2 * 0.3 / 0.7, 0.4, 0.0])
    all_nb = m.treat_all_net_benefit(y, [0.3])
    np.testing.assert_allclose(all_nb, [0.6 - 0.4 * 0.3 / 0.7])


def test_net_benefit_rejects_thresholds_outside_open_interval():
    """Threshold 0 or 1 makes t/(1-t) meaningless and is refused."""
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        m.net_benefit([0, 1], [0.2, 0.8], [0.0, 0.5])


# ----------------------------------------------------------- distance to truth
def test_truth_calibration_exact_on_transformed_logits():
    """Doubled true log-odds give slope 0.5; log-odds shifted by -0.3 give intercept 0.3."""
    t = np.linspace(0.02, 0.9, 50)
    _, b = m.truth_calibration(_expit(2 * m.logit(t)), t)
    assert b == pytest.approx(0.5, abs=1e-8)
    a, b = m.truth_calibration(_expit(m.logit(t) - 0.3), t)
    assert (a, b) == pytest.approx((0.3, 1.0), abs=1e-8)


def test_truth_calibration_is_the_limit_of_label_calibration(drawn):
    """With many labels drawn from t, label-based fits approach the truth-based ones."""
    y, t = drawn
    p = _expit(1.5 * m.logit(t) + 0.2)
    a, b = m.truth_calibration(p, t)
    assert m.calibration_slope(y, p) == pytest.approx(b, abs=0.015)
    assert m.calibration_intercept(y, p) == pytest.approx(a, abs=0.015)


# ---------------------------------------------------------------------- inputs
def test_bad_labels_and_probabilities_are_named():
    """Labels other than 0/1 and probabilities outside [0, 1] raise with the values."""
    with pytest.raises(ValueError, match=r"only 0 and 1.*\[2\.0\]"):
        m.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"\[0, 1\].*1\.5"):
        m.brier_score([0, 1], [0.1, 1.5])
    with pytest.raises(ValueError, match="same length"):
        m.brier_score([0, 1], [0.1])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]),
                  st.integers(1, 3)),
        min_size=2, max_size=30,
    )
)
def test_ranking_metrics_match_sklearn_on_random_tied_data(rows):
    """On any small tied, weighted sample AUROC and AP equal scikit-learn's (or NaN)."""
    y, p, w = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    if y.min() == y.max():
        assert math.isnan(m.roc_auc(y, p, sample_weight=w))
        return
    assert m.roc_auc(y, p, sample_weight=w) == pytest.approx(
        skm.roc_auc_score(y, p, sample_weight=w), abs=1e-12)
    assert m.average_precision(y, p, sample_weight=w) == pytest.approx(
        skm.average_precision_score(y, p, sample_weight=w), abs=1e-12)


def test_wilson_interval_contains_the_observed_proportion_at_zero_and_all_events():
    """With 0 or n events the interval still contains the observed 0 or 1 exactly."""
    from covid_risk.metrics import wilson_interval

    lo, hi = wilson_interval(np.array([0.0, 35.0, 10.0]), np.array([35.0, 35.0, 45.0]))
    assert lo[0] == 0.0 and hi[1] == 1.0
    assert np.all(lo <= np.array([0.0, 1.0, 10 / 45])) and np.all(hi >= np.array([0, 1, 10 / 45]))
    # hand value for 10/45: Wilson 95 % interval (0.12545, 0.36269)
    assert abs(lo[2] - 0.12545) < 1e-4 and abs(hi[2] - 0.36269) < 1e-4


def test_calibration_curve_intervals_contain_the_observed_rate_in_empty_and_full_bins():
    """Bins with no events or only events keep lower <= observed <= upper (error bars >= 0)."""
    from covid_risk.metrics import calibration_curve

    y = np.r_[np.zeros(35), np.ones(10)]
    p = np.r_[np.full(35, 0.07), np.full(10, 0.9)]
    table = calibration_curve(y, p, n_bins=2)
    assert table["observed"].tolist() == [0.0, 1.0]
    assert (table["observed"] - table["observed_lower"] >= 0).all()
    assert (table["observed_upper"] - table["observed"] >= 0).all()
    # hand values: Wilson 95 % upper bound for 0/35 is z^2 / (35 + z^2) = 0.0989
    assert abs(table["observed_upper"].iloc[0] - 0.098901) < 1e-6
