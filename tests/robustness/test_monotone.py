"""Monotone risk: raising age, urea or respiratory rate never lowers a constrained risk.

A constraint is *on* for (outcome, field) when the model was trained with monotone
constraints and :data:`covid_risk.features.matrix.MONOTONE_DIRECTIONS` gives the
field +1 for the outcome. It then binds the outcome's booster (raw log-odds) and,
calibrators being non-decreasing, its calibrated probability. The published
probability also goes through the coherence step (ICU >= IMV, deterioration >=
death, ICU, IMV), a maximum over outcomes: it is monotone only when every outcome
it takes the maximum over is constrained the same way (see ``_effective``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from covid_risk.exceptions import DataQualityWarning
from covid_risk.features.matrix import MONOTONE_DIRECTIONS
from covid_risk.models import COHERENCE_RULES
from covid_risk.prediction._predict import predict_risk
from covid_risk.schema import FIELDS, OUTCOMES

from .strategies import fuzz_settings, good_patients

RAISED = {"admission": ("age", "urea", "respiratory_rate"), "community": ("age",)}
"""Fields raised, per setting (urea and respiratory rate are not community predictors)."""
TOL = 1e-12


def _constrained(model, field: str) -> list[str]:
    """Outcomes of ``model`` whose booster is constrained to rise with ``field``."""
    if not model.monotone:
        return []
    return [o for o in model.outcomes_ if MONOTONE_DIRECTIONS[o].get(field) == 1]


def _effective(model, field: str) -> list[str]:
    """Constrained outcomes whose coherent probability is a max over constrained outcomes only."""
    up = set(_constrained(model, field))
    out = set(up)
    for container, parts in COHERENCE_RULES:  # containers after their parts, as applied
        if container in out and any(p in model.outcomes_ and p not in out for p in parts):
            out.discard(container)
    return [o for o in model.outcomes_ if o in out]


def _grid(field: str, n: int = 25) -> np.ndarray:
    lo, hi = FIELDS[field].hard
    return np.linspace(lo, hi, n)


def _sweep(patients: pd.DataFrame, field: str, grid: np.ndarray) -> pd.DataFrame:
    """Every patient repeated once per grid value of ``field`` (patient-major order)."""
    rep = patients.loc[patients.index.repeat(len(grid))].reset_index(drop=True)
    rep[field] = np.tile(grid, len(patients))
    return rep


def _falls(values: np.ndarray, n_grid: int) -> np.ndarray:
    """Per patient, the largest fall between neighbouring grid values (0 when none)."""
    steps = np.diff(values.reshape(-1, n_grid), axis=1)
    return np.maximum(-steps.min(axis=1), 0.0)


def _check(model, patients: pd.DataFrame, field: str, grid: np.ndarray) -> None:
    """Raw, calibrated and (where effective) coherent risks never fall as ``field`` rises."""
    rows = _sweep(patients, field, grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        final = model.predict_proba(rows)
        for o in _constrained(model, field):
            raw = model.predict_raw(rows, o)
            assert _falls(raw, len(grid)).max() <= TOL, (field, o, "raw log-odds")
            calibrated = model.calibrators_[o].transform(raw)
            assert _falls(calibrated, len(grid)).max() <= TOL, (field, o, "calibrated")
    for o in _effective(model, field):
        assert _falls(final[o].to_numpy(), len(grid)).max() <= TOL, (field, o, "published")


@pytest.fixture(scope="module")
def cohort_patients() -> dict[str, pd.DataFrame]:
    """150 generated patients per setting, predictors only."""
    from covid_risk.synthetic import make_cohort

    out = {}
    for setting, seed in (("admission", 41), ("community", 42)):
        df = make_cohort(150, setting=setting, random_state=seed)
        drop = [c for c in df.columns if c in OUTCOMES or c.startswith("true_risk_")
                or c == "patient_id"]
        out[setting] = df.drop(columns=drop)
    return out


def test_effective_constraints_are_the_expected_ones(admission_model, community_model):
    """Age binds death (not deterioration: ICU/IMV are free in age); urea and RR bind more."""
    assert _constrained(admission_model, "age") == ["death", "deterioration"]
    assert _effective(admission_model, "age") == ["death"]
    assert _effective(admission_model, "urea") == ["death", "icu", "imv", "deterioration", "aki"]
    assert _effective(admission_model, "respiratory_rate") == [
        "death", "icu", "imv", "deterioration"]
    assert _effective(community_model, "age") == ["hospitalisation", "death"]


@pytest.mark.parametrize(("setting", "field"), [
    ("admission", "age"), ("admission", "urea"), ("admission", "respiratory_rate"),
    ("community", "age"),
])
def test_generated_patients_never_get_lower_risk_when_a_field_rises(models, cohort_patients,
                                                                    setting, field):
    """150 generated patients, each swept across the field's whole hard range (25 values)."""
    _check(models[setting], cohort_patients[setting], field, _grid(field))


@fuzz_settings(40)
@given(st.data(), st.sampled_from(["admission", "community"]))
def test_random_patients_never_get_lower_risk_when_a_field_rises(models, data, setting):
    """Random patients (any subset of fields, any valid values) and random sorted grids."""
    field = data.draw(st.sampled_from(RAISED[setting]))
    lo, hi = FIELDS[field].hard
    points = data.draw(st.lists(st.floats(lo, hi), min_size=2, max_size=12))
    grid = np.unique(np.concatenate([points, _grid(field, 9)]))
    patient = data.draw(good_patients(setting))
    patient.pop(field, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        _check(models[setting], pd.DataFrame([patient]), field, grid)


def test_predict_risk_dicts_are_monotone_too(admission_model, cohort_patients):
    """The single-patient path (what a clinician's tool calls) agrees: no constrained risk falls."""
    patients = cohort_patients["admission"].head(4)
    for field in RAISED["admission"]:
        grid = _grid(field, 9)
        for _, row in patients.iterrows():
            base = {k: (None if pd.isna(v) else v) for k, v in row.items()}
            risks = []
            for x in grid:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DataQualityWarning)
                    result = predict_risk({**base, field: float(x)}, model=admission_model,
                                          explain=False)
                risks.append([result.probabilities[o] for o in _effective(admission_model, field)])
            assert (np.diff(np.array(risks), axis=0) >= -TOL).all(), field


def test_calibrators_never_reverse_the_boosters_order(models):
    """Every calibrator is non-decreasing in the raw log-odds (a negative Platt slope flips it)."""
    from covid_risk.models import default_model

    raw = np.linspace(-12.0, 12.0, 2001)
    fitted = [*models.values(), default_model("admission"), default_model("community")]
    for model in fitted:
        for o in model.outcomes_:
            p = model.calibrators_[o].transform(raw)
            assert (np.diff(p) >= 0).all(), o
            assert ((p >= 0) & (p <= 1)).all(), o


def test_deterioration_falls_with_age_only_where_coherence_lifts_it(admission_model,
                                                                    cohort_patients):
    """Published deterioration may fall with age only from a value raised to the ICU/IMV risk."""
    rows = _sweep(cohort_patients["admission"], "age", _grid("age"))
    n = len(_grid("age"))
    final = admission_model.predict_proba(rows)
    own = admission_model.calibrators_["deterioration"].transform(
        admission_model.predict_raw(rows, "deterioration"))
    falls = _falls(final["deterioration"].to_numpy(), n)
    assert _falls(own, n).max() <= TOL  # the deterioration model itself never falls
    steps = np.diff(final["deterioration"].to_numpy().reshape(-1, n), axis=1) < -TOL
    lifted = final["deterioration"].to_numpy() > own + TOL
    start = lifted.reshape(-1, n)[:, :-1]
    assert not (steps & ~start).any()  # every fall starts from a coherence-raised value
    assert falls.max() <= float(np.max(final[["icu", "imv"]].to_numpy()))
