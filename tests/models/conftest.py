"""Shared cohorts and a quickly trained model for the model tests (fixed seeds)."""

from __future__ import annotations

import pytest

FAST = {"learning_rate": 0.1, "n_estimators": 400, "early_stopping_rounds": 30}
"""Settings that train in seconds; the quality test uses the defaults."""


@pytest.fixture(scope="session")
def fast() -> dict:
    """The FAST training settings."""
    return dict(FAST)


@pytest.fixture(scope="session")
def admission_cohort():
    """4,000 synthetic admitted patients (training)."""
    from covid_risk.synthetic import make_cohort

    return make_cohort(4000, setting="admission", random_state=11)


@pytest.fixture(scope="session")
def admission_test():
    """2,000 other synthetic admitted patients (a different seed)."""
    from covid_risk.synthetic import make_cohort

    return make_cohort(2000, setting="admission", random_state=12)


@pytest.fixture(scope="session")
def fitted(admission_cohort):
    """A RiskModel for every admission outcome, trained with the FAST settings."""
    from covid_risk.models import train

    return train(admission_cohort, random_state=0, **FAST)
