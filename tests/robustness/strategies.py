"""Hypothesis strategies and checks shared by the robustness tests.

Inputs come in three strengths: *wild* values of any JSON-ish or Python type
(``values``), values of the right kind anywhere in (and around) a field's hard
range (``field_value``), and well-formed patients (``good_patients``) that
mostly reach the model. Set ``COVID_RISK_FUZZ_SCALE`` (an integer, default 1) to
run every property test on that many times more examples, randomly seeded
instead of derandomised.
"""

from __future__ import annotations

import datetime
import decimal
import math
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from covid_risk.exceptions import DataQualityWarning, ValidationError
from covid_risk.schema import COMMUNITY_PREDICTORS, FIELDS, OUTCOMES, PREDICTORS

SCALE = max(1, int(os.environ.get("COVID_RISK_FUZZ_SCALE", "1") or 1))
"""Multiplier of every test's example count (1 in CI)."""

HANG_SECONDS = 120.0
"""A call that has not returned after this long counts as a hang (a bound, not a timing test)."""

SCHEMA_KEYS: list[str] = list(PREDICTORS) + list(OUTCOMES)
RISK_COHERENCE = (("icu", ("imv",)), ("deterioration", ("death", "icu", "imv")))


def fuzz_settings(examples: int) -> settings:
    """Hypothesis settings: ``examples`` x SCALE examples, no deadline, no example database."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )


# ------------------------------------------------------------------------------ values
_SPECIAL_TEXT = [
    "", " ", "nan", "NA", "null", "None", "yes", "No", "1,5", "1.000,5", "1e309", "-0", "Male",
    " f ", "south-asian", "WHITE", "∞", "٣", "１２", "\x00", "7 mmol/L", "0x10", "1_000", "+5",
    ".5", "5.", "inf", "-inf", "NaN", "True", "1.0", "😷", "a\nb", "'; DROP TABLE patients;--",
]
_SPECIAL_OBJECTS = [
    pd.NA, pd.NaT, np.nan, np.float32(36.6), np.int64(70), np.bool_(True), np.float64("inf"),
    np.uint8(3), decimal.Decimal("70.5"), decimal.Decimal("NaN"), decimal.Decimal("1e400"),
    complex(1, 0), b"70", bytearray(b"m"), datetime.date(2020, 1, 1),
    np.datetime64("2020-01-01"), np.int64(2**62), np.float16(1e4), np.longdouble(5), Ellipsis,
    object(), range(3), np.array(5.0), np.array([1.0, 2.0]),
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-300, max_value=3000),
    st.text(max_size=12),
    st.sampled_from(_SPECIAL_TEXT),
    st.sampled_from(_SPECIAL_OBJECTS),
)
"""One value of any everyday or awkward type."""

values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=3), inner, max_size=2),
        st.tuples(inner),
        st.frozensets(st.integers(), max_size=2),
    ),
    max_leaves=4,
)
"""Scalars or small nested containers of them (JSON-ish and beyond)."""

_special = st.sampled_from(_SPECIAL_TEXT + _SPECIAL_OBJECTS)

junk_keys = st.one_of(
    st.text(max_size=10),
    st.sampled_from(["Age", " age", "AGE", "patient_id", "urea ", "true_risk_death", "", "row",
                     "spo2_fio2", "nlr", "comorbidity_count", "<input>"]),
    st.integers(),
    st.none(),
    st.tuples(st.integers()),
    st.floats(allow_nan=True),
)
"""Keys that are not canonical field names (some close to one)."""

keys = st.one_of(st.sampled_from(SCHEMA_KEYS), junk_keys)


def field_value(name: str) -> st.SearchStrategy:
    """Values of the right kind for field ``name``, in or around its range, or wild."""
    f = FIELDS[name]
    if f.kind in ("float", "int"):
        lo, hi = f.hard
        return st.one_of(
            st.floats(lo, hi), st.integers(math.ceil(lo), int(hi)),
            st.floats(lo - 100.0, hi + 100.0), st.floats(lo, hi).map(str), _special, values,
        )
    if f.kind == "bool":
        return st.one_of(st.booleans(), st.sampled_from(["yes", "no", 1, 0, None, 2]), _special,
                         values)
    return st.one_of(
        st.sampled_from(f.categories), st.sampled_from([c.upper() for c in f.categories]),
        _special, values,
    )


def good_value(name: str) -> st.SearchStrategy:
    """Values that validate accepts for ``name`` (some implausible, some spelled as text)."""
    f = FIELDS[name]
    if f.kind == "float":
        lo, hi = f.hard
        return st.one_of(
            st.floats(lo, hi), st.floats(*f.plausible), st.floats(*f.plausible).map(repr),
            st.none(),
        )
    if f.kind == "int":
        lo, hi = (int(x) for x in f.hard)
        return st.one_of(st.integers(lo, hi), st.integers(lo, hi).map(float),
                         st.integers(lo, hi).map(str), st.none())
    if f.kind == "bool":
        return st.one_of(st.booleans(), st.sampled_from(["yes", "no", "Y", "false", 1, 0, None]))
    return st.one_of(st.sampled_from(f.categories), st.sampled_from(f.categories).map(str.upper),
                     st.none())


@st.composite
def patients(draw: Callable) -> dict[Any, Any]:
    """One patient dict: schema fields with odd values, missing keys and junk keys."""
    p: dict[Any, Any] = {
        "age": draw(st.one_of(st.floats(18, 100), field_value("age"))),
        "sex": draw(st.one_of(st.sampled_from(["male", "female"]), field_value("sex"))),
    }
    if draw(st.integers(0, 7)) == 0:
        del p[draw(st.sampled_from(["age", "sex"]))]
    for name in draw(st.lists(st.sampled_from(SCHEMA_KEYS), max_size=10, unique=True)):
        p[name] = draw(field_value(name))
    p.update(draw(st.dictionaries(keys, values, max_size=3)))
    return p


@st.composite
def good_patients(draw: Callable, setting: str = "admission") -> dict[str, Any]:
    """One patient that validate accepts (values inside the hard limits)."""
    names = list(COMMUNITY_PREDICTORS if setting == "community" else PREDICTORS)
    p: dict[str, Any] = {
        "age": draw(st.floats(0, 120)),
        "sex": draw(st.sampled_from(["male", "female", "M", "f", "Female"])),
    }
    for name in draw(st.lists(st.sampled_from(names), max_size=len(names), unique=True)):
        if name not in ("age", "sex"):
            p[name] = draw(good_value(name))
    return p


@st.composite
def frames(draw: Callable) -> pd.DataFrame:
    """DataFrames: empty, no columns, duplicated columns, junk names, odd cells and dtypes."""
    n = draw(st.integers(0, 4))
    kind = draw(st.sampled_from(["good", "dirty", "objects", "floats"]))
    if kind in ("good", "dirty"):
        df = pd.DataFrame([draw(good_patients()) for _ in range(n)])
        if kind == "dirty" and n:
            # a few cells of otherwise valid rows get wild values: row-level problems
            df = df.astype(object)
            for _ in range(draw(st.integers(1, 3))):
                name = draw(st.sampled_from(list(df.columns)))
                df.at[draw(st.integers(0, n - 1)), name] = draw(field_value(name))
        elif len(df.columns) and draw(st.booleans()):
            twice = draw(st.sampled_from(list(df.columns)))
            df = pd.concat([df, df[[twice]]], axis=1)  # the same column twice
        return df
    names = draw(st.lists(keys, max_size=6))
    if not names:
        return pd.DataFrame(index=range(n))
    columns = []
    for _ in names:
        if kind == "floats":
            cells = draw(st.lists(st.floats(allow_nan=True, allow_infinity=True),
                                  min_size=n, max_size=n))
            columns.append(pd.Series(cells, dtype="float64"))
        else:
            columns.append(pd.Series(draw(st.lists(values, min_size=n, max_size=n)),
                                     dtype=object))
    df = pd.concat(columns, axis=1)
    df.columns = names
    return df


# ------------------------------------------------------------------------------ checks
def bounded(fn: Callable[..., Any], *args: Any, seconds: float = HANG_SECONDS,
            **kwargs: Any) -> Any:
    """Call ``fn`` in a worker thread; fail if it does not return within ``seconds``.

    The exception raised by ``fn``, if any, is raised again here with its traceback.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise AssertionError(f"{getattr(fn, '__name__', fn)} did not return in {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box["value"]


def checked_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any, list]:
    """Call ``fn`` under the hang bound: ``(result or None, ValidationError or None, warnings)``.

    Any other exception propagates, and any warning other than a
    :class:`~covid_risk.exceptions.DataQualityWarning` fails the test.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = bounded(fn, *args, **kwargs)
        except ValidationError as exc:
            result, error = None, exc
        else:
            error = None
    foreign = [w for w in caught if not issubclass(w.category, DataQualityWarning)]
    assert not foreign, [f"{w.category.__name__}: {w.message}" for w in foreign]
    return result, error, caught


def key_text(key: Any) -> str:
    """How validate names a column label in its problems."""
    return str(key)


def check_validation_error(exc: ValidationError, given_keys: set[str]) -> None:
    """A ValidationError lists problems, each naming a real field or input key, with a message."""
    assert exc.problems, "a ValidationError without problems"
    assert str(exc).strip()
    for p in exc.problems:
        assert isinstance(p.message, str) and len(p.message) > 20, p
        known = p.field in FIELDS or p.field.startswith("true_risk_")
        assert known or p.field.startswith("<") or p.field in given_keys, p
        if not p.field.startswith("<"):
            # the message names the field (as text, escaped as repr() shows it, or by the
            # offending object itself when the "field" is a bad columns=/units= target)
            named = (p.field, repr(p.field)[1:-1], repr(p.value))
            assert any(n in p.message for n in named), p


def check_probabilities(probabilities: Mapping[str, float]) -> None:
    """Finite, in [0, 1], and coherent: icu >= imv, deterioration >= death, icu, imv."""
    for outcome, p in probabilities.items():
        assert math.isfinite(p) and 0.0 <= p <= 1.0, (outcome, p)
    for container, parts in RISK_COHERENCE:
        if container in probabilities:
            for part in parts:
                if part in probabilities:
                    assert probabilities[container] >= probabilities[part], (container, part)


def check_canonical(data: pd.DataFrame, n_rows: int) -> None:
    """``data`` is validate's canonical frame: every predictor, schema dtypes, values in range."""
    assert list(data.columns[: len(PREDICTORS)]) == list(PREDICTORS)
    assert len(data) == n_rows
    for name in PREDICTORS:
        f = FIELDS[name]
        col = data[name]
        if f.kind == "category":
            assert not pd.api.types.is_numeric_dtype(col.dtype), name
            seen = set(col.dropna().tolist())
            assert seen <= set(f.categories), (name, seen)
            continue
        expected = {"float": "float64", "int": "Int64", "bool": "boolean"}[f.kind]
        assert str(col.dtype) == expected, (name, col.dtype)
        x = col.to_numpy(dtype="float64", na_value=np.nan)
        known = x[~np.isnan(x)]
        assert np.isfinite(known).all(), name
        if f.hard is not None:
            lo, hi = f.hard
            tol = 1e-9 * max(1.0, abs(lo), abs(hi))
            assert ((known >= lo - tol) & (known <= hi + tol)).all(), (name, known)
        if f.kind == "bool":
            assert set(known.tolist()) <= {0.0, 1.0}, name
    for name in ("age", "sex"):
        assert data[name].notna().all(), name
