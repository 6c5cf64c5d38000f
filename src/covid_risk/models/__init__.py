"""Risk models: calibrated LightGBM boosters, baselines and safe model files."""

from __future__ import annotations

from covid_risk.models._baselines import (
    CLINICAL_SCORES,
    ClinicalScoreBaseline,
    LogisticBaseline,
    fit_baselines,
)
from covid_risk.models._calibration import (
    IsotonicCalibrator,
    SigmoidCalibrator,
    calibrator_from_dict,
    fit_calibrator,
)
from covid_risk.models._default import DEFAULT_MODEL_FILES, default_model
from covid_risk.models._files import read_manifest
from covid_risk.models._load import load
from covid_risk.models._risk_model import COHERENCE_RULES, RiskModel, apply_coherence
from covid_risk.models._train import train

__all__ = [
    "CLINICAL_SCORES",
    "COHERENCE_RULES",
    "DEFAULT_MODEL_FILES",
    "ClinicalScoreBaseline",
    "IsotonicCalibrator",
    "LogisticBaseline",
    "RiskModel",
    "SigmoidCalibrator",
    "apply_coherence",
    "calibrator_from_dict",
    "default_model",
    "fit_baselines",
    "fit_calibrator",
    "load",
    "read_manifest",
    "train",
]
