"""Features: clinical scores, derived features and lab-table snapshots."""

from __future__ import annotations

from covid_risk.features.scores import (
    CURB65_RISK_GROUPS,
    FOUR_C_DETERIORATION_COEFFICIENTS,
    FOUR_C_RISK_GROUPS,
    NEWS2_RESPONSE_BANDS,
    curb65,
    four_c_deterioration_lp,
    four_c_mortality,
    news2,
    qsofa,
    score_table,
)

__all__ = [
    "CURB65_RISK_GROUPS",
    "FOUR_C_DETERIORATION_COEFFICIENTS",
    "FOUR_C_RISK_GROUPS",
    "NEWS2_RESPONSE_BANDS",
    "curb65",
    "four_c_deterioration_lp",
    "four_c_mortality",
    "news2",
    "qsofa",
    "score_table",
]
