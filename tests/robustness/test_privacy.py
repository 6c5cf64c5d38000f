"""No patient data in errors, warnings or logs beyond the offending field and its value.

Every test builds patients whose other fields carry distinctive sentinel values
(an age of 61.2345, an identifier "PATIENT-SECRET-42", free text in an unknown
column, ...) and checks that none of them appears in the exception (its message,
its problems and its whole formatted traceback chain), the warnings, the log
records or what was printed. The one deliberate exception is ``id_column=``: the
caller names an identifier column so that messages can point at the row.
"""

from __future__ import annotations

import logging
import traceback
import warnings

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from covid_risk.exceptions import ValidationError
from covid_risk.prediction._predict import predict_risk
from covid_risk.schema import FIELDS, PREDICTORS
from covid_risk.validation import validate

from .strategies import fuzz_settings

SECRET_ID = "PATIENT-SECRET-42"
NOTE = "lives at 12 Hidden Lane"
PATIENT = {
    "age": 61.2345, "sex": "female", "bmi": 27.1828, "urea": 13.579, "crp": 246.81,
    "spo2": 93.21, "heart_rate": 101.7, "deprivation_quintile": 4, "patient_id": SECRET_ID,
    "notes": NOTE,
}
SENTINELS = ("61.2345", "27.1828", "13.579", "246.81", "93.21", "101.7", SECRET_ID, NOTE)
OFFENDING = ("respiratory_rate", 500)


def _numeric_sentinels() -> dict[str, float]:
    """A distinctive, plausible value for every float field (digits unlikely elsewhere)."""
    out = {}
    for i, name in enumerate(n for n in PREDICTORS if FIELDS[n].kind == "float"):
        lo, hi = FIELDS[name].plausible
        out[name] = round(lo + (hi - lo) * (0.3 + 0.01 * i), 1) + 0.0371 + 0.0001 * i
    return out


def _everything(exc: BaseException | None, caught, caplog, capsys) -> str:
    """All text a user or a log could see: exception chain, problems, warnings, logs, output."""
    parts = []
    if exc is not None:
        parts += traceback.format_exception(exc)
        parts += [repr(exc)]
        if isinstance(exc, ValidationError):
            parts += [f"{p.field} {p.message} {p.value!r}" for p in exc.problems]
    parts += [str(w.message) for w in caught]
    parts += [caplog.text]
    out = capsys.readouterr()
    parts += [out.out, out.err]
    return "\n".join(parts)


def _call(fn, *args, **kwargs):
    """(result, exception, warnings) of one call with every warning recorded."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return fn(*args, **kwargs), None, caught
        except ValidationError as exc:
            return None, exc, caught


@pytest.fixture(autouse=True)
def _debug_logging(caplog):
    caplog.set_level(logging.DEBUG)


@pytest.mark.parametrize("entry", ["validate dict", "validate frame", "predict dict",
                                   "predict dict no explain", "predict frame"])
def test_an_impossible_value_error_names_only_its_own_field(admission_model, caplog, capsys,
                                                            entry):
    """Age, identifier, labs and free text of the patient stay out of the error about RR 500."""
    patient = {**PATIENT, OFFENDING[0]: OFFENDING[1]}
    frame = pd.DataFrame([patient, {**PATIENT, "age": 44.4321}])
    call = {
        "validate dict": lambda: validate(patient),
        "validate frame": lambda: validate(frame),
        "predict dict": lambda: predict_risk(patient, model=admission_model),
        "predict dict no explain": lambda: predict_risk(patient, model=admission_model,
                                                        explain=False),
        "predict frame": lambda: predict_risk(frame, model=admission_model),
    }[entry]
    _, exc, caught = _call(call)
    assert exc is not None and exc.fields == [OFFENDING[0]]
    text = _everything(exc, caught, caplog, capsys)
    assert "respiratory_rate" in text and "500" in text
    for secret in (*SENTINELS, "44.4321"):
        assert secret not in text, secret
    assert [p.value for p in exc.problems] == [OFFENDING[1]]


def test_id_column_points_at_the_row_and_reveals_nothing_else(caplog, capsys):
    """With id_column= the chosen identifier locates the row; no other value appears."""
    frame = pd.DataFrame([{**PATIENT, OFFENDING[0]: OFFENDING[1]}])
    _, exc, caught = _call(validate, frame, id_column="patient_id")
    text = _everything(exc, caught, caplog, capsys)
    assert f"id {SECRET_ID!r}" in str(exc)
    for secret in SENTINELS:
        if secret != SECRET_ID:
            assert secret not in text, secret


def test_warnings_about_kept_values_name_only_the_flagged_fields(admission_model, caplog,
                                                                 capsys):
    """Implausible RR 60 and an unknown column: warnings and result name only those."""
    patient = {**PATIENT, "respiratory_rate": 60}
    result, exc, caught = _call(predict_risk, patient, model=admission_model)
    assert exc is None
    text = _everything(None, caught, caplog, capsys) + "\n".join(result.warnings) + repr(result)
    assert "respiratory_rate" in text and "'notes'" in text and "'patient_id'" in text
    for secret in SENTINELS:
        assert secret not in text, secret


def test_batch_scoring_reports_counts_not_values(admission_file, tmp_path, caplog, capsys):
    """score_file's warnings, report and output streams carry counts and field names only."""
    from covid_risk.scoring import score_file

    rows = [dict(PATIENT, patient_id=f"{SECRET_ID}-{i}") for i in range(5)]
    rows[2][OFFENDING[0]] = OFFENDING[1]
    rows[3]["respiratory_rate"] = 60
    src = tmp_path / "patients.csv"
    pd.DataFrame(rows).to_csv(src, index=False)
    report, exc, caught = _call(score_file, src, tmp_path / "out.parquet", model=admission_file,
                                id_column="patient_id", progress=False)
    assert exc is None and report.rows_rejected == 1
    text = _everything(None, caught, caplog, capsys)
    text += repr(report) + report.summary.to_string() + str(report.to_dict())
    assert "respiratory_rate" in text
    for secret in SENTINELS:
        assert secret not in text, secret
    assert "500" not in text  # even the offending value stays in the rejects file only


@fuzz_settings(40)
@given(st.sampled_from([n for n in PREDICTORS if FIELDS[n].kind in ("float", "int")]),
       st.sampled_from(["above", "below", "text", "list"]))
def test_any_offending_field_reveals_no_other_value(offending, how):
    """Every float field holds a sentinel; whichever field is made impossible, only it is named."""
    patient: dict = {"sex": "male", **_numeric_sentinels()}
    f = FIELDS[offending]
    lo, hi = f.hard
    bad = {"above": hi + 1000.5, "below": lo - 1000.5, "text": "n/a?", "list": [lo, hi]}[how]
    patient[offending] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValidationError) as raised:
            validate(patient)
    exc = raised.value
    assert exc.fields == [offending]
    text = "\n".join(traceback.format_exception(exc)) + repr(exc.problems)
    for name, value in _numeric_sentinels().items():
        if name != offending:
            assert repr(value) not in text, (name, value)
