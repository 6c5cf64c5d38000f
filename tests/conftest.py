"""Shared test set-up: a headless plotting backend, small training settings, shared models.

Models are trained once per session with :data:`SMALL` settings and fixed seeds; they
only need to be real, not good. Tests that measure quality train their own.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

SMALL = {"learning_rate": 0.15, "n_estimators": 80, "early_stopping_rounds": 15}
"""Training settings for models that only need to be real, not good (trained in seconds)."""


def train_small(setting: str, seed: int, n: int = 3000, **options):
    """Train a model on ``n`` synthetic patients of ``setting`` with :data:`SMALL` settings."""
    from covid_risk.exceptions import CalibrationWarning
    from covid_risk.models import train
    from covid_risk.synthetic import make_cohort

    cohort = make_cohort(n, setting=setting, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return train(cohort, setting=setting, random_state=0, **{**SMALL, **options})


@pytest.fixture(scope="session")
def small_settings() -> dict:
    """A copy of :data:`SMALL`."""
    return dict(SMALL)


@pytest.fixture(scope="session")
def admission_model():
    """An admission RiskModel for every outcome, trained on 3,000 synthetic patients."""
    return train_small("admission", 31)


@pytest.fixture(scope="session")
def community_model():
    """A community RiskModel (hospitalisation, death), trained on 3,000 synthetic people."""
    return train_small("community", 32)


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
