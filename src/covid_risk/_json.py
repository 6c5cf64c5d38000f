"""One converter from numpy/pandas results to strict JSON values, and a bounded JSON reader."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MAX_JSON_DEPTH", "MAX_JSON_NUMBER_CHARS", "bounded_loads", "to_jsonable"]

MAX_JSON_DEPTH: int = 64
"""Deepest nesting :func:`bounded_loads` reads (covid_risk writes at most 5 levels);
deeper input would exhaust Python's recursion limit."""

MAX_JSON_NUMBER_CHARS: int = 64
"""Longest number :func:`bounded_loads` reads; a longer integer would hit Python's
integer-string digit limit (or take quadratic time) and is refused first."""

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def to_jsonable(obj: Any) -> Any:
    """Return ``obj`` as plain JSON types, with NaN and infinity as ``None``.

    Mappings and sequences are converted recursively, DataFrames become lists of
    records, numpy scalars become Python scalars, ``pd.NA`` becomes ``None``, a path
    keeps only its file name (so no machine path is written out) and anything else
    its ``str``.

    Examples
    --------
    >>> to_jsonable({"auroc": np.float64(0.8), "ci": (np.nan, 1), "ok": np.bool_(True)})
    {'auroc': 0.8, 'ci': [None, 1], 'ok': True}
    """
    if isinstance(obj, pd.DataFrame):
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(float(obj)) else None
    if obj is None or obj is pd.NA:
        return None
    if isinstance(obj, str):
        return obj
    if isinstance(obj, PurePath):
        return obj.name
    return str(obj)


def _number_hook(kind: str, errors: list[str], finite: bool):
    def hook(text: str) -> Any:
        if len(text) > MAX_JSON_NUMBER_CHARS:
            errors.append(f"a number of {len(text)} characters (at most {MAX_JSON_NUMBER_CHARS})")
            return None
        if kind == "constant" and not finite:
            return float(text)
        if kind == "constant":
            errors.append(f"the non-finite number {text} (only finite numbers are allowed)")
            return None
        value = int(text) if kind == "int" else float(text)
        if kind == "float" and finite and not math.isfinite(value):
            errors.append(f"the number {text}, which overflows to infinity")
            return None
        return value

    return hook


def bounded_loads(
    data: str | bytes, where: str, error: type[Exception], *, finite: bool = True
) -> Any:
    """Parse JSON with bounded nesting and number size, raising ``error`` on any problem.

    Parameters
    ----------
    data : str or bytes
        The JSON text (bytes are decoded as UTF-8).
    where : str
        What is being read, for the message (for example ``"'m.crmodel': the manifest"``).
    error : type of Exception
        The exception class to raise (one of covid_risk's own).
    finite : bool, default=True
        Refuse ``NaN``, ``Infinity`` and numbers that overflow; ``False`` reads them
        as floats (for patient records, where validation judges them).

    Returns
    -------
    Any
        The parsed value; every number finite, nesting at most :data:`MAX_JSON_DEPTH`.

    Raises
    ------
    error
        For undecodable bytes, invalid JSON, nesting deeper than :data:`MAX_JSON_DEPTH`,
        numbers longer than :data:`MAX_JSON_NUMBER_CHARS` characters, ``NaN`` or
        ``Infinity``.

    Examples
    --------
    >>> bounded_loads('{"a": [1, 2.5]}', "the example", ValueError)
    {'a': [1, 2.5]}
    """
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else str(data)
    except UnicodeDecodeError as exc:
        raise error(f"{where} is not UTF-8 text ({exc}).") from None
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise error(
                    f"{where} is nested deeper than {MAX_JSON_DEPTH} levels; refusing it."
                )
        elif token in "]}":
            depth -= 1
    errors: list[str] = []
    try:
        value = json.loads(
            text,
            parse_int=_number_hook("int", errors, finite),
            parse_float=_number_hook("float", errors, finite),
            parse_constant=_number_hook("constant", errors, finite),
        )
    except (ValueError, RecursionError) as exc:
        raise error(f"{where} is not valid JSON ({str(exc)[:200]}).") from None
    if errors:
        raise error(f"{where} holds {errors[0]}.")
    return value
