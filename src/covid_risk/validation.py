"""Validation at the boundary: records in, canonical DataFrame (or ValidationError) out.

:func:`validate` is the one place where user input becomes a canonical patient
table. It reads every rule from :mod:`covid_risk.schema`:

* impossible values (outside ``Field.hard``, not a number, an unknown category,
  a missing required field, ...) are collected over all rows and fields and raised
  together as one :class:`~covid_risk.exceptions.ValidationError`;
* implausible values (outside ``Field.plausible`` but possible) are kept, flagged
  in the :class:`ValidationReport` and announced by one
  :class:`~covid_risk.exceptions.DataQualityWarning` per call;
* unknown columns are dropped from the data, listed in the report and announced in
  the same warning.

Parsing is lenient only where the meaning is certain (decimal commas, surrounding
spaces, ``"yes"``/``"no"``, case of category names) and never guesses beyond that.

Every message is built from the ``MSG_*`` templates of this module so that tests
and callers can rely on its exact wording.
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import (
    infer_dtype,
    is_bool_dtype,
    is_complex_dtype,
    is_numeric_dtype,
)

from covid_risk.exceptions import DataQualityWarning, Problem, ValidationError
from covid_risk.schema import (
    FIELDS,
    OUTCOMES,
    PREDICTORS,
    REQUIRED_FIELDS,
    ROOM_AIR_FIO2,
    Field,
)

__all__ = [
    "CROSS_FIELD_RULES",
    "FALSE_TOKENS",
    "HARD_LIMIT_TOLERANCE",
    "MISSING_TOKENS",
    "SEX_ALIASES",
    "TRUE_TOKENS",
    "AppliedConversion",
    "Validated",
    "ValidationReport",
    "diastolic_not_below_systolic",
    "fio2_without_oxygen",
    "parse_patient",
    "validate",
]

# ---------------------------------------------------------------------------
# Message templates (tests check them exactly)
# ---------------------------------------------------------------------------
# Cell-level errors. ``value`` is the repr of the value as received, ``where`` is
# "row 3" (or "row 3, id 'P-17'" when an id column is given), ``allowed`` comes
# from the schema, ``todo`` says what to do.
MSG_OUT_OF_RANGE = "Field {field!r} must be {allowed}; got {value}{converted} ({where}). {todo}"
MSG_NOT_A_NUMBER = (
    "Field {field!r} must be {allowed}; got {value} ({where}), which is not a number. {todo}"
)
MSG_AMBIGUOUS_COMMA = (
    "Field {field!r} must be {allowed}; got {value} ({where}), which is ambiguous: the comma "
    "could be a decimal or a thousands separator. Write the number with a decimal point and "
    "no thousands separator."
)
MSG_NOT_FINITE = (
    "Field {field!r} must be {allowed}; got {value} ({where}), which is not a finite number. "
    "{todo}"
)
MSG_NOT_WHOLE = (
    "Field {field!r} must be {allowed}; got {value} ({where}), which is not a whole number. "
    "{todo}"
)
MSG_BAD_BOOL = (
    "Field {field!r} must be {allowed}; got {value} ({where}). Use true/false, yes/no, y/n, "
    "t/f or 1/0, or leave the field missing if unknown."
)
MSG_BAD_CATEGORY = (
    "Field {field!r} must be {allowed}; got {value} ({where}). Use one of the listed values "
    "(case, spaces and hyphens do not matter). {todo}"
)
MSG_NESTED = (
    "Field {field!r} must be a single value, {allowed}; got {value} ({where}), which is a "
    "{typename}. Give one value per field; for several patients pass a list of dicts or a "
    "DataFrame."
)
MSG_MISSING_REQUIRED = (
    "Field {field!r} is required and must be {allowed}; got {value} ({where}). "
    "Every record needs {required}: fill in the value."
)
MSG_ABSENT_REQUIRED = (
    "Field {field!r} is required and must be {allowed}, but the input has no such column "
    "(all {n_rows} row(s)). Add it, or map your column to it with "
    "columns={{'<your column>': {field!r}}}."
)

# Input-level errors.
MSG_EMPTY = (
    "The input has no records (got {value}). Pass at least one patient: a dict, a list of "
    "dicts or a DataFrame with rows."
)
MSG_NOT_A_RECORD = (
    "Record {row} is a {typename}, not a dict (got {value}). Pass each patient as a dict of "
    "field name to value."
)
MSG_BAD_INPUT = (
    "records must be a dict, a list or tuple of dicts, or a pandas DataFrame; got a {typename} "
    "({value}). Convert it first, e.g. series.to_dict() for one patient."
)
MSG_BAD_SETTING = (
    "{setting}= must be a mapping (dict) or None; got a {typename} ({value}). "
    "Pass e.g. {example}."
)
MSG_DUPLICATE_COLUMN = (
    "Column {column!r} appears {count} times in the input (value of the first copy {value}, "
    "row 0). Keep one copy or rename the others."
)
MSG_DUPLICATE_TARGET = (
    "Columns {sources} all give field {field!r} after applying columns= (first values "
    "{value}, row 0). Keep one of them, or map only one to {field!r}."
)
MSG_UNKNOWN_TARGET = (
    "columns= maps {source!r} to {target!r}, which is not a known field{suggest}. Map it to "
    "a canonical name (see covid_risk.field_table())."
)
MSG_UNITS_UNKNOWN_FIELD = (
    "units= names {name!r} (unit {value}), which is not a known field{suggest}. Use canonical "
    "field names as keys, e.g. units={{'urea': 'mg/dL BUN'}}."
)
MSG_UNKNOWN_UNIT = (
    "Unit {value} given in units= for field {field!r} (all rows) is not accepted; accepted "
    "units: {allowed}. Pass one of these, or convert the values before validating."
)
MSG_ID_ABSENT = (
    "id_column={value} is not a column of the input (all rows). Columns present: {allowed}."
)

# Flags (kept values).
MSG_IMPLAUSIBLE = (
    "Field {field!r} value {value}{converted} ({where}) is outside the plausible range "
    "{low} to {high}{unit}; kept and flagged. {todo}"
)
MSG_DIASTOLIC_NOT_BELOW_SYSTOLIC = (
    "Field 'diastolic_bp' value {value} ({where}) is not below systolic_bp {other}; "
    "diastolic must be lower than systolic. Kept and flagged; check the two readings were "
    "not swapped."
)
MSG_FIO2_WITHOUT_OXYGEN = (
    "Field 'fio2' value {value} ({where}) is above room air (0.21) while on_oxygen is False; "
    "FiO2 above 0.21 needs supplemental oxygen. Kept and flagged; check fio2 and on_oxygen."
)
_OUTSIDE = "is outside the plausible range"
_CROSS_DETAIL = {
    "diastolic_bp": "diastolic not below systolic",
    "fio2": "FiO2 above 0.21 without oxygen",
}
MSG_WARN_IMPLAUSIBLE = (
    "{count} implausible value(s) kept and flagged in {fields}; see report.implausible or "
    "report.flags."
)
MSG_WARN_UNKNOWN = (
    "Dropped {count} unknown column(s): {columns}{suggest}. Map them with columns= if they "
    "are known fields under another name; see report.unknown_columns."
)

TODO_OPTIONAL = "Correct the value or leave the field out if unknown."
TODO_REQUIRED = "Correct the value; the field is required for every record."
TODO_CHECK = "Check the measurement and how it was recorded."
HINT_UNIT = (
    "Check the unit: values must be in {unit}; if yours are in another unit pass "
    "units={{{field!r}: '<unit>'}} with one of: {alts}."
)
UNIT_HINTS: dict[str, str] = {
    "urea": (
        "Check the unit: pass units={'urea': 'mg/dL BUN'} if the value is blood urea "
        "nitrogen, or units={'urea': 'mg/dL urea'} if it is urea in mg/dL."
    ),
    "temperature": (
        "Check the unit: pass units={'temperature': '°F'} if the value is in Fahrenheit."
    ),
    "spo2": "Check the unit: pass units={'spo2': 'fraction'} if the value is a 0-1 fraction.",
    "fio2": "Check the unit: pass units={'fio2': '%'} if the value is a percentage.",
    "creatinine": "Check the unit: pass units={'creatinine': 'mg/dL'} for US-style values.",
}
"""Field-specific advice on the unit, used in range and plausibility messages."""

MISSING_TOKENS: frozenset[str] = frozenset({"", "nan", "na", "null"})
"""Strings (after stripping, any case) read as a missing value."""
TRUE_TOKENS: frozenset[str] = frozenset({"true", "t", "yes", "y", "1", "1.0"})
FALSE_TOKENS: frozenset[str] = frozenset({"false", "f", "no", "n", "0", "0.0"})
SEX_ALIASES: dict[str, str] = {"m": "male", "f": "female"}

# Problem codes (int8 per cell); 0 means the cell parsed and passed.
_OK, _MISSING_REQ, _NOT_NUMBER, _NOT_FINITE, _OUT_OF_RANGE = 0, 1, 2, 3, 4
_NOT_WHOLE, _BAD_BOOL, _BAD_CATEGORY, _NESTED, _AMBIGUOUS = 5, 6, 7, 8, 9

_SMALL = 64  # record lists up to this size are parsed value by value
_BLOCK_ALL = 20_000  # frames up to this many rows are checked as one 2-D block
_MAX_SHOWN = 60  # longest value repr in a message

_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2},\d{3}")
_SEPARATORS = re.compile(r"[\s\-]+")
_NESTED_TYPES = (list, tuple, dict, set, frozenset, Mapping, np.ndarray, pd.Series, pd.DataFrame)


def _true_risk_field(outcome: str) -> Field:
    return Field(
        name=f"true_risk_{outcome}", kind="float", group="outcome",
        label=f"True risk of {FIELDS[outcome].label.lower()}",
        description=f"Simulated true probability of {outcome} (synthetic cohorts only).",
        hard=(0.0, 1.0), plausible=(0.0, 1.0),
    )


# Every column validate() can return, in output order.
_TARGETS: dict[str, Field] = {
    **{n: FIELDS[n] for n in PREDICTORS},
    **{n: FIELDS[n] for n in OUTCOMES},
    **{f"true_risk_{o}": _true_risk_field(o) for o in OUTCOMES},
}
_TARGET_NAMES: tuple[str, ...] = tuple(_TARGETS)
_POS = {n: i for i, n in enumerate(_TARGET_NAMES)}
_N_PRED = len(PREDICTORS)


def _limits(f: Field, which: str) -> tuple[float, float]:
    lim = getattr(f, which)
    if lim and f.kind in ("float", "int"):
        return float(lim[0]), float(lim[1])
    return -math.inf, math.inf  # bools and categories (0/1 or an index) are never out of range


_LO = np.array([_limits(f, "hard")[0] for f in _TARGETS.values()])
_HI = np.array([_limits(f, "hard")[1] for f in _TARGETS.values()])
_PLO = np.array([_limits(f, "plausible")[0] for f in _TARGETS.values()])
_PHI = np.array([_limits(f, "plausible")[1] for f in _TARGETS.values()])
_IS_INT = np.array([f.kind == "int" for f in _TARGETS.values()])
_IS_REQ = np.array([f.required for f in _TARGETS.values()])
HARD_LIMIT_TOLERANCE = 1e-9
"""Relative slack around the hard limits (of the larger limit, at least absolute 1e-9).

A value within it of a hard limit is accepted, so unit-conversion rounding never
turns a value at the limit into an error. The table and the one-record parser
(:func:`parse_patient`) both read the per-field tolerances built from it.
"""
_TOL = HARD_LIMIT_TOLERANCE * np.maximum(
    1.0, np.nan_to_num(np.maximum(np.abs(_LO), np.abs(_HI)), posinf=0.0))

def diastolic_not_below_systolic(diastolic: Any, systolic: Any) -> Any:
    """Return whether diastolic pressure is not below systolic (floats or arrays; NaN is False).

    Examples
    --------
    >>> diastolic_not_below_systolic(100.0, 100.0), diastolic_not_below_systolic(80.0, 120.0)
    (True, False)
    """
    return diastolic >= systolic


def fio2_without_oxygen(fio2: Any, on_oxygen: Any) -> Any:
    """Return whether FiO2 is above room air while ``on_oxygen`` is no (floats or arrays).

    Room air is :data:`covid_risk.schema.ROOM_AIR_FIO2` (0.21), with
    :data:`HARD_LIMIT_TOLERANCE` of slack; a missing value
    never triggers the rule.

    Examples
    --------
    >>> fio2_without_oxygen(0.4, 0.0), fio2_without_oxygen(0.21, 0.0), fio2_without_oxygen(0.4, 1.0)
    (True, False, False)
    """
    return (fio2 > ROOM_AIR_FIO2 + HARD_LIMIT_TOLERANCE) & (on_oxygen == 0.0)


CROSS_FIELD_RULES: tuple[tuple[str, str, Any], ...] = (
    ("diastolic_bp", "systolic_bp", diastolic_not_below_systolic),
    ("fio2", "on_oxygen", fio2_without_oxygen),
)
"""Cross-field rules: (field flagged, other field, test of the two canonical values)."""

_CATEGORY_LOOKUP: dict[str, dict[str, int]] = {
    f.name: {c: i for i, c in enumerate(f.categories)}
    for f in _TARGETS.values() if f.kind == "category"
}
for _alias, _cat in SEX_ALIASES.items():
    _CATEGORY_LOOKUP["sex"][_alias] = FIELDS["sex"].categories.index(_cat)


def _str_dtype() -> Any:
    try:  # pandas >= 2.3: the default string dtype of pandas 3 (NaN as missing)
        return pd.StringDtype(na_value=np.nan)
    except TypeError:  # pragma: no cover - older pandas
        return object


_STR_DTYPE = _str_dtype()
_CATEGORY_VALUES = {
    name: np.array([*_TARGETS[name].categories, None], dtype=object) for name in _CATEGORY_LOOKUP
}
# With pandas' Arrow-backed string dtype, category columns are built by an Arrow
# ``take`` (several times faster than from a Python object array).
_ARROW_CATEGORIES = (
    {name: pa.array(_TARGETS[name].categories) for name in _CATEGORY_LOOKUP}
    if getattr(_STR_DTYPE, "storage", None) == "pyarrow" else {}
)


def _allowed(f: Field) -> str:
    text = f.allowed_text()
    if f.name == "sex":
        text += " ('m'/'f' also accepted)"
    return text


def _todo(f: Field, *, unit_hint: bool) -> str:
    base = TODO_REQUIRED if f.required else TODO_OPTIONAL
    if not unit_hint or not f.alt_units:
        return base
    hint = UNIT_HINTS.get(f.name) or HINT_UNIT.format(
        unit=f.unit, field=f.name, alts=", ".join(repr(u) for u in f.alt_units))
    return f"{hint} {base}"


def _show(value: Any) -> str:
    """Return a short repr of a value as received (numpy scalars shown as Python ones)."""
    if isinstance(value, np.generic):
        value = value.item()
    try:
        text = repr(value)
    except Exception:  # pragma: no cover - a broken __repr__ must not hide the problem
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _suggest(name: Any, candidates: Sequence[str]) -> str:
    lowered = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=1, cutoff=0.75)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


# ---------------------------------------------------------------------------
# Scalar parsers: one value -> (float, code)
# ---------------------------------------------------------------------------
def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, (float, np.floating)) and v != v


def _parse_number(v: Any) -> tuple[float, int]:
    """Parse a number field value; ``nan`` with code 0 means missing."""
    t = type(v)
    if t is float:
        return v, _OK
    if t is int:
        try:
            return float(v), _OK
        except OverflowError:
            return math.nan, _OUT_OF_RANGE
    if _is_missing(v):
        return math.nan, _OK
    if isinstance(v, (bool, np.bool_)):
        return math.nan, _NOT_NUMBER
    if isinstance(v, str):
        s = v.strip()
        if s.lower() in MISSING_TOKENS:
            return math.nan, _OK
        if "_" in s:
            return math.nan, _NOT_NUMBER
        if "," in s:
            if "." in s or s.count(",") > 1:
                return math.nan, _NOT_NUMBER
            if _THOUSANDS.fullmatch(s):
                return math.nan, _AMBIGUOUS
            s = s.replace(",", ".")
        try:
            x = float(s)
        except (ValueError, OverflowError):
            return math.nan, _NOT_NUMBER
        return (math.nan, _NOT_NUMBER) if x != x else (x, _OK)
    if isinstance(v, Decimal) and v.is_nan():
        # a quiet NaN is missing, as float NaN is; a signalling NaN is not a number
        return (math.nan, _NOT_NUMBER) if v.is_snan() else (math.nan, _OK)
    if isinstance(v, (numbers.Real, np.integer, np.floating, Decimal)):
        try:
            x = float(v)
        except (OverflowError, ValueError, ArithmeticError):
            return math.nan, _OUT_OF_RANGE
        return (math.nan, _OK) if x != x else (x, _OK)
    if isinstance(v, _NESTED_TYPES):
        return math.nan, _NESTED
    return math.nan, _NOT_NUMBER


def _parse_bool(v: Any) -> tuple[float, int]:
    """Parse a yes/no value to 1.0/0.0 (``nan`` with code 0 means missing)."""
    if v is True or v is False or isinstance(v, np.bool_):
        return float(v), _OK
    if _is_missing(v):
        return math.nan, _OK
    if isinstance(v, str):
        s = v.strip().lower()
        if s in TRUE_TOKENS:
            return 1.0, _OK
        if s in FALSE_TOKENS:
            return 0.0, _OK
        if s in MISSING_TOKENS:
            return math.nan, _OK
        return math.nan, _BAD_BOOL
    if isinstance(v, Decimal) and v.is_nan():
        # comparing a signalling NaN raises decimal.InvalidOperation: judge it first
        return (math.nan, _BAD_BOOL) if v.is_snan() else (math.nan, _OK)
    if isinstance(v, (numbers.Real, np.integer, np.floating, Decimal)):
        try:
            if v == 1:
                return 1.0, _OK
            if v == 0:
                return 0.0, _OK
        except (ArithmeticError, TypeError, ValueError):  # pragma: no cover - exotic Reals
            pass
        return math.nan, _BAD_BOOL
    if isinstance(v, _NESTED_TYPES):
        return math.nan, _NESTED
    return math.nan, _BAD_BOOL


def _parse_category(v: Any, lookup: Mapping[str, int]) -> tuple[float, int]:
    """Parse a category to its index in ``Field.categories``."""
    if isinstance(v, str):
        i = lookup.get(v)  # already canonical (no spaces, case or separators to normalise)
        if i is not None:
            return float(i), _OK
        s = v.strip()
        if s.lower() in MISSING_TOKENS:
            return math.nan, _OK
        i = lookup.get(_SEPARATORS.sub("_", s.lower()))
        return (math.nan, _BAD_CATEGORY) if i is None else (float(i), _OK)
    if _is_missing(v):
        return math.nan, _OK
    if isinstance(v, _NESTED_TYPES):
        return math.nan, _NESTED
    return math.nan, _BAD_CATEGORY


def _scalar_parser(f: Field):
    if f.kind == "bool":
        return _parse_bool
    if f.kind == "category":
        lookup = _CATEGORY_LOOKUP[f.name]
        return lambda v: _parse_category(v, lookup)
    return _parse_number


# ---------------------------------------------------------------------------
# One record, when it is unremarkable: the single-patient path's parser
# ---------------------------------------------------------------------------
_STRICT_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class _OneField(NamedTuple):
    numeric: bool  # a float or int field (range-checked)
    parse: Any
    low: float  # hard limit minus the tolerance, as the table check computes it
    high: float
    plausible_low: float
    plausible_high: float
    whole: bool
    known: dict  # yes/no and category fields: the parser's answer for its own spellings


def _known_spellings(f: Field, parse: Any) -> dict:
    """``{spelling: value}`` for the spellings a yes/no or category parser knows, by calling it.

    A memo of the parser's own results (so not a second rule): ``True``/``False``
    and the yes/no tokens, or the category names and aliases.
    """
    if f.kind == "bool":
        candidates: list[Any] = [True, False, *sorted(TRUE_TOKENS), *sorted(FALSE_TOKENS)]
    elif f.kind == "category":
        candidates = sorted(_CATEGORY_LOOKUP[f.name])
    else:
        return {}
    out = {}
    for v in candidates:
        x, code = parse(v)
        if code == _OK:
            out[v] = x
    return out


def _one_field(name: str) -> _OneField:
    k = _POS[name]
    f = _TARGETS[name]
    parse = _scalar_parser(f)
    return _OneField(f.kind in ("float", "int"), parse, float(_LO[k] - _TOL[k]),
                     float(_HI[k] + _TOL[k]), float(_PLO[k]), float(_PHI[k]), bool(_IS_INT[k]),
                     _known_spellings(f, parse))


_ONE_FIELD: dict[str, _OneField] = {name: _one_field(name) for name in PREDICTORS}
_ONE_REQUIRED: tuple[str, ...] = tuple(n for n in PREDICTORS if _IS_REQ[_POS[n]])
_PLAIN_EXACT = frozenset({float, int, bool})
_PLAIN_TYPES = (int, float, np.integer, np.floating, np.bool_)


def _plain(v: Any, numeric: bool) -> bool:
    """Whether ``v`` is written so plainly that no lenient reading is involved.

    Builtin strings only (no subclasses such as numpy strings); a number written
    as text must be a plain decimal (no spaces, commas or underscores); otherwise
    only Python and numpy numbers, booleans and missing markers. Anything else is
    left to :func:`validate`, which may accept it but then owns the outcome.
    """
    t = type(v)
    if t is str:
        return (not numeric or _STRICT_NUMBER.fullmatch(v) is not None
                or v.strip().lower() in MISSING_TOKENS)
    if t in _PLAIN_EXACT or v is None:
        return True
    if isinstance(v, str):
        return False
    return v is pd.NA or v is pd.NaT or isinstance(v, _PLAIN_TYPES)


def parse_patient(patient: Mapping[str, Any]) -> dict[str, float] | None:
    """Parse one patient record exactly as :func:`validate` would, if it is unremarkable.

    It uses this module's own per-value parsers, limits (with
    :data:`HARD_LIMIT_TOLERANCE`), unit step and :data:`CROSS_FIELD_RULES`, so the
    values are those of the canonical table ``validate`` returns; it only gives up
    (``None``) where ``validate`` would raise, warn, flag or drop something, or
    where a value is written in a way it leaves to ``validate``.

    Parameters
    ----------
    patient : mapping of str to value
        Canonical field names to values (numbers, yes/no, category names, None).

    Returns
    -------
    dict of str to float or None
        Field -> canonical value as the model matrix codes it (float; booleans
        1.0/0.0, categories their position in the schema's categories, NaN for
        missing), for every key of ``patient``. ``None`` when anything would make
        ``validate`` raise, warn, flag or drop something (unknown key, impossible
        or implausible value, missing age or sex, a cross-field rule), or when a
        value is not written plainly (numbers written with commas or spaces,
        numpy strings, ...): the caller then takes the normal path.

    Examples
    --------
    >>> parse_patient({"age": 70, "sex": "male", "on_oxygen": "yes"})
    {'age': 70.0, 'sex': 1.0, 'on_oxygen': 1.0}
    >>> parse_patient({"age": 70, "sex": "male", "respiratory_rate": 95}) is None
    True
    """
    out: dict[str, float] = {}
    fields = _ONE_FIELD
    for key, v in patient.items():
        one = fields.get(key) if type(key) is str else None
        if one is None:
            return None
        t = type(v)
        if (t is str or t is bool) and v in one.known:
            out[key] = one.known[v]
            continue
        numeric, parse, low, high, plausible_low, plausible_high, whole, _known = one
        if t not in _PLAIN_EXACT and v is not None and not _plain(v, numeric):
            return None
        x, code = parse(v)
        if code != _OK:
            return None
        if numeric and x == x:
            x = x * 1.0 + 0.0  # validate's unit step (turns -0.0 into 0.0)
            if not (low <= x <= high) or x < plausible_low or x > plausible_high:
                return None
            if whole and x != round(x):
                return None
        out[key] = x
    for name in _ONE_REQUIRED:
        x = out.get(name, math.nan)
        if x != x:
            return None
    nan = math.nan
    for name, other, rule in CROSS_FIELD_RULES:
        if rule(out.get(name, nan), out.get(other, nan)):
            return None
    return out


# ---------------------------------------------------------------------------
# Column parsers: a pandas Series or object array -> (float array, code array)
# ---------------------------------------------------------------------------
def _parse_each(values: Sequence[Any] | np.ndarray, f: Field) -> tuple[np.ndarray, np.ndarray]:
    parse = _scalar_parser(f)
    n = len(values)
    out = np.empty(n)
    codes = np.zeros(n, dtype=np.int8)
    for i, v in enumerate(values):
        out[i], codes[i] = parse(v)
    return out, codes


def _parse_objects(arr: np.ndarray, f: Field) -> tuple[np.ndarray, np.ndarray]:
    """Parse an object array; hashable values of one kind are parsed once per unique value."""
    inferred = infer_dtype(arr, skipna=True)
    if f.kind in ("float", "int") and inferred in ("floating", "integer", "mixed-integer-float"):
        try:
            out = np.asarray(pd.to_numeric(arr), dtype=np.float64)
            return out, np.zeros(len(arr), dtype=np.int8)
        except (OverflowError, ValueError, TypeError):
            pass
    # Bools and numbers mixed in one array compare equal (True == 1), so only
    # arrays of a single kind of value are factorised.
    if inferred in ("string", "boolean", "floating", "integer", "mixed-integer-float", "empty"):
        try:
            codes_u, uniques = pd.factorize(arr)
        except TypeError:
            return _parse_each(arr, f)
        uv, uc = _parse_each(np.asarray(uniques, dtype=object), f)
        uv = np.append(uv, math.nan)  # code -1 (missing) -> last slot
        uc = np.append(uc, np.int8(_OK))
        return uv[codes_u], uc[codes_u]
    return _parse_each(arr, f)


def _parse_series(s: pd.Series, f: Field) -> tuple[np.ndarray, np.ndarray]:
    dtype = s.dtype
    n = len(s)
    if isinstance(dtype, pd.CategoricalDtype):
        cats = np.asarray(dtype.categories, dtype=object)
        cv, cc = _parse_objects(cats, f)
        codes = s.cat.codes.to_numpy()
        cv = np.append(cv, math.nan)
        cc = np.append(cc, np.int8(_OK))
        return cv[codes], cc[codes]
    if is_bool_dtype(dtype):
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if f.kind == "bool":
            return vals, np.zeros(n, dtype=np.int8)
        bad = ~np.isnan(vals)
        code = _NOT_NUMBER if f.kind in ("float", "int") else _BAD_CATEGORY
        return np.full(n, math.nan), np.where(bad, code, _OK).astype(np.int8)
    if is_numeric_dtype(dtype) and not is_complex_dtype(dtype):
        vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
        if f.kind in ("float", "int"):
            return vals, np.zeros(n, dtype=np.int8)
        present = ~np.isnan(vals)
        if f.kind == "bool":
            bad = present & (vals != 0.0) & (vals != 1.0)
            return np.where(bad, math.nan, vals), np.where(bad, _BAD_BOOL, _OK).astype(np.int8)
        return np.full(n, math.nan), np.where(present, _BAD_CATEGORY, _OK).astype(np.int8)
    if is_complex_dtype(dtype):
        # One complex cell makes pandas store the whole column as complex (a blank
        # cell becomes nan+0j): judge each cell by itself, so a real value or a blank
        # elsewhere passes as it would alone and only cells with an imaginary part fail.
        z = s.to_numpy()
        real = z.imag == 0
        cells = np.where(real, z.real.astype(object), z.astype(object))
        return _parse_objects(cells, f)
    if isinstance(dtype, pd.StringDtype):
        # Only strings and missing values: parse each distinct string once.
        codes_u, uniques = pd.factorize(s)
        uv, uc = _parse_each(np.asarray(uniques, dtype=object), f)
        return np.append(uv, math.nan)[codes_u], np.append(uc, np.int8(_OK))[codes_u]
    return _parse_objects(s.to_numpy(dtype=object), f)


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class AppliedConversion:
    """A unit conversion applied to one field.

    Parameters
    ----------
    field : str
        Canonical field name.
    from_unit : str
        The unit the values were given in (as passed in ``units=``).
    to_unit : str
        The canonical unit.
    scale, offset : float
        ``canonical = value * scale + offset``.
    note : str
        Where the factor comes from.
    """

    field: str
    from_unit: str
    to_unit: str
    scale: float
    offset: float
    note: str = ""


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """What :func:`validate` noticed about input it accepted.

    Parameters
    ----------
    n_rows : int
        Number of records validated.
    implausible : tuple of Problem
        One problem per implausible value (outside the plausible range, or a
        cross-field inconsistency), each naming field, row, value and range.
    flags : pandas.DataFrame
        Boolean, rows x predictor fields, ``True`` where a value is flagged.
    unknown_columns : tuple of str
        Input columns that are not fields; they were dropped from the data.
    conversions : tuple of AppliedConversion
        Unit conversions applied (one per field given in ``units=`` and present).
    absent_fields : tuple of str
        Predictor fields not present in the input (all-missing in the data).
    """

    n_rows: int
    implausible: tuple[Problem, ...]
    flags: pd.DataFrame = field(repr=False)
    unknown_columns: tuple[str, ...] = ()
    conversions: tuple[AppliedConversion, ...] = ()
    absent_fields: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """``True`` when no value was flagged and no column was dropped."""
        return not self.implausible and not self.unknown_columns

    @property
    def n_flagged(self) -> int:
        """Number of implausible-value problems."""
        return len(self.implausible)

    def __repr__(self) -> str:
        return (
            f"ValidationReport(n_rows={self.n_rows}, implausible={len(self.implausible)}, "
            f"unknown_columns={len(self.unknown_columns)}, "
            f"conversions={len(self.conversions)}, absent_fields={len(self.absent_fields)})"
        )

    def summary(self) -> pd.DataFrame:
        """Return one row per finding: ``issue``, ``field``, ``count``, ``detail``.

        Issues are ``"implausible"`` (outside the plausible range) and
        ``"inconsistent"`` (cross-field checks), one row per field with ``count`` values,
        ``"unknown_column"`` and ``"unit_conversion"`` (one row each, ``count`` rows) and
        ``"absent"`` (one row listing every absent field, ``count`` fields).
        """
        return self._summary.copy()

    @cached_property
    def _summary(self) -> pd.DataFrame:
        rows: list[dict[str, Any]] = []
        counts: dict[tuple[str, str], int] = {}
        for p in self.implausible:
            issue = "implausible" if _OUTSIDE in p.message else "inconsistent"
            counts[issue, p.field] = counts.get((issue, p.field), 0) + 1
        for (issue, name), count in counts.items():
            f = _TARGETS[name]
            if issue == "implausible":
                lo, hi = f.plausible
                detail = f"outside plausible {lo:g} to {hi:g} {f.unit}".rstrip()
            else:
                detail = _CROSS_DETAIL[name]
            rows.append({"issue": issue, "field": name, "count": count, "detail": detail})
        rows += [{"issue": "unknown_column", "field": c, "count": self.n_rows,
                  "detail": "dropped"} for c in self.unknown_columns]
        rows += [{"issue": "unit_conversion", "field": c.field, "count": self.n_rows,
                  "detail": f"{c.from_unit} -> {c.to_unit} (x {c.scale:.6g}"
                            + (f" + {c.offset:.6g}" if c.offset else "") + ")"}
                 for c in self.conversions]
        if self.absent_fields:
            rows.append({"issue": "absent", "field": ", ".join(self.absent_fields),
                         "count": len(self.absent_fields),
                         "detail": "fields not in the input; all missing"})
        return pd.DataFrame(rows, columns=["issue", "field", "count", "detail"])

    def _repr_html_(self) -> str:
        return f"<p>{self!r}</p>" + self._summary.to_html(index=False)


class Validated(NamedTuple):
    """Result of :func:`validate`: the canonical data and what was noticed.

    Attributes
    ----------
    data : pandas.DataFrame
        Canonical frame: every predictor field in schema order, then outcome and
        ``true_risk_<outcome>`` columns when present.
    report : ValidationReport
        Implausible values, unknown columns, unit conversions, absent fields.
    """

    data: pd.DataFrame
    report: ValidationReport


# ---------------------------------------------------------------------------
# validate
# ---------------------------------------------------------------------------
class _Input:
    """The input reduced to named raw columns, before any field rule is applied."""

    def __init__(self, n_rows: int, names: list[Any], single: dict | None = None,
                 records: Sequence[Mapping] | None = None, frame: pd.DataFrame | None = None):
        self.n_rows = n_rows
        self.names = names  # source column names, in order (may repeat for frames)
        self.single = single
        self.records = records
        self.frame = frame

    def raw(self, pos: int) -> Any:
        """Return source column ``pos`` as a Series (frames) or an object array."""
        if self.frame is not None:
            return self.frame.iloc[:, pos]
        key = self.names[pos]
        if self.single is not None:
            return [self.single.get(key)]
        return np.fromiter((r.get(key) for r in self.records), dtype=object, count=self.n_rows)

    def first_value(self, pos: int) -> Any:
        raw = self.raw(pos)
        return raw.iloc[0] if isinstance(raw, pd.Series) else raw[0]


def _read_input(records: Any, problems: list[Problem]) -> _Input | None:
    if isinstance(records, pd.DataFrame):
        if len(records) == 0 or records.shape[1] == 0:
            problems.append(Problem("<input>", MSG_EMPTY.format(value=_show_frame(records))))
            return None
        return _Input(len(records), list(records.columns), frame=records)
    if isinstance(records, Mapping):
        return _Input(1, list(records), single=records)
    if isinstance(records, (list, tuple)):
        if not records:
            problems.append(Problem("<input>", MSG_EMPTY.format(value=_show(records))))
            return None
        bad = [(i, r) for i, r in enumerate(records) if not isinstance(r, Mapping)]
        for i, r in bad:
            problems.append(Problem("<input>", MSG_NOT_A_RECORD.format(
                row=i, typename=type(r).__name__, value=_show(r)), row=i, value=r))
        if bad:
            return None
        names = list(dict.fromkeys(k for r in records for k in r))
        if len(records) == 1:
            return _Input(1, names, single=records[0])
        return _Input(len(records), names, records=records)
    problems.append(Problem("<input>", MSG_BAD_INPUT.format(
        typename=type(records).__name__, value=_show(records)), value=records))
    return None


def _show_frame(df: pd.DataFrame) -> str:
    return f"a DataFrame with {df.shape[0]} rows and {df.shape[1]} columns"


def _check_setting(value: Any, setting: str, example: str, problems: list[Problem]) -> Mapping:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    problems.append(Problem(f"<{setting}>", MSG_BAD_SETTING.format(
        setting=setting, typename=type(value).__name__, value=_show(value), example=example),
        value=value))
    return {}


def _resolve_columns(inp: _Input, columns: Mapping, id_column: Hashable | None,
                     problems: list[Problem]) -> tuple[dict[str, int], list[str], int | None]:
    """Map source columns to targets; return ``{target: position}``, unknowns, id position."""
    for src, tgt in columns.items():
        if not isinstance(tgt, str) or tgt not in _TARGETS:
            problems.append(Problem(str(tgt), MSG_UNKNOWN_TARGET.format(
                source=src, target=tgt, suggest=_suggest(tgt, _TARGET_NAMES)), value=tgt))
    counts: dict[Any, int] = {}
    first: dict[Any, int] = {}
    for pos, name in enumerate(inp.names):
        counts[name] = counts.get(name, 0) + 1
        first.setdefault(name, pos)
    for name, count in counts.items():
        if count > 1:
            problems.append(Problem(str(name), MSG_DUPLICATE_COLUMN.format(
                column=name, count=count, value=_show(inp.first_value(first[name])))))
    id_pos = None
    if id_column is not None:
        if isinstance(id_column, Hashable) and id_column in counts:
            id_pos = first[id_column]
        else:
            problems.append(Problem(str(id_column), MSG_ID_ABSENT.format(
                value=_show(id_column), allowed=_show_list(inp.names)), value=id_column))
    sources: dict[str, list[int]] = {}
    unknown: list[str] = []
    for pos, name in enumerate(inp.names):
        if pos == id_pos or first[name] != pos:
            continue
        try:
            target = columns.get(name, name)
        except TypeError:  # unhashable column label
            target = name
        if isinstance(target, str) and target in _TARGETS:
            sources.setdefault(target, []).append(pos)
        elif name not in columns:
            unknown.append(str(name))
    for target, positions in sources.items():
        if len(positions) > 1:
            names = ", ".join(repr(inp.names[p]) for p in positions)
            firsts = ", ".join(_show(inp.first_value(p)) for p in positions)
            problems.append(Problem(target, MSG_DUPLICATE_TARGET.format(
                sources=names, field=target, value=firsts)))
    return {t: p[0] for t, p in sources.items()}, unknown, id_pos


def _show_list(names: Sequence[Any], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _resolve_units(units: Mapping, present: Mapping[str, int],
                   problems: list[Problem]) -> dict[str, tuple[Any, Any]]:
    """Return ``{field: (unit as given, Conversion)}`` for fields present in the input."""
    out: dict[str, tuple[Any, Any]] = {}
    for name, unit in units.items():
        f = _TARGETS.get(name) if isinstance(name, str) else None
        if f is None:
            problems.append(Problem(str(name), MSG_UNITS_UNKNOWN_FIELD.format(
                name=name, value=_show(unit), suggest=_suggest(name, _TARGET_NAMES)),
                value=unit))
            continue
        conv = f.conversion(unit) if (unit is None or isinstance(unit, str)) else None
        if conv is None:
            accepted = (", ".join(repr(u) for u in f.accepted_units)
                        if f.accepted_units else f"none ({name!r} has no unit; remove it "
                                                  "from units=)")
            problems.append(Problem(name, MSG_UNKNOWN_UNIT.format(
                value=_show(unit), field=name, allowed=accepted), value=unit))
        elif name in present and unit not in (None, ""):
            out[name] = (unit, conv)
    return out


def _parse_columns(inp: _Input, present: Mapping[str, int]) -> tuple[
        list[str], list[np.ndarray] | np.ndarray, list[np.ndarray] | np.ndarray, list[Any]]:
    """Parse every present target column.

    Returns names (in output order), values and codes (lists of 1-D arrays, or
    ``(1, k)`` arrays for a single record) and the raw columns (for messages).
    """
    names = [n for n in _TARGET_NAMES if n in present]
    if inp.single is not None:
        raws = [[inp.single.get(inp.names[present[name]])] for name in names]
        parsed = [_scalar_parser(_TARGETS[name])(raw[0]) for name, raw in zip(names, raws,
                                                                            strict=True)]
        vals1 = np.array([[v for v, _ in parsed]], dtype=np.float64).reshape(1, len(names))
        codes1 = np.array([[c for _, c in parsed]], dtype=np.int8).reshape(1, len(names))
        return names, vals1, codes1, raws
    vals: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    raws = []
    for name in names:
        f = _TARGETS[name]
        raw = inp.raw(present[name])
        if isinstance(raw, pd.Series):
            v, c = _parse_series(raw, f)
        elif len(raw) <= _SMALL:
            v, c = _parse_each(raw, f)
        else:
            v, c = _parse_objects(raw, f)
        vals.append(v)
        codes.append(c)
        raws.append(raw)
    return names, vals, codes, raws


def _check_block(v: np.ndarray, c: np.ndarray, idx: np.ndarray, scale: np.ndarray,
                 offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert and check a ``(n, k)`` block; return canonical values and implausible flags.

    ``c`` (the parse codes) is updated in place with the codes of impossible values,
    and those cells are set to NaN in the returned values. The common case (no
    problem at all) costs a handful of passes over the data.
    """
    v = v * scale + offset  # always a fresh array: never a view of the caller's data
    isnan = np.isnan(v)
    bad = ~((v >= _LO[idx] - _TOL[idx]) & (v <= _HI[idx] + _TOL[idx])) & ~isnan
    parse_errors = bool(c.any())
    if parse_errors:
        bad &= c == _OK
    if bad.any():
        inf = bad & np.isinf(v)
        c[inf] = _NOT_FINITE
        c[bad & ~inf] = _OUT_OF_RANGE
    for which, code in ((_IS_INT[idx], _NOT_WHOLE), (_IS_REQ[idx], _MISSING_REQ)):
        for j in np.flatnonzero(which):
            vj, cj = v[:, j], c[:, j]
            if code == _NOT_WHOLE:
                hit = (cj == _OK) & ~isnan[:, j] & (vj != np.round(vj))
            else:
                hit = (cj == _OK) & isnan[:, j]
            if hit.any():
                cj[hit] = code
    if parse_errors or bad.any() or c.any():
        v[c != _OK] = math.nan
    flags = (v < _PLO[idx]) | (v > _PHI[idx])
    return v, flags


_CELL_TEMPLATES = {
    _MISSING_REQ: MSG_MISSING_REQUIRED, _NOT_NUMBER: MSG_NOT_A_NUMBER,
    _NOT_FINITE: MSG_NOT_FINITE, _OUT_OF_RANGE: MSG_OUT_OF_RANGE, _NOT_WHOLE: MSG_NOT_WHOLE,
    _BAD_BOOL: MSG_BAD_BOOL, _BAD_CATEGORY: MSG_BAD_CATEGORY, _NESTED: MSG_NESTED,
    _AMBIGUOUS: MSG_AMBIGUOUS_COMMA,
}


def _raw_values(raw: Any, rows: np.ndarray) -> list[Any]:
    if isinstance(raw, pd.Series):
        return raw.iloc[rows].tolist()
    return [raw[i] for i in rows]


class _Where:
    """Formats "row i" (with the record's id when an id column is given)."""

    def __init__(self, ids: pd.Series | list | None):
        self.ids = ids

    def __call__(self, row: int) -> str:
        if self.ids is None:
            return f"row {row}"
        ident = self.ids.iloc[row] if isinstance(self.ids, pd.Series) else self.ids[row]
        return f"row {row}, id {_show(ident)}"


def _converted_text(name: str, canonical: float, conv: tuple[Any, Any] | None) -> str:
    if conv is None or canonical != canonical:
        return ""
    f = _TARGETS[name]
    return f" (= {canonical:.6g} {f.unit} after converting from {conv[0]})"


def _cell_problems(names, codes, raws, vals_in, units_used, where) -> list[Problem]:
    rows_all, cols_all = [], []
    for j, c in enumerate(codes):
        r = np.flatnonzero(c)
        if r.size:
            rows_all.append(r)
            cols_all.append(np.full(r.size, j))
    if not rows_all:
        return []
    rows = np.concatenate(rows_all)
    cols = np.concatenate(cols_all)
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    values: dict[int, dict[int, Any]] = {}
    for j in np.unique(cols):
        rj = rows[cols == j]
        values[int(j)] = dict(zip(rj.tolist(), _raw_values(raws[j], rj), strict=True))
    required = " and ".join(REQUIRED_FIELDS)
    out = []
    for row, j in zip(rows.tolist(), cols.tolist(), strict=True):
        name = names[j]
        f = _TARGETS[name]
        code = int(codes[j][row])
        value = values[j][row]
        converted = ""
        if code == _OUT_OF_RANGE and name in units_used:
            raw_num = vals_in[j][row]
            conv = units_used[name]
            converted = _converted_text(name, float(conv[1].apply(raw_num)), conv)
        msg = _CELL_TEMPLATES[code].format(
            field=name, allowed=_allowed(f), value=_show(value), where=where(row),
            converted=converted,
            todo=_todo(f, unit_hint=code == _OUT_OF_RANGE and name not in units_used),
            typename=type(value).__name__, required=required)
        out.append(Problem(name, msg, row=row, value=value))
    return out


def _flag_problems(names, flags, canon, raws, units_used, where) -> list[Problem]:
    out = []
    for j, fl in enumerate(flags):
        rows = np.flatnonzero(fl)
        if not rows.size:
            continue
        name = names[j]
        f = _TARGETS[name]
        lo, hi = f.plausible
        unit = f" {f.unit}" if f.unit else ""
        conv = units_used.get(name)
        todo = _todo(f, unit_hint=conv is None).replace(
            TODO_REQUIRED if f.required else TODO_OPTIONAL, TODO_CHECK)
        for row, value in zip(rows.tolist(), _raw_values(raws[j], rows), strict=True):
            msg = MSG_IMPLAUSIBLE.format(
                field=name, value=_show(value),
                converted=_converted_text(name, float(canon[j][row]), conv),
                where=where(row), low=f"{lo:g}", high=f"{hi:g}", unit=unit, todo=todo)
            out.append(Problem(name, msg, row=row, value=value))
    return out


def _cross_field(names, canon, raws, flags, where) -> list[Problem]:
    pos = {n: j for j, n in enumerate(names)}
    out: list[Problem] = []
    for name, other, rule in CROSS_FIELD_RULES:
        if name not in pos or other not in pos:
            continue
        jn, jo = pos[name], pos[other]
        bad = rule(canon[jn], canon[jo])
        rows = np.flatnonzero(bad)
        flags[jn] |= bad
        flags[jo] |= bad
        for row, value in zip(rows.tolist(), _raw_values(raws[jn], rows), strict=True):
            if name == "diastolic_bp":
                msg = MSG_DIASTOLIC_NOT_BELOW_SYSTOLIC.format(
                    value=_show(value), where=where(row),
                    other=_show(_raw_values(raws[jo], [row])[0]))
            else:
                msg = MSG_FIO2_WITHOUT_OXYGEN.format(value=_show(value), where=where(row))
            out.append(Problem(name, msg, row=row, value=value))
    return out


def _column(name: str, values: np.ndarray | None, n: int) -> Any:
    """Build the canonical array of one output column (all missing when ``values`` is None)."""
    kind = _TARGETS[name].kind
    if values is None:
        values = np.full(n, math.nan)
    if kind == "float":
        return values
    missing = np.isnan(values)
    if kind == "int":
        return pd.arrays.IntegerArray(
            np.where(missing, 0.0, np.round(values)).astype(np.int64), missing)
    if kind == "bool":
        return pd.arrays.BooleanArray(values == 1.0, missing)
    if _ARROW_CATEGORIES and n > _SMALL:
        take = np.where(missing, 0, values).astype(np.int64)
        chosen = _ARROW_CATEGORIES[name].take(pa.array(take, mask=missing))
        return pd.array(chosen, dtype=_STR_DTYPE)
    idx = np.where(missing, -1, values).astype(np.intp)
    return pd.array(_CATEGORY_VALUES[name][idx], dtype=_STR_DTYPE)


def validate(
    records: Mapping[str, Any] | Sequence[Mapping[str, Any]] | pd.DataFrame,
    *,
    units: Mapping[str, str] | None = None,
    columns: Mapping[Any, str] | None = None,
    id_column: Hashable | None = None,
) -> Validated:
    """Turn patient records into the canonical DataFrame, or raise naming every problem.

    Parameters
    ----------
    records : dict, list or tuple of dict, or pandas.DataFrame
        One patient (a dict of field name to value), several patients, or a frame
        with one row per patient.
    units : mapping of str to str, optional
        Canonical field name -> unit its values are given in, e.g.
        ``{"urea": "mg/dL BUN", "temperature": "°F"}``. Values are converted with
        the field's exact :meth:`~covid_risk.schema.Field.conversion`. Unknown
        units raise, listing the accepted ones.
    columns : mapping, optional
        Input column name -> canonical field name, e.g.
        ``{"Lactate dehydrogenase": "ldh"}``. Input columns not named here keep
        their own name.
    id_column : hashable, optional
        Input column used, untouched, as the index of the result.

    Returns
    -------
    Validated
        ``(data, report)``. ``data`` has every predictor of the schema in schema
        order (absent ones all missing; float64, ``Int64``, ``boolean`` and string
        dtypes), then outcome columns (``boolean``) and ``true_risk_<outcome>``
        columns (float64) when present; its index is ``0..n-1`` or the id column.
        ``report`` is a :class:`ValidationReport`.

    Raises
    ------
    ValidationError
        Listing every impossible value (with field, value, row and what is
        allowed) and every problem with the input's shape, columns or settings.

    Warns
    -----
    DataQualityWarning
        At most once per call, when values were flagged implausible or unknown
        columns were dropped.

    Examples
    --------
    >>> data, report = validate({"age": 70, "sex": "Male", "urea": 28},
    ...                         units={"urea": "mg/dL BUN"})
    >>> data.loc[0, "sex"], round(float(data.loc[0, "urea"]), 3)
    ('male', 9.995)
    >>> report.ok
    True
    """
    problems: list[Problem] = []
    units = _check_setting(units, "units", "{'urea': 'mg/dL BUN'}", problems)
    columns = _check_setting(columns, "columns", "{'Age (years)': 'age'}", problems)
    inp = _read_input(records, problems)
    if inp is None:
        raise ValidationError(problems)
    n = inp.n_rows
    present, unknown, id_pos = _resolve_columns(inp, columns, id_column, problems)
    units_used = _resolve_units(units, present, problems)
    for name in REQUIRED_FIELDS:
        if name not in present:
            f = _TARGETS[name]
            problems.append(Problem(name, MSG_ABSENT_REQUIRED.format(
                field=name, allowed=_allowed(f), n_rows=n)))

    ids = None
    if id_pos is not None:
        raw_ids = inp.raw(id_pos)
        ids = raw_ids if isinstance(raw_ids, pd.Series) else list(raw_ids)
    where = _Where(ids)

    names, vals_in, codes, raws = _parse_columns(inp, present)
    k = len(names)
    idx = np.array([_POS[nm] for nm in names], dtype=np.intp)
    scale = np.ones(k)
    offset = np.zeros(k)
    for j, nm in enumerate(names):
        if nm in units_used:
            scale[j] = units_used[nm][1].scale
            offset[j] = units_used[nm][1].offset
    canon: list[np.ndarray] = []
    flags: list[np.ndarray] = []
    any_error = any_flag = False
    if isinstance(vals_in, np.ndarray) or (k and n <= _BLOCK_ALL):
        vblock = vals_in if isinstance(vals_in, np.ndarray) else np.column_stack(vals_in)
        cblock = codes if isinstance(codes, np.ndarray) else np.column_stack(codes)
        block, fl = _check_block(vblock, cblock, idx, scale, offset)
        canon = list(block.T)
        flags = list(fl.T)
        codes = list(cblock.T)
        vals_in = list(vblock.T)
        any_error, any_flag = bool(cblock.any()), bool(fl.any())
    else:
        for j in range(k):
            cj = codes[j][:, None]
            vj, fj = _check_block(vals_in[j][:, None], cj, idx[j:j + 1], scale[j:j + 1],
                                  offset[j:j + 1])
            canon.append(vj[:, 0])
            flags.append(fj[:, 0])
            codes[j] = cj[:, 0]
            any_error = any_error or bool(cj.any())
            any_flag = any_flag or bool(fj.any())

    if any_error:
        problems += _cell_problems(names, codes, raws, vals_in, units_used, where)
    if problems:
        raise ValidationError(problems)

    implausible = (_flag_problems(names, flags, canon, raws, units_used, where)
                   if any_flag else [])
    implausible += _cross_field(names, canon, raws, flags, where)  # adds to flags
    implausible.sort(key=lambda p: (p.row, _POS[p.field]))

    if ids is None:
        index = pd.RangeIndex(n)
    elif isinstance(ids, pd.Series):
        index = pd.Index(ids, name=id_column)
    else:
        index = pd.Index(ids, name=id_column, tupleize_cols=False)
    pos = {nm: j for j, nm in enumerate(names)}
    data_cols = {nm: _column(nm, canon[pos[nm]] if nm in pos else None, n)
                 for nm in _TARGET_NAMES if nm in pos or nm in PREDICTORS}
    data = pd.DataFrame(data_cols, index=index, copy=False)
    flag_matrix = np.zeros((n, _N_PRED), dtype=bool, order="F")  # columns contiguous
    for j, nm in enumerate(names):
        if _POS[nm] < _N_PRED:
            flag_matrix[:, _POS[nm]] = flags[j]
    flag_frame = pd.DataFrame(flag_matrix, columns=list(PREDICTORS), index=index)

    conversions = tuple(
        AppliedConversion(nm, str(u), _TARGETS[nm].unit, c.scale, c.offset, c.note)
        for nm in names if nm in units_used for u, c in [units_used[nm]])
    report = ValidationReport(
        n_rows=n,
        implausible=tuple(implausible),
        flags=flag_frame,
        unknown_columns=tuple(unknown),
        conversions=conversions,
        absent_fields=tuple(p for p in PREDICTORS if p not in pos),
    )
    _warn(report, stacklevel=2)
    return Validated(data, report)


def _warn(report: ValidationReport, *, stacklevel: int) -> None:
    parts = []
    if report.implausible:
        fields = list(dict.fromkeys(p.field for p in report.implausible))
        parts.append(MSG_WARN_IMPLAUSIBLE.format(
            count=len(report.implausible), fields=", ".join(repr(f) for f in fields)))
    if report.unknown_columns:
        suggest = "".join(
            s for s in (_suggest(c, _TARGET_NAMES) for c in report.unknown_columns[:5]) if s)
        parts.append(MSG_WARN_UNKNOWN.format(
            count=len(report.unknown_columns), columns=_show_list(report.unknown_columns),
            suggest=suggest))
    if parts:
        warnings.warn(" ".join(parts), DataQualityWarning, stacklevel=stacklevel + 1)
