"""Small models shared by the robustness tests (fixed seeds, trained in seconds)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from covid_risk.exceptions import CalibrationWarning

SMALL = {"learning_rate": 0.15, "n_estimators": 60, "early_stopping_rounds": 15}
"""Training settings for models that only need to be real, not good."""


def _train(setting: str, seed: int):
    from covid_risk.models import train
    from covid_risk.synthetic import make_cohort

    cohort = make_cohort(3000, setting=setting, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return train(cohort, setting=setting, random_state=0, **SMALL)


@pytest.fixture(scope="session")
def admission_model():
    """An admission RiskModel for every outcome, trained on 3,000 synthetic patients."""
    return _train("admission", 31)


@pytest.fixture(scope="session")
def community_model():
    """A community RiskModel (hospitalisation, death), trained on 3,000 synthetic people."""
    return _train("community", 32)


@pytest.fixture(scope="session")
def models(admission_model, community_model) -> dict:
    """Setting -> small model."""
    return {"admission": admission_model, "community": community_model}


@pytest.fixture(scope="session")
def admission_file(admission_model, tmp_path_factory) -> Path:
    """The small admission model saved unsigned to a file (for paths and subprocesses)."""
    path = tmp_path_factory.mktemp("models") / "admission.crmodel"
    admission_model.save(path, hmac_key=b"")
    return path
