from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covid_risk.exceptions import DataQualityWarning
from covid_risk.features.matrix import (
    MONOTONE_DIRECTIONS,
    feature_names,
    matrix_spec,
    model_matrix,
    monotone_constraints,
)
from covid_risk.schema import COMMUNITY_PREDICTORS, PREDICTORS, SETTING_OUTCOMES, empty_frame


def test_feature_order():
    """Canonical predictors in schema order, then the derived features."""
    assert feature_names("admission") == PREDICTORS + (
        "comorbidity_count", "nlr", "spo2_fio2"
    )
    assert feature_names("community") == COMMUNITY_PREDICTORS + ("comorbidity_count",)
    with pytest.raises(ValueError, match="setting must be one of"):
        feature_names("icu")


def test_encoding_by_hand():
    """Categories are schema positions, booleans 0/1, missing NaN; derived values computed."""
    df = empty_frame(2)
    df["age"] = [70.0, np.nan]
    df["sex"] = pd.Series(["male", None], dtype=object)
    df["ethnicity"] = pd.Series(["black", "other"], dtype=object)
    df["smoking"] = pd.Series(["former", None], dtype=object)
    df["variant_period"] = pd.Series(["omicron", "wild_type"], dtype=object)
    df["diabetes"] = pd.array([True, False], dtype="boolean")
    df["obesity"] = pd.array([True, pd.NA], dtype="boolean")
    df["neutrophils"] = [6.0, 3.0]
    df["lymphocytes"] = [1.5, 0.0]
    df["spo2"] = [94.0, 90.0]
    df["on_oxygen"] = pd.array([False, True], dtype="boolean")
    df["urea"] = [10.0, np.nan]
    df["creatinine"] = [100.0, 80.0]
    m = model_matrix(df)
    assert m.dtypes.eq("float64").all()
    assert m.loc[0, "sex"] == 1.0 and np.isnan(m.loc[1, "sex"])
    assert m.loc[0, "ethnicity"] == 2.0 and m.loc[1, "ethnicity"] == 4.0
    assert m.loc[0, "smoking"] == 1.0 and np.isnan(m.loc[1, "smoking"])
    assert m.loc[0, "variant_period"] == 3.0 and m.loc[1, "variant_period"] == 0.0
    assert m.loc[0, "diabetes"] == 1.0 and np.isnan(m.loc[1, "obesity"])
    assert m.loc[0, "comorbidity_count"] == 2.0 and m.loc[1, "comorbidity_count"] == 0.0
    assert m.loc[0, "nlr"] == pytest.approx(4.0) and np.isnan(m.loc[1, "nlr"])
    assert m.loc[0, "spo2_fio2"] == pytest.approx(94 / 0.21)
    assert np.isnan(m.loc[1, "spo2_fio2"])  # on oxygen, FiO2 unknown
    assert "urea_creatinine_ratio" not in m.columns  # would undo the urea constraint


def test_absent_columns_are_missing():
    """A frame with only age and sex gives NaN everywhere else (derived counts excepted)."""
    m = model_matrix(pd.DataFrame({"age": [50.0], "sex": ["female"]}), setting="community")
    assert m.loc[0, "age"] == 50.0 and m.loc[0, "sex"] == 0.0
    assert np.isnan(m.loc[0, "bmi"]) and m.loc[0, "comorbidity_count"] == 0.0


def test_unknown_category_warns_and_is_missing():
    """A category outside the vocabulary becomes NaN with a DataQualityWarning naming it."""
    with pytest.warns(DataQualityWarning, match="'Martian'"):
        m = model_matrix(pd.DataFrame({"age": [50.0], "ethnicity": ["Martian"]}))
    assert np.isnan(m.loc[0, "ethnicity"])


def test_monotone_vectors_follow_the_directions():
    """Each outcome's vector has +1/-1 exactly at its listed features, 0 elsewhere."""
    for setting, outcomes in SETTING_OUTCOMES.items():
        names = feature_names(setting)
        for outcome in outcomes:
            vec = monotone_constraints(setting, outcome)
            assert len(vec) == len(names)
            for name, sign in zip(names, vec, strict=True):
                assert sign == MONOTONE_DIRECTIONS[outcome].get(name, 0)
    names = feature_names("admission")
    death = dict(zip(names, monotone_constraints("admission", "death"), strict=True))
    assert death["spo2"] == -1 and death["urea"] == 1 and death["respiratory_rate"] == 1


def test_spec_lists_codes_and_directions():
    """The stored spec has every column, category codes and per-outcome directions."""
    spec = matrix_spec("admission")
    assert [f["name"] for f in spec["features"]] == list(feature_names("admission"))
    sex = next(f for f in spec["features"] if f["name"] == "sex")
    assert sex["codes"] == {"female": 0, "male": 1}
    assert spec["monotone"]["death"]["age"] == 1
    assert "age" not in spec["monotone"]["icu"]
