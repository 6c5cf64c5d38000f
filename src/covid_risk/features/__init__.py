"""Features: clinical scores, derived features and lab-table snapshots."""

from __future__ import annotations

from covid_risk.features.scores import FOUR_C_RISK_GROUPS, four_c_mortality

__all__ = [
    "FOUR_C_RISK_GROUPS",
    "four_c_mortality",
]
