"""Outputs that cannot collide or be run by a spreadsheet, and CSV errors that name the line.

The red-team cases: an id column named like an outcome, ``out.csv`` and
``out.parquet`` sharing one rejects file, an output written into the source
folder, a user's file named like a stale temporary file, formula injection in
ids and rejected values, and a ragged row or bad byte refused without a line
number.
"""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow.parquet as pq
import pytest

from covid_risk.exceptions import DataQualityWarning, ValidationError
from covid_risk.scoring import score_file
from covid_risk.scoring._chunks import neutralise_formulas
from covid_risk.synthetic import make_cohort

FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "@SUM(A1)", "=cmd|' /C calc'!A0",
            "-2+3", "\tx"]


@pytest.fixture(scope="module")
def patients() -> pd.DataFrame:
    df = make_cohort(60, setting="admission", random_state=11).reset_index(drop=True)
    df["patient_id"] = [f"p{i:03d}" for i in range(len(df))]
    return df


def _score(src, dst, model, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return score_file(src, dst, model=model, progress=False, **options)


def test_an_id_column_named_like_an_outcome_is_refused(patients, admission_model, tmp_path):
    src = tmp_path / "in.csv"
    patients.to_csv(src, index=False)
    for name in ("death", "icu_band", "row", "reason"):
        df = patients.rename(columns={"patient_id": name}) if name not in patients else patients
        df.loc[:, ~df.columns.duplicated()].to_csv(src, index=False)
        with pytest.raises(ValidationError, match=f"id_column='{name}'.*output column"):
            _score(src, tmp_path / "out.parquet", admission_model, id_column=name)
    assert not (tmp_path / "out.parquet").exists()


def test_each_output_has_its_own_rejects_file(patients, admission_model, tmp_path):
    src = tmp_path / "in.csv"
    bad = patients.copy()
    bad.loc[3, "age"] = 999
    bad.to_csv(src, index=False)
    a = _score(src, tmp_path / "out.csv", admission_model)
    b = _score(src, tmp_path / "out.parquet", admission_model)
    assert a.rejects != b.rejects
    assert (tmp_path / "out.csv.rejects.csv").exists()
    assert (tmp_path / "out.parquet.rejects.csv").exists()
    assert a.rows_rejected == b.rows_rejected == 1


def test_an_output_inside_the_source_folder_is_refused(patients, admission_model, tmp_path):
    folder = tmp_path / "parts"
    folder.mkdir()
    patients.to_parquet(folder / "a.parquet", index=False)
    with pytest.raises(ValidationError, match="inside the source folder"):
        _score(folder, folder / "risks.parquet", admission_model)
    with pytest.raises(ValidationError, match="inside the source folder"):
        _score(folder, tmp_path / "risks.parquet", admission_model,
               rejects=folder / "r.csv")
    report = _score(folder, tmp_path / "risks.parquet", admission_model)
    assert report.rows_read == len(patients)


def test_a_users_file_named_like_a_temp_file_is_never_removed(patients, admission_model,
                                                               tmp_path):
    src = tmp_path / "in.parquet"
    patients.to_parquet(src, index=False)
    keep = [tmp_path / "keep.parquet.tmp-999999-abc", tmp_path / "keep.parquet.tmp-1-deadbeef"]
    for path in keep:
        path.write_text("precious")
    _score(src, tmp_path / "keep.parquet", admission_model)
    assert all(p.read_text() == "precious" for p in keep)


def test_formulas_are_neutralised_in_csv_outputs_and_rejects(patients, admission_model,
                                                             tmp_path):
    df = patients.iloc[: len(FORMULAS) * 2].copy()
    df["patient_id"] = FORMULAS * 2
    df.loc[df.index[len(FORMULAS):], "age"] = 999  # the second half is rejected
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    _score(src, tmp_path / "safe.csv", admission_model, id_column="patient_id")
    out = pd.read_csv(tmp_path / "safe.csv", dtype=str, keep_default_na=False)
    rejects = pd.read_csv(tmp_path / "safe.csv.rejects.csv", dtype=str, keep_default_na=False)
    expected = ["'" + f for f in FORMULAS]
    assert out["patient_id"].tolist() == expected
    assert rejects["patient_id"].tolist() == expected
    for frame in (out, rejects):
        cells = frame.to_numpy().ravel().tolist()
        assert not any(str(c)[:1] in ("=", "+", "-", "@", "\t", "\r") for c in cells)

    _score(src, tmp_path / "raw.csv", admission_model, id_column="patient_id",
           spreadsheet_safe=False)
    raw = pd.read_csv(tmp_path / "raw.csv", dtype=str, keep_default_na=False)
    assert raw["patient_id"].tolist()[:3] == FORMULAS[:3]
    df.to_parquet(tmp_path / "in.parquet", index=False)
    _score(tmp_path / "in.parquet", tmp_path / "out.parquet", admission_model,
           id_column="patient_id")
    assert pq.read_table(tmp_path / "out.parquet").column("patient_id").to_pylist() \
        == FORMULAS  # Parquet is never changed


def test_neutralise_formulas_leaves_numbers_and_plain_text():
    s = pd.Series(["=1", "-x", "ok", "", None, -1.5, 3], dtype=object)
    assert neutralise_formulas(s).tolist() == ["'=1", "'-x", "ok", "", None, -1.5, 3]


def test_a_ragged_csv_row_is_refused_with_its_line(patients, admission_model, tmp_path):
    src = tmp_path / "ragged.csv"
    text = patients.to_csv(index=False).splitlines()
    text[7] += ",extra,cells"
    src.write_text("\n".join(text) + "\n")
    with pytest.raises(ValidationError, match=r"line 8 has \d+ fields, the header \d+"):
        _score(src, tmp_path / "out.csv", admission_model)


def test_a_bad_byte_in_a_csv_is_refused_with_its_line(patients, admission_model, tmp_path):
    src = tmp_path / "bytes.csv"
    lines = patients.to_csv(index=False).encode().splitlines()
    lines[5] = lines[5].replace(b"p004", b"p\xff04")
    src.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(ValidationError, match=r"line 6, about field 1"):
        _score(src, tmp_path / "out.csv", admission_model, id_column="patient_id")
