"""The red-team report's values, one by one: each a ValidationError naming field and value."""

from __future__ import annotations

import decimal

import numpy as np
import pandas as pd
import pytest

import covid_risk as cr
from covid_risk.exceptions import ValidationError
from covid_risk.labels import UNKNOWN_BAND, risk_band, risk_bands

BASE = {"age": 70, "sex": "male"}


@pytest.mark.parametrize("value", [decimal.Decimal("sNaN"), decimal.Decimal("-sNaN"),
                                   complex(1, 2), [1], {"a": 1}, 10**5000],
                         ids=["sNaN", "-sNaN", "complex", "list", "dict", "5001-digits"])
@pytest.mark.parametrize("field", ["diabetes", "crp", "gcs", "ethnicity"])
def test_a_hostile_value_is_a_validation_error_naming_the_field(field, value):
    for records in ({**BASE, field: value}, [{**BASE, field: value}],
                    pd.DataFrame([{**BASE, field: value}])):
        with pytest.raises(ValidationError) as info:
            cr.validate(records)
        assert field in info.value.fields


def test_a_quiet_decimal_nan_is_missing():
    assert pd.isna(cr.validate({**BASE, "crp": decimal.Decimal("NaN")}).data["crp"][0])
    assert pd.isna(cr.validate({**BASE, "diabetes": decimal.Decimal("NaN")}).data[
        "diabetes"][0])


def test_one_complex_cell_does_not_poison_its_column():
    df = pd.DataFrame({"age": [70, 80, 60], "sex": ["male", "female", "male"],
                       "crp": [1 + 2j, None, 5.0]})
    assert df["crp"].dtype.kind == "c"
    with pytest.raises(ValidationError) as info:
        cr.validate(df)
    assert [p.row for p in info.value.problems] == [0]
    ok = cr.validate(df.iloc[1:].reset_index(drop=True)).data["crp"].tolist()
    assert pd.isna(ok[0]) and ok[1] == 5.0


def test_nan_is_never_shown_as_a_band():
    assert risk_band(float("nan")) == UNKNOWN_BAND
    assert risk_bands(np.array([0.01, np.nan, 0.9])).tolist() == ["low", UNKNOWN_BAND,
                                                                 "very high"]
