"""Property tests of validate: any input gives a canonical frame or a clear ValidationError."""

from __future__ import annotations

import math

import pandas as pd
from hypothesis import event, given
from hypothesis import strategies as st

from covid_risk.schema import FIELDS
from covid_risk.validation import validate

from .strategies import (
    check_canonical,
    check_validation_error,
    checked_call,
    frames,
    fuzz_settings,
    good_patients,
    key_text,
    keys,
    patients,
    values,
)


def _validate(records, **kwargs):
    """Run validate under the hang bound; return (result or None, error or None, warnings)."""
    return checked_call(validate, records, **kwargs)


def _given_keys(records) -> set[str]:
    if isinstance(records, pd.DataFrame):
        return {key_text(c) for c in records.columns}
    if isinstance(records, dict):
        return {key_text(k) for k in records}
    return set()


@fuzz_settings(150)
@given(patients())
def test_any_patient_dict_gives_a_canonical_row_or_a_clear_error(patient):
    """Wild dicts (odd types, NaN/inf, huge ints, unicode, junk keys): frame or ValidationError."""
    result, error, _ = _validate(patient)
    event("refused" if error is not None else "accepted")
    if error is not None:
        check_validation_error(error, _given_keys(patient))
    else:
        check_canonical(result.data, 1)


@fuzz_settings(100)
@given(frames())
def test_any_frame_gives_a_canonical_frame_or_a_clear_error(frame):
    """Empty frames, no columns, duplicated or junk columns, odd cells: frame or ValidationError."""
    result, error, _ = _validate(frame)
    event("refused" if error is not None else "accepted")
    if error is not None:
        check_validation_error(error, _given_keys(frame))
        if len(frame) == 0 or frame.shape[1] == 0:
            assert error.fields == ["<input>"] and "no records" in str(error)
        else:
            for name in frame.columns[frame.columns.duplicated()]:
                if isinstance(name, str):  # NaN labels are junk: NaN != NaN, no duplicate
                    assert key_text(name) in error.fields
    else:
        assert not any(isinstance(c, str) for c in frame.columns[frame.columns.duplicated()])
        check_canonical(result.data, len(frame))


@fuzz_settings(100)
@given(st.one_of(values, st.lists(st.one_of(patients(), values), max_size=3)))
def test_anything_that_is_not_records_is_refused_clearly(records):
    """Scalars, nested containers and lists mixing dicts with other things never crash."""
    result, error, _ = _validate(records)
    if error is not None:
        check_validation_error(error, set())
    else:
        assert isinstance(records, (dict, list))
        check_canonical(result.data, 1 if isinstance(records, dict) else len(records))


@fuzz_settings(100)
@given(
    good_patients(),
    st.one_of(st.none(), values, st.dictionaries(keys, values, max_size=3)),
    st.one_of(st.none(), values, st.dictionaries(keys, st.one_of(keys, values), max_size=3)),
)
def test_fuzzed_units_and_columns_settings_never_crash(patient, units, columns):
    """Junk units= and columns= mappings (or non-mappings) are refused clearly, never crash."""
    _result, error, _ = _validate(patient, units=units, columns=columns)
    if error is not None:
        named = _given_keys(patient)
        if isinstance(units, dict):
            named |= {key_text(k) for k in units}
        if isinstance(columns, dict):
            named |= {key_text(v) for v in columns.values()}
        check_validation_error(error, named)


@fuzz_settings(100)
@given(good_patients())
def test_values_inside_the_hard_limits_are_always_accepted_unchanged(patient):
    """A patient whose every value is inside the hard limits validates, values kept exactly."""
    result, error, _ = _validate(patient)
    assert error is None, str(error)
    data = result.data
    check_canonical(data, 1)
    for name, value in patient.items():
        f = FIELDS[name]
        got = data.loc[0, name]
        if value is None:
            assert pd.isna(got), name
        elif f.kind in ("float", "int"):
            assert math.isclose(float(got), float(value), rel_tol=0, abs_tol=0), (name, value, got)
        elif f.kind == "category":
            assert got == str(value).lower() or (name == "sex" and got[0] == value[0].lower())
