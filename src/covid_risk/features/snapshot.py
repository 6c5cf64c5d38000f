"""Turn a long table of observations into one admission snapshot per patient.

Hospital data usually arrive as a long table, one measurement per row::

    patient_id  time              test         value  unit
    17          2020-04-01 09:12  Creatinine   1.3    mg/dL
    17          2020-04-01 09:12  BUN          28     mg/dL
    17          2020-04-01 10:40  Resp rate    24     /min

:func:`snapshot` maps test names to canonical schema fields (a documented,
case-insensitive alias table, :data:`TEST_ALIASES`), converts every value to the
field's canonical unit with the schema's exact conversions, keeps the
measurements taken around admission and picks one value per field: the first
(``how="first"``) or the clinically worst (``how="worst"``, direction per field
in :data:`WORST_DIRECTION`). Rows that cannot be interpreted -- an unknown test
name, an unknown unit, a non-numeric value -- are never silently dropped.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from covid_risk.exceptions import DataQualityWarning, Problem, ValidationError
from covid_risk.schema import FIELDS

__all__ = [
    "TEST_ALIASES",
    "WORST_DIRECTION",
    "normalise_test_name",
    "snapshot",
]

WORST_DIRECTION: dict[str, Literal["highest", "lowest"]] = {
    # higher is worse
    "urea": "highest",
    "creatinine": "highest",
    "crp": "highest",
    "ldh": "highest",
    "d_dimer": "highest",
    "ferritin": "highest",
    "troponin": "highest",
    "neutrophils": "highest",
    "respiratory_rate": "highest",
    "heart_rate": "highest",
    "temperature": "highest",
    "fio2": "highest",
    # lower is worse
    "spo2": "lowest",
    "lymphocytes": "lowest",
    "platelets": "lowest",
    "albumin": "lowest",
    "systolic_bp": "lowest",
    "diastolic_bp": "lowest",
    "gcs": "lowest",
}
"""Which end of each field is clinically worse, used by ``how="worst"``.

Temperature and heart rate take the *highest* value: fever and tachycardia are
the COVID-19 warning signs (hypothermia and bradycardia, also dangerous, are
not what this picks). FiO2 takes the highest (more oxygen needed is worse).
"""

_ALIASES: dict[str, tuple[str, ...]] = {
    "urea": ("urea", "serum urea", "blood urea", "plasma urea", "bun",
             "blood urea nitrogen", "urea nitrogen", "serum urea nitrogen"),
    "creatinine": ("creatinine", "creat", "crea", "cr", "serum creatinine",
                   "plasma creatinine"),
    "crp": ("crp", "c-reactive protein", "c reactive protein", "hs-crp", "hscrp",
            "high sensitivity crp"),
    "ldh": ("ldh", "ld", "lactate dehydrogenase", "lactic dehydrogenase",
            "lactic acid dehydrogenase"),
    "d_dimer": ("d-dimer", "d dimer", "ddimer"),
    "ferritin": ("ferritin", "serum ferritin"),
    "troponin": ("troponin", "hs troponin", "hs-troponin", "high sensitivity troponin"),
    "neutrophils": ("neutrophils", "neutrophil", "neutrophil count", "neut", "neuts",
                    "anc", "absolute neutrophil count"),
    "lymphocytes": ("lymphocytes", "lymphocyte", "lymphocyte count", "lymph", "lymphs",
                    "alc", "absolute lymphocyte count"),
    "platelets": ("platelets", "platelet", "platelet count", "plt", "plts"),
    "albumin": ("albumin", "alb", "serum albumin"),
    "spo2": ("spo2", "sp02", "oxygen saturation", "o2 saturation", "o2 sat", "o2 sats",
             "sats", "pulse oximetry"),
    "fio2": ("fio2", "fraction of inspired oxygen", "inspired oxygen fraction"),
    "respiratory_rate": ("respiratory rate", "resp rate", "resp", "rr", "respirations",
                         "breathing rate"),
    "heart_rate": ("heart rate", "hr", "pulse", "pulse rate"),
    "systolic_bp": ("systolic bp", "systolic blood pressure", "systolic", "sbp",
                    "bp systolic"),
    "diastolic_bp": ("diastolic bp", "diastolic blood pressure", "diastolic", "dbp",
                     "bp diastolic"),
    "temperature": ("temperature", "temp", "body temperature"),
    "gcs": ("gcs", "glasgow coma scale", "glasgow coma score"),
}

_SEPARATORS = re.compile(r"[\s_\-.,]+")


def normalise_test_name(name: object) -> str:
    """Return the comparable spelling of a test name.

    Lower-cases and turns runs of spaces, underscores, hyphens, dots and commas
    into one space, so ``"C-Reactive_Protein"`` and ``"c reactive protein"`` match.

    Examples
    --------
    >>> normalise_test_name("  Resp_Rate ")
    'resp rate'
    >>> normalise_test_name("D-Dimer")
    'd dimer'
    """
    return _SEPARATORS.sub(" ", str(name).casefold()).strip()


def _build_aliases() -> dict[str, str]:
    table: dict[str, str] = {}
    for field, names in _ALIASES.items():
        # the canonical name and the schema label always work too
        for name in (field, FIELDS[field].label, *names):
            table[normalise_test_name(name)] = field
    return dict(sorted(table.items()))


TEST_ALIASES: dict[str, str] = _build_aliases()
"""Normalised test name -> canonical field (see :func:`normalise_test_name`).

Every snapshot field's canonical name and schema label are included. Units
decide the conversion, not the name: a urea-type test in ``mg/dL`` is read as
blood urea nitrogen (the schema's reading of ``mg/dL`` for urea, as US labs
report), so "BUN 28 mg/dL" becomes 10.0 mmol/L urea; write ``"mg/dL urea"`` for
urea itself by mass. Assay-specific troponins ("troponin T", "troponin I") are
not aliased because their values are not interchangeable: map the one you use
with ``tests={"Troponin T": "troponin"}``.
"""

_HOW = ("first", "last", "worst")
_ERRORS = ("raise", "report")
_REJECT_COLUMNS = ["row", "patient_id", "time", "test", "value", "unit", "field", "reason"]


def _timedelta(value: str | pd.Timedelta, name: str) -> pd.Timedelta:
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"{name}={value!r} is not a duration; pass e.g. '24h', '6h' or pd.Timedelta(hours=24)."
        ) from None
    if pd.isna(delta) or delta < pd.Timedelta(0):
        raise ValueError(f"{name}={value!r} must be a duration of zero or more, e.g. '24h'.")
    return delta


def _alias_table(tests: Mapping[str, str] | None) -> dict[str, str]:
    table = dict(TEST_ALIASES)
    for name, field in (tests or {}).items():
        spec = FIELDS.get(field)
        if spec is None or spec.kind not in ("float", "int"):
            numeric = [f.name for f in FIELDS.values() if f.kind in ("float", "int")]
            raise ValueError(
                f"tests maps {name!r} to {field!r}, which is not a numeric schema field; "
                f"map it to one of: {', '.join(numeric)}."
            )
        table[normalise_test_name(name)] = field
    return table


def _require_columns(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValidationError(
            [
                Problem(
                    field=c,
                    message=(
                        f"{what} has no column {c!r} (columns: {', '.join(map(str, df.columns))}); "
                        "rename it or pass the column name by keyword."
                    ),
                )
                for c in missing
            ]
        )


def _numeric_values(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Return (float values, mask of present-but-non-numeric entries).

    Blank strings count as missing values; booleans and text such as ``"<5"``
    are non-numeric.
    """
    if is_numeric_dtype(raw) and not is_bool_dtype(raw):
        values = raw.to_numpy(dtype="float64", na_value=np.nan)
        return values, np.zeros(len(raw), dtype=bool)
    text = raw.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(dtype=bool)
    numbers = pd.to_numeric(text.mask(blank), errors="coerce")
    values = pd.Series(numbers).to_numpy(dtype="float64", na_value=np.nan)
    return values, ~blank & np.isnan(values)


def _naive_times(times: pd.Series) -> tuple[pd.Series, bool]:
    """Return times in UTC without a zone, and whether they had one."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        return times.dt.tz_convert("UTC").dt.tz_localize(None), True
    return times, False


def snapshot(
    observations: pd.DataFrame,
    *,
    admissions: pd.DataFrame,
    window: str | pd.Timedelta = "24h",
    lookback: str | pd.Timedelta = "6h",
    how: Literal["first", "last", "worst"] = "first",
    tests: Mapping[str, str] | None = None,
    errors: Literal["raise", "report"] = "raise",
    patient_col: str = "patient_id",
    time_col: str = "time",
    test_col: str = "test",
    value_col: str = "value",
    unit_col: str | None = "unit",
    admission_time_col: str = "admission_time",
) -> pd.DataFrame:
    """Build one canonical row per admission from a long table of observations.

    For every patient in ``admissions`` the observations taken within
    ``[admission_time - lookback, admission_time + window]`` (both ends
    included) are kept, mapped to canonical fields, converted to canonical
    units, and one value per field is picked.

    Parameters
    ----------
    observations : pandas.DataFrame
        Long table with a patient id, a time (datetime or parseable string), a
        test name, a value and a unit (column names configurable below).
    admissions : pandas.DataFrame
        One row per patient: patient id and admission time.
    window : str or pandas.Timedelta, default="24h"
        How long after the admission time measurements still count.
    lookback : str or pandas.Timedelta, default="6h"
        How long *before* the admission time measurements count. Emergency
        department bloods and observations are often taken a few hours before
        the admission timestamp; the default keeps those from the 6 hours
        before it while leaving out results from earlier, unrelated visits.
        Use ``"0h"`` for strictly post-admission values.
    how : {"first", "last", "worst"}, default="first"
        Which value to keep per field: the earliest in the window, the latest,
        or the clinically worst (highest or lowest according to
        :data:`WORST_DIRECTION`). Ties (same time, or same worst value) go to
        the earlier measurement, then to the earlier row of ``observations``.
    tests : mapping of str to str, optional
        Extra or overriding test-name aliases, e.g. ``{"Troponin T": "troponin",
        "Sat O2": "spo2"}``; names are matched case-insensitively (see
        :func:`normalise_test_name`) and targets must be numeric schema fields.
    errors : {"raise", "report"}, default="raise"
        What to do with rows that cannot be interpreted: an unknown test name,
        a unit the field does not accept, a non-numeric value (e.g. ``"<5"``),
        a fractional value for a whole-number field (GCS), a value outside the
        field's hard limits after conversion, or a missing patient id or
        unparseable time. ``"raise"`` raises :class:`ValidationError` listing
        every such row (field or test, value, unit and row position);
        ``"report"`` leaves them out, issues a :class:`DataQualityWarning` and
        puts them in ``result.attrs["snapshot_rejects"]``.
    patient_col, time_col, test_col, value_col : str
        Column names in ``observations`` (``patient_col`` also in ``admissions``).
    unit_col : str or None, default="unit"
        Unit column; ``None`` when there is none. A missing unit means the
        field's canonical unit.
    admission_time_col : str, default="admission_time"
        Admission time column in ``admissions``.

    Returns
    -------
    pandas.DataFrame
        Index: the patient ids of ``admissions`` in their order (named
        ``patient_col``). Columns: every field the alias table can fill, in
        schema order, canonically typed (float64, or ``Int64`` for GCS);
        missing where the patient had no usable measurement in the window, so
        patients with no observations (or no admission time) get a row of
        missing values. ``attrs["snapshot_rejects"]`` holds the rejected rows
        (columns ``row, patient_id, time, test, value, unit, field, reason``;
        empty when none) and ``attrs["snapshot_counts"]`` counts the rows
        ``read``, ``rejected``, ``missing_value`` (blank values, ignored),
        ``no_admission`` (patient not in ``admissions`` or without admission
        time), ``out_of_window`` and ``in_window``.

    Raises
    ------
    ValidationError
        If a column is missing, ``admissions`` lists a patient twice, or (with
        ``errors="raise"``) some rows cannot be interpreted.
    ValueError
        For an invalid ``how``, ``errors``, ``window``, ``lookback`` or ``tests``.

    Warns
    -----
    DataQualityWarning
        When rows are rejected with ``errors="report"``, and when observations
        belong to patients not found in ``admissions`` (often a sign that the
        two tables spell the ids differently, e.g. ``17`` and ``"17"``).

    Examples
    --------
    >>> import pandas as pd
    >>> obs = pd.DataFrame({
    ...     "patient_id": [1, 1, 1],
    ...     "time": pd.to_datetime(["2020-04-01 08:00", "2020-04-01 09:00", "2020-04-01 20:00"]),
    ...     "test": ["BUN", "Creatinine", "creatinine"],
    ...     "value": [28.014, 1.1312, 150.0],
    ...     "unit": ["mg/dL", "mg/dL", "umol/L"]})
    >>> adm = pd.DataFrame({"patient_id": [1, 2],
    ...     "admission_time": pd.to_datetime(["2020-04-01 10:00", "2020-04-02 10:00"])})
    >>> snap = snapshot(obs, admissions=adm, how="worst")
    >>> snap.loc[1, ["urea", "creatinine"]].round(6).tolist()  # BUN 28.014 mg/dL = 10 mmol/L
    [10.0, 150.0]
    >>> bool(snap.loc[2].isna().all())  # admitted, no observations
    True
    """
    after, before = _check_options(how, errors, window, lookback)
    aliases = _alias_table(tests)
    obs_cols = [patient_col, time_col, test_col, value_col] + ([unit_col] if unit_col else [])
    _require_columns(observations, obs_cols, "observations")
    _require_columns(admissions, [patient_col, admission_time_col], "admissions")
    adm_ids, adm_time, adm_aware = _admission_times(admissions, patient_col, admission_time_col)
    rows = _read_observations(
        observations, aliases, patient_col=patient_col, time_col=time_col, test_col=test_col,
        value_col=value_col, unit_col=unit_col,
    )
    if rows.n and rows.aware != adm_aware:
        raise ValueError(
            f"observations[{time_col!r}] {'has' if rows.aware else 'has no'} time zone but "
            f"admissions[{admission_time_col!r}] {'has one' if adm_aware else 'has none'}; "
            "give both the same time zone (or none) so the window is computed correctly."
        )
    reason = _reject_reasons(rows)
    rejects = _reject_table(rows, reason)
    if len(rejects) and errors == "raise":
        _raise_rejects(rows, rejects)
    kept, counts = _rows_in_window(rows, reason, adm_ids, adm_time, before, after)
    picked = _pick_values(kept, how, rows.field_names)
    result = _snapshot_frame(picked, adm_ids, rows.field_names, patient_col)
    result.attrs["snapshot_rejects"] = rejects
    result.attrs["snapshot_counts"] = counts
    _warn_left_out(counts, rejects, patient_col)
    return result


@dataclass
class _Rows:
    """Every observation row interpreted: ids, times, field codes and canonical values.

    Strings are factorised once, so per-row work is integer indexing only.
    ``fcode`` indexes ``field_names`` (-1: unknown test); ``unit_codes`` indexes
    ``unit_uniques`` (-1: no unit); ``canonical`` is NaN where the value is blank,
    not a number or has no accepted unit.
    """

    n: int
    pid: pd.Series
    test: pd.Series
    raw_value: pd.Series
    unit: pd.Series
    raw_time: pd.Series
    time: pd.Series
    aware: bool
    non_numeric: np.ndarray
    field_names: list[str]
    fcode: np.ndarray
    unit_codes: np.ndarray
    unit_uniques: pd.Index
    has_conv: np.ndarray
    canonical: np.ndarray

    @property
    def known(self) -> np.ndarray:
        """Rows whose test name maps to a field."""
        return self.fcode >= 0

    @property
    def present(self) -> np.ndarray:
        """Rows with a canonical value."""
        return ~np.isnan(self.canonical)

    def per_field(self, values_by_field: list, fill: object) -> np.ndarray:
        """Spread one value per field to the rows (``fill`` for unknown tests)."""
        table = np.array([*values_by_field, fill])
        return table[np.where(self.known, self.fcode, -1)]

    def field_at(self, r: int) -> str | None:
        """Return the field of row ``r``, or ``None`` for an unknown test."""
        return self.field_names[self.fcode[r]] if self.fcode[r] >= 0 else None

    def unit_at(self, r: int) -> str:
        """Return the unit of row ``r`` as spelled (empty when none)."""
        return "" if self.unit_codes[r] < 0 else str(self.unit_uniques[self.unit_codes[r]])


def _check_options(
    how: str, errors: str, window: str | pd.Timedelta, lookback: str | pd.Timedelta
) -> tuple[pd.Timedelta, pd.Timedelta]:
    """Refuse an unknown ``how`` or ``errors``; return ``(window, lookback)`` as durations."""
    if how not in _HOW:
        raise ValueError(f"how={how!r} is not allowed; use one of {', '.join(map(repr, _HOW))}.")
    if errors not in _ERRORS:
        raise ValueError(
            f"errors={errors!r} is not allowed; use one of {', '.join(map(repr, _ERRORS))}."
        )
    return _timedelta(window, "window"), _timedelta(lookback, "lookback")


def _admission_times(
    admissions: pd.DataFrame, patient_col: str, admission_time_col: str
) -> tuple[pd.Series, np.ndarray, bool]:
    """Check one admission per patient; return ids, times and whether they had a zone.

    The times are naive UTC ``datetime64[ns]`` with one extra NaT at the end,
    picked by position -1 (a patient not in ``admissions``).
    """
    adm_ids = admissions[patient_col]
    dup = (adm_ids.duplicated(keep=False) | adm_ids.isna()).to_numpy()
    if dup.any():
        raise ValidationError(
            [
                Problem(
                    field=patient_col,
                    message=(
                        f"admissions has a missing patient id in {patient_col!r}"
                        if pd.isna(p)
                        else f"admissions lists patient {p!r} more than once; a snapshot is one "
                        "row per admission, so pass one admission per patient."
                    ),
                    row=int(r),
                    value=p,
                )
                for r, p in zip(np.flatnonzero(dup), adm_ids[dup], strict=True)
            ]
        )
    adm_time, adm_aware = _naive_times(pd.to_datetime(admissions[admission_time_col]))
    adm_time = np.append(adm_time.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    return adm_ids, adm_time, adm_aware


def _read_observations(
    observations: pd.DataFrame, aliases: Mapping[str, str], *, patient_col: str,
    time_col: str, test_col: str, value_col: str, unit_col: str | None,
) -> _Rows:
    """Read every observation row: parse times and values, map tests to fields, convert units."""
    n = len(observations)
    unit = (
        observations[unit_col].reset_index(drop=True)
        if unit_col
        else pd.Series([None] * n, dtype="object")
    )
    raw_time = observations[time_col].reset_index(drop=True)
    time, aware = _naive_times(pd.to_datetime(raw_time, errors="coerce"))
    raw_value = observations[value_col].reset_index(drop=True)
    values, non_numeric = _numeric_values(raw_value)
    test = observations[test_col].reset_index(drop=True)
    field_names = [f for f in FIELDS if f in set(aliases.values())]
    fcode = _field_codes(test, aliases, field_names)
    unit_codes, unit_uniques = pd.factorize(unit)
    scale, offset = _conversions(fcode, unit_codes, unit_uniques, field_names)
    return _Rows(
        n=n, pid=observations[patient_col].reset_index(drop=True), test=test,
        raw_value=raw_value, unit=unit, raw_time=raw_time, time=time, aware=aware,
        non_numeric=non_numeric, field_names=field_names, fcode=fcode, unit_codes=unit_codes,
        unit_uniques=unit_uniques, has_conv=(fcode >= 0) & ~np.isnan(scale),
        canonical=values * scale + offset,
    )


def _field_codes(test: pd.Series, aliases: Mapping[str, str], field_names: list[str]) -> np.ndarray:
    """Map each row's test name to its index in ``field_names`` (-1: unknown or missing)."""
    code_of = {f: i for i, f in enumerate(field_names)}
    test_codes, test_uniques = pd.factorize(test)
    field_of_test = np.array(
        [code_of.get(aliases.get(normalise_test_name(t)), -1) for t in test_uniques] + [-1],
        dtype=np.int64,
    )
    return field_of_test[test_codes]  # code -1 (missing test) picks the trailing -1


def _conversions(
    fcode: np.ndarray, unit_codes: np.ndarray, unit_uniques: pd.Index, field_names: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the scale and offset to the field's canonical unit (NaN: not accepted).

    Each distinct (field, unit) pair is looked up once.
    """
    n = len(fcode)
    known = fcode >= 0
    n_units = len(unit_uniques) + 1
    pair = np.where(known, fcode * n_units + unit_codes + 1, -1)
    distinct, inverse = np.unique(pair[known], return_inverse=True)
    pair_scale = np.full(len(distinct), np.nan)
    pair_offset = np.full(len(distinct), np.nan)
    for j, key in enumerate(distinct):
        u = int(key % n_units) - 1
        spelled = str(unit_uniques[u]) if u >= 0 else None
        conv = FIELDS[field_names[key // n_units]].conversion(spelled)
        if conv is not None:
            pair_scale[j], pair_offset[j] = conv.scale, conv.offset
    scale = np.full(n, np.nan)
    offset = np.full(n, np.nan)
    scale[known] = pair_scale[inverse]
    offset[known] = pair_offset[inverse]
    return scale, offset


def _reject_reasons(rows: _Rows) -> np.ndarray:
    """Return each row's first reason to reject it (``None``: usable).

    Messages are built only for the rows flagged.
    """
    fields = rows.field_names
    is_int = rows.per_field([FIELDS[f].kind == "int" for f in fields], False).astype(bool)
    hard = [FIELDS[f].hard or (-np.inf, np.inf) for f in fields]
    lo = rows.per_field([h[0] for h in hard], np.nan).astype(float)
    hi = rows.per_field([h[1] for h in hard], np.nan).astype(float)
    canonical, present, known = rows.canonical, rows.present, rows.known
    reason = np.full(rows.n, None, dtype=object)

    def flag(mask: np.ndarray, message) -> None:
        for r in np.flatnonzero(np.asarray(mask, dtype=bool) & pd.isna(reason)):
            reason[r] = message(r)  # only rejected rows, usually none

    flag(rows.pid.isna().to_numpy(), lambda r: "patient id is missing")
    flag(rows.raw_time.isna().to_numpy(), lambda r: "time is missing")
    flag(rows.time.isna().to_numpy(),
         lambda r: f"time {rows.raw_time[r]!r} is not a date/time")
    flag(
        ~known,
        lambda r: (
            f"unknown test name {rows.test[r]!r}; add it with snapshot(..., tests={{name: field}})"
        ),
    )
    flag(
        known & ~rows.has_conv,
        lambda r: (
            f"unit {rows.unit_at(r)!r} is not accepted for {rows.field_at(r)}; use one of: "
            + ", ".join(FIELDS[rows.field_at(r)].accepted_units)
        ),
    )
    flag(rows.non_numeric, lambda r: f"value {rows.raw_value[r]!r} is not a number")
    flag(
        is_int & present & (np.abs(canonical - np.round(canonical)) > 1e-9),
        lambda r: f"value {rows.raw_value[r]!r} is not a whole number",
    )
    flag(
        present & ((canonical < lo) | (canonical > hi)),
        lambda r: (
            f"value {canonical[r]:g} {FIELDS[rows.field_at(r)].unit} after conversion is outside "
            f"the possible range {lo[r]:g} to {hi[r]:g} for {rows.field_at(r)}; check the unit"
        ),
    )
    return reason


def _reject_table(rows: _Rows, reason: np.ndarray) -> pd.DataFrame:
    """Return the rejected rows as ``attrs["snapshot_rejects"]`` lists them."""
    bad = np.flatnonzero(~pd.isna(reason))
    return pd.DataFrame(
        {
            "row": bad,
            "patient_id": rows.pid.to_numpy()[bad],
            "time": rows.raw_time.to_numpy()[bad],
            "test": rows.test.to_numpy()[bad],
            "value": rows.raw_value.to_numpy()[bad],
            "unit": rows.unit.to_numpy()[bad],
            "field": np.array([rows.field_at(r) for r in bad], dtype=object),
            "reason": reason[bad],
        },
        columns=_REJECT_COLUMNS,
    )


def _raise_rejects(rows: _Rows, rejects: pd.DataFrame) -> None:
    """Raise a :class:`ValidationError` naming every rejected row (``errors="raise"``)."""
    raise ValidationError(
        [
            Problem(
                field=r.field if isinstance(r.field, str) else str(r.test),
                message=(
                    f"observation {r.test!r} = {r.value!r} {rows.unit_at(r.row)}"
                    f" (patient {r.patient_id!r}): {r.reason}. Fix the row, or pass "
                    "errors='report' to leave such rows out."
                ),
                row=int(r.row),
                value=r.value,
            )
            for r in rejects.itertuples(index=False)
        ]
    )


def _rows_in_window(
    rows: _Rows, reason: np.ndarray, adm_ids: pd.Series, adm_time: np.ndarray,
    before: pd.Timedelta, after: pd.Timedelta,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep the usable rows within each patient's window; count where every row went.

    Returns
    -------
    kept : pandas.DataFrame
        Columns ``patient`` (position in ``admissions``), ``field`` (code), ``time``,
        ``row`` and ``value`` (canonical).
    counts : dict of str to int
        ``attrs["snapshot_counts"]``.
    """
    rejected = ~pd.isna(reason)
    present = rows.present
    usable = ~rejected & present
    adm_pos = pd.Index(adm_ids).get_indexer(rows.pid)  # -1: patient not in admissions
    admitted = adm_time[adm_pos]
    has_adm = ~np.isnat(admitted)
    time_np = rows.time.to_numpy(dtype="datetime64[ns]")
    ok = usable & has_adm
    in_window = np.zeros(rows.n, dtype=bool)
    in_window[ok] = (time_np[ok] >= admitted[ok] - before.to_timedelta64()) & (
        time_np[ok] <= admitted[ok] + after.to_timedelta64()
    )
    counts = {
        "read": rows.n,
        "rejected": int(rejected.sum()),
        "missing_value": int((~rejected & ~present).sum()),
        "no_admission": int((usable & ~has_adm).sum()),
        "out_of_window": int((ok & ~in_window).sum()),
        "in_window": int(in_window.sum()),
    }
    kept = pd.DataFrame(
        {
            "patient": adm_pos[in_window],
            "field": rows.fcode[in_window],
            "time": time_np[in_window],
            "row": np.flatnonzero(in_window),
            "value": rows.canonical[in_window],
        }
    )
    return kept, counts


def _pick_values(kept: pd.DataFrame, how: str, field_names: list[str]) -> pd.DataFrame:
    """Keep one row per patient and field: the first, the last or the worst (see ``how``)."""
    if how == "worst":
        no_direction = [f for f in field_names if f not in WORST_DIRECTION]
        used = {field_names[c] for c in np.unique(kept["field"])}
        if used & set(no_direction):
            raise ValueError(
                "how='worst' needs to know which end is worse for "
                f"{', '.join(sorted(used & set(no_direction)))}; use how='first' or leave "
                "these tests out."
            )
        sign = np.array([1.0 if WORST_DIRECTION.get(f) == "highest" else -1.0
                         for f in field_names])
        kept["key"] = -kept["value"].to_numpy() * sign[kept["field"].to_numpy()]
        order = kept.sort_values(["key", "time", "row"], kind="stable")
        return order.drop_duplicates(["patient", "field"], keep="first")
    order = kept.sort_values(["time", "row"], kind="stable")
    return order.drop_duplicates(
        ["patient", "field"], keep="first" if how == "first" else "last"
    )


def _snapshot_frame(
    picked: pd.DataFrame, adm_ids: pd.Series, field_names: list[str], patient_col: str
) -> pd.DataFrame:
    """Lay the picked values out as one canonically typed row per admission."""
    grid = np.full((len(adm_ids), len(field_names)), np.nan)
    grid[picked["patient"].to_numpy(), picked["field"].to_numpy()] = picked["value"].to_numpy()
    index = pd.Index(adm_ids.to_numpy(), name=patient_col)
    return pd.DataFrame(
        {
            f: (
                pd.array(np.round(grid[:, j]), dtype="Float64").astype("Int64")
                if FIELDS[f].kind == "int"
                else grid[:, j]
            )
            for j, f in enumerate(field_names)
        },
        index=index,
    )


def _warn_left_out(counts: Mapping[str, int], rejects: pd.DataFrame, patient_col: str) -> None:
    """Warn about rows of patients without an admission and about rejected rows.

    The warnings point at the caller of :func:`snapshot` (``stacklevel=3``).
    """
    if counts["no_admission"]:
        warnings.warn(
            f"{counts['no_admission']} observation row(s) belong to patients with no admission "
            f"(or no admission time) in admissions and were not used; check that "
            f"{patient_col!r} is spelled the same way (and has the same type) in both tables.",
            DataQualityWarning,
            stacklevel=3,
        )
    if len(rejects):
        warnings.warn(
            f"{len(rejects)} observation row(s) could not be interpreted and were left out "
            f"(first: row {int(rejects['row'].iloc[0])}, {rejects['reason'].iloc[0]}); "
            "see result.attrs['snapshot_rejects'].",
            DataQualityWarning,
            stacklevel=3,
        )
