"""50,000 fuzzed records through the dict, list, DataFrame and CLI paths: only our errors.

Hypothesis (``test_fuzz_validate.py``, ``test_fuzz_predict.py``) explores shrinkable
cases; this is the bulk run, a seeded loop that is fast enough for tens of thousands
of records. Every value is drawn from a pool of everyday, awkward and hostile values
(``Decimal('sNaN')``, 5,000-digit integers, complex numbers, nested containers, the
strategies' special values), so one record in a few is refused. The only exception
allowed out is :class:`~covid_risk.exceptions.CovidRiskError`; a prediction that
succeeds has finite probabilities and a real band; the CLI exits 0 or 2, never 1.
"""

from __future__ import annotations

import collections
import decimal
import io
import json
import math
import random
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import covid_risk as cr
from covid_risk.cli import main
from covid_risk.exceptions import CovidRiskError
from covid_risk.schema import ADMISSION_PREDICTORS, FIELDS

from .strategies import _SPECIAL_OBJECTS, _SPECIAL_TEXT, SCALE

COUNTS = {"list": 25_000, "frame": 24_000, "dict": 300, "cli_json": 50, "cli_csv": 650}
"""Records per path (50,000 in all, times COVID_RISK_FUZZ_SCALE). Validating a list or
a frame costs about 0.1 ms a record; one predict_risk call or CLI run costs 20-70 ms,
so those paths get fewer records to keep the test near 15 s on a busy 2-core machine."""

HOSTILE = [
    decimal.Decimal("sNaN"), decimal.Decimal("-sNaN"), decimal.Decimal("NaN"),
    decimal.Decimal("Infinity"), decimal.Decimal("1e999999"), 10**5000, -(10**5000), "1" * 5000,
    complex(1, 2), 1j, np.complex128(3 + 0j), [70], {"a": [1]}, (1,), {1}, frozenset(),
    [[[[]]]], {"x": {"y": {"z": 1}}}, b"yes", np.array([1, 2]), float("nan"), float("inf"),
    -1e308, 1e-320, 2**63, -(2**63) - 1, np.uint64(2**64 - 1), "=HYPERLINK(1)", "\ufeff70",
]
"""The red-team values: Decimal specials, digit-limit numbers, complex, nested."""

_POOL = HOSTILE + [v for v in _SPECIAL_OBJECTS if not isinstance(v, np.ndarray)] + _SPECIAL_TEXT
_JSON_POOL = [None, True, False, "", "yes", "no", "nan", "1,5", "=1+1", -1, 0, 1, 2, 1e308,
              -1e308, "1" * 60, [1], {"a": 1}, [[[]]], "😷", "\x00", 12.5, "male", "female"]


def _good(name: str, rng: random.Random):
    f = FIELDS[name]
    if f.kind in ("float", "int"):
        lo, hi = f.hard
        value = rng.uniform(lo, hi)
        return round(value) if f.kind == "int" else value
    if f.kind == "bool":
        return rng.choice([True, False, "yes", "no", 1, 0, None])
    return rng.choice(list(f.categories))


def _record(rng: random.Random, pool: list, p_bad: float = 0.08) -> dict:
    names = rng.sample(ADMISSION_PREDICTORS, rng.randint(2, 12))
    record = {"age": rng.uniform(18, 100), "sex": rng.choice(["male", "female"])}
    for name in names:
        record[name] = rng.choice(pool) if rng.random() < p_bad else _good(name, rng)
    return record


def _check_prediction(prediction) -> None:
    for outcome, p in prediction.probabilities.items():
        assert math.isfinite(p) and 0.0 <= p <= 1.0, (outcome, p)
    assert "unknown" not in prediction.to_dict().__repr__()


def _call(counts: collections.Counter, path: str, fn, *args, **kwargs):
    try:
        result = fn(*args, **kwargs)
    except CovidRiskError:
        counts[f"{path}: refused"] += 1
        return None
    except Exception as exc:  # pragma: no cover - what this test exists to catch
        pytest.fail(f"{path}: {type(exc).__name__}: {str(exc)[:200]} for {args!r:.300}")
    counts[f"{path}: accepted"] += 1
    return result


@pytest.mark.slow
def test_fifty_thousand_records_raise_only_our_errors(admission_model, tmp_path, capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _fuzz(admission_model, tmp_path, capsys)


def _fuzz(admission_model, tmp_path, capsys) -> None:
    rng = random.Random(20240601)
    counts: collections.Counter = collections.Counter()
    records = collections.Counter()
    seconds = {}

    start = time.perf_counter()  # list path: validate and predict batches of 500
    for _ in range(COUNTS["list"] * SCALE // 250):
        batch = [_record(rng, _POOL) for _ in range(250)]
        records["list"] += len(batch)
        _call(counts, "list", cr.validate, batch)
        clean = [_record(rng, _POOL, p_bad=0.0) for _ in range(20)]
        frame = _call(counts, "list-predict", cr.predict_risk,
                      pd.DataFrame(rng.choice([clean, batch[:20]])), model=admission_model)
        if frame is not None:
            values = frame.select_dtypes("number").to_numpy()
            assert np.isfinite(values).all()
    seconds["list"] = time.perf_counter() - start

    start = time.perf_counter()  # DataFrame path: mixed object columns, some complex
    for _ in range(COUNTS["frame"] * SCALE // 500):
        df = pd.DataFrame([_record(rng, _POOL, p_bad=0.02) for _ in range(500)])
        if rng.random() < 0.3:
            df["crp"] = df.get("crp", pd.Series(np.nan, index=df.index)).astype(object)
            df.loc[rng.randrange(len(df)), "crp"] = complex(1, 1)
            df["crp"] = pd.Series(df["crp"].tolist(), index=df.index)  # complex column
        records["frame"] += len(df)
        _call(counts, "frame", cr.validate, df)
        clean = pd.DataFrame([_record(rng, _POOL, p_bad=0.0) for _ in range(20)])
        frame = _call(counts, "frame-predict", cr.predict_risk,
                      rng.choice([clean, df.iloc[:20]]), model=admission_model)
        if frame is not None:
            assert np.isfinite(frame.select_dtypes("number").to_numpy()).all()
    seconds["frame"] = time.perf_counter() - start

    start = time.perf_counter()  # dict path: one patient at a time
    for _ in range(COUNTS["dict"] * SCALE):
        record = _record(rng, _POOL, p_bad=0.15)
        records["dict"] += 1
        prediction = _call(counts, "dict", cr.predict_risk, record, model=admission_model)
        if prediction is not None:
            _check_prediction(prediction)
    seconds["dict"] = time.perf_counter() - start

    start = time.perf_counter()  # CLI: JSON on stdin (one patient) and CSV files of 500 rows
    model_file = tmp_path / "m.crmodel"
    admission_model.save(model_file, hmac_key=b"")
    exits: collections.Counter = collections.Counter()
    for i in range(COUNTS["cli_json"] * SCALE):
        record = _record(rng, _JSON_POOL, p_bad=0.2)
        text = json.dumps(record)
        if i % 5 == 0:
            text = rng.choice(["[" * 5000 + "]" * 5000, '{"age": ' + "9" * 5000 + "}",
                               text[: len(text) // 2]])
        old = sys.stdin
        sys.stdin = io.StringIO(text)
        try:
            exits[main(["predict", "--model", str(model_file), "-q"])] += 1
        finally:
            sys.stdin = old
        records["cli"] += 1
    for i in range(SCALE):
        df = pd.DataFrame([_record(rng, _JSON_POOL, p_bad=0.05)
                           for _ in range(COUNTS["cli_csv"])])
        path = tmp_path / f"in{i}.csv"
        df.to_csv(path, index=False)
        exits[main(["predict", str(path), "--model", str(model_file), "-q",
                    "--out", str(tmp_path / "out.csv")])] += 1
        records["cli"] += len(df)
    seconds["cli"] = time.perf_counter() - start
    err = capsys.readouterr().err
    assert set(exits) <= {0, 2}, (exits, err[-2000:])
    assert "internal error" not in err

    print(f"\nrecords per path: {dict(records)}; outcomes: {dict(counts)}; CLI exits: "
          f"{dict(exits)}; seconds: { {k: round(v, 1) for k, v in seconds.items()} }")
    assert sum(records.values()) >= 50_000 * SCALE
    assert counts["dict: accepted"] > 0 and counts["dict: refused"] > 0
