"""Evaluation: metrics, held-out evaluation, drift, the model card and the HTML report."""

from __future__ import annotations

from covid_risk.evaluation._evaluate import Evaluation, OutcomeEvaluation, evaluate
from covid_risk.evaluation.card import ModelCard, model_card
from covid_risk.evaluation.drift_report import DriftReport, drift
from covid_risk.evaluation.report import render_report, report_html

__all__ = [
    "DriftReport",
    "Evaluation",
    "ModelCard",
    "OutcomeEvaluation",
    "drift",
    "evaluate",
    "model_card",
    "render_report",
    "report_html",
]
