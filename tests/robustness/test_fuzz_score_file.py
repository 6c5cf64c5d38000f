"""score_file on any file: a complete, consistent result or a clear ValidationError, never a mess.

Fuzzed tables (CSV and Parquet), hand-made file-level faults (empty, ragged,
invalid UTF-8, truncated, not Parquet at all, mixed folders, ...) and a run
killed with SIGKILL: whatever happens, either every output is complete and
consistent, or nothing that looks like an output is left behind.
"""

from __future__ import annotations

import datetime
import decimal
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from covid_risk.exceptions import DataQualityWarning, ValidationError
from covid_risk.prediction._predict import predict_risk, risk_band
from covid_risk.scoring import score_file
from covid_risk.scoring._chunks import default_rejects, source_names
from covid_risk.validation import validate

from .strategies import (
    check_probabilities,
    check_validation_error,
    checked_call,
    frames,
    fuzz_settings,
    key_text,
)


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


def _score(src: Path, dst: Path, model, **kwargs):
    """score_file under the hang bound; (report or None, ValidationError or None)."""
    return checked_call(score_file, src, dst, model=model, progress=False, **kwargs)[:2]


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path).to_pandas()
    return pd.read_parquet(path)


def _check_outcome(report, error, src: Path, dst: Path, model) -> None:
    """A consistent complete result, or an error and nothing that looks like a result."""
    rejects = default_rejects(dst)
    assert not _temporaries(dst.parent)
    if error is not None:
        assert not dst.exists() and not rejects.exists()
        return
    assert report.rows_read == report.rows_scored + report.rows_rejected
    out, rej = _read_table(dst), pd.read_csv(rejects)
    assert len(out) == report.rows_scored and len(rej) == report.rows_rejected
    outcomes = list(model.outcomes_)
    for row in range(len(out)):
        check_probabilities({o: float(out[o].iloc[row]) for o in outcomes})
    for o in outcomes:
        assert out[f"{o}_band"].tolist() == [risk_band(p) for p in out[o]]
    if report.rows_rejected:
        assert rej["reason"].str.len().gt(20).all()


def _write(frame: pd.DataFrame, path: Path) -> bool:
    """Write the frame as CSV or Parquet; False when Parquet cannot hold it (mixed objects)."""
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
        return True
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, ValueError, TypeError):
        return False
    pq.write_table(table, path)
    return True


def _names(src: Path) -> set[str]:
    """Column names as the file holds them (CSV writes a None label as ''), if readable."""
    try:
        return set(source_names(src, src.suffix[1:])[0])
    except (pa.ArrowException, UnicodeDecodeError):
        return set()


# ------------------------------------------------------------------------------ fuzzed tables
@fuzz_settings(40)
@given(frames(), st.sampled_from([".csv", ".parquet"]), st.sampled_from([".csv", ".parquet"]),
       st.sampled_from([1, 2, 1000]))
def test_any_table_gives_a_consistent_result_or_a_clear_error(admission_model, tmp_path, frame,
                                                              src_ext, dst_ext, chunk_rows):
    """Fuzzed tables in, any chunk size: counts add up, outputs match, or nothing is written."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    src, dst = folder / f"in{src_ext}", folder / f"out{dst_ext}"
    assume(_write(frame, src))
    report, error = _score(src, dst, admission_model, chunk_rows=chunk_rows)
    event("refused" if error is not None else "scored, some rows rejected"
          if report.rows_rejected else "scored")
    if error is not None:
        check_validation_error(error, {key_text(c) for c in frame.columns} | _names(src))
    _check_outcome(report, error, src, dst, admission_model)
    if report is not None and frame.shape[1]:  # a Parquet file without columns has no rows
        assert report.rows_read == len(frame)


# ------------------------------------------------------------------------------ file faults
def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


GOOD = pa.table({"age": [70.0, 50.0, 80.0], "sex": ["male", "female", "male"],
                 "urea": [7.0, None, 12.0]})
CSV_FAULTS: dict[str, bytes] = {
    "empty file": b"",
    "header only": b"age,sex\n",
    "ragged row": b"age,sex\n70,male\n50,female,extra\n",
    "ragged row after many good ones": b"age,sex\n" + b"70,male\n" * 20000 + b"50\n",
    "invalid UTF-8 in a cell": b"age,sex\n70,m\xe9le\n",
    "invalid UTF-8 in the header": b"a\xffge,sex\n70,male\n",
    "byte-order mark": "\ufeffage,sex\n70,male\n".encode(),
    "NUL byte in a number": b"age,sex\n7\x000,male\n",
    "duplicated header": b"age,sex,age\n70,male,71\n",
    "unclosed quote": b'age,sex\n"70,male\n',
    "old Mac line ends": b"age,sex\r70,male\r",
    "semicolons": b"age;sex\n70;male\n",
    "a 3 MB cell": b"age,sex\n" + b"7" * 3_000_000 + b",male\n",
}
PARQUET_FAULTS: dict[str, bytes] = {
    "not Parquet at all": b"not parquet at all",
    "truncated": _parquet_bytes(GOOD)[:300],
    "empty file": b"",
    "zero rows": _parquet_bytes(GOOD.slice(0, 0)),
    "no columns": _parquet_bytes(pa.table({})),
    "duplicated columns": _parquet_bytes(pa.Table.from_arrays(
        [pa.array([70.0]), pa.array(["male"]), pa.array([71.0])], names=["age", "sex", "age"])),
    "list cells": _parquet_bytes(pa.table({"age": pa.array([[70.0]]), "sex": ["male"]})),
    "struct cells": _parquet_bytes(pa.table({"age": pa.array([{"v": 70.0}]), "sex": ["male"]})),
    "timestamps for age": _parquet_bytes(pa.table({
        "age": pa.array([datetime.datetime(2020, 1, 1)]), "sex": ["male"]})),
    "decimals": _parquet_bytes(pa.table({"age": pa.array([decimal.Decimal("70.5")]),
                                         "sex": ["male"]})),
    "bytes for sex": _parquet_bytes(pa.table({"age": [70.0], "sex": pa.array([b"male"])})),
    "uint64 beyond int64": _parquet_bytes(pa.table({
        "age": pa.array([2**64 - 1, 70], pa.uint64()), "sex": ["male", "female"]})),
    "int8 GCS": _parquet_bytes(pa.table({"age": [70.0], "sex": ["male"],
                                         "gcs": pa.array([127], pa.int8())})),
    "a column of nulls": _parquet_bytes(pa.table({"age": [70.0], "sex": ["male"],
                                                  "urea": pa.nulls(1)})),
}


@pytest.mark.parametrize(("fmt", "fault"), [("csv", k) for k in CSV_FAULTS]
                         + [("parquet", k) for k in PARQUET_FAULTS])
def test_malformed_files_are_refused_clearly_or_scored_consistently(admission_model, tmp_path,
                                                                    fmt, fault):
    """Broken or odd files: a ValidationError naming the file, or a consistent result."""
    content = (CSV_FAULTS if fmt == "csv" else PARQUET_FAULTS)[fault]
    src, dst = tmp_path / f"patients.{fmt}", tmp_path / "out.csv"
    src.write_bytes(content)
    report, error = _score(src, dst, admission_model, chunk_rows=2)
    if error is not None:
        check_validation_error(error, {"age", "sex"})
        assert "patients" in str(error) or error.fields != ["<input>"]
        assert "50,female,extra" not in str(error)  # rows are not echoed into messages
    _check_outcome(report, error, src, dst, admission_model)


def test_a_folder_of_parquet_files_with_different_columns_is_refused(admission_model, tmp_path):
    """Parts of a folder whose schemas disagree: a ValidationError, no partial result."""
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(GOOD, folder / "a.parquet")
    pq.write_table(pa.table({"age": ["x"], "sex": [1]}), folder / "b.parquet")
    report, error = _score(folder, tmp_path / "out.parquet", admission_model)
    assert error is not None
    _check_outcome(report, error, folder, tmp_path / "out.parquet", admission_model)


def test_a_uint64_identifier_beyond_int64_is_carried_through(admission_model, tmp_path):
    """Hashed 64-bit unsigned ids (>= 2**63) are copied to the output unchanged."""
    ids = pa.array([2**64 - 1, 2**63, 5], pa.uint64())
    src = tmp_path / "ids.parquet"
    pq.write_table(GOOD.append_column("pid", ids), src)
    report, error = _score(src, tmp_path / "out.parquet", admission_model, id_column="pid")
    assert error is None and report.rows_scored == 3
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column("pid").to_pylist() == [2**64 - 1, 2**63, 5]


# ------------------------------------------------------------------------------ SIGKILL
N_ROWS = 20_000


@pytest.fixture(scope="module")
def big_source(tmp_path_factory):
    """20,000 admissions (a generated cohort repeated, unique ids, 3 impossible rows)."""
    from covid_risk.schema import OUTCOMES
    from covid_risk.synthetic import make_cohort

    base = make_cohort(1500, random_state=61)
    base = base.drop(columns=[c for c in base.columns
                              if c in OUTCOMES or c.startswith("true_risk_")])
    try:  # keep only rows validate accepts, so the planted ones are the only rejects
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            validate(base)
    except ValidationError as exc:
        base = base.drop(index=sorted({p.row for p in exc.problems})).reset_index(drop=True)
    frame = pd.concat([base] * (N_ROWS // len(base) + 1), ignore_index=True).head(N_ROWS)
    frame["patient_id"] = [f"P{i:06d}" for i in range(len(frame))]
    frame["sex"] = frame["sex"].astype(object)
    for row, name, value in ((11, "age", 130.0), (15_004, "sex", "x"), (19_998, "spo2", 5.0)):
        frame.loc[row, name] = value
    path = tmp_path_factory.mktemp("big") / "patients.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path,
                   row_group_size=5000)
    return path, frame


def test_sigkill_mid_file_keeps_the_old_result_and_a_rerun_is_complete(
        admission_model, admission_file, big_source, tmp_path):
    """SIGKILL while writing a CSV (no slow-down hooks): old outputs untouched, rerun correct."""
    src, frame = big_source
    dst = tmp_path / "risks.csv"
    rejects = default_rejects(dst)
    dst.write_text("previous complete result\n")
    rejects.write_text("previous rejects\n")
    script = textwrap.dedent(f"""
        import warnings
        warnings.simplefilter("ignore")
        from covid_risk.scoring import score_file
        score_file({str(src)!r}, {str(dst)!r}, model={str(admission_file)!r}, chunk_rows=250,
                   id_column="patient_id", progress=False)
        print("finished", flush=True)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        partial: list[Path] = []
        while time.monotonic() < deadline and child.poll() is None:
            assert dst.stat().st_size == 25, "dst was overwritten before the run finished"
            partial = [p for p in tmp_path.iterdir()
                       if p.name.startswith("risks.csv.tmp-") and p.stat().st_size > 2000]
            if partial:
                break
            time.sleep(0.005)
    finally:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    assert partial, "the child finished (or never wrote) before it could be killed"
    assert child.returncode == -signal.SIGKILL
    # the previous outputs are untouched; what was left is named as temporary and incomplete
    assert dst.read_text() == "previous complete result\n"
    assert rejects.read_text() == "previous rejects\n"
    leftovers = _temporaries(tmp_path)
    assert leftovers and all(f".tmp-{child.pid}-" in name for name in leftovers)
    written = len(partial[0].read_bytes().splitlines()) - 1
    assert 0 < written < N_ROWS - 3
    # a rerun (another process id) clears the dead run's temporaries and completes
    report, error = _score(src, dst, admission_model, chunk_rows=4000, id_column="patient_id")
    assert error is None and report.rows_read == N_ROWS and report.rows_rejected == 3
    assert not _temporaries(tmp_path)
    out = _read_table(dst)
    valid = frame.drop(index=[11, 15_004, 19_998]).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        reference = predict_risk(valid.drop(columns=["patient_id"]), model=admission_model)
    assert out["patient_id"].tolist() == valid["patient_id"].tolist()
    for o in admission_model.outcomes_:
        np.testing.assert_array_equal(out[o].to_numpy(), reference[o].to_numpy())
        assert out[f"{o}_band"].tolist() == reference[f"{o}_band"].tolist()
    assert sorted(pd.read_csv(rejects)["patient_id"]) == ["P000011", "P015004", "P019998"]
