"""make_cohort: determinism, schema, dtypes, outcome logic and arguments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import covid_risk
from covid_risk.schema import FIELDS, PREDICTORS, SETTING_OUTCOMES, as_float, dtype_of
from covid_risk.synthetic import SCENARIOS, make_cohort, make_population


def test_same_seed_same_frame():
    """The same seed gives an identical frame and identical attrs."""
    a = make_cohort(500, random_state=7)
    b = make_cohort(500, random_state=7)
    pd.testing.assert_frame_equal(a, b)
    assert a.attrs == b.attrs


def test_different_seed_differs():
    """Another seed gives other patients."""
    a = make_cohort(500, random_state=7)
    b = make_cohort(500, random_state=8)
    assert not a["age"].equals(b["age"])
    assert not np.allclose(a["true_risk_death"], b["true_risk_death"])


def test_seed_none_is_recorded_and_reproduces():
    """Without a seed a fresh one is drawn, recorded in attrs, and regenerates the cohort."""
    a = make_cohort(200, random_state=None)
    assert isinstance(a.attrs["seed"], int)
    b = make_cohort(200, random_state=a.attrs["seed"])
    pd.testing.assert_frame_equal(a, b)


def test_generator_random_state_is_accepted():
    """A numpy Generator can be passed; its cohort is not reproducible by seed (seed None)."""
    df = make_cohort(100, random_state=np.random.default_rng(3))
    assert len(df) == 100 and df.attrs["seed"] is None


@pytest.mark.parametrize("setting", ["admission", "community"])
def test_columns_and_dtypes_follow_the_schema(setting):
    """patient_id, every predictor in schema order, the setting's outcomes, then true risks."""
    df = make_cohort(300, setting=setting, random_state=1)
    outcomes = list(SETTING_OUTCOMES[setting])
    expected = ["patient_id", *PREDICTORS, *outcomes, *[f"true_risk_{o}" for o in outcomes]]
    assert list(df.columns) == expected
    assert df["patient_id"].dtype == np.int64
    assert list(df["patient_id"]) == list(range(300))
    for name in PREDICTORS:
        kind = FIELDS[name].kind
        if kind == "category":
            assert pd.api.types.is_string_dtype(df[name].dtype), name
            assert set(df[name].dropna()) <= set(FIELDS[name].categories), name
        else:
            assert str(df[name].dtype) == dtype_of(name), name
    for o in outcomes:
        assert str(df[o].dtype) == "boolean" and not df[o].isna().any()
        assert df[f"true_risk_{o}"].dtype == np.float64


def test_values_within_hard_limits(admission):
    """No charted value is impossible for the schema."""
    for name in PREDICTORS:
        f = FIELDS[name]
        if f.kind in ("float", "int") and f.hard is not None:
            x = as_float(admission, name)
            x = x[~np.isnan(x)]
            assert np.all((x >= f.hard[0]) & (x <= f.hard[1])), name


def test_charted_resolution(admission):
    """SpO2, respiratory rate, heart rate and GCS are whole numbers; temperature has one decimal."""
    for name in ("spo2", "respiratory_rate", "heart_rate", "systolic_bp", "creatinine"):
        x = as_float(admission, name)
        x = x[~np.isnan(x)]
        np.testing.assert_array_equal(x, np.round(x), err_msg=name)
    t = as_float(admission, "temperature")
    t = t[~np.isnan(t)]
    np.testing.assert_allclose(t, np.round(t, 1), atol=1e-9)
    assert as_float(admission, "spo2")[~np.isnan(as_float(admission, "spo2"))].max() <= 100


def test_outcomes_are_logically_consistent(admission):
    """IMV implies ICU; death, ICU and IMV each imply deterioration."""
    b = {o: as_float(admission, o) == 1 for o in SETTING_OUTCOMES["admission"]}
    assert not (b["imv"] & ~b["icu"]).any()
    for o in ("death", "icu", "imv"):
        assert not (b[o] & ~b["deterioration"]).any(), o


def test_true_risks_are_consistent_probabilities(admission):
    """True risks lie in [0, 1] and respect the outcome logic (IMV <= ICU <= deterioration)."""
    r = {o: admission[f"true_risk_{o}"].to_numpy() for o in SETTING_OUTCOMES["admission"]}
    for o, p in r.items():
        assert np.all((p >= 0) & (p <= 1)), o
    assert np.all(r["imv"] <= r["icu"] + 1e-12)
    for o in ("death", "icu", "imv"):
        assert np.all(r[o] <= r["deterioration"] + 1e-12), o


@pytest.mark.parametrize("outcome", SETTING_OUTCOMES["admission"])
def test_sampled_rates_match_mean_true_risk(admission, outcome):
    """Observed rate and mean true risk agree within 4 binomial standard errors."""
    y = as_float(admission, outcome)
    p = admission[f"true_risk_{outcome}"].to_numpy()
    se = np.sqrt(np.sum(p * (1 - p))) / len(p)
    assert abs(y.mean() - p.mean()) < 4 * se


def test_ceiling_of_care_direction():
    """The very old die more but are admitted to ICU less than patients aged 60-79."""
    df = make_cohort(20_000, random_state=5, missingness=False)
    age = as_float(df, "age")
    old, mid = age >= 80, (age >= 60) & (age < 80)
    icu, death = df["true_risk_icu"].to_numpy(), df["true_risk_death"].to_numpy()
    assert icu[old].mean() < 0.5 * icu[mid].mean()
    assert death[old].mean() > death[mid].mean() + 0.05
    ch = as_float(df, "care_home") == 1
    assert icu[ch & old].mean() < icu[~ch & old].mean()


def test_population_links_community_and_admissions():
    """make_population: admissions are exactly the hospitalised, and their death is shared."""
    pop = make_population(30_000, random_state=4)
    com, adm = pop.community, pop.admissions
    hosp_ids = com.loc[com["hospitalisation"].to_numpy(dtype=bool), "patient_id"].to_numpy()
    np.testing.assert_array_equal(adm["patient_id"].to_numpy(), hosp_ids)
    linked = com.set_index("patient_id").loc[adm["patient_id"]]
    np.testing.assert_array_equal(linked["death"].to_numpy(dtype=bool),
                                  adm["death"].to_numpy(dtype=bool))
    np.testing.assert_array_equal(linked["age"].to_numpy(), adm["age"].to_numpy())
    pd.testing.assert_frame_equal(
        com, make_cohort(30_000, setting="community", random_state=4))
    assert "n_admitted" in repr(pop) and set(pop.summary["setting"]) == {"community",
                                                                          "admission"}


@pytest.mark.parametrize("kwargs, word", [
    ({"n_patients": 0}, "n_patients"),
    ({"n_patients": 2.5}, "n_patients"),
    ({"n_patients": 10, "setting": "icu"}, "setting"),
    ({"n_patients": 10, "scenario": "delta"}, "scenario"),
    ({"n_patients": 10, "corruption": 0.9}, "corruption"),
    ({"n_patients": 10, "random_state": -1}, "random_state"),
])
def test_bad_arguments_name_the_argument(kwargs, word):
    """Each invalid argument raises ValueError naming it and the allowed values."""
    n = kwargs.pop("n_patients")
    with pytest.raises(ValueError, match=word):
        make_cohort(n, **kwargs)


def test_public_names_and_scenarios():
    """The scenarios listed are the four periods, wild type first (the default)."""
    assert SCENARIOS == ("wild_type_2020", "alpha_2020", "delta_2021", "omicron_2022")
    assert make_cohort(50, random_state=0).attrs["scenario"] == "wild_type_2020"
    assert covid_risk.synthetic.make_cohort is make_cohort


def test_attrs_record_the_generation_settings(admission):
    """attrs hold the generator version, seed, scenario, setting and size."""
    a = admission.attrs
    assert a["generator_version"] == covid_risk.synthetic.GENERATOR_VERSION
    assert (a["seed"], a["scenario"], a["setting"], a["n_patients"]) == (
        11, "wild_type_2020", "admission", 4000)
    assert a["missingness"] is True and a["corruption"] == 0.0 and a["corrupted_values"] == {}
    assert "before measurement noise" in a["true_risk_definition"]
