from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from covid_risk.exceptions import DataQualityWarning, ValidationError
from covid_risk.features import TEST_ALIASES, normalise_test_name, snapshot
from covid_risk.schema import FIELDS

MG_DL_CREATININE = 10_000 / 113.12  # umol/L per mg/dL
MG_DL_BUN = 10 / 28.014  # mmol/L urea per mg/dL BUN

ADMISSIONS = pd.DataFrame(
    {
        "patient_id": ["A", "B", "C"],
        "admission_time": pd.to_datetime(
            ["2020-04-01 10:00", "2020-04-02 12:00", "2020-04-03 08:00"]
        ),
    }
)

# (patient, time, test, value, unit); C has no observations at all.
ROWS = [
    ("A", "2020-04-01 03:00", "Creatinine", 300.0, "umol/L"),  # 7 h before: outside lookback
    ("A", "2020-04-01 04:30", "creatinine", 1.0, "mg/dL"),  # 5.5 h before: in (ED bloods)
    ("A", "2020-04-01 12:00", "CREATININE", 130.0, "µmol/L"),
    ("A", "2020-04-01 12:00", "Creatinine", 130.0, "umol/L"),  # duplicated measurement
    ("A", "2020-04-02 10:00", "Creat", 1.6, "mg/dL"),  # exactly +24 h: included
    ("A", "2020-04-02 10:01", "Creatinine", 500.0, "umol/L"),  # after the window
    ("A", "2020-04-01 11:00", "BUN", 28.014, "mg/dL"),  # = 10 mmol/L urea
    ("A", "2020-04-01 15:00", "Urea", 12.0, "mmol/L"),
    ("A", "2020-04-01 10:00", "SpO2", 95.0, "%"),
    ("A", "2020-04-01 14:00", "Oxygen saturation", 88.0, "%"),
    ("A", "2020-04-01 10:00", "Resp rate", "22", "/min"),  # numeric text
    ("A", "2020-04-01 11:00", "Respiratory rate", 30.0, "breaths/min"),
    ("A", "2020-04-01 10:00", "Lymphocytes", 800.0, "cells/uL"),  # = 0.8 x10^9/L
    ("A", "2020-04-01 18:00", "lymphocyte count", 0.5, "10^9/L"),
    ("A", "2020-04-01 10:00", "GCS", 15, None),
    ("A", "2020-04-01 16:00", "Glasgow coma scale", 13, ""),
    ("A", "2020-04-01 09:00", "CRP", np.nan, "mg/L"),  # missing value: ignored
    ("A", "2020-04-01 10:30", "C-reactive protein", "85", "mg/L"),
    ("A", "2020-04-01 10:00", "Temp", 100.4, "°F"),  # = 38.0 C
    ("A", "2020-04-01 12:00", "Temperature", 37.2, "°C"),
    ("A", "2020-04-01 11:00", "Heart rate", 90.0, "bpm"),  # same time as the next row
    ("A", "2020-04-01 11:00", "Pulse", 100.0, "bpm"),
    ("B", "2020-04-02 13:00", "LDH", 300.0, "U/L"),
    ("B", "2020-04-02 14:00", "Lactate dehydrogenase", 6.0, "ukat/L"),  # = 360 U/L
    ("B", "2020-04-02 12:00", "Blood urea nitrogen", 14.007, "mg/dL"),  # = 5 mmol/L
    ("B", "2020-04-02 12:30", "c-reactive protein", 5.0, "mg/dL"),  # = 50 mg/L
    ("B", "2020-04-02 12:00", "Platelets", 150.0, "10^9/L"),
    ("B", "2020-04-02 20:00", "PLT", 120.0, "x10^9/L"),
    ("B", "2020-04-02 12:00", "D-Dimer", 1500.0, "ng/mL FEU"),  # = 1.5 mg/L FEU
]


def observations(rows=ROWS) -> pd.DataFrame:
    """Long observation table from (patient, time, test, value, unit) tuples."""
    df = pd.DataFrame(rows, columns=["patient_id", "time", "test", "value", "unit"])
    df["time"] = pd.to_datetime(df["time"])
    df["value"] = df["value"].astype(object)
    return df


def test_first_picks_earliest_in_window_value():
    """how='first': earliest usable value per field, converted, with the lookback and window."""
    snap = snapshot(observations(), admissions=ADMISSIONS, how="first")
    a, b = snap.loc["A"], snap.loc["B"]
    assert a["creatinine"] == pytest.approx(1.0 * MG_DL_CREATININE)  # 04:30 ED value
    assert a["urea"] == pytest.approx(10.0)  # BUN 28.014 mg/dL
    assert a["spo2"] == 95.0
    assert a["respiratory_rate"] == 22.0
    assert a["lymphocytes"] == pytest.approx(0.8)
    assert a["gcs"] == 15
    assert a["crp"] == 85.0  # the missing 09:00 value is skipped
    assert a["temperature"] == pytest.approx(38.0)
    assert a["heart_rate"] == 90.0  # same time: earlier row wins
    assert b["ldh"] == 300.0
    assert b["urea"] == pytest.approx(5.0)
    assert b["crp"] == pytest.approx(50.0)
    assert b["platelets"] == 150.0
    assert b["d_dimer"] == pytest.approx(1.5)


def test_worst_picks_clinically_worst_value():
    """how='worst': highest urea/creatinine/CRP/LDH/RR/HR/temp, lowest SpO2/lymphs/GCS/platelets."""
    snap = snapshot(observations(), admissions=ADMISSIONS, how="worst")
    a, b = snap.loc["A"], snap.loc["B"]
    assert a["creatinine"] == pytest.approx(1.6 * MG_DL_CREATININE)  # 141.44; 500 is too late
    assert a["urea"] == 12.0
    assert a["spo2"] == 88.0
    assert a["respiratory_rate"] == 30.0
    assert a["lymphocytes"] == 0.5
    assert a["gcs"] == 13
    assert a["crp"] == 85.0
    assert a["temperature"] == pytest.approx(38.0)
    assert a["heart_rate"] == 100.0
    assert b["ldh"] == pytest.approx(360.0)
    assert b["platelets"] == 120.0


def test_last_picks_latest_in_window_value():
    """how='last': the latest value inside the window (the +24 h edge is included)."""
    snap = snapshot(observations(), admissions=ADMISSIONS, how="last")
    assert snap.loc["A", "creatinine"] == pytest.approx(1.6 * MG_DL_CREATININE)
    assert snap.loc["A", "heart_rate"] == 100.0  # same time: later row wins
    assert snap.loc["B", "ldh"] == pytest.approx(360.0)


def test_shape_types_and_patient_without_observations():
    """One canonically typed row per admission, in admission order; no data gives all NA."""
    snap = snapshot(observations(), admissions=ADMISSIONS)
    assert snap.index.tolist() == ["A", "B", "C"]
    assert snap.index.name == "patient_id"
    schema_order = [f for f in FIELDS if f in snap.columns]
    assert list(snap.columns) == schema_order
    assert set(snap.columns) == set(TEST_ALIASES.values())
    assert str(snap["gcs"].dtype) == "Int64"
    assert all(str(snap[c].dtype) == "float64" for c in snap.columns if c != "gcs")
    assert snap.loc["C"].isna().all()
    assert pd.isna(snap.loc["B", "gcs"])
    assert snap.attrs["snapshot_rejects"].empty


def test_counts_account_for_every_row():
    """Counts: 29 rows = 1 missing value + 2 out of window + 26 in window."""
    snap = snapshot(observations(), admissions=ADMISSIONS)
    assert snap.attrs["snapshot_counts"] == {
        "read": 29, "rejected": 0, "missing_value": 1, "no_admission": 0,
        "out_of_window": 2, "in_window": 26,
    }


def test_lookback_zero_excludes_pre_admission_bloods():
    """With lookback='0h' the 04:30 ED creatinine is left out and 12:00 becomes first."""
    snap = snapshot(observations(), admissions=ADMISSIONS, lookback="0h")
    assert snap.loc["A", "creatinine"] == 130.0
    longer = snapshot(observations(), admissions=ADMISSIONS, lookback="8h", how="worst")
    assert longer.loc["A", "creatinine"] == 300.0  # the 03:00 value now counts


def test_shorter_window_excludes_later_values():
    """A 6 h window leaves out everything after 16:00 on admission day."""
    snap = snapshot(observations(), admissions=ADMISSIONS, window="6h", how="worst")
    assert snap.loc["A", "creatinine"] == 130.0
    assert snap.loc["A", "lymphocytes"] == pytest.approx(0.8)  # 0.5 was at 18:00
    assert snap.loc["A", "gcs"] == 13  # 16:00 is exactly +6 h


BAD_ROWS = [
    ("A", "2020-04-01 11:00", "Procalcitonin", 0.5, "ng/mL"),  # unknown test
    ("A", "2020-04-01 11:00", "Creatinine", 1.2, "mmol/mol"),  # unknown unit
    ("A", "2020-04-01 11:00", "CRP", "<5", "mg/L"),  # non-numeric
    ("A", "2020-04-01 11:00", "GCS", 14.5, None),  # not a whole number
    ("A", "2020-04-01 11:00", "SpO2", 0.95, "%"),  # impossible: 0.95 %
]


def test_bad_rows_raise_by_default_listing_each():
    """Unknown test, unknown unit, non-numeric, fractional GCS, impossible value: all listed."""
    obs = observations(ROWS + BAD_ROWS)
    with pytest.raises(ValidationError) as info:
        snapshot(obs, admissions=ADMISSIONS)
    problems = info.value.problems
    assert [p.row for p in problems] == [29, 30, 31, 32, 33]
    assert [p.field for p in problems] == ["Procalcitonin", "creatinine", "crp", "gcs", "spo2"]
    text = str(info.value)
    assert "unknown test name 'Procalcitonin'" in text
    assert "unit 'mmol/mol' is not accepted for creatinine" in text
    assert "µmol/L" in text  # says what is accepted
    assert "value '<5' is not a number" in text
    assert "value 14.5 is not a whole number" in text
    assert "outside the possible range 20 to 100 for spo2" in text
    assert "errors='report'" in text


def test_bad_rows_reported_and_left_out():
    """errors='report' warns, keeps the good values and lists the rejects in attrs."""
    obs = observations(ROWS + BAD_ROWS)
    with pytest.warns(DataQualityWarning, match="5 observation row"):
        snap = snapshot(obs, admissions=ADMISSIONS, errors="report", how="worst")
    rejects = snap.attrs["snapshot_rejects"]
    assert list(rejects.columns) == [
        "row", "patient_id", "time", "test", "value", "unit", "field", "reason",
    ]
    assert rejects["row"].tolist() == [29, 30, 31, 32, 33]
    assert rejects["test"].tolist() == ["Procalcitonin", "Creatinine", "CRP", "GCS", "SpO2"]
    assert pd.isna(rejects["field"].iloc[0])
    assert snap.attrs["snapshot_counts"]["rejected"] == 5
    # the rejected rows did not leak into the snapshot
    assert snap.loc["A", "creatinine"] == pytest.approx(1.6 * MG_DL_CREATININE)
    assert snap.loc["A", "gcs"] == 13
    assert snap.loc["A", "spo2"] == 88.0


def test_missing_and_unparseable_times_and_ids_are_rejects():
    """Rows without a patient id or a readable time are reported, not dropped silently."""
    obs = pd.DataFrame(
        {
            "patient_id": ["A", None, "A"],
            "time": ["2020-04-01 11:00", "2020-04-01 11:00", "not a time"],
            "test": ["Urea", "Urea", "Urea"],
            "value": [8.0, 9.0, 10.0],
            "unit": ["mmol/L"] * 3,
        }
    )
    with pytest.warns(DataQualityWarning):
        snap = snapshot(obs, admissions=ADMISSIONS, errors="report")
    reasons = snap.attrs["snapshot_rejects"]["reason"].tolist()
    assert reasons == ["patient id is missing", "time 'not a time' is not a date/time"]
    assert snap.loc["A", "urea"] == 8.0


def test_tests_keyword_extends_aliases():
    """tests= adds aliases (case-insensitive); a non-numeric target field is refused."""
    obs = observations([("A", "2020-04-01 11:00", "hs Troponin T", 25.0, "ng/L")])
    with pytest.raises(ValidationError, match="unknown test name 'hs Troponin T'"):
        snapshot(obs, admissions=ADMISSIONS)
    snap = snapshot(obs, admissions=ADMISSIONS, tests={"HS TROPONIN-T": "troponin"})
    assert snap.loc["A", "troponin"] == 25.0
    with pytest.raises(ValueError, match="not a numeric schema field"):
        snapshot(obs, admissions=ADMISSIONS, tests={"hs Troponin T": "sex"})


def test_observations_for_unknown_patients_warn():
    """Observations of patients absent from admissions are counted and warned about."""
    obs = observations([("Z", "2020-04-01 11:00", "Urea", 8.0, "mmol/L")])
    with pytest.warns(DataQualityWarning, match="no admission"):
        snap = snapshot(obs, admissions=ADMISSIONS)
    assert snap.attrs["snapshot_counts"]["no_admission"] == 1
    assert snap["urea"].isna().all()


def test_configurable_column_names_and_no_unit_column():
    """Column names are keywords; without a unit column values are in canonical units."""
    obs = pd.DataFrame(
        {"subject": [7], "when": [pd.Timestamp("2020-01-01 01:00")], "name": ["urea"],
         "result": [6.5]}
    )
    adm = pd.DataFrame({"subject": [7], "admitted": [pd.Timestamp("2020-01-01 00:00")]})
    snap = snapshot(
        obs, admissions=adm, patient_col="subject", time_col="when", test_col="name",
        value_col="result", unit_col=None, admission_time_col="admitted",
    )
    assert snap.index.name == "subject"
    assert snap.loc[7, "urea"] == 6.5


def test_input_errors_are_explained():
    """Missing columns, duplicate admissions, bad options and mixed time zones raise clearly."""
    obs = observations()
    with pytest.raises(ValidationError, match="observations has no column 'unit'"):
        snapshot(obs.drop(columns="unit"), admissions=ADMISSIONS)
    twice = pd.concat([ADMISSIONS, ADMISSIONS.iloc[:1]])
    with pytest.raises(ValidationError, match="lists patient 'A' more than once"):
        snapshot(obs, admissions=twice)
    with pytest.raises(ValueError, match="how='best' is not allowed"):
        snapshot(obs, admissions=ADMISSIONS, how="best")
    with pytest.raises(ValueError, match="errors='ignore' is not allowed"):
        snapshot(obs, admissions=ADMISSIONS, errors="ignore")
    with pytest.raises(ValueError, match="window='soon' is not a duration"):
        snapshot(obs, admissions=ADMISSIONS, window="soon")
    aware = ADMISSIONS.assign(admission_time=ADMISSIONS["admission_time"].dt.tz_localize("UTC"))
    with pytest.raises(ValueError, match="'time'. has no time zone but .* has one"):
        snapshot(obs, admissions=aware)


def test_time_zones_are_compared_in_utc():
    """Aware times in different zones are compared on the same clock."""
    obs = observations([("A", "2020-04-01 13:30", "Urea", 9.0, "mmol/L")])
    obs["time"] = obs["time"].dt.tz_localize("Europe/Amsterdam")  # 11:30 UTC
    adm = ADMISSIONS.assign(admission_time=ADMISSIONS["admission_time"].dt.tz_localize("UTC"))
    snap = snapshot(obs, admissions=adm, window="2h", lookback="0h")
    assert snap.loc["A", "urea"] == 9.0


def test_normalise_test_name_and_alias_table():
    """Names match regardless of case and separators; key aliases resolve to schema fields."""
    assert normalise_test_name("C-Reactive_Protein") == "c reactive protein"
    for name, field in [("LDH", "ldh"), ("Lactate dehydrogenase", "ldh"), ("BUN", "urea"),
                        ("Blood urea nitrogen", "urea"), ("Urea", "urea"), ("CRP", "crp"),
                        ("SpO2", "spo2"), ("Resp rate", "respiratory_rate"),
                        ("d_dimer", "d_dimer"), ("Glasgow coma scale", "gcs")]:
        assert TEST_ALIASES[normalise_test_name(name)] == field
    assert all(field in FIELDS for field in TEST_ALIASES.values())


def test_no_warning_on_clean_input():
    """A clean table produces no DataQualityWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataQualityWarning)
        snapshot(observations(), admissions=ADMISSIONS)
