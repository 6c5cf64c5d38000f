"""The true risks are the exact probabilities the simulator used."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit, ndtr

from covid_risk.synthetic import _parameters as P
from covid_risk.synthetic._admission import admission_features, draw_admission
from covid_risk.synthetic._outcomes import (
    death_probit,
    draw_in_hospital,
    expected_hospital_death,
    in_hospital_risks,
)
from covid_risk.synthetic._population import (
    community_death_lp,
    draw_population,
    hospitalisation_lp,
    subset,
)

SCEN = P.SCENARIOS["wild_type_2020"]


@pytest.fixture(scope="module")
def people():
    """Eight community records of varied ages."""
    pop = draw_population(4000, np.random.default_rng(1), SCEN)
    order = np.argsort(pop["age"])
    return subset(pop, order[np.linspace(0, 3999, 8).astype(int)])


def test_expected_hospital_death_matches_monte_carlo(people):
    """m(x), computed in closed form, equals the average death risk over simulated admissions."""
    reps = 40_000
    idx = np.repeat(np.arange(8), reps)
    many = subset(people, idx)
    adm = draw_admission(many, np.random.default_rng(2), SCEN)
    p = ndtr(death_probit(adm["features"], many["age"], SCEN))
    mc = p.reshape(8, reps).mean(axis=1)
    se = p.reshape(8, reps).std(axis=1) / np.sqrt(reps)
    exact = expected_hospital_death(admission_features(people), people["age"], SCEN)
    assert np.all(np.abs(mc - exact) < 4 * se + 1e-4), (mc, exact)


def test_community_death_risk_is_exact_mixture(people):
    """Community risk = p_H m + (1 - p_H) q; it equals the OpenSAFELY model unless q clips."""
    p_h = expit(hospitalisation_lp(people, SCEN))
    pi = expit(community_death_lp(people, SCEN))
    m = expected_hospital_death(admission_features(people), people["age"], SCEN)
    q = np.clip((pi - p_h * m) / (1 - p_h), 0, 1)
    risk = p_h * m + (1 - p_h) * q
    unclipped = pi >= p_h * m
    np.testing.assert_allclose(risk[unclipped], pi[unclipped], rtol=1e-12)


def test_in_hospital_marginals_match_joint_sampling(people):
    """Sampling the outcome chain reproduces every closed-form marginal risk."""
    reps = 30_000
    # one admission record per person, its outcomes drawn many times
    adm = draw_admission(people, np.random.default_rng(3), SCEN)
    risks = in_hospital_risks(adm["features"], people["age"], SCEN)
    rep = {k: np.repeat(v, reps) for k, v in risks.items()}
    out = draw_in_hospital(rep, np.random.default_rng(4))
    for o in ("death", "icu", "imv", "deterioration", "aki", "vte"):
        freq = out[o].reshape(8, reps).mean(axis=1)
        se = np.sqrt(risks[o] * (1 - risks[o]) / reps)
        assert np.all(np.abs(freq - risks[o]) < 4.5 * se + 1e-4), o


def test_true_risk_uses_values_before_noise():
    """Hiding values changes no true risk: the risks come from the record before charting."""
    from covid_risk.synthetic import make_cohort

    a = make_cohort(1000, random_state=9)
    b = make_cohort(1000, random_state=9, missingness=False)
    for o in ("death", "icu", "aki"):
        np.testing.assert_array_equal(a[f"true_risk_{o}"], b[f"true_risk_{o}"])
    assert a["urea"].isna().sum() > b["urea"].isna().sum() == 0
