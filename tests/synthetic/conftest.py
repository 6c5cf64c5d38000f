"""Small cohorts shared by the synthetic-generator tests (module scope, fixed seeds)."""

from __future__ import annotations

import pytest

from covid_risk.synthetic import make_cohort


@pytest.fixture(scope="session")
def admission():
    """4,000 admitted patients, default scenario, seed 11."""
    return make_cohort(4000, random_state=11)


@pytest.fixture(scope="session")
def admission_complete():
    """The same patients as ``admission`` with nothing hidden."""
    return make_cohort(4000, random_state=11, missingness=False)


@pytest.fixture(scope="session")
def community():
    """20,000 infected adults, default scenario, seed 12."""
    return make_cohort(20_000, setting="community", random_state=12)
