"""Tests for covid_risk.explanation: exact, additive explanations of a trained RiskModel.

The model is trained once per module on a small synthetic cohort with few, fast trees.
"""

from __future__ import annotations

import dataclasses
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest

from covid_risk.explanation import RiskExplanation, explain, global_importance, probability_view
from covid_risk.models import IsotonicCalibrator, RiskModel
from covid_risk.schema import FIELDS, SETTING_OUTCOMES
from covid_risk.synthetic import make_cohort

matplotlib.use("Agg")

OUTCOMES = SETTING_OUTCOMES["admission"]


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    """Synthetic admitted patients to train on (seeded)."""
    return make_cohort(3000, random_state=1)


@pytest.fixture(scope="module")
def model(cohort) -> RiskModel:
    """A small, quickly trained RiskModel for every admission outcome."""
    return RiskModel(
        n_estimators=120, learning_rate=0.1, early_stopping_rounds=20, n_jobs=1,
        calibration="sigmoid", random_state=0,
    ).fit(cohort)


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    """Forty new patients from another seed (outcome and true-risk columns are ignored)."""
    return make_cohort(40, random_state=7)


@pytest.fixture(scope="module")
def explained(model, patients) -> dict[str, RiskExplanation]:
    """Explanations of every outcome for the forty patients."""
    return explain(patients, model=model)


# ---------------------------------------------------------------------------- additivity
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_log_odds_additivity_n_rows(model, patients, explained, outcome):
    """base value + sum of SHAP == the booster's raw log-odds for every patient."""
    ex = explained[outcome]
    raw = model.predict_raw(patients, outcome)
    np.testing.assert_allclose(ex.base_value + ex.shap_values.sum(axis=1), raw, atol=1e-6)
    np.testing.assert_allclose(ex.raw, raw, atol=1e-6)


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_probability_additivity_n_rows(model, patients, explained, outcome):
    """Probability contributions add up to (predict_proba - baseline) for every patient."""
    ex = explained[outcome]
    final = model.predict_proba(patients)[outcome].to_numpy()
    np.testing.assert_array_equal(ex.probability, final)
    np.testing.assert_allclose(
        ex.probability_contributions.sum(axis=1), final - ex.baseline_probability,
        rtol=0, atol=1e-9,
    )


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_one_row_additivity_and_shapes(model, patients, outcome):
    """One patient: shapes (1, p) and both views add up, probability is predict_proba's."""
    one = patients.iloc[[3]]
    ex = explain(one, model=model, outcome=outcome)
    p = len(model.feature_names_)
    assert ex.shap_values.shape == ex.values.shape == ex.probability_contributions.shape == (1, p)
    assert ex.raw.shape == ex.probability.shape == (1,)
    assert len(ex) == ex.n_patients == 1
    assert isinstance(ex.base_value, float) and isinstance(ex.baseline_probability, float)
    assert ex.probability[0] == model.predict_proba(one, outcome=outcome).iloc[0]
    assert abs(ex.base_value + ex.shap_values.sum() - model.predict_raw(one, outcome)[0]) < 1e-6
    total = ex.probability_contributions.sum()
    assert abs(total - (ex.probability[0] - ex.baseline_probability)) < 1e-9


def test_n_row_shapes(model, explained, patients):
    """n patients: every array has n rows and p columns, in the model's feature order."""
    p = len(model.feature_names_)
    for ex in explained.values():
        assert ex.shap_values.shape == (40, p)
        assert ex.values.shape == (40, p)
        assert ex.probability.shape == ex.raw.shape == ex.calibrated_probability.shape == (40,)
        assert ex.feature_names == model.feature_names_
        assert len(ex.labels) == len(ex.units) == p
        assert list(ex.index) == list(patients.index)


def test_single_outcome_equals_all_outcomes(model, patients, explained):
    """Explaining one outcome gives the same numbers as explaining all of them."""
    one = explain(patients, model=model, outcome="deterioration")
    every = explained["deterioration"]
    np.testing.assert_array_equal(one.shap_values, every.shap_values)
    np.testing.assert_array_equal(one.probability_contributions, every.probability_contributions)
    assert one.coherence == every.coherence


def test_baseline_probability_is_calibrated_base_value(model, explained):
    """The baseline probability is the calibrator applied to the base value."""
    for outcome, ex in explained.items():
        expected = model.calibrators_[outcome].transform(np.array([ex.base_value]))[0]
        assert ex.baseline_probability == pytest.approx(expected, abs=1e-15)


def test_values_are_the_model_matrix(model, patients, explained):
    """values holds exactly what the boosters saw."""
    X = np.asarray(model.model_matrix(patients), dtype=float)
    np.testing.assert_array_equal(explained["death"].values, X)


# ---------------------------------------------------------------------- against shap
@pytest.mark.parametrize("outcome", OUTCOMES)
def test_agrees_with_shap_tree_explainer(model, explained, outcome):
    """Our log-odds SHAP values equal shap.TreeExplainer's on the same booster to 1e-6."""
    shap = pytest.importorskip("shap")
    ex = explained[outcome]
    explainer = shap.TreeExplainer(model.boosters_[outcome])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # shap's note on its output-shape change
        values = explainer.shap_values(ex.values)
    # Binary LightGBM: shap has returned a list [negative, positive] in some releases.
    values = values[1] if isinstance(values, list) else np.asarray(values)
    if values.ndim == 3:
        values = values[..., 1]
    assert values.shape == ex.shap_values.shape
    np.testing.assert_allclose(values, ex.shap_values, atol=1e-6)
    expected = np.ravel(explainer.expected_value)[-1]
    assert expected == pytest.approx(ex.base_value, abs=1e-6)


# --------------------------------------------------------------------- probability view
def test_probability_view_proportional_hand_computed():
    """phi (0.5, 0.25, -0.25) and delta 0.2: ratio 0.4 gives (0.2, 0.1, -0.1)."""
    out, fallback = probability_view(np.array([[0.5, 0.25, -0.25]]), np.array([0.2]))
    np.testing.assert_allclose(out, [[0.2, 0.1, -0.1]], atol=1e-15)
    assert not fallback[0]


def test_probability_view_fallback_when_log_odds_cancel():
    """Log-odds summing to ~0: the difference is shared by |phi| (0.05, 0.05, 0) and flagged."""
    out, fallback = probability_view(np.array([[1.0, -1.0, 0.0]]), np.array([0.1]))
    np.testing.assert_allclose(out, [[0.05, 0.05, 0.0]], atol=1e-15)
    assert fallback[0]


def test_probability_view_fallback_when_all_zero_is_even():
    """All contributions zero: the difference is shared evenly."""
    out, fallback = probability_view(np.zeros((1, 4)), np.array([0.02]))
    np.testing.assert_allclose(out, [[0.005] * 4], atol=1e-15)
    assert fallback[0]


def test_probability_view_fallback_when_signs_disagree():
    """Probability up while log-odds went down (coherence): shared by |phi|, never sign-flipped."""
    out, fallback = probability_view(np.array([[-0.3, 0.1]]), np.array([0.04]))
    np.testing.assert_allclose(out, [[0.03, 0.01]], atol=1e-15)
    assert fallback[0]
    assert (out >= 0).all()


def test_probability_view_mixed_rows_and_shape_check():
    """Rows are handled independently; mismatched shapes are refused."""
    phi = np.array([[0.5, 0.25, -0.25], [1.0, -1.0, 0.0]])
    out, fallback = probability_view(phi, np.array([0.2, -0.1]))
    np.testing.assert_allclose(out.sum(axis=1), [0.2, -0.1], atol=1e-15)
    assert fallback.tolist() == [False, True]
    with pytest.raises(ValueError, match="shap_values must be"):
        probability_view(phi, np.array([0.1]))


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_probability_view_keeps_signs(explained, outcome):
    """Outside fallback rows, each feature moves probability in its log-odds direction."""
    ex = explained[outcome]
    assert (~ex.fallback).sum() >= 35
    for r in np.flatnonzero(~ex.fallback):
        phi, pc = ex.shap_values[r], ex.probability_contributions[r]
        delta = ex.probability[r] - ex.baseline_probability
        if delta == 0:
            assert np.all(pc == 0)
        else:
            moved = phi != 0
            np.testing.assert_array_equal(np.sign(pc[moved]), np.sign(phi[moved]))
            assert np.all(pc[~moved] == 0)


def test_isotonic_calibrator_views_still_add_up(model, cohort, patients):
    """With an isotonic calibrator the probability view still adds up exactly."""
    iso = RiskModel(
        n_estimators=120, learning_rate=0.1, early_stopping_rounds=20, n_jobs=1,
        calibration="sigmoid", random_state=0, outcomes=("death",),
    )
    iso.__dict__.update({k: v for k, v in model.__dict__.items() if k.endswith("_")})
    raw = model.predict_raw(cohort, "death")
    iso.outcomes_ = ("death",)
    iso.calibrators_ = {"death": IsotonicCalibrator.fit(raw, cohort["death"].to_numpy(bool))}
    ex = explain(patients, model=iso, outcome="death")
    final = iso.predict_proba(patients, outcome="death").to_numpy()
    np.testing.assert_array_equal(ex.probability, final)
    np.testing.assert_allclose(
        ex.probability_contributions.sum(axis=1), final - ex.baseline_probability, atol=1e-9
    )


def test_model_with_its_own_predict_proba_is_asked(model, patients, explained):
    """A model overriding predict_proba is explained against what its own method returns."""

    class Shifted(RiskModel):
        def predict_proba(self, df, outcome=None):
            proba = super().predict_proba(df) * 0.5
            return proba if outcome is None else proba[outcome]

    shifted = Shifted()
    shifted.__dict__.update(model.__dict__)
    ex = explain(patients, model=shifted, outcome="death")
    np.testing.assert_array_equal(ex.probability, 0.5 * explained["death"].probability)
    np.testing.assert_array_equal(ex.shap_values, explained["death"].shap_values)
    np.testing.assert_allclose(
        ex.probability_contributions.sum(axis=1), ex.probability - ex.baseline_probability,
        atol=1e-9,
    )
    assert all(c == "adjusted" for c in ex.coherence)


# -------------------------------------------------------------------------- coherence
def test_coherence_is_named_and_still_adds_up(model, patients, explained):
    """Where coherence raised deterioration, the source outcome is named and the sum is exact."""
    ex = explained["deterioration"]
    proba = model.predict_proba(patients)
    raised = ex.probability > ex.calibrated_probability + 1e-12
    assert raised.any(), "the fixture should produce at least one coherence adjustment"
    for r in np.flatnonzero(raised):
        source = ex.coherence[r]
        assert source in ("death", "icu", "imv")
        assert proba[source].iloc[r] == ex.probability[r]
        note = ex.factors(int(r)).attrs["note"]
        assert "coherence" in note and FIELDS[source].label.lower() in note.lower()
    assert all(c == "" for c, up in zip(ex.coherence, raised, strict=True) if not up)
    assert all(c == "" for c in explained["death"].coherence)


# --------------------------------------------------------------------------- factors
def test_factors_order_signs_and_text(model):
    """Factors: raising ones first (largest first), then lowering ones; texts carry units."""
    patient = make_cohort(1, random_state=3)
    patient["respiratory_rate"] = 31.0
    patient["urea"] = np.nan
    patient["sex"] = pd.array(["male"], dtype=object)
    ex = explain(patient, model=model, outcome="death")
    table = ex.factors(0, top=5)
    assert list(table.columns) == [
        "direction", "factor", "feature", "value", "log_odds", "percentage_points",
    ]
    up = table[table["direction"] == "raises"]
    down = table[table["direction"] == "lowers"]
    assert len(up) <= 5 and len(down) <= 5
    assert (up["percentage_points"] > 0).all() and (down["percentage_points"] < 0).all()
    assert list(up["percentage_points"]) == sorted(up["percentage_points"], reverse=True)
    assert list(down["percentage_points"]) == sorted(down["percentage_points"])
    assert list(table["direction"]) == ["raises"] * len(up) + ["lowers"] * len(down)
    assert (np.sign(table["log_odds"]) == np.sign(table["percentage_points"])).all()
    pc = 100 * ex.probability_contributions[0]
    assert up["percentage_points"].iloc[0] == pytest.approx(pc.max())
    texts = ex.text(0)
    assert "Respiratory rate 31 /min" in texts
    assert "Urea not recorded" in texts
    assert "Sex male" in texts
    row = table[table["feature"] == "respiratory_rate"]
    if len(row):
        assert row["factor"].iloc[0] == "Respiratory rate 31 /min"
    assert all("_" not in f for f in table["factor"])


def test_factors_top_and_bounds(explained):
    """top limits each direction; an out-of-range patient is an IndexError naming the size."""
    ex = explained["death"]
    table = ex.factors(5, top=2)
    assert (table["direction"] == "raises").sum() <= 2
    assert (table["direction"] == "lowers").sum() <= 2
    with pytest.raises(IndexError, match="40 patient"):
        ex.factors(40)


# ------------------------------------------------------------------------ global views
def test_importance_is_mean_absolute_shap(explained):
    """importance() is mean |SHAP| (log-odds) and mean |contribution| (pp), sorted."""
    ex = explained["death"]
    table = ex.importance()
    expected = np.abs(ex.shap_values).mean(axis=0)
    j = ex.feature_names.index("age")
    assert table.loc["age", "mean_abs_log_odds"] == pytest.approx(expected[j])
    assert table.loc["age", "mean_abs_percentage_points"] == pytest.approx(
        100 * np.abs(ex.probability_contributions[:, j]).mean()
    )
    assert table.loc["age", "label"] == "Age"
    assert table["mean_abs_log_odds"].is_monotonic_decreasing
    assert len(table) == len(ex.feature_names)


def test_dependence_by_name_or_label(explained, patients):
    """dependence() pairs each value with its contribution, by feature name or label."""
    ex = explained["death"]
    by_name = ex.dependence("respiratory_rate")
    by_label = ex.dependence("Respiratory rate")
    pd.testing.assert_frame_equal(by_name, by_label)
    j = ex.feature_names.index("respiratory_rate")
    np.testing.assert_array_equal(by_name["value"], patients["respiratory_rate"].to_numpy())
    np.testing.assert_array_equal(by_name["log_odds"], ex.shap_values[:, j])
    assert by_name.attrs["unit"] == "/min"
    assert by_name["value_text"].iloc[0].endswith("/min")
    with pytest.raises(KeyError, match="no_such"):
        ex.dependence("no_such")


def test_global_importance_table(model, patients, explained):
    """global_importance is a feature x outcome table of mean |SHAP|."""
    table = global_importance(model, patients, index="name")
    assert list(table.columns) == list(OUTCOMES)
    assert set(table.index) == set(model.feature_names_)
    for outcome in OUTCOMES:
        expected = explained[outcome].importance()["mean_abs_log_odds"]
        np.testing.assert_allclose(table[outcome], expected.reindex(table.index), atol=1e-12)
    labelled = global_importance(model, patients, outcomes=["death"], scale="probability")
    assert "Age" in labelled.index and list(labelled.columns) == ["death"]
    with pytest.raises(ValueError, match="scale"):
        global_importance(model, patients, scale="odds")


# ------------------------------------------------------------------------ result object
def test_explain_returns_dict_in_model_order_and_checks_outcome(model, patients):
    """outcome=None gives a dict in outcomes_ order; an unknown outcome is a clear error."""
    every = explain(patients.head(2), model=model)
    assert list(every) == list(model.outcomes_)
    assert all(isinstance(v, RiskExplanation) for v in every.values())
    with pytest.raises(ValueError, match="'hospitalisation' is not predicted"):
        explain(patients.head(2), model=model, outcome="hospitalisation")
    with pytest.raises(ValueError, match="no patients"):
        explain(patients.head(0), model=model)


def test_default_model_is_loaded_for_the_setting(model, patients, monkeypatch):
    """model=None asks covid_risk.models.default_model for the setting given."""
    import covid_risk.models

    asked = []

    def fake_default(setting="admission"):
        asked.append(setting)
        return model

    monkeypatch.setattr(covid_risk.models, "default_model", fake_default)
    ex = explain(patients.head(3), outcome="icu")
    assert asked == ["admission"]
    np.testing.assert_array_equal(ex.probability, model.predict_proba(patients.head(3), "icu"))


def test_dict_records_are_validated(model):
    """A plain dict (one patient) is validated and explained."""
    ex = explain({"age": 81, "sex": "male", "respiratory_rate": 31, "spo2": 90},
                 model=model, outcome="death")
    assert len(ex) == 1
    assert "Respiratory rate 31 /min" in ex.text(0)
    assert "Sex male" in ex.text(0)


def test_repr_summary_frozen(explained):
    """Short repr, a per-patient summary table, frozen dataclass with read-only arrays."""
    ex = explained["death"]
    text = repr(ex)
    assert text.startswith("RiskExplanation(outcome='death', n=40") and len(text) < 160
    summary = ex.summary
    assert len(summary) == 40
    assert {"probability", "baseline_probability", "top_factor_up", "top_factor_down"} <= set(
        summary.columns
    )
    np.testing.assert_array_equal(summary["probability"], ex.probability)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ex.outcome = "icu"
    with pytest.raises(ValueError):
        ex.shap_values[0, 0] = 1.0


# --------------------------------------------------------------------------- plotting
def test_plots_return_figures(explained):
    """plot_waterfall and plot_summary return matplotlib Figures with clinical labels."""
    from matplotlib.figure import Figure

    ex = explained["deterioration"]
    fig = ex.plot_waterfall(0, top=5)
    assert isinstance(fig, Figure)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(ticks) == 6 and ticks[0].endswith("other features")
    assert not any("_" in t for t in ticks)
    assert isinstance(ex.plot_waterfall(1, scale="log_odds"), Figure)
    fig = ex.plot_summary(top=8)
    assert isinstance(fig, Figure)
    assert len(fig.axes[0].get_yticklabels()) == 8
    with pytest.raises(ValueError, match="scale"):
        ex.plot_waterfall(0, scale="odds")


def test_to_shap_works_with_shap_plots(explained):
    """to_shap gives a shap.Explanation that shap's waterfall, beeswarm and bar accept."""
    shap = pytest.importorskip("shap")
    import matplotlib.pyplot as plt

    ex = explained["death"]
    sx = ex.to_shap()
    assert sx.values.shape == ex.shap_values.shape
    np.testing.assert_array_equal(sx.base_values, np.full(40, ex.base_value))
    assert list(sx.feature_names) == list(ex.labels)
    np.testing.assert_allclose(sx.values.sum(axis=1) + sx.base_values, ex.raw, atol=1e-9)
    shap.plots.waterfall(sx[0], show=False)
    plt.close("all")
    shap.plots.beeswarm(sx, show=False)
    plt.close("all")
    shap.plots.bar(sx, show=False)
    plt.close("all")
    px = ex.to_shap(scale="probability")
    np.testing.assert_allclose(
        px.values.sum(axis=1) + px.base_values, ex.probability, atol=1e-9
    )


# --------------------------------------------------------------------- community setting
def test_community_model_both_views_add_up():
    """Community setting: both outcomes, both scales add up, labels are clinical."""
    cohort = make_cohort(3000, setting="community", random_state=2)
    model = RiskModel(
        setting="community", n_estimators=80, learning_rate=0.15, early_stopping_rounds=15,
        n_jobs=1, calibration="sigmoid", random_state=0,
    ).fit(cohort)
    patients = make_cohort(25, setting="community", random_state=8)
    every = explain(patients, model=model)
    assert list(every) == list(SETTING_OUTCOMES["community"])
    final = model.predict_proba(patients)
    for outcome, ex in every.items():
        np.testing.assert_allclose(
            ex.base_value + ex.shap_values.sum(axis=1), model.predict_raw(patients, outcome),
            atol=1e-6,
        )
        np.testing.assert_array_equal(ex.probability, final[outcome].to_numpy())
        np.testing.assert_allclose(
            ex.probability_contributions.sum(axis=1), ex.probability - ex.baseline_probability,
            atol=1e-9,
        )
        assert "4C comorbidity count" in ex.labels
        assert not any("_" in label for label in ex.labels)


def test_rank_factors_by_hand():
    """Ranked by percentage points, ties by log-odds; zero contributions left out; top per side."""
    from covid_risk.explanation import rank_factors

    phi = np.array([[0.5, -0.2, 0.0, 0.1, 0.3, -0.4],
                    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    pp = np.array([[2.0, -1.0, 0.0, 2.0, 1.0, -3.0],
                   [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    # row 0: +2 pp twice (0 with 0.5 log-odds before 3 with 0.1), then +1; -3 before -1
    assert rank_factors(phi, pp, top=5) == [([0, 3, 4], [5, 1]), ([], [])]
    assert rank_factors(phi, pp, top=1) == [([0], [5]), ([], [])]
    assert rank_factors(phi, pp, top=0) == [([], []), ([], [])]
