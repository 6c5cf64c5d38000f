"""Sample size (Riley et al. 2020, BMJ 368:m441) against the ``pmsampsize`` worked example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from covid_risk.models import cox_snell_r2_from_c, max_cox_snell_r2, sample_size


def test_pmsampsize_binary_worked_example():
    # pmsampsize documentation, binary example: pmsampsize(type = "b", rsquared = 0.288,
    # parameters = 24, prevalence = 0.174) -> criteria 623 / 662 / 221, final 662 patients,
    # 116 events, EPP 4.8; max R2 0.603, shrinkage 0.905. Criterion (i)
    # alone is the BMJ paper's 623 patients (108 events, EPP 4.5).
    r = sample_size(parameters=24, prevalence=0.174, r2_cs=0.288)
    assert r.criteria == {"shrinkage": 623, "optimism": 662, "overall_risk": 221}
    assert (r.n, r.events, r.epp, r.binding) == (662, 116, 4.8, "optimism")
    assert r.shrinkage == pytest.approx(0.905, abs=5e-4)
    assert r.max_r2_cs == pytest.approx(0.603, abs=5e-4)
    assert r.nagelkerke_r2 == pytest.approx(0.288 / r.max_r2_cs)  # 0.477 (derived by hand)
    assert round(623 * 0.174) == 108 and round(623 * 0.174 / 24, 1) == 4.5


def test_criteria_by_hand():
    # the formulas written out independently of the module
    p, phi, r2 = 10, 0.3, 0.1
    max_r2 = 1 - (phi**phi * (1 - phi) ** (1 - phi)) ** 2
    n1 = math.ceil(p / ((0.9 - 1) * math.log(1 - r2 / 0.9)))
    s2 = r2 / (r2 + 0.05 * max_r2)
    n2 = math.ceil(p / ((s2 - 1) * math.log(1 - r2 / s2))) if s2 > 0.9 else n1
    n3 = math.ceil((1.959964 / 0.05) ** 2 * phi * (1 - phi))
    r = sample_size(parameters=p, prevalence=phi, r2_cs=r2)
    assert r.criteria == {"shrinkage": n1, "optimism": n2, "overall_risk": n3}
    assert r.n == max(n1, n2, n3) and r.adequate(r.n) and not r.adequate(r.n - 1)
    assert max_cox_snell_r2(phi) == pytest.approx(max_r2)


def test_r2_from_c_matches_a_simulation():
    # Riley, Van Calster & Collins (2021) simulate 1e6 patients; a smaller simulation of the
    # same model agrees with the quadrature to Monte Carlo error
    from scipy.stats import norm

    c, phi = 0.8, 0.2
    rng = np.random.default_rng(0)
    n = 400_000
    y = rng.random(n) < phi
    mu = math.sqrt(2) * norm.ppf(c)
    x = rng.normal(size=n) + mu * y
    eta = math.log(phi / (1 - phi)) - mu * mu / 2 + mu * x
    ll = np.sum(np.where(y, -np.logaddexp(0, -eta), -np.logaddexp(0, eta)))
    ll0 = n * (phi * math.log(phi) + (1 - phi) * math.log(1 - phi))
    simulated = 1 - math.exp(-2 * (ll - ll0) / n)
    assert cox_snell_r2_from_c(c, phi) == pytest.approx(simulated, abs=0.003)
    # the pmsampsize C-statistic example (C = 0.89, prevalence 0.174) lands near R2 0.288
    assert cox_snell_r2_from_c(0.89, 0.174) == pytest.approx(0.288, abs=0.005)
    assert sample_size(parameters=24, prevalence=0.174, cstatistic=0.8).n > 662


@pytest.mark.parametrize(
    "kwargs",
    [dict(parameters=0, prevalence=0.1, r2_cs=0.1), dict(parameters=5, prevalence=1.2, r2_cs=0.1),
     dict(parameters=5, prevalence=0.1), dict(parameters=5, prevalence=0.1, r2_cs=0.9),
     dict(parameters=5, prevalence=0.1, cstatistic=0.4)],
)
def test_bad_inputs(kwargs):
    with pytest.raises(ValueError):
        sample_size(**kwargs)
