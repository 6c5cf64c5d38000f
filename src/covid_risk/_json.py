"""One converter from numpy/pandas results to strict JSON values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["to_jsonable"]


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
