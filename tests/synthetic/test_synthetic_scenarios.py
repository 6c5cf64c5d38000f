"""Scenarios: variant periods and vaccination shift the cohort (drift is real)."""

from __future__ import annotations

import numpy as np
import pytest

from covid_risk.schema import as_float
from covid_risk.synthetic import SCENARIOS, make_cohort, make_population


@pytest.fixture(scope="module")
def populations():
    """80,000 infected adults in the Delta and Omicron periods (same seed)."""
    return {s: make_population(80_000, scenario=s, random_state=3)
            for s in ("delta_2021", "omicron_2022")}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_runs_and_records_its_variant(scenario):
    """Each scenario generates both settings with its variant period filled in."""
    variant = {"wild_type_2020": "wild_type", "alpha_2020": "alpha", "delta_2021": "delta",
               "omicron_2022": "omicron"}[scenario]
    for setting in ("admission", "community"):
        df = make_cohort(300, setting=setting, scenario=scenario, random_state=1)
        assert set(df["variant_period"]) == {variant} and df.attrs["scenario"] == scenario


def test_omicron_admits_and_kills_fewer_than_delta(populations):
    """Omicron: lower hospitalisation and 28-day death than Delta, and lower in-hospital death."""
    d, o = populations["delta_2021"], populations["omicron_2022"]
    for outcome in ("hospitalisation", "death"):
        assert o.community[f"true_risk_{outcome}"].mean() < \
            0.7 * d.community[f"true_risk_{outcome}"].mean(), outcome
    assert o.admissions["true_risk_death"].mean() < d.admissions["true_risk_death"].mean()


def test_wild_type_has_no_vaccination_and_later_periods_do():
    """No one is vaccinated in 2020; most older adults are by Omicron, with waning recorded."""
    wt = make_cohort(3000, setting="community", random_state=2)
    assert (as_float(wt, "vaccine_doses") == 0).all() and wt["days_since_vaccination"].isna().all()
    om = make_cohort(3000, setting="community", scenario="omicron_2022", random_state=2)
    old = as_float(om, "age") >= 70
    doses = as_float(om, "vaccine_doses")
    assert (doses[old] >= 3).mean() > 0.8
    days = as_float(om, "days_since_vaccination")
    assert np.isnan(days[doses == 0]).all() and not np.isnan(days[doses > 0]).any()


def test_vaccinated_have_lower_risk_within_age_band(populations):
    """In each age band, people with 2+ doses have a lower true risk than the unvaccinated."""
    com = populations["delta_2021"].community
    age = as_float(com, "age")
    vacc = as_float(com, "vaccine_doses") >= 2
    unvacc = as_float(com, "vaccine_doses") == 0
    for lo, hi in ((40, 60), (60, 80), (80, 121)):
        band = (age >= lo) & (age < hi)
        for outcome in ("hospitalisation", "death"):
            r = com[f"true_risk_{outcome}"].to_numpy()
            assert r[band & vacc].mean() < 0.5 * r[band & unvacc].mean(), (lo, outcome)


def test_scenario_drift_changes_the_admitted_mix():
    """Admitted patients differ between scenarios (vaccination makes Delta admissions younger)."""
    wt = make_cohort(5000, random_state=8)
    de = make_cohort(5000, scenario="delta_2021", random_state=8)
    assert as_float(de, "age").mean() < as_float(wt, "age").mean() - 1.5
    assert de["true_risk_death"].mean() < wt["true_risk_death"].mean()
