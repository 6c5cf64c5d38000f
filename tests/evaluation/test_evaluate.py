"""Tests for covid_risk.evaluate with stand-in predictors on a small synthetic frame."""

from __future__ import annotations

import dataclasses
import io
import json
import re

import numpy as np
import pandas as pd
import pytest

from covid_risk import metrics as m
from covid_risk.evaluation._evaluate import (
    TRUTH_NAME,
    Evaluation,
    OutcomeEvaluation,
    evaluate,
)
from covid_risk.exceptions import DataQualityWarning

N = 3000


def _expit(z):
    return 1.0 / (1.0 + np.exp(-z))


def _true_logit(age, male, outcome):
    base = {"death": -6.5, "icu": -3.5}[outcome]
    return base + 0.06 * age + 0.4 * male


def make_frame(n: int = N, seed: int = 0) -> pd.DataFrame:
    """Canonical-looking cohort with two outcomes and their true risks."""
    rng = np.random.default_rng(seed)
    age = np.round(rng.uniform(20, 95, n), 1)
    sex = rng.choice(np.array(["female", "male"]), n)
    ethnicity = pd.Series(rng.choice(["white", "south_asian", "black", "other"], n), dtype="str")
    ethnicity[rng.random(n) < 0.05] = pd.NA
    dep = pd.array(rng.integers(1, 6, n), dtype="Int64")
    doses = pd.array(rng.integers(0, 4, n), dtype="Int64")
    df = pd.DataFrame(
        {"age": age, "sex": sex, "ethnicity": ethnicity, "deprivation_quintile": dep,
         "vaccine_doses": doses}
    )
    for o in ("death", "icu"):
        t = _expit(_true_logit(age, sex == "male", o))
        df[f"true_risk_{o}"] = t
        df[o] = pd.array(rng.random(n) < t, dtype="boolean")
    return df


class StandIn:
    """Predicts the true risk with log-odds scaled by ``scale`` plus seeded noise."""

    def __init__(self, name="standin", outcomes=("death", "icu"), sd=0.0, scale=1.0,
                 shift=0.0, seed=1):
        self.name = name
        self.outcomes_ = tuple(outcomes)
        self.sd, self.scale, self.shift, self.seed = sd, scale, shift, seed
        self.seen_columns: list[str] = []

    def predict_proba(self, df, outcome=None):
        self.seen_columns = list(df.columns)
        rng = np.random.default_rng(self.seed)
        male = (df["sex"] == "male").to_numpy()
        out = {}
        for o in self.outcomes_:
            z = _true_logit(df["age"].to_numpy(), male, o)
            out[o] = _expit(self.scale * z + self.shift + rng.normal(0, self.sd, len(df)))
        frame = pd.DataFrame(out, index=df.index)
        return frame[outcome] if outcome is not None else frame


@pytest.fixture(scope="module")
def cohort():
    """The shared synthetic cohort."""
    return make_frame()


@pytest.fixture(scope="module")
def ev(cohort):
    """A full evaluation with one noisy model and a cruder death-only baseline."""
    model = StandIn("noisy", sd=0.4)
    crude = StandIn("crude", outcomes=("death",), sd=1.2, seed=2)
    return evaluate(model, cohort, baselines={"crude": crude}, n_bootstrap=60, random_state=3)


def _arrays(cohort, outcome, predictor):
    y = cohort[outcome].to_numpy(dtype=float)
    p = predictor.predict_proba(cohort.drop(columns=["death", "icu"]))[outcome].to_numpy()
    return y, p


# ------------------------------------------------------------------- structure
def test_returns_frozen_evaluation_with_outcome_access(ev, cohort):
    """evaluate returns an Evaluation; ev['death'] is the model's OutcomeEvaluation."""
    assert isinstance(ev, Evaluation)
    assert ev.outcomes == ("death", "icu")
    r = ev["death"]
    assert isinstance(r, OutcomeEvaluation)
    assert (r.n, r.n_events) == (N, int(cohort["death"].sum()))
    assert ev.baselines == ("crude",)
    assert ev.has_truth
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.n = 5
    with pytest.raises(KeyError, match="Evaluated: death, icu"):
        ev["vte"]


def test_point_estimates_equal_the_pure_metric_functions(ev, cohort):
    """Every headline number is the metrics-module function on the same rows."""
    y, p = _arrays(cohort, "death", StandIn("noisy", sd=0.4))
    r = ev["death"]
    assert r["auroc"] == pytest.approx(m.roc_auc(y, p))
    assert r["auprc"] == pytest.approx(m.average_precision(y, p))
    assert r["brier"] == pytest.approx(m.brier_score(y, p))
    assert r["log_loss"] == pytest.approx(m.log_loss(y, p))
    assert r["calibration_intercept"] == pytest.approx(m.calibration_intercept(y, p), abs=1e-8)
    assert r["calibration_slope"] == pytest.approx(m.calibration_slope(y, p), abs=1e-8)
    assert r["ece"] == pytest.approx(m.expected_calibration_error(y, p))
    errors = m.calibration_errors(y, p)
    for k in ("ici", "e50", "e90"):
        assert r[k] == pytest.approx(errors[k], rel=1e-6)
    assert r["oe_ratio"] == pytest.approx(m.observed_expected_ratio(y, p))
    np.testing.assert_allclose(
        r.decision_curve["net_benefit"], m.net_benefit(y, p, r.decision_curve["threshold"]))
    prev = y.mean()
    t = r.decision_curve["threshold"].to_numpy()
    np.testing.assert_allclose(r.decision_curve["treat_all"], prev - (1 - prev) * t / (1 - t))
    assert (r.decision_curve["treat_none"] == 0).all()


def test_distance_to_truth(ev, cohort):
    """Ceiling AUROC is the true risk's AUROC; gap, MAE and truth slope are as defined."""
    y, p = _arrays(cohort, "death", StandIn("noisy", sd=0.4))
    t = cohort["true_risk_death"].to_numpy()
    r = ev["death"]
    assert r["ceiling_auroc"] == pytest.approx(m.roc_auc(y, t))
    assert r["auroc_gap"] == pytest.approx(m.roc_auc(y, t) - m.roc_auc(y, p))
    assert r["mae_true"] == pytest.approx(np.abs(p - t).mean())
    assert ev.results[TRUTH_NAME]["death"]["auroc"] == pytest.approx(r["ceiling_auroc"])


def test_truth_calibration_of_scaled_and_shifted_predictors(cohort):
    """Doubled true log-odds give truth slope 0.5; a -0.3 shift gives truth intercept 0.3."""
    ev2 = evaluate(StandIn(scale=2.0), cohort, outcomes=["icu"], n_bootstrap=0, subgroups=())
    assert ev2["icu"]["true_calibration_slope"] == pytest.approx(0.5, abs=1e-7)
    assert ev2["icu"]["calibration_slope"] == pytest.approx(0.5, abs=0.08)
    ev3 = evaluate(StandIn(shift=-0.3), cohort, outcomes=["icu"], n_bootstrap=0, subgroups=())
    assert ev3["icu"]["true_calibration_intercept"] == pytest.approx(0.3, abs=1e-7)
    assert ev3["icu"]["true_calibration_slope"] == pytest.approx(1.0, abs=1e-7)


# ------------------------------------------------------------------- bootstrap
def test_bootstrap_ci_covers_the_truth(cohort):
    """For the true risk itself the intervals cover slope 1, intercept 0 and O/E 1."""
    truth_model = StandIn("truth-model")
    ev2 = evaluate(truth_model, cohort, n_bootstrap=100, subgroups=(), random_state=11)
    for o in ("death", "icu"):
        r = ev2[o]
        for metric, target in (("calibration_slope", 1.0), ("calibration_intercept", 0.0),
                               ("oe_ratio", 1.0)):
            lo, hi = r.interval(metric)
            assert lo < target < hi, (o, metric, lo, hi)
        lo, hi = r.interval("auroc")
        assert lo < r["auroc"] < hi and hi - lo < 0.1


def test_ici_of_the_true_risk_sits_at_its_noise_floor(cohort):
    """The true risk's ICI lies inside the range a perfectly calibrated predictor shows
    (its own labels redrawn); a predictor with doubled log-odds lies far above it."""
    ev2 = evaluate(StandIn("truth-model"), cohort, outcomes=["icu"], n_bootstrap=40,
                   subgroups=(), random_state=5)
    r = ev2["icu"]
    floor, lo, hi = r.metrics.loc["ici_floor", ["estimate", "ci_lower", "ci_upper"]]
    # 3,000 rows, 4-parameter curve: floor about 0.8 * sqrt(0.2 * 4 / 3000) = 0.013
    assert 0.003 < lo < floor < hi < 0.03
    assert lo <= r["ici"] <= hi
    b_lo, b_hi = r.interval("ici")
    assert b_lo < r["ici"] < b_hi
    steep = evaluate(StandIn("steep", scale=2.0), cohort, outcomes=["icu"], n_bootstrap=0,
                     subgroups=())["icu"]
    assert steep["ici"] > 3 * steep["ici_floor"]
    assert steep["e90"] > steep["e50"]


def test_bootstrap_reproducible_and_identical_for_n_jobs_1_and_2(cohort):
    """Same random_state gives the same intervals for n_jobs=1 and n_jobs=2; a new seed differs."""
    small = cohort.iloc[:800]
    kw = {"n_bootstrap": 25, "subgroups": ("sex",)}
    a = evaluate(StandIn(sd=0.3), small, n_jobs=1, random_state=5, **kw)
    b = evaluate(StandIn(sd=0.3), small, n_jobs=2, random_state=5, **kw)
    c = evaluate(StandIn(sd=0.3), small, n_jobs=1, random_state=6, **kw)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    pd.testing.assert_frame_equal(a.subgroups, b.subgroups)
    pd.testing.assert_frame_equal(a.comparison, b.comparison)
    assert not np.allclose(a.summary["ci_lower"], c.summary["ci_lower"], equal_nan=True)
    np.testing.assert_allclose(a.summary["estimate"], c.summary["estimate"])


def test_no_bootstrap_gives_nan_intervals(cohort):
    """n_bootstrap=0 returns point estimates and NaN intervals."""
    ev2 = evaluate(StandIn(), cohort, outcomes="death", n_bootstrap=0, subgroups=())
    assert ev2["death"].metrics["ci_lower"].isna().all()
    assert np.isfinite(ev2["death"]["auroc"])


# ------------------------------------------------------------- baselines, rows
def test_comparison_pairs_baseline_with_model(ev):
    """The comparison lists model, baseline and true risk; delta AUROC is paired."""
    comp = ev.comparison
    assert list(comp.loc["death"].index) == ["noisy", "crude", TRUTH_NAME]
    assert list(comp.loc["icu"].index) == ["noisy", TRUTH_NAME]
    crude = comp.loc[("death", "crude")]
    assert crude["delta_auroc"] == pytest.approx(
        crude["auroc"] - comp.loc[("death", "noisy"), "auroc"])
    assert crude["delta_auroc_lower"] < crude["delta_auroc"] < crude["delta_auroc_upper"]
    assert crude["delta_auroc_upper"] < 0  # the cruder baseline is clearly worse
    assert np.isnan(comp.loc[("death", "noisy"), "delta_auroc"])
    assert ev.results["crude"]["death"].n == ev["death"].n


def test_predictors_never_see_outcomes_or_true_risk(cohort):
    """Outcome and true-risk columns are removed before predict_proba is called."""
    model = StandIn()
    evaluate(model, cohort, n_bootstrap=0, subgroups=())
    assert "age" in model.seen_columns
    assert not any(c in ("death", "icu") or c.startswith("true_risk_")
                   for c in model.seen_columns)


def test_missing_labels_are_excluded_and_counted(cohort):
    """Rows with no recorded outcome leave that outcome's metrics and are reported."""
    df = cohort.copy()
    df.loc[df.index[:40], "icu"] = pd.NA
    ev2 = evaluate(StandIn(), df, n_bootstrap=0, subgroups=())
    assert ev2["icu"].n == N - 40 and ev2["icu"].n_missing_label == 40
    assert ev2["death"].n == N and ev2["death"].n_missing_label == 0
    assert ev2.counts.loc["icu", "n_missing_label"] == 40
    assert any("icu: 40 rows" in note for note in ev2.notes)


def test_nan_predictions_exclude_rows_for_every_predictor(cohort):
    """A baseline without a prediction for some rows removes them for all, with a warning."""

    class Gappy(StandIn):
        def predict_proba(self, df, outcome=None):
            out = super().predict_proba(df)
            out.iloc[:25, 0] = np.nan
            return out

    with pytest.warns(DataQualityWarning, match="25 rows excluded because gappy"):
        ev2 = evaluate(StandIn(), cohort, baselines={"gappy": Gappy("gappy")},
                       n_bootstrap=0, subgroups=())
    assert ev2["death"].n == N - 25 and ev2["death"].n_missing_prediction == 25
    assert ev2.results["gappy"]["death"].n == N - 25
    assert ev2["icu"].n == N


# ------------------------------------------------------------------ errors
def test_missing_outcome_column_names_the_column(cohort):
    """A cohort without a predicted outcome is a ValueError naming the column."""
    with pytest.raises(ValueError, match="The cohort has no 'icu' column"):
        evaluate(StandIn(), cohort.drop(columns=["icu"]), n_bootstrap=0)


def test_unpredicted_outcome_and_bad_predictor_are_refused(cohort):
    """Asking for an outcome the model lacks, or passing a non-predictor, fails clearly."""
    with pytest.raises(ValueError, match="does not predict 'aki'"):
        evaluate(StandIn(), cohort, outcomes=["aki"])
    with pytest.raises(TypeError, match="'outcomes_' attribute"):
        evaluate(object(), cohort)
    with pytest.raises(ValueError, match="clashes"):
        evaluate(StandIn(), cohort, baselines={TRUTH_NAME: StandIn()})


def test_probabilities_outside_unit_interval_are_refused(cohort):
    """A predictor returning scores above 1 is a ValueError naming it and the outcome."""

    class Scores(StandIn):
        def predict_proba(self, df, outcome=None):
            return super().predict_proba(df) * 10

    with pytest.raises(ValueError, match=r"scores predicted values outside \[0, 1\] for 'death'"):
        evaluate(Scores("scores"), cohort, n_bootstrap=0)


def test_invalid_settings_are_refused(cohort):
    """ci, thresholds and n_bootstrap outside their ranges raise ValueError."""
    with pytest.raises(ValueError, match="ci must be strictly between 0 and 1"):
        evaluate(StandIn(), cohort, ci=95)
    with pytest.raises(ValueError, match="thresholds"):
        evaluate(StandIn(), cohort, thresholds=[0.0, 0.2])
    with pytest.raises(ValueError, match="n_bootstrap"):
        evaluate(StandIn(), cohort, n_bootstrap=-1)


def test_labels_must_be_binary(cohort):
    """An outcome column with values other than true/false names the column."""
    df = cohort.copy()
    df["death"] = df["death"].astype("float64") * 2
    with pytest.raises(ValueError, match="'death' must hold true/false"):
        evaluate(StandIn(), df, n_bootstrap=0)


# ----------------------------------------------------------------- subgroups
def test_subgroup_table_groups_and_counts(ev, cohort):
    """Subgroups cover sex, age bands, ethnicity with a missing group, deprivation, vaccination."""
    sg = ev.subgroups
    death = sg[sg["outcome"] == "death"]
    assert set(death["variable"]) == {"sex", "age_band", "ethnicity", "deprivation_quintile",
                                      "vaccination"}
    ages = death[death["variable"] == "age_band"]
    assert list(ages["group"]) == ["<50", "50-59", "60-69", "70-79", ">=80"]
    assert ages["n"].sum() == N
    old = cohort[cohort["age"] >= 80]
    row = ages[ages["group"] == ">=80"].iloc[0]
    assert row["n"] == len(old) and row["events"] == int(old["death"].sum())
    assert row["observed_rate"] == pytest.approx(old["death"].astype(float).mean())
    eth = death[death["variable"] == "ethnicity"]
    assert eth["group"].iloc[-1] == "missing"
    assert eth["n"].iloc[-1] == int(cohort["ethnicity"].isna().sum())
    vac = death[death["variable"] == "vaccination"]
    assert list(vac["group"]) == ["0 doses", ">=1 dose"]
    assert list(death[death["variable"] == "deprivation_quintile"]["group"]) == list("12345")
    assert (death["auroc_lower"] <= death["auroc"]).all()


def test_subgroup_auroc_is_nan_not_zero_for_one_class_group(cohort):
    """A subgroup where nobody has the outcome gets AUROC NaN, and calibration NaN."""
    df = cohort.copy()
    df.loc[df["sex"] == "female", "death"] = False
    ev2 = evaluate(StandIn(), df, outcomes=["death"], subgroups=("sex",), n_bootstrap=20)
    sg = ev2.subgroups.set_index("group")
    assert np.isnan(sg.loc["female", "auroc"]) and np.isnan(sg.loc["female", "auroc_lower"])
    assert sg.loc["female", "events"] == 0 and sg.loc["female", "oe_ratio"] == 0
    assert np.isnan(sg.loc["female", "calibration_intercept"])
    assert 0.5 < sg.loc["male", "auroc"] < 1


def test_all_missing_vaccination_is_skipped_with_a_note(cohort):
    """Absent or all-missing standard subgroups are skipped with a note; unknown ones fail."""
    df = cohort.copy()
    df["vaccine_doses"] = pd.array([pd.NA] * len(df), dtype="Int64")
    ev2 = evaluate(StandIn(), df, n_bootstrap=0)
    assert "vaccination" not in set(ev2.subgroups["variable"])
    assert any("vaccination subgroup skipped" in n for n in ev2.notes)
    ev3 = evaluate(StandIn(), df.drop(columns=["ethnicity"]), n_bootstrap=0,
                   subgroups=("sex", "ethnicity"))
    assert set(ev3.subgroups["variable"]) == {"sex"}
    assert any("ethnicity subgroup skipped" in n for n in ev3.notes)
    with pytest.raises(ValueError, match="Unknown subgroup 'postcode'"):
        evaluate(StandIn(), df, n_bootstrap=0, subgroups=("postcode",))


# ---------------------------------------------------------------- display
def test_repr_is_short_and_readable(ev):
    """The repr names the model, outcomes, n and AUROC with its interval."""
    text = repr(ev)
    assert re.fullmatch(
        r"Evaluation\(noisy, 2 outcomes, n=3000, vs crude: death AUROC 0\.\d{3} "
        r"\[0\.\d{3}-0\.\d{3}\], icu AUROC 0\.\d{3} \[0\.\d{3}-0\.\d{3}\]\)", text)
    assert repr(ev["icu"]).startswith("OutcomeEvaluation(icu, noisy, n=3000")
    html = ev._repr_html_()
    assert "<table" in html and "AUROC" in html


def test_summary_and_table_layout(ev):
    """summary is long (outcome, metric) with estimate and CI; table has one row per outcome."""
    s = ev.summary
    assert s.index.names == ["outcome", "metric"]
    assert list(s.columns) == ["label", "estimate", "ci_lower", "ci_upper"]
    assert s.loc[("death", "auroc"), "label"] == "AUROC"
    assert s.loc[("icu", "ceiling_auroc"), "estimate"] > s.loc[("icu", "auroc"), "estimate"]
    assert list(ev.table().index) == ["death", "icu"]


def test_to_dict_is_strict_json(ev):
    """to_dict has no NaN or numpy types: json.dumps(allow_nan=False) accepts it."""
    d = ev.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["results"]["noisy"]["death"]["metrics"]["auroc"]["estimate"] == pytest.approx(
        ev["death"]["auroc"])
    assert back["settings"]["n_bootstrap"] == 60


def test_plots_return_figures_with_labelled_axes(ev):
    """Plot methods return matplotlib Figures (one panel per outcome), not shown."""
    from matplotlib.figure import Figure

    expected = {
        "plot_roc": ("False positive rate (1 - specificity)", "True positive rate (sensitivity)"),
        "plot_calibration": ("Mean predicted probability", "Observed proportion"),
        "plot_decision_curve": ("Threshold probability", "Net benefit"),
    }
    for method, (xlabel, ylabel) in expected.items():
        fig = getattr(ev, method)()
        assert isinstance(fig, Figure)
        visible = [ax for ax in fig.axes if ax.get_visible()]
        assert len(visible) == 2
        assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in visible] == [(xlabel, ylabel)] * 2
        single = getattr(ev, method)("death")
        assert len(single.axes) == 1
        buf = io.BytesIO()
        single.savefig(buf, format="png")
        assert buf.getvalue()[:4] == b"\x89PNG"
    legend = [t.get_text() for t in ev.plot_roc("death").axes[0].get_legend().get_texts()]
    assert legend[0].startswith("noisy (0.") and legend[-1].startswith(TRUTH_NAME)


def test_outcome_plot_draws_on_given_axes(ev):
    """OutcomeEvaluation.plot_* draws on a supplied axes and returns its figure."""
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    assert ev["death"].plot_calibration(ax=ax) is fig
    assert ax.get_title() == "Calibration: Death"


def test_to_html_writes_the_report(ev, tmp_path):
    """to_html is a thin hook onto the report module and writes one HTML file."""
    path = ev.to_html(tmp_path / "report.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "noisy" in text and "data:image/png;base64," in text


def test_importing_evaluate_does_not_import_matplotlib():
    """matplotlib (and joblib) load only when a plot or a parallel bootstrap needs them."""
    import subprocess
    import sys

    code = ("import sys, covid_risk.evaluation; "
            "print('matplotlib' in sys.modules, 'joblib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_package_evaluate_stays_callable_after_importing_the_module():
    """cr.evaluate(...) is the function even when the evaluation module was imported first."""
    import subprocess
    import sys

    code = """
import numpy as np, pandas as pd
import covid_risk as cr
from covid_risk.evaluation import Evaluation

class P:
    outcomes_ = ("death",)
    def predict_proba(self, df, outcome=None):
        return pd.DataFrame({"death": np.linspace(0.1, 0.9, len(df))}, index=df.index)

df = pd.DataFrame({"age": [50.0, 60, 70, 80], "death": pd.array([0, 1, 0, 1], dtype="boolean")})
ev = cr.evaluate(P(), df, n_bootstrap=0, subgroups=())
print(isinstance(ev, Evaluation), ev["death"]["auroc"])
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["True", "0.75"]


def test_default_bootstrap_size_is_at_least_1000_everywhere():
    """evaluate, retrain and the evaluate command share a default of at least 1,000
    resamples (200 leave about 8% Monte-Carlo error in an interval's width)."""
    import argparse
    import inspect

    from covid_risk.cli.evaluate import add_arguments
    from covid_risk.evaluation._evaluate import DEFAULT_N_BOOTSTRAP
    from covid_risk.retraining import DEFAULT_N_BOOTSTRAP as RETRAIN_N_BOOTSTRAP
    from covid_risk.retraining import retrain

    assert DEFAULT_N_BOOTSTRAP >= 1000
    assert inspect.signature(evaluate).parameters["n_bootstrap"].default == DEFAULT_N_BOOTSTRAP
    assert inspect.signature(retrain).parameters["n_bootstrap"].default == DEFAULT_N_BOOTSTRAP
    assert RETRAIN_N_BOOTSTRAP == DEFAULT_N_BOOTSTRAP
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert parser.parse_args(["c.csv", "--model", "m.crmodel"]).bootstrap == DEFAULT_N_BOOTSTRAP
