"""Tests for covid_risk.validation: records in, canonical frame or ValidationError out."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from covid_risk import validation
from covid_risk.exceptions import DataQualityWarning, ValidationError
from covid_risk.schema import FIELDS, OUTCOMES, PREDICTORS
from covid_risk.validation import (
    MSG_IMPLAUSIBLE,
    MSG_NOT_WHOLE,
    MSG_OUT_OF_RANGE,
    TODO_CHECK,
    TODO_OPTIONAL,
    TODO_REQUIRED,
    AppliedConversion,
    Validated,
    ValidationReport,
    validate,
)

# An unexpected DataQualityWarning fails the test; tests expecting one use pytest.warns.
pytestmark = pytest.mark.filterwarnings("error::covid_risk.exceptions.DataQualityWarning")

# A complete admitted patient, labs reported the US way.
PATIENT = {
    "age": 67, "sex": "male", "bmi": 31.2, "ethnicity": "white", "deprivation_quintile": 4,
    "smoking": "former", "care_home": False, "vaccine_doses": 3, "days_since_vaccination": 180,
    "variant_period": "omicron", "days_since_onset": 6, "nosocomial": False,
    "chronic_cardiac": True, "chronic_pulmonary": False, "chronic_kidney": False,
    "liver_disease": False, "dementia": False, "chronic_neuro": False,
    "connective_tissue": False, "diabetes": True, "hiv": False, "malignancy": False,
    "obesity": True, "hypertension": True, "asthma": False, "immunosuppression": False,
    "organ_transplant": False, "haematological_cancer": False,
    "respiratory_rate": 24, "spo2": 92, "on_oxygen": True, "fio2": 0.28, "heart_rate": 104,
    "systolic_bp": 128, "diastolic_bp": 76, "temperature": 100.4, "gcs": 15,
    "urea": 28, "creatinine": 1.2, "crp": 5, "lymphocytes": 800, "neutrophils": 6.1,
    "platelets": 210, "ldh": 350, "d_dimer": 500, "ferritin": 820, "troponin": 0.05,
    "albumin": 3.5, "chest_infiltrates": True,
}
US_UNITS = {
    "urea": "mg/dL BUN", "creatinine": "mg/dL", "temperature": "°F", "crp": "mg/dL",
    "d_dimer": "ng/mL FEU", "lymphocytes": "/uL", "albumin": "g/dL", "troponin": "ug/L",
}
BASE = {"age": 50, "sex": "female"}


def _error(records, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate(records, **kwargs)
    return info.value


def _quiet(records, **kwargs) -> Validated:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return validate(records, **kwargs)


# ---------------------------------------------------------------------------
# A complete patient
# ---------------------------------------------------------------------------
class TestCompletePatient:
    def test_columns_in_schema_order(self):
        """Every predictor comes back, in schema order, and nothing else."""
        data, _ = validate(PATIENT, units=US_UNITS)
        assert list(data.columns) == list(PREDICTORS)
        assert list(data.index) == [0]

    def test_dtypes(self):
        """Floats are float64, ints Int64, bools boolean and categories strings."""
        data, _ = validate(PATIENT, units=US_UNITS)
        for name in PREDICTORS:
            kind = FIELDS[name].kind
            dtype = data[name].dtype
            if kind == "float":
                assert dtype == np.float64, name
            elif kind == "int":
                assert dtype == "Int64", name
            elif kind == "bool":
                assert dtype == "boolean", name
            else:
                assert pd.api.types.is_string_dtype(dtype), name

    @pytest.mark.parametrize(
        ("name", "expected", "tol"),
        [
            ("urea", 9.995, 1e-3),  # BUN 28 mg/dL x 10/28.014
            ("creatinine", 106.08, 1e-2),  # 1.2 mg/dL x 88.40
            ("temperature", 38.0, 1e-9),  # (100.4 - 32) x 5/9
            ("crp", 50.0, 1e-9),  # 5 mg/dL x 10
            ("d_dimer", 0.5, 1e-12),  # 500 ng/mL FEU / 1000
            ("lymphocytes", 0.8, 1e-12),  # 800 /uL / 1000
            ("albumin", 35.0, 1e-9),  # 3.5 g/dL x 10
            ("troponin", 50.0, 1e-9),  # 0.05 ug/L x 1000
        ],
    )
    def test_unit_conversions(self, name, expected, tol):
        """US units are converted to the canonical ones with the schema's exact factors."""
        data, _ = validate(PATIENT, units=US_UNITS)
        assert data.loc[0, name] == pytest.approx(expected, abs=tol)

    def test_values_kept(self):
        """Values already in canonical units and categories come back unchanged."""
        data, _ = validate(PATIENT, units=US_UNITS)
        row = data.loc[0]
        assert row["age"] == 67.0
        assert row["sex"] == "male"
        assert row["variant_period"] == "omicron"
        assert row["gcs"] == 15
        assert row["deprivation_quintile"] == 4
        assert bool(row["diabetes"]) is True
        assert bool(row["care_home"]) is False
        assert row["spo2"] == 92.0
        assert row["fio2"] == 0.28

    def test_report_of_clean_patient(self):
        """A plausible complete patient gives an ok report listing the conversions."""
        _, report = validate(PATIENT, units=US_UNITS)
        assert isinstance(report, ValidationReport)
        assert report.ok
        assert report.n_rows == 1
        assert report.implausible == ()
        assert report.unknown_columns == ()
        assert report.absent_fields == ()
        assert {c.field for c in report.conversions} == set(US_UNITS)
        assert repr(report) == (
            "ValidationReport(n_rows=1, implausible=0, unknown_columns=0, conversions=8, "
            "absent_fields=0)"
        )
        assert not report.flags.to_numpy().any()
        assert report.flags.shape == (1, len(PREDICTORS))

    def test_conversion_record(self):
        """Each applied conversion names the units and its exact factor."""
        _, report = validate(PATIENT, units=US_UNITS)
        temp = next(c for c in report.conversions if c.field == "temperature")
        assert temp == AppliedConversion(
            "temperature", "°F", "°C", 5.0 / 9.0, -32.0 * 5.0 / 9.0, "(F - 32) x 5/9")

    def test_absent_fields_all_missing(self):
        """Fields not given are present and missing, and listed in the report."""
        data, report = validate(BASE)
        assert list(data.columns) == list(PREDICTORS)
        assert data.drop(columns=["age", "sex"]).isna().all().all()
        assert report.absent_fields == tuple(p for p in PREDICTORS if p not in BASE)
        summary = report.summary()
        absent = summary[summary.issue == "absent"]
        assert absent["count"].tolist() == [len(PREDICTORS) - 2]


# ---------------------------------------------------------------------------
# Impossible values: each message names field, value, row and what is allowed
# ---------------------------------------------------------------------------
CELL_ERRORS = [
    # id, record(s), kwargs, field, value repr, row text, allowed text
    ("above hard limit", {"age": 130, "sex": "male"}, {}, "age", "got 130", "row 0",
     "a number between 0 and 120 years"),
    ("below hard limit", {**BASE, "vaccine_doses": -1}, {}, "vaccine_doses", "got -1", "row 0",
     "a whole number between 0 and 10"),
    ("not a number", {"age": "old", "sex": "male"}, {}, "age", "got 'old'", "row 0",
     "a number between 0 and 120 years"),
    ("not a whole number", {**BASE, "gcs": 14.5}, {}, "gcs", "got 14.5", "row 0",
     "a whole number between 3 and 15"),
    ("unknown sex", {"age": 50, "sex": "x"}, {}, "sex", "got 'x'", "row 0",
     "one of 'female', 'male'"),
    ("unknown ethnicity", {**BASE, "ethnicity": "asian"}, {}, "ethnicity", "got 'asian'",
     "row 0", "'south_asian'"),
    ("required None", {"age": None, "sex": "male"}, {}, "age", "got None", "row 0",
     "a number between 0 and 120 years"),
    ("required NaN", {"age": math.nan, "sex": "male"}, {}, "age", "got nan", "row 0",
     "a number between 0 and 120 years"),
    ("required empty string", {"age": 40, "sex": " "}, {}, "sex", "got ' '", "row 0",
     "one of 'female', 'male'"),
    ("required absent", {"sex": "male"}, {}, "age", "no such column", "all 1 row(s)",
     "a number between 0 and 120 years"),
    ("infinity", {**BASE, "crp": math.inf}, {}, "crp", "got inf", "row 0",
     "a number between 0 and 1000 mg/L"),
    ("minus infinity", {**BASE, "heart_rate": -math.inf}, {}, "heart_rate", "got -inf",
     "row 0", "a number between 0 and 300 /min"),
    ("infinity as text", {**BASE, "bmi": "Infinity"}, {}, "bmi", "got 'Infinity'", "row 0",
     "a number between 8 and 100 kg/m2"),
    ("bool not interpretable", {**BASE, "diabetes": "maybe"}, {}, "diabetes", "got 'maybe'",
     "row 0", "yes/no (true/false, 1/0)"),
    ("bool given as 2", {**BASE, "diabetes": 2}, {}, "diabetes", "got 2", "row 0",
     "yes/no (true/false, 1/0)"),
    ("nested list", {**BASE, "bmi": [25]}, {}, "bmi", "got [25]", "row 0",
     "a number between 8 and 100 kg/m2"),
    ("nested dict", {**BASE, "bmi": {"value": 25}}, {}, "bmi", "got {'value': 25}", "row 0",
     "a number between 8 and 100 kg/m2"),
    ("bool for a number", {**BASE, "spo2": True}, {}, "spo2", "got True", "row 0",
     "a number between 20 and 100 %"),
    ("number for a category", {"age": 50, "sex": 1}, {}, "sex", "got 1", "row 0",
     "one of 'female', 'male'"),
    ("ambiguous comma", {**BASE, "ldh": "1,000"}, {}, "ldh", "got '1,000'", "row 0",
     "a number between 0 and 20000 U/L"),
    ("digit separators", {"age": "7_0", "sex": "male"}, {}, "age", "got '7_0'", "row 0",
     "a number between 0 and 120 years"),
    ("Fahrenheit without unit", {**BASE, "temperature": 100.4}, {}, "temperature",
     "got 100.4", "row 0", "a number between 25 and 45 °C"),
    ("BUN without unit", {**BASE, "urea": 300}, {}, "urea", "got 300", "row 0",
     "a number between 0 and 150 mmol/L"),
    ("out of range after conversion", {**BASE, "urea": 700}, {"units": {"urea": "mg/dL BUN"}},
     "urea", "got 700 (= 249.875 mmol/L after converting from mg/dL BUN)", "row 0",
     "a number between 0 and 150 mmol/L"),
    ("true risk above 1", {**BASE, "true_risk_death": 1.5}, {}, "true_risk_death", "got 1.5",
     "row 0", "a number between 0 and 1"),
    ("unknown unit", {**BASE, "urea": 20}, {"units": {"urea": "furlongs"}}, "urea",
     "Unit 'furlongs'", "all rows", "'mmol/L', 'mg/dL BUN', 'mg/dL', 'mg/dL urea'"),
    ("unit for a unitless field", BASE, {"units": {"sex": "kg"}}, "sex", "Unit 'kg'",
     "all rows", "'sex' has no unit"),
    ("nested in a frame cell", pd.DataFrame({"age": [50, 60], "sex": ["m", "f"],
                                             "bmi": [25.0, [25, 26]]}), {}, "bmi",
     "got [25, 26]", "row 1", "a number between 8 and 100 kg/m2"),
    ("inf in a float frame column", pd.DataFrame({"age": [50.0, np.inf], "sex": ["m", "f"]}),
     {}, "age", "got inf", "row 1", "a number between 0 and 120 years"),
    ("error in second record", [BASE, {**BASE, "deprivation_quintile": 6}], {},
     "deprivation_quintile", "got 6", "row 1", "a whole number between 1 and 5"),
    ("duplicate after mapping", {"Age (years)": 60, "age": 61, "sex": "male"},
     {"columns": {"Age (years)": "age"}}, "age", "first values 60, 61", "row 0",
     "Keep one of them"),
]


@pytest.mark.parametrize(
    ("records", "kwargs", "field", "value", "row", "allowed"),
    [c[1:] for c in CELL_ERRORS],
    ids=[c[0] for c in CELL_ERRORS],
)
def test_bad_value_message(records, kwargs, field, value, row, allowed):
    """The error names the field, the value as given, the row and what is allowed."""
    err = _error(records, **kwargs)
    problem = next(p for p in err.problems if p.field == field)
    assert repr(field) in problem.message
    assert value in problem.message
    assert row in problem.message
    assert allowed in problem.message
    assert problem.message in str(err)


def test_many_distinct_kinds_of_bad_input():
    """At least twenty distinct kinds of bad input are covered above and below."""
    assert len(CELL_ERRORS) + len(INPUT_ERRORS) >= 20


INPUT_ERRORS = [
    # id, records, kwargs, texts the message must contain
    ("empty list", [], {}, ["no records", "got []", "at least one patient"]),
    ("empty frame", pd.DataFrame(), {}, ["no records", "0 rows", "at least one patient"]),
    ("record not a dict", [BASE, "age 50"], {},
     ["Record 1 is a str", "got 'age 50'", "dict of field name to value"]),
    ("not records at all", pd.Series({"age": 50}), {},
     ["got a Series", "series.to_dict()"]),
    ("mapping to unknown field", {"Age": 50, "sex": "male"}, {"columns": {"Age": "agee"}},
     ["'Age' to 'agee'", "did you mean 'age'?", "field_table()"]),
    ("units for unknown field", BASE, {"units": {"ureaa": "mg/dL"}},
     ["'ureaa'", "did you mean 'urea'?", "units={'urea': 'mg/dL BUN'}"]),
    ("duplicated frame columns",
     pd.DataFrame([[50, 51, "male"]], columns=["age", "age", "sex"]), {},
     ["Column 'age' appears 2 times", "value of the first copy 50", "row 0"]),
    ("id column absent", BASE, {"id_column": "patient_id"},
     ["id_column='patient_id'", "Columns present: 'age', 'sex'"]),
    ("units not a mapping", BASE, {"units": ["urea"]},
     ["units= must be a mapping", "got a list (['urea'])"]),
]


@pytest.mark.parametrize(
    ("records", "kwargs", "texts"),
    [c[1:] for c in INPUT_ERRORS],
    ids=[c[0] for c in INPUT_ERRORS],
)
def test_bad_input_message(records, kwargs, texts):
    """Errors about the input's shape, columns or settings say what is wrong and what to do."""
    err = _error(records, **kwargs)
    for text in texts:
        assert text in str(err)


def test_whole_input_problems_have_no_row():
    """Problems with columns or settings carry row None; problems with values carry the row."""
    frame = pd.DataFrame([[50, 51, "m", 1.0, 20.0]],
                         columns=["age", "age", "sex", "gcs", "urea"])
    err = _error(frame, units={"urea": "stone"})
    assert [(p.field, p.row) for p in err.problems] == [
        ("age", None), ("urea", None), ("gcs", 0)]
    err = _error({"Age": 50, "age": 51, "sex": "m"}, columns={"Age": "age"})
    assert [(p.field, p.row) for p in err.problems] == [("age", None)]


class TestExactMessages:
    def test_out_of_range_exact(self):
        """The range message is the module template, filled in."""
        err = _error({"age": 130, "sex": "male"})
        expected = MSG_OUT_OF_RANGE.format(
            field="age", allowed="a number between 0 and 120 years", value="130",
            converted="", where="row 0", todo=TODO_REQUIRED)
        assert expected == (
            "Field 'age' must be a number between 0 and 120 years; got 130 (row 0). "
            "Correct the value; the field is required for every record."
        )
        assert err.problems[0].message == expected
        assert str(err) == expected  # the message already names the row; no "row 0: " prefix
        assert err.problems[0].row == 0
        assert err.problems[0].value == 130

    def test_not_whole_exact(self):
        """The whole-number message is the module template, filled in."""
        err = _error({**BASE, "gcs": 14.5})
        assert err.problems[0].message == MSG_NOT_WHOLE.format(
            field="gcs", allowed="a whole number between 3 and 15", value="14.5",
            where="row 0", todo=TODO_OPTIONAL)

    def test_bun_hint(self):
        """A urea value that looks like BUN says how to pass the BUN unit."""
        err = _error({**BASE, "urea": 300})
        assert ("Check the unit: pass units={'urea': 'mg/dL BUN'} if the value is blood urea "
                "nitrogen") in err.problems[0].message

    def test_generic_unit_hint(self):
        """Fields with alternative units list them when a value is out of range."""
        err = _error({**BASE, "lymphocytes": 800})
        assert "units={'lymphocytes': '<unit>'} with one of: '/uL'" in str(err)

    def test_id_in_message(self):
        """With an id column, messages give the record's id next to the row."""
        frame = pd.DataFrame({"pid": ["P1", "P2"], "age": [50, 150], "sex": ["m", "f"]})
        err = _error(frame, id_column="pid")
        assert "(row 1, id 'P2')" in err.problems[0].message


class TestSeveralProblems:
    def test_all_rows_and_fields_reported_together(self):
        """Problems in several rows and fields are raised once, in row then schema order."""
        err = _error([
            {"age": 130, "sex": "x"},
            {"age": 40, "sex": "male", "gcs": 14.5, "diabetes": "maybe"},
        ])
        assert [(p.field, p.row) for p in err.problems] == [
            ("age", 0), ("sex", 0), ("diabetes", 1), ("gcs", 1)]
        assert str(err).startswith("4 problems in the input:")
        assert err.fields == ["age", "sex", "diabetes", "gcs"]

    def test_listing_is_capped_but_all_kept(self):
        """Thirty bad rows list twenty problems in the message and keep all thirty."""
        err = _error([{"age": 200, "sex": "male"}] * 30)
        assert len(err.problems) == 30
        assert [p.row for p in err.problems] == list(range(30))
        assert "... and 10 more problem(s)" in str(err)
        assert str(err).count("must be a number between 0 and 120 years") == 20

    def test_input_and_cell_problems_together(self):
        """A bad mapping, a bad unit and a bad value are all reported in one error."""
        err = _error({"Age": 50, "sex": "male", "gcs": 2, "urea": 1},
                     columns={"Age": "agee"}, units={"urea": "stone"})
        assert set(err.fields) == {"agee", "age", "urea", "gcs"}


# ---------------------------------------------------------------------------
# Mapping, unknown columns, implausible values
# ---------------------------------------------------------------------------
class TestColumnsAndFlags:
    def test_column_mapping(self):
        """User column names are mapped to canonical ones."""
        data, report = validate(
            {"Age (years)": 54, "Sex": "F", "Lactate dehydrogenase": 420},
            columns={"Age (years)": "age", "Sex": "sex", "Lactate dehydrogenase": "ldh",
                     "Not in this input": "crp"},
        )
        assert (data.loc[0, "age"], data.loc[0, "sex"], data.loc[0, "ldh"]) == (
            54.0, "female", 420.0)
        assert report.unknown_columns == ()

    def test_unknown_columns_dropped_with_one_warning(self):
        """Unknown columns are dropped, listed in the report and announced once."""
        with pytest.warns(DataQualityWarning) as record:
            data, report = validate({**BASE, "Age": 3, "shoe_size": 42})
        assert len(record) == 1
        assert "Dropped 2 unknown column(s): 'Age', 'shoe_size'" in str(record[0].message)
        assert "did you mean 'age'?" in str(record[0].message)
        assert report.unknown_columns == ("Age", "shoe_size")
        assert "shoe_size" not in data.columns
        assert not report.ok
        summary = report.summary()
        assert summary[summary.issue == "unknown_column"].field.tolist() == ["Age", "shoe_size"]

    def test_implausible_kept_flagged_one_warning(self):
        """Implausible values are kept and flagged, with one warning for the whole call."""
        records = [{**BASE, "age": 110}, {**BASE, "heart_rate": 220},
                   {**BASE, "heart_rate": 25}]
        with pytest.warns(DataQualityWarning) as record:
            data, report = validate(records)
        assert len(record) == 1
        assert str(record[0].message).startswith("3 implausible value(s) kept and flagged")
        assert data["age"].tolist() == [110.0, 50.0, 50.0]
        assert [(p.field, p.row, p.value) for p in report.implausible] == [
            ("age", 0, 110), ("heart_rate", 1, 220), ("heart_rate", 2, 25)]
        assert report.implausible[0].message == MSG_IMPLAUSIBLE.format(
            field="age", value="110", converted="", where="row 0", low="18", high="105",
            unit=" years", todo=TODO_CHECK)
        assert report.flags.loc[0, "age"] and report.flags.loc[1, "heart_rate"]
        assert int(report.flags.to_numpy().sum()) == 3
        assert report.flags.dtypes.eq(bool).all()
        assert not report.ok
        summary = report.summary()
        assert summary.loc[summary.field == "heart_rate", "count"].tolist() == [2]

    def test_many_implausible_values_one_warning(self):
        """Fifty implausible values still give exactly one warning."""
        with pytest.warns(DataQualityWarning) as record:
            _, report = validate([{**BASE, "age": 110}] * 50)
        assert len(record) == 1
        assert len(report.implausible) == 50

    def test_diastolic_not_below_systolic_flagged(self):
        """Diastolic at or above systolic is flagged on both fields, not an error."""
        with pytest.warns(DataQualityWarning):
            data, report = validate([{**BASE, "systolic_bp": 80, "diastolic_bp": 90},
                                     {**BASE, "systolic_bp": 120, "diastolic_bp": 70}])
        assert [(p.field, p.row) for p in report.implausible] == [("diastolic_bp", 0)]
        assert "not below systolic_bp 80" in report.implausible[0].message
        assert report.flags.loc[0, ["systolic_bp", "diastolic_bp"]].all()
        assert not report.flags.loc[1].any()
        assert data.loc[0, "diastolic_bp"] == 90.0
        summary = report.summary()
        assert summary.issue.tolist() == ["inconsistent", "absent"]

    def test_fio2_without_oxygen_flagged(self):
        """FiO2 above room air while not on oxygen is flagged; on oxygen it is not."""
        with pytest.warns(DataQualityWarning):
            _, report = validate([{**BASE, "fio2": 0.4, "on_oxygen": "no"},
                                  {**BASE, "fio2": 0.4, "on_oxygen": "yes"},
                                  {**BASE, "fio2": 0.21, "on_oxygen": False}])
        assert [(p.field, p.row) for p in report.implausible] == [("fio2", 0)]
        assert report.flags.loc[0, ["fio2", "on_oxygen"]].all()
        assert not report.flags.loc[[1, 2]].to_numpy().any()

    def test_implausible_after_conversion_shows_both_values(self):
        """A converted implausible value shows the value given and the canonical one."""
        with pytest.warns(DataQualityWarning):
            _, report = validate({**BASE, "urea": 200}, units={"urea": "mg/dL BUN"})
        assert "value 200 (= 71.3929 mmol/L after converting from mg/dL BUN)" in (
            report.implausible[0].message)


# ---------------------------------------------------------------------------
# Lenient parsing, and where it stops
# ---------------------------------------------------------------------------
MISSING = object()
LENIENT = [
    ("temperature", "37,5", 37.5),
    ("temperature", " 37.5 ", 37.5),
    ("temperature", np.float32(37.5), 37.5),
    ("bmi", "NaN", MISSING), ("bmi", "nan", MISSING), ("bmi", "", MISSING),
    ("bmi", "NA", MISSING), ("bmi", "null", MISSING), ("bmi", None, MISSING),
    ("bmi", pd.NA, MISSING), ("bmi", np.nan, MISSING),
    ("age", "70", 70.0), ("age", np.int64(70), 70.0), ("age", "5e1", 50.0),
    ("diabetes", True, True), ("diabetes", False, False), ("diabetes", 1, True),
    ("diabetes", 0, False), ("diabetes", 1.0, True), ("diabetes", 0.0, False),
    ("diabetes", "yes", True), ("diabetes", "No", False), ("diabetes", "y", True),
    ("diabetes", "N", False), ("diabetes", "TRUE", True), ("diabetes", "false", False),
    ("diabetes", "t", True), ("diabetes", "F", False), ("diabetes", np.bool_(True), True),
    ("diabetes", "1", True), ("diabetes", " no ", False), ("diabetes", "", MISSING),
    ("ethnicity", "South Asian", "south_asian"), ("ethnicity", "south-asian", "south_asian"),
    ("ethnicity", " WHITE ", "white"), ("variant_period", "Wild Type", "wild_type"),
    ("sex", "Male", "male"), ("sex", "M", "male"), ("sex", "f", "female"),
    ("gcs", 14.0, 14), ("gcs", "14", 14), ("vaccine_doses", np.int64(2), 2),
]


@pytest.mark.parametrize(("name", "given", "expected"), LENIENT)
def test_lenient_parsing(name, given, expected):
    """Spellings whose meaning is certain are accepted."""
    record = {**BASE, name: given}
    data, _ = validate(record)
    value = data.loc[0, name]
    if expected is MISSING:
        assert pd.isna(value)
    else:
        assert value == expected
        assert type(value) is not str or value == expected


@pytest.mark.parametrize(
    ("name", "given"),
    [("sex", "man"), ("sex", "Mal"), ("sex", "1"), ("bmi", "N/A"), ("bmi", "25 kg/m2"),
     ("diabetes", "ja"), ("diabetes", "2"), ("diabetes", -1), ("age", "1,000.5"),
     ("age", "70 years"), ("temperature", "38C"), ("ethnicity", "Asian"), ("bmi", "-nan")],
)
def test_never_guesses(name, given):
    """Values whose meaning is not certain are refused, not guessed."""
    err = _error({**BASE, name: given})
    assert err.fields == [name]
    assert repr(given) in str(err)


# ---------------------------------------------------------------------------
# Containers and dtypes
# ---------------------------------------------------------------------------
class TestContainers:
    def test_frame_nullable_category_and_str_dtypes(self):
        """Nullable, category and str columns give the same result as plain records."""
        frame = pd.DataFrame({
            "age": pd.array([50, 60, 70], dtype="Int64"),
            "sex": pd.Categorical(["Male", "f", "female"]),
            "bmi": pd.array([25.5, None, 30.0], dtype="Float64"),
            "diabetes": pd.array([True, None, False], dtype="boolean"),
            "ethnicity": pd.array(["white", None, "South Asian"], dtype="str"),
            "gcs": pd.array([15, 14, None], dtype="Int64"),
            "temperature": pd.Series(["37,5", "38.0", None], dtype=object),
            "vaccine_doses": np.array([0, 3, 2], dtype=np.int8),
        })
        records = [
            {"age": 50, "sex": "Male", "bmi": 25.5, "diabetes": True, "ethnicity": "white",
             "gcs": 15, "temperature": "37,5", "vaccine_doses": 0},
            {"age": 60, "sex": "f", "bmi": None, "diabetes": None, "ethnicity": None,
             "gcs": 14, "temperature": "38.0", "vaccine_doses": 3},
            {"age": 70, "sex": "female", "bmi": 30.0, "diabetes": False,
             "ethnicity": "South Asian", "gcs": None, "temperature": None, "vaccine_doses": 2},
        ]
        from_frame, _ = validate(frame)
        from_records, _ = validate(records)
        pd.testing.assert_frame_equal(from_frame, from_records)
        assert from_frame["sex"].tolist() == ["male", "female", "female"]
        assert from_frame["gcs"].tolist() == [15, 14, pd.NA]
        assert from_frame["temperature"].tolist()[:2] == [37.5, 38.0]

    def test_numeric_frame_columns_for_bool_and_category(self):
        """0/1 numbers are booleans; other numbers for a bool or a category are errors."""
        good = pd.DataFrame({"age": [50.0, 60.0], "sex": ["m", "f"], "diabetes": [1.0, 0.0]})
        assert validate(good).data["diabetes"].tolist() == [True, False]
        bad = pd.DataFrame({"age": [50.0, 60.0], "sex": [1, 2], "diabetes": [1.0, 0.5]})
        err = _error(bad)
        assert [(p.field, p.row) for p in err.problems] == [
            ("sex", 0), ("sex", 1), ("diabetes", 1)]

    def test_bool_frame_column_for_number(self):
        """A boolean column given for a numeric field is refused."""
        frame = pd.DataFrame({"age": [50.0], "sex": ["m"], "spo2": pd.array([True],
                                                                            dtype="boolean")})
        assert _error(frame).fields == ["spo2"]

    def test_single_dict_equals_one_row_frame(self):
        """One dict and a one-row DataFrame of it give the same canonical frame."""
        from_dict, _ = validate(PATIENT, units=US_UNITS)
        from_frame, _ = validate(pd.DataFrame([PATIENT]), units=US_UNITS)
        pd.testing.assert_frame_equal(from_dict, from_frame)

    def test_long_record_list_equals_frame(self):
        """A long list of mixed-type dicts (object path) matches the frame of the same dicts."""
        rng = np.random.default_rng(7)
        records = [
            {"age": float(a), "sex": ["m", "Female", "MALE"][i % 3],
             "bmi": [None, "27,5", 31.0, np.float32(22.0)][i % 4],
             "diabetes": ["yes", 0, True, None][i % 4], "gcs": [15, 14.0, "13"][i % 3]}
            for i, a in enumerate(rng.integers(20, 90, 150))
        ]
        from_list, _ = validate(records)
        from_frame, _ = validate(pd.DataFrame(records))
        small_path = pd.concat(
            [validate(records[i:i + 50]).data for i in range(0, 150, 50)], ignore_index=True)
        pd.testing.assert_frame_equal(from_list, from_frame)
        pd.testing.assert_frame_equal(from_list, small_path)
        assert from_list["bmi"].tolist()[:4] == pytest.approx([math.nan, 27.5, 31.0, 22.0],
                                                               nan_ok=True)

    def test_column_by_column_path_matches_block_path(self, monkeypatch):
        """Large frames (checked column by column) give the same data and errors."""
        frame = pd.DataFrame({"age": [50.0, 110.0, 70.0], "sex": ["m", "f", "m"],
                              "urea": [10.0, 20.0, 30.0], "gcs": [15, 14, 13]})
        bad = frame.assign(gcs=[15, 14.5, 2])
        with pytest.warns(DataQualityWarning):
            block = validate(frame, units={"urea": "mg/dL urea"})
        block_err = _error(bad)
        monkeypatch.setattr(validation, "_BLOCK_ALL", 0)
        with pytest.warns(DataQualityWarning):
            column = validate(frame, units={"urea": "mg/dL urea"})
        column_err = _error(bad)
        pd.testing.assert_frame_equal(block.data, column.data)
        assert block.report.implausible == column.report.implausible
        assert [p.message for p in block_err.problems] == [
            p.message for p in column_err.problems]

    def test_outcomes_and_true_risk_kept(self):
        """Outcome columns come back boolean and true risks float64, after the predictors."""
        data, _ = validate([{**BASE, "death": "yes", "icu": 0, "true_risk_death": 0.3},
                            {**BASE, "death": False, "icu": 1, "true_risk_death": "0,05"}])
        assert list(data.columns) == [*PREDICTORS, "death", "icu", "true_risk_death"]
        assert data["death"].dtype == "boolean"
        assert data["true_risk_death"].dtype == np.float64
        assert data["death"].tolist() == [True, False]
        assert data["true_risk_death"].tolist() == [0.3, 0.05]
        assert set(OUTCOMES) >= {"death", "icu"}

    def test_id_column_becomes_index(self):
        """The id column is the index, untouched, and is not reported as unknown."""
        frame = pd.DataFrame({"pid": ["P-1", "P-2"], "age": [40, 50], "sex": ["m", "f"]},
                             index=[10, 20])
        data, report = validate(frame, id_column="pid")
        assert data.index.tolist() == ["P-1", "P-2"]
        assert data.index.name == "pid"
        assert report.flags.index.tolist() == ["P-1", "P-2"]
        assert report.unknown_columns == ()
        with pytest.warns(DataQualityWarning, match="'pid'"):
            assert validate(frame).data.index.tolist() == [0, 1]

    def test_input_not_modified(self):
        """Validation never changes the caller's frame, and the result does not share it."""
        frame = pd.DataFrame({"age": [50.0, 60.0], "sex": ["m", "f"], "urea": [28.0, np.nan],
                              "crp": [np.inf, 1.0]})
        before = frame.copy()
        with pytest.raises(ValidationError):
            validate(frame, units={"urea": "mg/dL BUN"})
        frame.loc[0, "crp"] = 5.0
        before.loc[0, "crp"] = 5.0
        data, _ = validate(frame)
        data.loc[0, "age"] = 1.0
        pd.testing.assert_frame_equal(frame, before)

    def test_tuple_of_dicts(self):
        """A tuple of dicts is accepted like a list."""
        data, _ = validate((BASE, {"age": 60, "sex": "m"}))
        assert data["sex"].tolist() == ["female", "male"]

    def test_report_summary_columns(self):
        """The summary is a DataFrame with issue, field, count and detail."""
        _, report = validate(BASE, units={"urea": "mg/dL"})
        summary = report.summary()
        assert list(summary.columns) == ["issue", "field", "count", "detail"]
        assert report.conversions == ()  # urea absent: nothing converted
        assert "<p>ValidationReport(" in report._repr_html_()


# ---------------------------------------------------------------------------
# Property: validate never fails with anything but ValidationError
# ---------------------------------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
    | st.sampled_from(["37,5", " 12 ", "yes", "Male", "f", "NaN", "", "1,000", "inf", "1_0"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=5,
)
KEYS = st.sampled_from([*PREDICTORS, *OUTCOMES, "true_risk_death"]) | st.text(max_size=8)
RECORDS = st.dictionaries(KEYS, JSON, max_size=10)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(records=st.one_of(RECORDS, st.lists(RECORDS, max_size=3),
                         RECORDS.map(lambda r: {**r, "age": 50, "sex": "m"})))
def test_arbitrary_records_never_crash(records):
    """Arbitrary JSON-ish dicts give a Validated or a ValidationError, nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        try:
            result = validate(records)
        except ValidationError as err:
            assert err.problems
        else:
            assert isinstance(result, Validated)
            assert list(result.data.columns[: len(PREDICTORS)]) == list(PREDICTORS)


def test_cross_field_rules_and_one_record_parser_share_the_table():
    """One table of cross-field rules serves validate (arrays) and parse_patient (floats)."""
    from covid_risk.validation import (
        CROSS_FIELD_RULES,
        HARD_LIMIT_TOLERANCE,
        diastolic_not_below_systolic,
        fio2_without_oxygen,
        parse_patient,
    )

    assert HARD_LIMIT_TOLERANCE == 1e-9
    assert [(a, b) for a, b, _rule in CROSS_FIELD_RULES] == [
        ("diastolic_bp", "systolic_bp"), ("fio2", "on_oxygen")]
    # the rules work on floats and on arrays alike; NaN never triggers them
    assert diastolic_not_below_systolic(100.0, 100.0) and not diastolic_not_below_systolic(
        80.0, 120.0)
    assert not diastolic_not_below_systolic(float("nan"), 100.0)
    np.testing.assert_array_equal(
        fio2_without_oxygen(np.array([0.4, 0.21, 0.21 + 2e-9, 0.4, np.nan]),
                            np.array([0.0, 0.0, 0.0, 1.0, 0.0])),
        [True, False, True, False, False])
    base = {"age": 60, "sex": "female"}
    for extra, inconsistent in (({"systolic_bp": 120, "diastolic_bp": 80}, False),
                                ({"systolic_bp": 100, "diastolic_bp": 100}, True),
                                ({"fio2": 0.4, "on_oxygen": False}, True),
                                ({"fio2": 0.4, "on_oxygen": True}, False)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            _data, report = validate({**base, **extra})
        assert bool(report.implausible) is inconsistent
        assert (parse_patient({**base, **extra}) is None) is inconsistent
