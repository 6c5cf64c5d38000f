"""Tests for covid_risk.schema: the fields, their units, limits and canonical dtypes."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from covid_risk import schema
from covid_risk.schema import (
    COMMUNITY_PREDICTORS,
    COMORBIDITIES_4C,
    FIELDS,
    OUTCOMES,
    PREDICTORS,
    REQUIRED_FIELDS,
    SETTING_OUTCOMES,
    as_float,
    dtype_of,
    empty_frame,
    field_table,
    get_field,
    schema_hash,
)
from covid_risk.units import IDENTITY

# The canonical names and units stated in the issue ("" = unitless).
ISSUE_UNITS = {
    "age": "years", "sex": "", "bmi": "kg/m2", "ethnicity": "", "deprivation_quintile": "",
    "smoking": "", "care_home": "", "vaccine_doses": "", "days_since_vaccination": "days",
    "variant_period": "", "days_since_onset": "days", "nosocomial": "",
    "chronic_cardiac": "", "chronic_pulmonary": "", "chronic_kidney": "", "liver_disease": "",
    "dementia": "", "chronic_neuro": "", "connective_tissue": "", "diabetes": "", "hiv": "",
    "malignancy": "", "obesity": "", "hypertension": "", "asthma": "", "immunosuppression": "",
    "organ_transplant": "", "haematological_cancer": "",
    "respiratory_rate": "/min", "spo2": "%", "on_oxygen": "", "heart_rate": "/min",
    "systolic_bp": "mmHg", "diastolic_bp": "mmHg", "temperature": "°C", "gcs": "",
    "urea": "mmol/L", "creatinine": "µmol/L", "crp": "mg/L", "lymphocytes": "10^9/L",
    "neutrophils": "10^9/L", "platelets": "10^9/L", "ldh": "U/L", "d_dimer": "mg/L FEU",
    "ferritin": "µg/L", "troponin": "ng/L", "albumin": "g/L", "chest_infiltrates": "",
}
ISSUE_OUTCOMES = {"death", "icu", "imv", "deterioration", "aki", "vte", "hospitalisation"}
NUMERIC = [f.name for f in FIELDS.values() if f.kind in ("float", "int")]


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_field_is_described(name):
    """Every field has a label and a one-line description ending in a full stop."""
    f = FIELDS[name]
    assert f.label.strip() and f.label[0].isupper()
    assert f.description.strip().endswith(".")
    assert f.name == name


@pytest.mark.parametrize("name", NUMERIC)
def test_hard_contains_plausible(name):
    """The plausible range of every numeric field lies inside its hard limits."""
    f = FIELDS[name]
    assert f.hard is not None and f.plausible is not None
    (hlo, hhi), (plo, phi) = f.hard, f.plausible
    assert hlo <= plo < phi <= hhi


@pytest.mark.parametrize(("name", "unit"), ISSUE_UNITS.items())
def test_issue_names_and_units(name, unit):
    """Every canonical name of the issue exists with the stated unit."""
    assert FIELDS[name].unit == unit
    assert FIELDS[name].group != "outcome"


def test_issue_names_are_the_predictors():
    """The predictors are the issue's names plus FiO2 (needed for SpO2 on oxygen)."""
    assert set(PREDICTORS) == set(ISSUE_UNITS) | {"fio2"}
    assert set(OUTCOMES) == ISSUE_OUTCOMES
    assert all(FIELDS[o].kind == "bool" for o in OUTCOMES)


def test_kinds_and_categories_from_issue():
    """Sex is female/male, GCS is a whole number from 3 to 15, age and sex are required."""
    assert FIELDS["sex"].categories == ("female", "male")
    assert FIELDS["gcs"].kind == "int" and FIELDS["gcs"].hard == (3, 15)
    assert REQUIRED_FIELDS == ("age", "sex")
    assert FIELDS["ethnicity"].categories == ("white", "south_asian", "black", "mixed", "other")


def test_category_fields_have_categories_and_no_limits():
    """Category fields list their values; bool and category fields have no limits or units."""
    for f in FIELDS.values():
        if f.kind == "category":
            assert len(f.categories) >= 2
            assert all(c == c.lower().replace(" ", "_") for c in f.categories)
        if f.kind in ("bool", "category"):
            assert f.hard is None and f.plausible is None and f.unit == "" and not f.alt_units


def test_comorbidities_and_settings():
    """The 4C comorbidities are eleven booleans; setting outcomes are known outcomes."""
    assert len(COMORBIDITIES_4C) == 11
    assert all(FIELDS[c].kind == "bool" and FIELDS[c].group == "comorbidity"
               for c in COMORBIDITIES_4C)
    assert set(SETTING_OUTCOMES) == {"community", "admission"}
    for outcomes in SETTING_OUTCOMES.values():
        assert set(outcomes) <= set(OUTCOMES)
    assert "nosocomial" not in COMMUNITY_PREDICTORS
    assert not any(FIELDS[c].group in ("vital", "lab") for c in COMMUNITY_PREDICTORS)


def test_allowed_text():
    """The allowed-values text used in messages reads as intended."""
    assert FIELDS["age"].allowed_text() == "a number between 0 and 120 years"
    assert FIELDS["gcs"].allowed_text() == "a whole number between 3 and 15"
    assert FIELDS["sex"].allowed_text() == "one of 'female', 'male'"
    assert FIELDS["diabetes"].allowed_text() == "yes/no (true/false, 1/0)"


def test_conversion_lookup():
    """None, empty and any spelling of the canonical unit are the identity; unknown is None."""
    urea = FIELDS["urea"]
    assert urea.conversion(None) is IDENTITY
    assert urea.conversion("") is IDENTITY
    assert urea.conversion(" MMOL / l ") is IDENTITY
    assert urea.conversion("mg/dl bun") is urea.alt_units["mg/dL BUN"]
    assert urea.conversion("furlongs") is None
    assert urea.accepted_units == ("mmol/L", "mg/dL BUN", "mg/dL", "mg/dL urea")


def test_get_field():
    """get_field returns the field, or a KeyError listing the known ones."""
    assert get_field("crp") is FIELDS["crp"]
    with pytest.raises(KeyError, match="Unknown field 'cpr'. Known fields: age, sex"):
        get_field("cpr")


def test_field_table():
    """The field table has one row per field with its limits."""
    table = field_table()
    assert len(table) == len(FIELDS)
    row = table.set_index("field").loc["temperature"]
    assert (row["hard_min"], row["hard_max"], row["plausible_min"]) == (25.0, 45.0, 34.0)


class TestSchemaHash:
    def test_is_sha256_and_repeatable(self):
        """The hash is a 64-digit hex string, the same on every call."""
        h = schema_hash()
        assert len(h) == 64 and int(h, 16) >= 0
        assert schema_hash() == h

    def test_same_in_another_process(self):
        """A fresh interpreter with another hash seed computes the same hash."""
        env = {**os.environ, "PYTHONHASHSEED": "12345"}
        out = subprocess.run(
            [sys.executable, "-c", "from covid_risk.schema import schema_hash; "
                                   "print(schema_hash())"],
            capture_output=True, text=True, env=env, check=True, timeout=120,
        )
        assert out.stdout.strip() == schema_hash()

    def test_changes_with_limits(self, monkeypatch):
        """Changing a hard limit changes the hash."""
        before = schema_hash()
        monkeypatch.setitem(schema.FIELDS, "age",
                            dataclasses.replace(FIELDS["age"], hard=(0.0, 121.0)))
        assert schema_hash() != before


class TestEmptyFrame:
    def test_dtypes(self):
        """The empty frame has every predictor with its canonical dtype."""
        frame = empty_frame(3)
        assert list(frame.columns) == list(PREDICTORS)
        assert frame.shape == (3, len(PREDICTORS))
        for name in PREDICTORS:
            assert str(frame[name].dtype) == dtype_of(name)
        assert dtype_of("age") == "float64"
        assert dtype_of("gcs") == "Int64"
        assert dtype_of("diabetes") == "boolean"
        assert dtype_of("sex") == "object"
        assert frame.isna().all().all()

    def test_columns_subset(self):
        """A subset of columns can be asked for, in the given order."""
        frame = empty_frame(0, columns=("death", "age"))
        assert list(frame.columns) == ["death", "age"]
        assert len(frame) == 0


def test_as_float():
    """as_float gives booleans as 1/0, missing as NaN, absent columns as NaN."""
    frame = pd.DataFrame({"diabetes": pd.array([True, False, None], dtype="boolean"),
                          "gcs": pd.array([15, None, 3], dtype="Int64"),
                          "sex": ["male", "female", None]})
    np.testing.assert_array_equal(as_float(frame, "diabetes"), [1.0, 0.0, np.nan])
    np.testing.assert_array_equal(as_float(frame, "gcs"), [15.0, np.nan, 3.0])
    np.testing.assert_array_equal(as_float(frame, "crp"), [np.nan] * 3)
    with pytest.raises(TypeError, match="'sex' is categorical"):
        as_float(frame, "sex")
