from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from covid_risk.exceptions import ValidationError
from covid_risk.features import (
    curb65,
    four_c_deterioration_lp,
    four_c_mortality,
    news2,
    qsofa,
    score_table,
)
from covid_risk.schema import COMORBIDITIES_4C, PREDICTORS, dtype_of
from covid_risk.units import UREA_MMOL_PER_BUN_MG_DL

# A patient who scores 0 on every 4C component, CURB-65, qSOFA and NEWS2.
BASE = {
    "age": 40.0,
    "sex": "female",
    "respiratory_rate": 16.0,
    "spo2": 98.0,
    "on_oxygen": False,
    "heart_rate": 70.0,
    "systolic_bp": 125.0,
    "diastolic_bp": 80.0,
    "temperature": 37.0,
    "gcs": 15,
    "urea": 5.0,
    "crp": 10.0,
    "lymphocytes": 1.5,
    "nosocomial": False,
    "chest_infiltrates": False,
}


def frame(*patients: dict) -> pd.DataFrame:
    """Build a canonical frame: each patient is BASE updated with its own values."""
    rows = [{**BASE, **changes} for changes in patients]
    data = {}
    for name in PREDICTORS:
        values = [row.get(name, pd.NA) for row in rows]
        if dtype_of(name) == "float64":
            values = [np.nan if v is pd.NA or v is None else v for v in values]
        data[name] = pd.array(values, dtype=dtype_of(name))
    return pd.DataFrame(data)


def one(field: str, value, score, column: str):
    """Score one patient differing from BASE in one field; return the chosen column."""
    return score(frame({field: value}))[column].iloc[0]


# --------------------------------------------------------------------------- 4C mortality
@pytest.mark.parametrize(
    ("field", "value", "points"),
    [
        ("age", 18.0, 0), ("age", 49.0, 0), ("age", 49.9, 0), ("age", 50.0, 2),
        ("age", 59.9, 2), ("age", 60.0, 4), ("age", 69.9, 4), ("age", 70.0, 6),
        ("age", 79.9, 6), ("age", 80.0, 7), ("age", 101.0, 7),
        ("sex", "female", 0), ("sex", "male", 1),
        ("respiratory_rate", 19.0, 0), ("respiratory_rate", 19.9, 0),
        ("respiratory_rate", 20.0, 1), ("respiratory_rate", 29.0, 1),
        ("respiratory_rate", 29.9, 1), ("respiratory_rate", 30.0, 2),
        ("respiratory_rate", 31.0, 2),
        ("spo2", 91.0, 2), ("spo2", 91.9, 2), ("spo2", 92.0, 0), ("spo2", 93.0, 0),
        ("gcs", 3, 2), ("gcs", 14, 2), ("gcs", 15, 0),
        ("urea", 6.99, 0), ("urea", 7.0, 1), ("urea", 7.01, 1), ("urea", 13.99, 1),
        ("urea", 14.0, 1), ("urea", 14.01, 3), ("urea", 40.0, 3),
        ("crp", 49.0, 0), ("crp", 49.9, 0), ("crp", 50.0, 1), ("crp", 99.0, 1),
        ("crp", 99.9, 1), ("crp", 100.0, 2), ("crp", 101.0, 2),
    ],
)
def test_four_c_band_edges(field, value, points):
    """Each 4C component gives the published points just below, at and above every cut-off."""
    result = four_c_mortality(frame({field: value}))
    assert result[field].iloc[0] == points
    assert result["total"].iloc[0] == points


@pytest.mark.parametrize(("n", "points"), [(0, 0), (1, 1), (2, 2), (3, 2), (11, 2)])
def test_four_c_comorbidity_points(n, points):
    """0, 1 and >=2 of the 11 4C comorbidities give 0, 1 and 2 points."""
    df = frame({name: True for name in COMORBIDITIES_4C[:n]})
    for name in COMORBIDITIES_4C[n:]:
        df[name] = pd.array([False], dtype="boolean")
    assert four_c_mortality(df)["comorbidities"].iloc[0] == points


def test_four_c_missing_comorbidity_counts_as_absent():
    """Missing flags and absent columns count as absent; non-4C conditions are not counted."""
    df = frame({"diabetes": True, "hypertension": True, "asthma": True})  # other flags NA
    assert four_c_mortality(df)["comorbidities"].iloc[0] == 1
    bare = pd.DataFrame({k: [v] for k, v in BASE.items()})  # no comorbidity columns at all
    result = four_c_mortality(bare)
    assert result["comorbidities"].iloc[0] == 0
    assert result["total"].iloc[0] == 0


def test_four_c_unit_conversion_noise_does_not_cross_edge():
    """Urea of 7 - 1e-12 and 14 + 1e-12 (conversion round-off) still score as 7 and 14: 1."""
    assert one("urea", 7.0 - 1e-12, four_c_mortality, "urea") == 1
    assert one("urea", 14.0 + 1e-12, four_c_mortality, "urea") == 1


@pytest.mark.parametrize(("bun_mg_dl", "points"), [(19.6, 0), (19.62, 1), (39.2, 1), (39.3, 3)])
def test_four_c_urea_from_bun_matches_calculator_table(bun_mg_dl, points):
    """BUN <=19.6 mg/dL (6.997 mmol/L urea) scores 0 and 19.62 (7.004) scores 1, as in the
    ISARIC calculator's BUN table; 39.2 mg/dL (13.99 mmol/L) scores 1 and 39.3 (14.03) 3."""
    urea = bun_mg_dl * UREA_MMOL_PER_BUN_MG_DL
    assert one("urea", urea, four_c_mortality, "urea") == points


@pytest.mark.parametrize(
    ("changes", "total", "group"),
    [
        ({}, 0, "low"),
        ({"age": 50.0, "sex": "male"}, 3, "low"),
        ({"age": 60.0}, 4, "intermediate"),
        ({"age": 70.0, "diabetes": True, "dementia": True}, 8, "intermediate"),
        ({"age": 70.0, "diabetes": True, "dementia": True, "sex": "male"}, 9, "high"),
        ({"age": 80.0, "urea": 15.0, "crp": 100.0, "diabetes": True, "hiv": True}, 14, "high"),
        ({"age": 80.0, "urea": 15.0, "crp": 100.0, "diabetes": True, "hiv": True,
          "sex": "male"}, 15, "very high"),
    ],
)
def test_four_c_risk_group_edges(changes, total, group):
    """Totals 3/4, 8/9 and 14/15 fall on either side of the risk-group boundaries."""
    result = four_c_mortality(frame(changes))
    assert result["total"].iloc[0] == total
    assert result["risk_group"].iloc[0] == group


def test_four_c_complete_patients():
    """Hand-computed totals for three complete patients, including the maximum of 21."""
    df = frame(
        # 72 y man (6+1), diabetes (1), RR 24 (1), SpO2 90 (2), GCS 15, urea 9 (1), CRP 120 (2)
        {"age": 72.0, "sex": "male", "diabetes": True, "respiratory_rate": 24.0,
         "spo2": 90.0, "urea": 9.0, "crp": 120.0},
        # 55 y woman (2), COPD + CKD (2), RR 18, SpO2 95, GCS 13 (2), urea 16 (3), CRP 60 (1)
        {"age": 55.0, "chronic_pulmonary": True, "chronic_kidney": True, "gcs": 13,
         "urea": 16.0, "crp": 60.0},
        # everything at its worst
        {"age": 85.0, "sex": "male", "obesity": True, "malignancy": True,
         "respiratory_rate": 35.0, "spo2": 85.0, "gcs": 9, "urea": 20.0, "crp": 250.0},
    )
    result = four_c_mortality(df)
    assert result["total"].tolist() == [14, 10, 21]
    assert result["risk_group"].tolist() == ["high", "high", "very high"]
    assert result.index.equals(df.index)
    assert str(result["total"].dtype) == "Int64"
    assert list(result.columns) == [
        "age", "sex", "comorbidities", "respiratory_rate", "spo2", "gcs", "urea", "crp",
        "total", "risk_group",
    ]


@pytest.mark.parametrize("field", ["age", "sex", "respiratory_rate", "spo2", "gcs", "urea", "crp"])
def test_four_c_missing_input_gives_missing_total(field):
    """A missing input makes its component, the total and the risk group missing."""
    df = frame({field: pd.NA})
    result = four_c_mortality(df)
    assert pd.isna(result[field].iloc[0])
    assert pd.isna(result["total"].iloc[0])
    assert pd.isna(result["risk_group"].iloc[0])


def test_four_c_uses_recorded_spo2_when_on_oxygen():
    """SpO2 is scored as recorded whether or not the patient is on oxygen."""
    on_air = four_c_mortality(frame({"spo2": 90.0, "on_oxygen": False}))
    on_o2 = four_c_mortality(frame({"spo2": 90.0, "on_oxygen": True}))
    assert on_air["spo2"].iloc[0] == on_o2["spo2"].iloc[0] == 2


def test_four_c_rejects_unknown_sex():
    """An uncanonical sex value raises a ValidationError naming the field and value."""
    df = frame({})
    df["sex"] = ["M"]
    with pytest.raises(ValidationError, match="sex is 'M'") as info:
        four_c_mortality(df)
    assert info.value.fields == ["sex"]


def test_four_c_keeps_index():
    """The result carries the input's index, not a fresh RangeIndex."""
    df = frame({}, {"age": 90.0})
    df.index = pd.Index(["p7", "p3"], name="patient_id")
    result = four_c_mortality(df)
    assert result.index.equals(df.index)
    assert result.loc["p3", "total"] == 7


# --------------------------------------------------------------------------- CURB-65
@pytest.mark.parametrize(
    ("field", "value", "column", "points"),
    [
        ("gcs", 14, "confusion", 1), ("gcs", 15, "confusion", 0),
        ("urea", 6.99, "urea", 0), ("urea", 7.0, "urea", 0), ("urea", 7.01, "urea", 1),
        ("respiratory_rate", 29.0, "respiratory_rate", 0),
        ("respiratory_rate", 29.9, "respiratory_rate", 0),
        ("respiratory_rate", 30.0, "respiratory_rate", 1),
        ("respiratory_rate", 31.0, "respiratory_rate", 1),
        ("systolic_bp", 89.0, "blood_pressure", 1), ("systolic_bp", 89.9, "blood_pressure", 1),
        ("systolic_bp", 90.0, "blood_pressure", 0), ("systolic_bp", 91.0, "blood_pressure", 0),
        ("diastolic_bp", 59.0, "blood_pressure", 1), ("diastolic_bp", 60.0, "blood_pressure", 1),
        ("diastolic_bp", 60.1, "blood_pressure", 0), ("diastolic_bp", 61.0, "blood_pressure", 0),
        ("age", 64.0, "age", 0), ("age", 64.9, "age", 0), ("age", 65.0, "age", 1),
        ("age", 66.0, "age", 1),
    ],
)
def test_curb65_band_edges(field, value, column, points):
    """Each CURB-65 criterion flips exactly at its published cut-off."""
    result = curb65(frame({field: value}))
    assert result[column].iloc[0] == points
    assert result["total"].iloc[0] == points


@pytest.mark.parametrize(
    ("sbp", "dbp", "expected"),
    [(85.0, np.nan, 1), (np.nan, 55.0, 1), (120.0, np.nan, None), (np.nan, np.nan, None),
     (120.0, 80.0, 0)],
)
def test_curb65_blood_pressure_or_with_missing(sbp, dbp, expected):
    """The BP criterion is met if either known pressure is low, unknown if it could still be."""
    value = curb65(frame({"systolic_bp": sbp, "diastolic_bp": dbp}))["blood_pressure"].iloc[0]
    if expected is None:
        assert pd.isna(value)
    else:
        assert value == expected


def test_curb65_complete_patients_and_groups():
    """Hand-computed totals 0..5 and the low (0-1) / moderate (2) / high (3-5) groups."""
    df = frame(
        {},
        {"age": 70.0},
        {"age": 70.0, "urea": 8.0},
        {"age": 70.0, "urea": 8.0, "gcs": 13},
        {"age": 70.0, "urea": 8.0, "gcs": 13, "respiratory_rate": 32.0},
        {"age": 70.0, "urea": 8.0, "gcs": 13, "respiratory_rate": 32.0, "diastolic_bp": 50.0},
    )
    result = curb65(df)
    assert result["total"].tolist() == [0, 1, 2, 3, 4, 5]
    assert result["risk_group"].tolist() == ["low", "low", "moderate", "high", "high", "high"]


def test_curb65_missing_input_gives_missing_total():
    """A missing urea makes the criterion and the total missing."""
    result = curb65(frame({"urea": np.nan, "age": 80.0}))
    assert pd.isna(result["urea"].iloc[0])
    assert pd.isna(result["total"].iloc[0])
    assert pd.isna(result["risk_group"].iloc[0])


# --------------------------------------------------------------------------- qSOFA
@pytest.mark.parametrize(
    ("field", "value", "column", "points"),
    [
        ("systolic_bp", 99.0, "systolic_bp", 1), ("systolic_bp", 100.0, "systolic_bp", 1),
        ("systolic_bp", 100.1, "systolic_bp", 0), ("systolic_bp", 101.0, "systolic_bp", 0),
        ("respiratory_rate", 21.0, "respiratory_rate", 0),
        ("respiratory_rate", 21.9, "respiratory_rate", 0),
        ("respiratory_rate", 22.0, "respiratory_rate", 1),
        ("respiratory_rate", 23.0, "respiratory_rate", 1),
        ("gcs", 14, "altered_mentation", 1), ("gcs", 15, "altered_mentation", 0),
    ],
)
def test_qsofa_band_edges(field, value, column, points):
    """Each qSOFA criterion flips exactly at its published cut-off."""
    result = qsofa(frame({field: value}))
    assert result[column].iloc[0] == points
    assert result["total"].iloc[0] == points


def test_qsofa_totals_and_positive():
    """Totals 0-3 by hand; positive from 2 points."""
    df = frame(
        {},
        {"respiratory_rate": 24.0},
        {"respiratory_rate": 24.0, "systolic_bp": 95.0},
        {"respiratory_rate": 24.0, "systolic_bp": 95.0, "gcs": 12},
    )
    result = qsofa(df)
    assert result["total"].tolist() == [0, 1, 2, 3]
    assert result["positive"].tolist() == [False, False, True, True]


def test_qsofa_positive_decided_despite_missing():
    """Two known positives decide 'positive'; one positive plus one missing stays unknown."""
    df = frame(
        {"respiratory_rate": 24.0, "systolic_bp": 95.0, "gcs": pd.NA},
        {"respiratory_rate": 24.0, "gcs": pd.NA},
        {"gcs": pd.NA},
    )
    result = qsofa(df)
    assert result["total"].isna().all()
    positive = result["positive"].tolist()
    assert positive[0] is True
    assert positive[1] is pd.NA
    assert positive[2] is False


# --------------------------------------------------------------------------- NEWS2
@pytest.mark.parametrize(
    ("field", "value", "column", "points"),
    [
        ("respiratory_rate", 8.0, "respiratory_rate", 3),
        ("respiratory_rate", 8.5, "respiratory_rate", 1),
        ("respiratory_rate", 9.0, "respiratory_rate", 1),
        ("respiratory_rate", 11.0, "respiratory_rate", 1),
        ("respiratory_rate", 12.0, "respiratory_rate", 0),
        ("respiratory_rate", 20.0, "respiratory_rate", 0),
        ("respiratory_rate", 21.0, "respiratory_rate", 2),
        ("respiratory_rate", 24.0, "respiratory_rate", 2),
        ("respiratory_rate", 25.0, "respiratory_rate", 3),
        ("spo2", 91.0, "spo2", 3), ("spo2", 92.0, "spo2", 2), ("spo2", 93.0, "spo2", 2),
        ("spo2", 94.0, "spo2", 1), ("spo2", 95.0, "spo2", 1), ("spo2", 96.0, "spo2", 0),
        ("on_oxygen", True, "air_or_oxygen", 2), ("on_oxygen", False, "air_or_oxygen", 0),
        ("systolic_bp", 90.0, "systolic_bp", 3), ("systolic_bp", 91.0, "systolic_bp", 2),
        ("systolic_bp", 100.0, "systolic_bp", 2), ("systolic_bp", 101.0, "systolic_bp", 1),
        ("systolic_bp", 110.0, "systolic_bp", 1), ("systolic_bp", 111.0, "systolic_bp", 0),
        ("systolic_bp", 219.0, "systolic_bp", 0), ("systolic_bp", 220.0, "systolic_bp", 3),
        ("heart_rate", 40.0, "pulse", 3), ("heart_rate", 41.0, "pulse", 1),
        ("heart_rate", 50.0, "pulse", 1), ("heart_rate", 51.0, "pulse", 0),
        ("heart_rate", 90.0, "pulse", 0), ("heart_rate", 91.0, "pulse", 1),
        ("heart_rate", 110.0, "pulse", 1), ("heart_rate", 111.0, "pulse", 2),
        ("heart_rate", 130.0, "pulse", 2), ("heart_rate", 131.0, "pulse", 3),
        ("gcs", 15, "consciousness", 0), ("gcs", 14, "consciousness", 3),
        ("temperature", 35.0, "temperature", 3), ("temperature", 35.1, "temperature", 1),
        ("temperature", 36.0, "temperature", 1), ("temperature", 36.1, "temperature", 0),
        ("temperature", 38.0, "temperature", 0), ("temperature", 38.05, "temperature", 1),
        ("temperature", 38.1, "temperature", 1), ("temperature", 39.0, "temperature", 1),
        ("temperature", 39.1, "temperature", 2), ("temperature", 40.0, "temperature", 2),
    ],
)
def test_news2_band_edges(field, value, column, points):
    """Each NEWS2 parameter gives the Chart 1 points on both sides of every band edge."""
    result = news2(frame({field: value}))
    assert result[column].iloc[0] == points
    assert result["total"].iloc[0] == points


def test_news2_fahrenheit_round_off_stays_in_band():
    """100.4 F converted to Celsius (38.00000000000001) still scores 0."""
    celsius = (100.4 - 32.0) * 5.0 / 9.0
    assert one("temperature", celsius, news2, "temperature") == 0


def test_news2_complete_patients_and_response_bands():
    """Hand-computed totals and the low / low-medium / medium / high response bands."""
    df = frame(
        {},                                                          # 0: low
        {"respiratory_rate": 22.0, "heart_rate": 95.0, "temperature": 38.5},  # 2+1+1=4: low
        {"gcs": 14},                                                 # single 3: low-medium
        {"respiratory_rate": 22.0, "spo2": 94.0, "heart_rate": 95.0, "temperature": 38.5},  # 5
        {"respiratory_rate": 22.0, "spo2": 93.0, "heart_rate": 95.0, "temperature": 38.5},  # 6
        {"respiratory_rate": 22.0, "spo2": 93.0, "on_oxygen": True, "temperature": 38.5},  # 7
        # RR 26 (3), SpO2 90 (3), O2 (2), SBP 95 (2), HR 120 (2), GCS 13 (3), 35.0 (3) = 18
        {"respiratory_rate": 26.0, "spo2": 90.0, "on_oxygen": True, "systolic_bp": 95.0,
         "heart_rate": 120.0, "gcs": 13, "temperature": 35.0},
    )
    result = news2(df)
    assert result["total"].tolist() == [0, 4, 3, 5, 6, 7, 18]
    assert result["response"].tolist() == [
        "low", "low", "low-medium", "medium", "medium", "high", "high",
    ]


@pytest.mark.parametrize(
    "field", ["respiratory_rate", "spo2", "on_oxygen", "systolic_bp", "heart_rate", "gcs",
              "temperature"],
)
def test_news2_missing_input_gives_missing_total(field):
    """Any missing parameter makes the total and the response band missing."""
    df = frame({field: pd.NA})
    result = news2(df)
    assert pd.isna(result["total"].iloc[0])
    assert pd.isna(result["response"].iloc[0])


# --------------------------------------------------------------------------- 4C deterioration
def _hand_lp(age, male, rr, spo2, urea, crp, lymph, oxygen, gcs_low, infiltrates, nosocomial):
    """Write out the published calculator formula term by term (independent of the module)."""
    def p(x, k):
        return max(x - k, 0.0) ** 3
    return (
        0.30264598 * nosocomial + 0.23828712 * male + 0.31847127 * infiltrates
        + 0.7445508 * oxygen + 0.60850246 * gcs_low
        + 3.9477675 + 0.015879049 * age - 4.4564722e-6 * p(age, 38.512329)
        + 4.28408e-5 * p(age, 67.709726) - 7.1088239e-5 * p(age, 81.136986)
        + 3.2703912e-5 * p(age, 92.917808)
        - 0.014521958 * rr + 0.0013714322 * p(rr, 16) - 0.0024680963 * p(rr, 19)
        + 0.0012019736 * p(rr, 24) - 0.00010530953 * p(rr, 37)
        - 0.069756781 * spo2 - 9.7878243e-5 * p(spo2, 84) + 0.0039440211 * p(spo2, 94)
        - 0.0055245187 * p(spo2, 96) + 0.0016783758 * p(spo2, 100)
        + 0.053063087 * urea + 0.00085886997 * p(urea, 2.9) - 0.0020481614 * p(urea, 5.7)
        + 0.0012904492 * p(urea, 9.1) - 0.00010115771 * p(urea, 25.3)
        + 0.0097987358 * crp - 4.6646557e-7 * p(crp, 5) + 6.9431888e-7 * p(crp, 45)
        - 2.0921347e-7 * p(crp, 112) - 1.8639842e-8 * p(crp, 294)
        - 0.47068824 * lymph + 0.20729218 * p(lymph, 0.3) - 0.27907857 * p(lymph, 0.7)
        + 0.03009229 * p(lymph, 1.1) + 0.041694093 * p(lymph, 2.4)
    )


def test_four_c_deterioration_lp_hand_computed():
    """The linear predictor matches the formula for two patients, one past every last knot."""
    df = frame(
        {"age": 70.0, "sex": "male", "respiratory_rate": 24.0, "spo2": 94.0, "urea": 7.0,
         "crp": 100.0, "lymphocytes": 0.8},
        {"age": 95.0, "respiratory_rate": 40.0, "spo2": 100.0, "urea": 30.0, "crp": 300.0,
         "lymphocytes": 3.0, "on_oxygen": True, "gcs": 12, "chest_infiltrates": True,
         "nosocomial": True},
    )
    lp = four_c_deterioration_lp(df)
    assert lp.name == "four_c_deterioration_lp"
    assert lp.iloc[0] == pytest.approx(_hand_lp(70, 1, 24, 94, 7, 100, 0.8, 0, 0, 0, 0), abs=1e-12)
    assert lp.iloc[0] == pytest.approx(-0.680233, abs=1e-6)
    assert lp.iloc[1] == pytest.approx(
        _hand_lp(95, 0, 40, 100, 30, 300, 3.0, 1, 1, 1, 1), abs=1e-12
    )


def test_four_c_deterioration_terms_add_up_and_binary_steps():
    """Term contributions add to lp; switching oxygen on adds exactly its coefficient."""
    df = frame({}, {"on_oxygen": True})
    terms = four_c_deterioration_lp(df, terms=True)
    parts = terms.drop(columns="lp")
    assert np.allclose(parts.sum(axis=1), terms["lp"], atol=1e-12)
    assert terms["lp"].iloc[1] - terms["lp"].iloc[0] == pytest.approx(0.7445508, abs=1e-12)
    # below the first knot the lymphocyte spline is linear
    assert terms["lymphocytes"].iloc[0] == pytest.approx(
        -0.47068824 * 1.5 + 0.20729218 * 1.2**3 - 0.27907857 * 0.8**3 + 0.03009229 * 0.4**3
    )


def test_four_c_deterioration_missing_is_nan():
    """Any missing predictor gives a NaN linear predictor."""
    df = frame({"lymphocytes": np.nan}, {"nosocomial": pd.NA}, {})
    lp = four_c_deterioration_lp(df)
    assert lp.isna().tolist() == [True, True, False]


# --------------------------------------------------------------------------- table
def test_score_table_collects_totals():
    """score_table holds each score's total for every patient, with the input's index."""
    df = frame(
        {"age": 72.0, "sex": "male", "diabetes": True, "respiratory_rate": 24.0,
         "spo2": 90.0, "urea": 9.0, "crp": 120.0},
        {"gcs": pd.NA},
    )
    table = score_table(df)
    assert list(table.columns) == [
        "four_c_mortality", "curb65", "news2", "qsofa", "four_c_deterioration_lp",
    ]
    assert table["four_c_mortality"].iloc[0] == 14
    assert table["curb65"].iloc[0] == 2  # urea > 7, age >= 65
    assert table["news2"].iloc[0] == 5  # RR 24 (2) + SpO2 90 (3)
    assert table["qsofa"].iloc[0] == 1  # RR >= 22
    assert table.iloc[1, :4].isna().all()
    assert np.isnan(table["four_c_deterioration_lp"].iloc[1])
