"""Prediction for people: ``predict_risk`` for one patient or a DataFrame, and its results."""

from __future__ import annotations

from covid_risk.prediction._predict import (
    RISK_BANDS,
    Factor,
    OutcomeRisk,
    RiskPrediction,
    predict_risk,
    resolve_model,
    risk_band,
)

__all__ = [
    "RISK_BANDS",
    "Factor",
    "OutcomeRisk",
    "RiskPrediction",
    "predict_risk",
    "resolve_model",
    "risk_band",
]
