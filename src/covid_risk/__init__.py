"""covid_risk: calibrated, explained risk of COVID-19 complications.

The public surface is small and re-exported here; submodules are imported on
first use so that ``import covid_risk`` stays fast for one-patient callers.
"""

from __future__ import annotations

import importlib
from typing import Any

from covid_risk._version import __version__ as __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # schema and errors
    "FIELDS": "covid_risk.schema",
    "OUTCOMES": "covid_risk.schema",
    "SETTING_OUTCOMES": "covid_risk.schema",
    "field_table": "covid_risk.schema",
    "ValidationError": "covid_risk.exceptions",
    "ModelFileError": "covid_risk.exceptions",
    "DataQualityWarning": "covid_risk.exceptions",
    # records in
    "validate": "covid_risk.validation",
    "Validated": "covid_risk.validation",
    "ValidationReport": "covid_risk.validation",
    # clinical scores and features
    "four_c_mortality": "covid_risk.features",
    "curb65": "covid_risk.features",
    "news2": "covid_risk.features",
    "qsofa": "covid_risk.features",
    "score_table": "covid_risk.features",
    "derived_features": "covid_risk.features",
    "snapshot": "covid_risk.features",
    # synthetic cohorts
    "make_cohort": "covid_risk.synthetic",
    "save_cohort": "covid_risk.synthetic",
    "load_cohort": "covid_risk.synthetic",
    "realism_report": "covid_risk.synthetic",
    "RealismReport": "covid_risk.synthetic",
    "make_population": "covid_risk.synthetic",
    "SCENARIOS": "covid_risk.synthetic",
    # models
    "train": "covid_risk.models",
    "recalibrate": "covid_risk.models",
    "sample_size": "covid_risk.models",
    "load": "covid_risk.models",
    "RiskModel": "covid_risk.models",
    "default_model": "covid_risk.models",
    "fit_baselines": "covid_risk.models",
    "LogisticBaseline": "covid_risk.models",
    "ClinicalScoreBaseline": "covid_risk.models",
    # one patient, explanations
    "predict_risk": "covid_risk.prediction",
    "RiskPrediction": "covid_risk.prediction",
    "OutcomeRisk": "covid_risk.prediction",
    "Factor": "covid_risk.prediction",
    "risk_band": "covid_risk.prediction",
    "explain": "covid_risk.explanation",
    "global_importance": "covid_risk.explanation",
    "RiskExplanation": "covid_risk.explanation",
    # batch scoring, drift and retraining
    "score_file": "covid_risk.scoring",
    "ScoreReport": "covid_risk.scoring",
    "drift": "covid_risk.evaluation",
    "DriftReport": "covid_risk.evaluation",
    "retrain": "covid_risk.retraining",
    "RetrainResult": "covid_risk.retraining",
    # evaluation
    "evaluate": "covid_risk.evaluation",
    "Evaluation": "covid_risk.evaluation",
    "OutcomeEvaluation": "covid_risk.evaluation",
    "render_report": "covid_risk.evaluation",
    "model_card": "covid_risk.evaluation",
    "ModelCard": "covid_risk.evaluation",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'covid_risk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
