"""Synthetic cohorts of infected adults with known true risk.

``make_cohort`` simulates one coherent infected population (community records,
and admission records for those admitted) and returns it in the canonical
schema with outcome columns and ``true_risk_<outcome>`` columns: the exact
probability the simulator used for each outcome given the full record.
``realism_report`` compares a generated cohort with published figures.
"""

from __future__ import annotations

from covid_risk.synthetic._cohort import (
    SCENARIOS,
    TRUE_RISK_DEFINITION,
    SyntheticPopulation,
    make_cohort,
    make_population,
)
from covid_risk.synthetic._io import load_cohort, save_cohort
from covid_risk.synthetic._parameters import GENERATOR_VERSION
from covid_risk.synthetic._realism import RealismReport, realism_report

__all__ = [
    "GENERATOR_VERSION",
    "SCENARIOS",
    "TRUE_RISK_DEFINITION",
    "RealismReport",
    "SyntheticPopulation",
    "load_cohort",
    "make_cohort",
    "make_population",
    "realism_report",
    "save_cohort",
]
