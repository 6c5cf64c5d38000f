from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covid_risk.features import (
    AGE_BANDS_4C,
    BMI_CLASSES,
    age_band_4c,
    age_band_opensafely,
    bmi_class,
    comorbidity_count,
    derived_features,
    neutrophil_lymphocyte_ratio,
    spo2_fio2_ratio,
    urea_creatinine_ratio,
)
from covid_risk.schema import COMORBIDITIES_4C


def floats(**columns) -> pd.DataFrame:
    """Build a frame of float64 columns (None becomes NaN)."""
    return pd.DataFrame(
        {k: np.array([np.nan if v is None else v for v in vals], dtype=float)
         for k, vals in columns.items()}
    )


def bools(values) -> pd.arrays.BooleanArray:
    """Nullable boolean array (None becomes NA)."""
    return pd.array(values, dtype="boolean")


# --------------------------------------------------------------------------- comorbidity count
def test_comorbidity_count_4c_definition():
    """Counts only the 11 4C conditions; missing flags count as absent."""
    df = pd.DataFrame(
        {
            "chronic_cardiac": bools([True, None, False, True]),
            "diabetes": bools([True, True, None, True]),
            "obesity": bools([False, None, None, True]),
            "hypertension": bools([True, True, True, True]),  # not a 4C comorbidity
            "asthma": bools([True, False, True, True]),  # not a 4C comorbidity
        },
        index=pd.Index([10, 11, 12, 13], name="patient_id"),
    )
    count = comorbidity_count(df)
    assert count.tolist() == [2, 1, 0, 3]
    assert str(count.dtype) == "Int64"
    assert count.name == "comorbidity_count"
    assert count.index.equals(df.index)


def test_comorbidity_count_all_eleven_and_custom_names():
    """All 11 flags give 11; a custom list counts only its own fields."""
    df = pd.DataFrame({name: bools([True]) for name in COMORBIDITIES_4C})
    df["hypertension"] = bools([True])
    assert comorbidity_count(df).iloc[0] == 11
    assert comorbidity_count(df, names=["hypertension", "diabetes", "asthma"]).iloc[0] == 2


def test_comorbidity_count_rejects_non_boolean_field():
    """A non yes/no field in names raises a KeyError naming it."""
    with pytest.raises(KeyError, match="'age' is not a yes/no field"):
        comorbidity_count(pd.DataFrame({"age": [50.0]}), names=["age"])


# --------------------------------------------------------------------------- ratios
def test_nlr_values_and_zero_or_missing_denominator():
    """NLR = neutrophils / lymphocytes; zero or missing lymphocytes give NaN, not inf."""
    df = floats(neutrophils=[6.0, 5.7, 0.0, 4.0, None, 3.0],
                lymphocytes=[1.5, 0.8, 1.0, 0.0, 1.0, None])
    nlr = neutrophil_lymphocyte_ratio(df)
    assert nlr.iloc[:3].tolist() == pytest.approx([4.0, 7.125, 0.0])
    assert nlr.iloc[3:].isna().all()
    assert not np.isinf(nlr).any()
    assert nlr.name == "nlr"


def test_spo2_fio2_ratio_room_air_default_and_unknown_fio2():
    """FiO2 0.21 on room air when unrecorded; recorded FiO2 wins; on O2 with no FiO2 is NaN."""
    df = pd.DataFrame(
        {
            "spo2": [97.0, 94.0, 92.0, 95.0, np.nan, 96.0],
            "fio2": [np.nan, 0.40, np.nan, np.nan, 0.21, 0.28],
            "on_oxygen": bools([False, True, True, None, False, False]),
        }
    )
    ratio = spo2_fio2_ratio(df)
    assert ratio.iloc[0] == pytest.approx(97 / 0.21)  # 461.9
    assert ratio.iloc[1] == pytest.approx(235.0)
    assert np.isnan(ratio.iloc[2])  # on oxygen, FiO2 unknown
    assert np.isnan(ratio.iloc[3])  # oxygen status unknown
    assert np.isnan(ratio.iloc[4])  # SpO2 missing
    assert ratio.iloc[5] == pytest.approx(96 / 0.28)  # recorded FiO2 used as given
    assert ratio.name == "spo2_fio2"


def test_spo2_fio2_ratio_without_fio2_column():
    """A frame with no fio2 column still uses 0.21 for patients on room air."""
    df = pd.DataFrame({"spo2": [98.0, 90.0], "on_oxygen": bools([False, True])})
    ratio = spo2_fio2_ratio(df)
    assert ratio.iloc[0] == pytest.approx(466.6666667)
    assert np.isnan(ratio.iloc[1])


def test_urea_creatinine_ratio_values_and_zero_denominator():
    """Urea mmol/L / creatinine umol/L x 1000; zero or missing creatinine gives NaN."""
    df = floats(urea=[7.0, 20.0, 5.0, None, 0.0], creatinine=[100.0, 80.0, 0.0, 90.0, 60.0])
    ratio = urea_creatinine_ratio(df)
    assert ratio.iloc[0] == pytest.approx(70.0)
    assert ratio.iloc[1] == pytest.approx(250.0)
    assert np.isnan(ratio.iloc[2]) and np.isnan(ratio.iloc[3])
    assert ratio.iloc[4] == 0.0
    assert not np.isinf(ratio).any()


def test_urea_creatinine_ratio_matches_bun_creatinine_conversion():
    """BUN 20 mg/dL with creatinine 1 mg/dL (BUN:Cr 20) gives about 80.8 here."""
    df = floats(urea=[20 * 10 / 28.014], creatinine=[10_000 / 113.12])
    assert urea_creatinine_ratio(df).iloc[0] == pytest.approx(80.76, abs=0.01)


# --------------------------------------------------------------------------- bands
@pytest.mark.parametrize(
    ("age", "band"),
    [(18.0, "<50"), (49.9, "<50"), (50.0, "50-59"), (59.9, "50-59"), (60.0, "60-69"),
     (69.9, "60-69"), (70.0, "70-79"), (79.9, "70-79"), (80.0, ">=80"), (104.0, ">=80")],
)
def test_age_band_4c_edges(age, band):
    """4C age bands change exactly at 50, 60, 70 and 80."""
    assert age_band_4c(floats(age=[age])).iloc[0] == band


@pytest.mark.parametrize(
    ("age", "band"),
    [(17.9, None), (18.0, "18-39"), (39.9, "18-39"), (40.0, "40-49"), (49.9, "40-49"),
     (50.0, "50-59"), (59.9, "50-59"), (60.0, "60-69"), (69.9, "60-69"), (70.0, "70-79"),
     (79.9, "70-79"), (80.0, "80+"), (None, None)],
)
def test_age_band_opensafely_edges(age, band):
    """OpenSAFELY bands change at 40, 50, 60, 70, 80; under 18 and missing are NaN."""
    value = age_band_opensafely(floats(age=[age])).iloc[0]
    if band is None:
        assert pd.isna(value)
    else:
        assert value == band


@pytest.mark.parametrize(
    ("bmi", "cls"),
    [(18.4, "underweight"), (18.5, "normal"), (24.9, "normal"), (24.99, "normal"),
     (25.0, "overweight"), (29.9, "overweight"), (30.0, "obese_i"), (34.9, "obese_i"),
     (35.0, "obese_ii"), (39.9, "obese_ii"), (40.0, "obese_iii"), (55.0, "obese_iii"),
     (None, None)],
)
def test_bmi_class_edges(bmi, cls):
    """BMI classes change exactly at 18.5, 25, 30, 35 and 40 kg/m2."""
    value = bmi_class(floats(bmi=[bmi])).iloc[0]
    if cls is None:
        assert pd.isna(value)
    else:
        assert value == cls


def test_bands_are_ordered_categoricals():
    """Bands sort clinically (so '<50' comes before '>=80'), not alphabetically."""
    bands = age_band_4c(floats(age=[85.0, 30.0, 65.0]))
    assert list(bands.cat.categories) == list(AGE_BANDS_4C)
    assert bands.cat.ordered
    assert bands.sort_values().tolist() == ["<50", "60-69", ">=80"]
    assert list(bmi_class(floats(bmi=[20.0])).cat.categories) == list(BMI_CLASSES)


# --------------------------------------------------------------------------- all together
def test_derived_features_one_patient_by_hand():
    """derived_features returns every feature, hand-computed for one complete patient."""
    df = pd.DataFrame(
        {
            "age": [67.0],
            "bmi": [31.2],
            "spo2": [93.0],
            "fio2": [np.nan],
            "on_oxygen": bools([False]),
            "urea": [9.0],
            "creatinine": [120.0],
            "neutrophils": [8.4],
            "lymphocytes": [0.7],
            "diabetes": bools([True]),
            "chronic_kidney": bools([True]),
            "hypertension": bools([True]),
        },
        index=pd.Index(["a"], name="patient_id"),
    )
    out = derived_features(df)
    assert list(out.columns) == [
        "comorbidity_count", "nlr", "spo2_fio2", "urea_creatinine_ratio",
        "age_band_4c", "age_band_opensafely", "bmi_class",
    ]
    row = out.loc["a"]
    assert row["comorbidity_count"] == 2
    assert row["nlr"] == pytest.approx(12.0)
    assert row["spo2_fio2"] == pytest.approx(442.857142857)
    assert row["urea_creatinine_ratio"] == pytest.approx(75.0)
    assert (row["age_band_4c"], row["age_band_opensafely"], row["bmi_class"]) == (
        "60-69", "60-69", "obese_i",
    )


def test_one_definition_for_a_frame_and_for_one_record():
    """DERIVED_DEFINITIONS give the same bits for a frame column and for each record alone."""
    from covid_risk.features.derived import DERIVED_DEFINITIONS, Count, Ratio

    nan = float("nan")
    rows = [
        # neutrophils, lymphocytes, spo2, fio2, on_oxygen, urea, creatinine, diabetes, dementia
        (8.1, 0.6, 91.0, 0.4, 1.0, 11.2, 130.0, 1.0, 0.0),
        (5.0, 0.0, 97.0, nan, 0.0, 7.0, 100.0, nan, 1.0),  # zero lymphocytes; room air
        (nan, 2.0, 95.0, nan, 1.0, nan, 80.0, 0.0, nan),  # on oxygen, FiO2 unknown
        (4.0, 2.0, 95.0, nan, nan, 7.0, 0.0, 1.0, 1.0),  # oxygen unknown; zero creatinine
    ]
    names = ("neutrophils", "lymphocytes", "spo2", "fio2", "on_oxygen", "urea", "creatinine",
             "diabetes", "dementia")
    df = pd.DataFrame(rows, columns=list(names))
    want = {
        "nlr": [8.1 / 0.6, nan, nan, 2.0],
        "spo2_fio2": [91.0 / 0.4, 97.0 / 0.21, nan, nan],
        "urea_creatinine_ratio": [11.2 * 1000.0 / 130.0, 70.0, nan, nan],
        "comorbidity_count": [1.0, 1.0, 0.0, 2.0],
    }
    assert isinstance(DERIVED_DEFINITIONS["nlr"], Ratio)
    assert isinstance(DERIVED_DEFINITIONS["comorbidity_count"], Count)
    for name, expected in want.items():
        definition = DERIVED_DEFINITIONS[name]
        column = np.asarray(definition.column(df), dtype="float64")
        one = np.array([definition.one(dict(zip(names, r, strict=True))) for r in rows])
        np.testing.assert_array_equal(column, expected)
        np.testing.assert_array_equal(one, column)  # bitwise, NaN in the same places
    # the public Series functions are the same definitions
    np.testing.assert_array_equal(neutrophil_lymphocyte_ratio(df).to_numpy(), want["nlr"])
    assert comorbidity_count(df).tolist() == [1, 1, 0, 2]
    assert DERIVED_DEFINITIONS["nlr"].one({}) != DERIVED_DEFINITIONS["nlr"].one({})  # NaN


def test_row_recipe_is_the_model_matrix_row():
    """RowRecipe puts values at their columns and derives the rest, as model_matrix does."""
    from covid_risk.features.matrix import RowRecipe, feature_names, model_matrix

    names = feature_names("admission")
    recipe = RowRecipe(names)
    row = recipe.row({"age": 70.0, "sex": 1.0, "spo2": 94.0, "on_oxygen": 0.0,
                      "neutrophils": 6.0, "lymphocytes": 1.5, "diabetes": 1.0})
    frame = pd.DataFrame({"age": [70.0], "sex": ["male"], "spo2": [94.0],
                          "on_oxygen": pd.array([False], dtype="boolean"),
                          "neutrophils": [6.0], "lymphocytes": [1.5],
                          "diabetes": pd.array([True], dtype="boolean")})
    np.testing.assert_array_equal(row, model_matrix(frame, setting="admission").to_numpy()[0])
    assert row[names.index("nlr")] == 4.0 and row[names.index("comorbidity_count")] == 1.0
    assert row[names.index("spo2_fio2")] == 94.0 / 0.21
    with pytest.raises(ValueError, match="no row recipe"):
        RowRecipe((*names, "age_band_4c"))
