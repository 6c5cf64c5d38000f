"""Risk models: calibrated LightGBM boosters, baselines and safe model files.

Submodules are imported on first use (module ``__getattr__``), so importing one
light part -- the coherence rules, or the compiled single-patient view -- does not
import LightGBM's Python package, scikit-learn or the baselines.
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it
_EXPORTS: dict[str, str] = {
    "CLINICAL_SCORES": "covid_risk.models._baselines",
    "ClinicalScoreBaseline": "covid_risk.models._baselines",
    "LogisticBaseline": "covid_risk.models._baselines",
    "fit_baselines": "covid_risk.models._baselines",
    "IsotonicCalibrator": "covid_risk.models._calibration",
    "SigmoidCalibrator": "covid_risk.models._calibration",
    "calibrator_from_dict": "covid_risk.models._calibration",
    "fit_calibrator": "covid_risk.models._calibration",
    "COHERENCE_RULES": "covid_risk.models._coherence",
    "apply_coherence": "covid_risk.models._coherence",
    "coherence_closure": "covid_risk.models._coherence",
    "CompiledModel": "covid_risk.models._compiled",
    "compile_model": "covid_risk.models._compiled",
    "DEFAULT_MODEL_FILES": "covid_risk.models._default",
    "default_model": "covid_risk.models._default",
    "default_view": "covid_risk.models._default",
    "ModelView": "covid_risk.models._view",
    "read_model_file": "covid_risk.models._view",
    "load": "covid_risk.models._load",
    "load_bytes": "covid_risk.models._load",
    "read_manifest": "covid_risk.models._files",
    "RiskModel": "covid_risk.models._risk_model",
    "train": "covid_risk.models._train",
    "RecalibrationError": "covid_risk.models._recalibrate",
    "recalibrate": "covid_risk.models._recalibrate",
    "SampleSize": "covid_risk.models._sample_size",
    "cox_snell_r2_from_c": "covid_risk.models._sample_size",
    "max_cox_snell_r2": "covid_risk.models._sample_size",
    "sample_size": "covid_risk.models._sample_size",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'covid_risk.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
