"""Charted values: what is missing, and corruption only when asked for."""

from __future__ import annotations

import numpy as np
import pytest

from covid_risk.schema import FIELDS, as_float
from covid_risk.synthetic import make_cohort

VITALS_AND_LABS = [f.name for f in FIELDS.values() if f.group in ("vital", "lab", "imaging")]


def test_community_records_have_no_vitals_or_labs(community):
    """Community records carry no vital sign, lab, imaging or hospital-only field."""
    for name in [*VITALS_AND_LABS, "nosocomial"]:
        assert community[name].isna().all(), name
    assert not community["age"].isna().any() and not community["sex"].isna().any()


def test_troponin_and_d_dimer_missing_more_than_urea_and_crp(admission):
    """Often-unordered tests are missing far more often than the routine ones."""
    miss = {n: admission[n].isna().mean() for n in ("troponin", "d_dimer", "urea", "crp")}
    assert min(miss["troponin"], miss["d_dimer"]) > 0.4
    assert max(miss["urea"], miss["crp"]) < 0.25
    assert min(miss["troponin"], miss["d_dimer"]) > 2 * max(miss["urea"], miss["crp"])


def test_labs_missing_more_often_in_the_less_sick(admission):
    """Labs are missing more often in the lowest than the highest deterioration-risk third."""
    risk = admission["true_risk_deterioration"].to_numpy()
    low, high = risk < np.quantile(risk, 1 / 3), risk > np.quantile(risk, 2 / 3)
    for name in ("urea", "crp", "lymphocytes"):
        miss = admission[name].isna().to_numpy()
        assert miss[low].mean() > 1.3 * miss[high].mean(), name


def test_missingness_off_keeps_every_value(admission, admission_complete):
    """With missingness=False nothing is hidden and every shown value is the same."""
    for name in VITALS_AND_LABS:
        assert not admission_complete[name].isna().any(), name
        shown = ~admission[name].isna().to_numpy()
        np.testing.assert_array_equal(as_float(admission, name)[shown],
                                      as_float(admission_complete, name)[shown], err_msg=name)


def test_oxygen_and_fio2_agree(admission):
    """FiO2 is 0.21 exactly when not on oxygen, above it when on oxygen, missing together."""
    on = admission["on_oxygen"]
    fio2 = as_float(admission, "fio2")
    assert (on.isna().to_numpy() == np.isnan(fio2)).all()
    known = ~on.isna().to_numpy()
    on_b = on.to_numpy(dtype=bool, na_value=False)
    assert np.all(fio2[known & ~on_b] == 0.21) and np.all(fio2[known & on_b] > 0.21)


def test_no_corruption_by_default(admission):
    """By default no value is corrupted and the attrs say so."""
    assert admission.attrs["corruption"] == 0.0 and admission.attrs["corrupted_values"] == {}


def test_corruption_writes_wrong_units_and_is_counted():
    """corruption=0.05 corrupts about 5% of present values; the same seed is otherwise unchanged."""
    clean = make_cohort(3000, random_state=21)
    dirty = make_cohort(3000, random_state=21, corruption=0.05)
    counts = dirty.attrs["corrupted_values"]
    assert set(counts) >= {"creatinine", "urea", "temperature", "crp"}
    for name, k in counts.items():
        present = (~clean[name].isna()).sum()
        changed = int((as_float(clean, name) != as_float(dirty, name))[
            ~clean[name].isna().to_numpy()].sum())
        assert changed <= k and 0.02 * present < k < 0.09 * present, name
    # temperatures written in Fahrenheit are impossible in degrees C
    assert as_float(dirty, "temperature")[~np.isnan(as_float(dirty, "temperature"))].max() > 90
    untouched = [c for c in clean.columns if c not in counts]
    for c in untouched:
        assert clean[c].equals(dirty[c]), c


def test_generated_cohort_passes_validate_unchanged():
    """validate() returns the generated cohort unchanged (patient_id becomes the index)."""
    import warnings

    import pandas as pd

    import covid_risk

    for setting in ("admission", "community"):
        df = make_cohort(2000, setting=setting, random_state=31)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", covid_risk.DataQualityWarning)
            data, report = covid_risk.validate(df, id_column="patient_id")
        pd.testing.assert_frame_equal(data, df.set_index("patient_id"))
        assert report.unknown_columns == ()


@pytest.mark.parametrize("name", ["urea", "crp", "respiratory_rate", "spo2"])
def test_corruption_only_touches_labs_and_temperature(name):
    """Vital signs other than temperature are never corrupted."""
    dirty = make_cohort(500, random_state=2, corruption=0.2)
    assert ("respiratory_rate" in dirty.attrs["corrupted_values"]) is False
    assert ("spo2" in dirty.attrs["corrupted_values"]) is False
    assert (name in dirty.attrs["corrupted_values"]) == (name in ("urea", "crp"))
