"""Tests of covid_risk.drift: PSI by hand, binning rules, verdicts, scenario drift."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from covid_risk.evaluation.drift_report import EPSILON, DriftReport, drift, psi
from covid_risk.synthetic import make_cohort

N_COHORT = 20_000  # large enough that sampling noise in the PSI is ~0.001 (see drift's notes)


@pytest.fixture(scope="module")
def wild_1() -> pd.DataFrame:
    return make_cohort(N_COHORT, setting="community", scenario="wild_type_2020", random_state=11)


@pytest.fixture(scope="module")
def wild_2() -> pd.DataFrame:
    return make_cohort(N_COHORT, setting="community", scenario="wild_type_2020", random_state=12)


@pytest.fixture(scope="module")
def omicron() -> pd.DataFrame:
    return make_cohort(N_COHORT, setting="community", scenario="omicron_2022", random_state=13)


# ----------------------------------------------------------------------------- psi()
def test_psi_matches_hand_computation():
    """PSI of 50/50 against 40/60 is 0.1 ln(1.25) + 0.1 ln(1.2)."""
    assert psi([50, 50], [40, 60]) == pytest.approx(0.1 * math.log(1.25) + 0.1 * math.log(1.2))
    assert psi([0.5, 0.5], [0.4, 0.6]) == pytest.approx(psi([5, 5], [4, 6]))


def test_psi_zero_for_identical_and_floors_empty_bins():
    """Identical histograms give 0; an empty bin is floored at EPSILON, not infinite."""
    assert psi([3, 0, 7], [30, 0, 70]) == 0.0
    expected = (0.9 - 1.0) * math.log(0.9) + (0.1 - EPSILON) * math.log(0.1 / EPSILON)
    assert psi([10, 0], [9, 1]) == pytest.approx(expected)


def test_psi_rejects_bad_histograms():
    """Different bin counts or an all-zero histogram raise ValueError."""
    with pytest.raises(ValueError, match="same bins"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="positive total"):
        psi([0, 0], [1, 1])


# ----------------------------------------------------------------------------- binning
def test_category_feature_psi_and_verdict():
    """Sex 50/50 -> 80/20 gives 0.3 ln 4 = 0.416 (major), 55/45 gives 0.0201 (none)."""
    ref = pd.DataFrame({"sex": ["female", "male"] * 500})
    cur = pd.DataFrame({"sex": ["female"] * 800 + ["male"] * 200})
    report = drift(ref, cur)
    row = report.features.loc["sex"]
    assert row["psi"] == pytest.approx(0.3 * math.log(4.0))
    assert row["verdict"] == "major" and report.verdict == "major"
    assert row["binning"] == "categories" and row["n_bins"] == 3  # female, male, missing
    assert row["largest_shift"] == "female: 50.0% -> 80.0%"
    small = drift(ref, pd.DataFrame({"sex": ["female"] * 550 + ["male"] * 450}))
    assert small.features.at["sex", "psi"] == pytest.approx(
        0.05 * math.log(1.1) + 0.05 * math.log(1.0 / 0.9))
    assert small.verdict == "none"


def test_numeric_uses_reference_quantile_bins():
    """Values 0..999 in 10 reference deciles; a current cohort all >= 900 fills the last one."""
    ref = pd.DataFrame({"age": np.arange(1000, dtype=float)})
    report = drift(ref, pd.DataFrame({"age": np.arange(900, 1000, dtype=float)}))
    row = report.features.loc["age"]
    assert row["binning"] == "reference quantiles" and row["n_bins"] == 11
    expected = 9 * (EPSILON - 0.1) * math.log(EPSILON / 0.1) + 0.9 * math.log(10.0)
    assert row["psi"] == pytest.approx(expected)
    assert row["mean_reference"] == pytest.approx(499.5)
    assert row["mean_current"] == pytest.approx(949.5)
    assert row["ks"] == pytest.approx(0.9)  # F_ref(899.5) = 0.9, F_cur = 0
    hist = report.histograms["age"]
    assert hist["reference"].tolist() == [100] * 10 + [0]
    assert hist["current"].tolist() == [0] * 9 + [100, 0]
    assert drift(ref, ref).features.at["age", "psi"] == 0.0


def test_few_valued_numeric_gets_one_bin_per_value_including_unseen():
    """Doses all 0 in the reference and 0-3 in the current: doses 1-3 are new categories
    holding 75% of the current rows, reported as such instead of a floor-driven PSI (which
    would be 0.75 ln 0.25 + 3 * 0.25 ln(0.25 / 1e-4) = 6.83)."""
    ref = pd.DataFrame({"vaccine_doses": pd.array([0] * 400, dtype="Int64")})
    cur = pd.DataFrame({"vaccine_doses": pd.array([0, 1, 2, 3] * 100, dtype="Int64")})
    report = drift(ref, cur)
    row = report.features.loc["vaccine_doses"]
    assert row["binning"] == "values" and row["n_bins"] == 5
    assert math.isnan(row["psi"])
    assert row["new_categories"] == "1, 2, 3" and row["new_share"] == pytest.approx(0.75)
    assert row["psi_known"] == 0.0  # dose 0 (and missing): 100% of the known rows in both
    assert row["verdict"] == "major"
    assert row["ks"] == pytest.approx(0.75)
    assert row["test"] == "chi-squared" and math.isnan(row["ks_pvalue"])
    text = report.to_html_section()
    assert "new: 1, 2, 3 (75.0% of rows); 0.000 on the others" in text


def test_missing_values_are_their_own_bin():
    """BMI missing for 10% then 50% with the same recorded values: PSI from the shares alone."""
    values = np.tile(np.arange(20.0, 30.0), 9)  # 90 recorded values, 10 distinct
    ref = pd.DataFrame({"bmi": np.concatenate([values, np.full(10, np.nan)])})
    cur = pd.DataFrame({"bmi": np.concatenate([values[:50], np.full(50, np.nan)])})
    row = drift(ref, cur).features.loc["bmi"]
    assert row["missing_reference"] == pytest.approx(0.1)
    assert row["missing_current"] == pytest.approx(0.5)
    assert row["missing_change"] == pytest.approx(0.4)
    hist = drift(ref, cur).histograms["bmi"]
    r = hist["reference"].to_numpy() / 100
    c = hist["current"].to_numpy() / 100
    assert hist["bin"].iloc[-1] == "missing"
    assert row["psi"] == pytest.approx(float(np.sum((c - r) * np.log(c / r))))


def test_feature_with_no_reference_values_is_compared_as_recorded_or_not():
    """Days since vaccination missing for all of the reference: only missingness is compared."""
    ref = pd.DataFrame({"days_since_vaccination": np.full(100, np.nan)})
    cur = pd.DataFrame({"days_since_vaccination": np.r_[np.arange(60.0), np.full(40, np.nan)]})
    row = drift(ref, cur).features.loc["days_since_vaccination"]
    assert row["binning"] == "recorded (no reference values)"
    assert math.isnan(row["psi"])  # would be 0.6 ln(0.6 / 1e-4) + 0.6 ln(1 / 0.4) = 5.77
    assert row["new_categories"] == "recorded" and row["new_share"] == pytest.approx(0.6)
    assert row["verdict"] == "major"
    assert math.isnan(row["ks"])


@pytest.mark.parametrize(("n_new", "verdict"), [(0, "none"), (5, "none"), (10, "moderate"),
                                               (49, "moderate"), (50, "major")])
def test_new_category_verdict_from_its_share(n_new, verdict):
    """A category absent from the reference: below 1% of current rows none, from 1%
    moderate, from 5% major (1,000 current rows; the rest unchanged)."""
    ref = pd.DataFrame({"smoking": ["never", "former"] * 500})
    cur = pd.DataFrame({"smoking": ["never", "former"] * ((1000 - n_new) // 2)
                        + ["current"] * n_new + ["never"] * ((1000 - n_new) % 2)})
    row = drift(ref, cur).features.loc["smoking"]
    assert row["new_share"] == pytest.approx(n_new / 1000)
    assert row["verdict"] == verdict
    assert (row["new_categories"] == "current") == (n_new > 0)
    assert math.isnan(row["psi"]) == (n_new > 0)


def test_chi_squared_on_discrete_features_by_hand():
    """Doses 0/1 as 60/40 against 50/50 (100 rows each): Pearson's chi-squared on the 2 x 2
    table is 2.0202 on 1 df (expected 55/45 per row), p = 0.1552; the KS p-value (exact only
    without ties) is not reported for such a feature."""
    ref = pd.DataFrame({"vaccine_doses": pd.array([0] * 60 + [1] * 40, dtype="Int64")})
    cur = pd.DataFrame({"vaccine_doses": pd.array([0] * 50 + [1] * 50, dtype="Int64")})
    row = drift(ref, cur).features.loc["vaccine_doses"]
    expected = 2 * (25 / 55 + 25 / 45)
    assert row["test"] == "chi-squared"
    assert row["chi2"] == pytest.approx(expected) and row["chi2_df"] == 1
    assert row["chi2_pvalue"] == pytest.approx(math.erfc(math.sqrt(expected / 2)))
    assert row["chi2_pvalue"] == pytest.approx(0.1552, abs=1e-4)
    assert math.isnan(row["ks_pvalue"]) and row["ks"] == pytest.approx(0.1)


def test_sparse_values_are_pooled_and_continuous_features_keep_ks():
    """Integer SpO2 uses chi-squared with values pooled to expected counts >= 5; a
    continuous feature keeps the KS test and no chi-squared."""
    rng = np.random.default_rng(0)
    spo2 = np.clip(np.round(rng.normal(95, 3, 2000)), 70, 100)
    ref, cur = pd.DataFrame({"spo2": spo2[:1000]}), pd.DataFrame({"spo2": spo2[1000:]})
    row = drift(ref, cur).features.loc["spo2"]
    assert row["test"] == "chi-squared" and math.isnan(row["ks_pvalue"])
    values = np.unique(spo2)
    assert 1 <= row["chi2_df"] < values.size - 1  # tails pooled
    assert 0.01 < row["chi2_pvalue"] < 1.0  # same population
    crp = pd.DataFrame({"crp": rng.lognormal(3, 1, 2000)})
    row = drift(crp.iloc[:1000], crp.iloc[1000:]).features.loc["crp"]
    assert row["test"] == "KS" and np.isfinite(row["ks_pvalue"]) and math.isnan(row["chi2"])


def test_a_single_category_has_no_test_and_still_renders():
    """One value in both cohorts (every patient male): no chi-squared, PSI 0, HTML works."""
    ref = pd.DataFrame({"sex": ["male"] * 50, "vaccine_doses": pd.array([0] * 50, dtype="Int64")})
    report = drift(ref, ref.iloc[:20])
    for name in ("sex", "vaccine_doses"):
        row = report.features.loc[name]
        assert row["test"] == "" and math.isnan(row["chi2"]) and row["psi"] == 0.0
    assert "<td>Sex</td>" in report.to_html_section()


def test_outcome_verdict_from_rate_ratio_and_significance():
    """Rate 10% -> 15% is moderate with 1000 rows each (p=0.0007), none with 100 (p=0.29)."""
    def frame(k: int, n: int) -> pd.DataFrame:
        return pd.DataFrame({"sex": ["male"] * n,
                             "death": pd.array([True] * k + [False] * (n - k), dtype="boolean")})

    big = drift(frame(100, 1000), frame(150, 1000)).outcomes.loc["death"]
    pooled = 0.125
    z = 0.05 / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert big["rate_pvalue"] == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert big["rate_ratio"] == pytest.approx(1.5)
    assert big["rate_change"] == pytest.approx(0.05)
    assert big["verdict"] == "moderate"
    small = drift(frame(10, 100), frame(15, 100)).outcomes.loc["death"]
    assert small["rate_pvalue"] == pytest.approx(0.2850, abs=1e-4)  # z = 1.069
    assert small["verdict"] == "none"
    assert drift(frame(100, 1000), frame(30, 1000)).outcomes.at["death", "verdict"] == "major"


# ----------------------------------------------------------------------------- scenarios
def test_wild_type_vs_omicron_drifts_on_vaccination_and_variant(wild_1, omicron):
    """Omicron moves variant, doses and time since vaccination (and outcome rates), not sex."""
    report = drift(wild_1, omicron)
    assert set(report.drifted) == {"variant_period", "vaccine_doses", "days_since_vaccination"}
    assert all(report.features.loc[list(report.drifted), "verdict"] == "major")
    assert report.verdict == "major"
    for feature in ("sex", "age", "ethnicity", "bmi", "deprivation_quintile"):
        assert report.features.at[feature, "psi"] < 0.01, feature
    outs = report.outcomes
    assert list(outs.index) == ["hospitalisation", "death"]
    assert (outs["verdict"] == "major").all()
    assert (outs["rate_ratio"] < 0.5).all()  # both rates more than halve under Omicron
    assert report.features.at["variant_period", "largest_shift"] == "omicron: 0.0% -> 100.0%"
    assert report.features.at["days_since_vaccination", "missing_reference"] == 1.0


def test_two_seeds_of_one_scenario_show_no_drift(wild_1, wild_2):
    """Independent samples of the same scenario: every PSI below 0.005, verdict none."""
    report = drift(wild_1, wild_2)
    assert report.verdict == "none" and report.drifted == ()
    assert report.features["psi"].max() < 0.005
    assert (report.outcomes["verdict"] == "none").all()
    assert "haemoglobin" not in report.features.index
    assert "urea" in report.skipped  # community records have no labs
    assert "patient_id" not in report.features.index


def test_explicit_features_and_inferred_kinds():
    """Features can be chosen, and non-schema columns get their kind from the dtype."""
    ref = pd.DataFrame({"score": [1.5, 2.5] * 50, "flag": [True, False] * 50,
                        "site": ["a", "b"] * 50, "sex": ["male"] * 100})
    report = drift(ref, ref, features=["score", "flag", "site"])
    assert list(report.features.index) == ["score", "flag", "site"]
    assert report.features["kind"].tolist() == ["float", "bool", "category"]
    assert (report.features["psi"] == 0.0).all()


# ----------------------------------------------------------------------------- output
def test_report_exports_and_repr(wild_1, omicron):
    """to_dict is strict JSON, the HTML fragment names features, repr is one short line."""
    report = drift(wild_1, omicron)
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["verdict"] == "major"
    assert data["drifted"][0] == "variant_period"
    assert {r["feature"] for r in data["features"]} == set(report.features.index)
    assert data["thresholds"] == {"moderate": 0.1, "major": 0.25}
    text = report.to_html_section(reference="training cohort", current="new cohort")
    assert "Variant period" in text and "training cohort" in text and "http" not in text
    assert repr(report).startswith("DriftReport(major drift in ")
    assert "\n" not in repr(report) and len(repr(report)) < 200
    summary = report.summary
    assert summary.index[0] == "variant_period"
    assert set(summary["role"]) == {"feature", "outcome"}
    assert isinstance(report, DriftReport)


def test_bad_arguments_say_what_to_do(wild_1):
    """Unknown features, too few bins, empty or non-frame cohorts raise clear errors."""
    with pytest.raises(ValueError, match="'troponin_x' is not a column of the reference"):
        drift(wild_1, wild_1, features=["troponin_x"])
    with pytest.raises(ValueError, match="bins=1 is not allowed"):
        drift(wild_1, wild_1, bins=1)
    with pytest.raises(ValueError, match="are outcomes"):
        drift(wild_1, wild_1, features=["death"])
    with pytest.raises(ValueError, match="current cohort has no rows"):
        drift(wild_1, wild_1.iloc[:0])
    with pytest.raises(TypeError, match="pandas DataFrame"):
        drift({"age": [1]}, wild_1)


def test_package_attribute_is_the_function_whatever_the_import_order():
    """covid_risk.drift is the function even after the submodule was imported first."""
    import covid_risk
    import covid_risk.evaluation.drift_report as module

    ref = pd.DataFrame({"sex": ["female", "male"] * 50})
    assert isinstance(module.drift(ref, ref), DriftReport)
    assert covid_risk.drift is module.drift
    assert covid_risk.drift(ref, ref, bins=5).verdict == "none"
