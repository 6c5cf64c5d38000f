"""Tests for covid_risk.labels: every model feature reads like a clinician would write it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from covid_risk.features.matrix import feature_names
from covid_risk.labels import (
    DERIVED,
    category_text,
    describe,
    feature_info,
    feature_label,
    feature_unit,
    format_number,
    format_value,
    labels_for,
    risk_band,
    risk_bands,
)
from covid_risk.schema import FIELDS, SETTINGS


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_matrix_feature_has_a_readable_label(setting):
    """No model-matrix column is shown under an internal name (no underscores, not the raw name)."""
    names = feature_names(setting)
    labels = labels_for(names)
    assert len(labels) == len(names)
    for name, label in zip(names, labels, strict=True):
        assert "_" not in label, (name, label)
        assert label != name, name
        assert label[0].isupper() or label[0].isdigit(), label


@pytest.mark.parametrize("setting", SETTINGS)
def test_matrix_labels_are_unique(setting):
    """Two features never share a label, so a plot row is never ambiguous."""
    labels = labels_for(feature_names(setting))
    assert len(set(labels)) == len(labels)


def test_every_schema_field_uses_the_schema_label_and_unit():
    """Schema fields are labelled and unit-tagged exactly as the schema says."""
    for name, f in FIELDS.items():
        assert feature_label(name) == f.label
        assert feature_unit(name) == f.unit


def test_derived_features_have_clinical_labels():
    """The derived features of the model matrix read as the issue asks."""
    assert feature_label("comorbidity_count") == "4C comorbidity count"
    assert feature_label("nlr") == "Neutrophil-to-lymphocyte ratio"
    assert feature_label("spo2_fio2") == "SpO2/FiO2 ratio"
    assert feature_label("urea_creatinine_ratio") == "Urea/creatinine ratio"
    assert feature_label("four_c_mortality") == "4C Mortality Score"
    assert feature_unit("four_c_mortality") == "points"
    assert feature_unit("nlr") == ""
    for info in DERIVED.values():
        assert "_" not in info.label


def test_aliases_resolve_to_the_same_label():
    """Common alternative spellings of derived features get the same label."""
    assert feature_label("neutrophil_lymphocyte_ratio") == feature_label("nlr")
    assert feature_label("sf_ratio") == feature_label("spo2_fio2")
    assert feature_info("sf_ratio").name == "sf_ratio"


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("respiratory_rate", 31.0, "Respiratory rate 31 /min"),
        ("sex", 1.0, "Sex male"),
        ("sex", 0.0, "Sex female"),
        ("sex", "male", "Sex male"),
        ("comorbidity_count", 2.0, "4C comorbidity count 2"),
        ("urea", float("nan"), "Urea not recorded"),
        ("urea", None, "Urea not recorded"),
        ("urea", pd.NA, "Urea not recorded"),
        ("spo2", 92.0, "SpO2 92%"),
        ("fio2", 0.21, "FiO2 0.21"),
        ("temperature", 37.45, "Temperature 37.5 °C"),
        ("creatinine", 106.08, "Creatinine 106 µmol/L"),
        ("diabetes", 1.0, "Diabetes yes"),
        ("diabetes", 0.0, "Diabetes no"),
        ("ethnicity", 1.0, "Ethnicity South Asian"),
        ("variant_period", 0.0, "Variant period wild type"),
        ("smoking", 2.0, "Smoking current"),
        ("deprivation_quintile", 5.0, "Deprivation quintile 5 (most deprived)"),
        ("deprivation_quintile", 3.0, "Deprivation quintile 3"),
        ("gcs", 15.0, "Glasgow coma scale 15"),
        ("neutrophils", 4.49, "Neutrophils 4.49 ×10⁹/L"),
        ("bmi", 31.2, "Body-mass index 31.2 kg/m²"),
        ("nlr", 7.2534, "Neutrophil-to-lymphocyte ratio 7.25"),
        ("spo2_fio2", 452.38095, "SpO2/FiO2 ratio 452"),
        ("ethnicity_south_asian", 1.0, "Ethnicity: South Asian"),
        ("ethnicity=black", 0.0, "Ethnicity: not Black"),
        ("crp_missing", 1.0, "C-reactive protein not recorded"),
        ("crp_missing", 0.0, "C-reactive protein recorded"),
    ],
)
def test_describe(name, value, text):
    """Label and value with unit read as on a ward round."""
    assert describe(name, value) == text


def test_format_value_numpy_scalars_and_codes():
    """numpy scalars work, and a category code outside the vocabulary is shown as a code."""
    assert format_value("respiratory_rate", np.float32(22.0)) == "22 /min"
    assert format_value("ethnicity", np.float64(4.0)) == "other"
    assert format_value("ethnicity", 9.0) == "code 9"
    assert format_value("on_oxygen", True) == "yes"


@pytest.mark.parametrize(
    ("x", "text"),
    [(31.0, "31"), (0.0, "0"), (36.94, "36.9"), (7.254, "7.25"), (0.2137, "0.214"),
     (1240.4, "1240"), (-0.5, "-0.5"), (0.000123, "0.000123"), (2.50, "2.5")],
)
def test_format_number(x, text):
    """Three significant figures, whole numbers bare, never scientific notation."""
    assert format_number(x) == text


def test_category_text():
    """Category values are written for people."""
    assert category_text("south_asian") == "South Asian"
    assert category_text("wild_type") == "wild type"
    assert category_text("omicron") == "omicron"


def test_unknown_feature_raises_naming_it():
    """A feature without a readable label is an error that names it and says what to do."""
    with pytest.raises(KeyError, match="no_such_feature") as err:
        feature_label("no_such_feature")
    assert "DERIVED" in str(err.value)
    with pytest.raises(KeyError):
        feature_label("ethnicity_martian")  # not a category of ethnicity


def test_fraction_unit_is_not_printed():
    """FiO2's unit "fraction" is kept in feature_unit but not printed after the number."""
    assert feature_unit("fio2") == "fraction"
    assert not format_value("fio2", 0.6).endswith("fraction")
    assert math.isclose(float(format_value("fio2", 0.6)), 0.6)


def test_risk_bands_live_in_labels_and_api_reexports_them():
    """One home for the bands: api's names are labels' objects; scalar and vector agree."""
    import covid_risk
    from covid_risk import labels
    from covid_risk.prediction import _predict as api

    assert api.RISK_BANDS is labels.RISK_BANDS and api.risk_band is labels.risk_band
    assert covid_risk.risk_band is labels.risk_band
    p = np.array([0.0, 0.0299, 0.03, 0.1499, 0.15, 0.4999, 0.5, 1.0, np.nan])
    want = ["low", "low", "intermediate", "intermediate", "high", "high", "very high",
            "very high", "unknown"]  # NaN is never shown as a real band
    assert risk_bands(p).tolist() == want
    assert [risk_band(x) for x in p] == want
    assert risk_bands(p.reshape(3, 3)).shape == (3, 3)
