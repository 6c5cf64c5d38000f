"""Features: clinical scores, derived features and lab-table snapshots."""

from __future__ import annotations

from covid_risk.features.derived import (
    AGE_BANDS_4C,
    AGE_BANDS_OPENSAFELY,
    BMI_CLASSES,
    DERIVED_DEFINITIONS,
    ROOM_AIR_FIO2,
    age_band_4c,
    age_band_opensafely,
    bmi_class,
    comorbidity_count,
    derived_features,
    neutrophil_lymphocyte_ratio,
    spo2_fio2_ratio,
    urea_creatinine_ratio,
)
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
from covid_risk.features.snapshot import (
    TEST_ALIASES,
    WORST_DIRECTION,
    normalise_test_name,
    snapshot,
)

__all__ = [
    # derived features
    "DERIVED_DEFINITIONS",
    "AGE_BANDS_4C",
    "AGE_BANDS_OPENSAFELY",
    "BMI_CLASSES",
    "ROOM_AIR_FIO2",
    "age_band_4c",
    "age_band_opensafely",
    "bmi_class",
    "comorbidity_count",
    "derived_features",
    "neutrophil_lymphocyte_ratio",
    "spo2_fio2_ratio",
    "urea_creatinine_ratio",
    # clinical scores
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
    # lab-table snapshots
    "TEST_ALIASES",
    "WORST_DIRECTION",
    "normalise_test_name",
    "snapshot",
]

# the model matrix (covid_risk.models reads patients through it)
from covid_risk.features.matrix import (  # noqa: E402
    DERIVED_FEATURES,
    MONOTONE_DIRECTIONS,
    RowRecipe,
    feature_names,
    matrix_spec,
    model_matrix,
    monotone_constraints,
)

__all__ += [
    "DERIVED_FEATURES",
    "MONOTONE_DIRECTIONS",
    "RowRecipe",
    "feature_names",
    "matrix_spec",
    "model_matrix",
    "monotone_constraints",
]
