"""Streaming batch scoring: same numbers as in memory, rejects with reasons, atomic output."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from covid_risk.exceptions import DataQualityWarning, ValidationError
from covid_risk.labels import risk_bands
from covid_risk.prediction._predict import predict_risk, risk_band
from covid_risk.scoring import score_file
from covid_risk.scoring._chunks import (
    ScoreReport,
    default_rejects,
    plan_columns,
    rechunk,
    remove_stale_temps,
    resolve_options,
    temp_path,
)

N = 1500
# Rows made impossible on purpose: (row, field, value written to the file)
BAD = {7: ("age", -5.0), 612: ("sex", "unknown"), 1333: ("spo2", 140.0)}


def _validation_rejects(frame: pd.DataFrame) -> set[int]:
    """Rows that covid_risk.validate itself refuses (the in-memory reference)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        try:
            from covid_risk.validation import validate

            validate(frame)
        except ValidationError as exc:
            return {p.row for p in exc.problems}
    return set()


@pytest.fixture(scope="module")
def model(admission_model):
    """The shared small admission model (tests/conftest.py)."""
    return admission_model


@pytest.fixture(scope="module")
def patients():
    """N synthetic admissions with three impossible values planted (object dtypes for them)."""
    from covid_risk.synthetic import make_cohort

    df = make_cohort(N, random_state=5)
    df = df.drop(columns=[c for c in df.columns if c.startswith("true_risk_")])
    df["sex"] = df["sex"].astype(object)
    for row, (name, value) in BAD.items():
        df.loc[row, name] = value
    return df


@pytest.fixture(scope="module")
def files(tmp_path_factory, patients):
    """The patients as Parquet (row groups of 400) and as CSV."""
    folder = tmp_path_factory.mktemp("src")
    pq.write_table(pa.Table.from_pandas(patients, preserve_index=False),
                   folder / "patients.parquet", row_group_size=400)
    patients.to_csv(folder / "patients.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def reference(model, patients):
    """In-memory scores of the valid rows (predict_risk on a DataFrame) and the bad rows."""
    bad = _validation_rejects(patients)
    good = patients.drop(index=list(bad)).reset_index(drop=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        ref = predict_risk(good, model=model)
    ref.insert(0, "patient_id", good["patient_id"].to_numpy())
    return ref, sorted(bad)


def _quiet_score(*args, **kwargs) -> ScoreReport:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return score_file(*args, progress=False, **kwargs)


def test_parquet_scores_equal_in_memory_predictions(model, files, reference, tmp_path):
    """Chunked Parquet scoring gives exactly predict_risk's probabilities and bands."""
    ref, bad = reference
    dst = tmp_path / "risks.parquet"
    report = _quiet_score(files / "patients.parquet", dst, model=model, chunk_rows=300,
                          id_column="patient_id")
    out = pd.read_parquet(dst)
    assert out.columns.tolist() == ref.columns.tolist()
    assert out["patient_id"].tolist() == ref["patient_id"].tolist()
    for o in model.outcomes_:
        np.testing.assert_array_equal(out[o].to_numpy(), ref[o].to_numpy())
        assert out[f"{o}_band"].tolist() == ref[f"{o}_band"].tolist()
    assert (report.rows_read, report.rows_scored, report.rows_rejected) == (
        N, N - len(bad), len(bad))
    assert report.chunks == math.ceil(N / 300) == 5


def test_every_planted_row_is_rejected_with_its_reason(model, files, reference, tmp_path):
    """Each impossible row is in the rejects file with file-wide row number, field and value."""
    _ref, bad = reference
    assert set(BAD) <= set(bad)
    report = _quiet_score(files / "patients.parquet", tmp_path / "r.parquet", model=model,
                          chunk_rows=300, id_column="patient_id")
    assert report.rejects == str(tmp_path / "r.parquet.rejects.csv")
    rejects = pd.read_csv(report.rejects)
    assert rejects["row"].tolist() == bad
    assert rejects["patient_id"].tolist() == bad  # make_cohort ids are 0..n-1
    assert rejects.columns[:4].tolist() == ["row", "patient_id", "fields", "reason"]
    by_row = rejects.set_index("row")
    for row, (name, value) in BAD.items():
        assert by_row.loc[row, "fields"] == name
        reason = by_row.loc[row, "reason"]
        assert f"Field '{name}'" in reason and f"(row {row}, id" in reason
        assert repr(value) in reason
    assert report.reject_fields["age"] == 1 and report.reject_fields["sex"] == 1


def test_csv_in_csv_out_equals_parquet_scores(model, files, reference, tmp_path):
    """CSV read as text, scored and written as CSV round-trips to the same floats."""
    ref, bad = reference
    dst = tmp_path / "risks.csv"
    report = _quiet_score(files / "patients.csv", dst, model=model, chunk_rows=256)
    out = pd.read_csv(dst)
    assert out.columns[0] == "row"
    assert out["row"].tolist() == [i for i in range(N) if i not in set(bad)]
    for o in model.outcomes_:
        np.testing.assert_array_equal(out[o].to_numpy(), ref[o].to_numpy())
    assert report.rows_rejected == len(bad)
    assert report.chunks == math.ceil(N / 256)


def test_chunk_size_does_not_change_the_output(model, files, tmp_path):
    """chunk_rows=97 and chunk_rows=10_000 write byte-identical CSV results and rejects."""
    a = _quiet_score(files / "patients.parquet", tmp_path / "a.csv", model=model, chunk_rows=97)
    b = _quiet_score(files / "patients.parquet", tmp_path / "b.csv", model=model,
                     chunk_rows=10_000)
    assert (a.chunks, b.chunks) == (math.ceil(N / 97), 1)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert ((tmp_path / "a.csv.rejects.csv").read_bytes()
            == (tmp_path / "b.csv.rejects.csv").read_bytes())


def test_csv_text_in_numeric_columns_is_judged_cell_by_cell(model, patients, tmp_path):
    """Commas and a word in numeric CSV columns: same output and rejects for any chunk size."""
    df = patients.iloc[:400].copy()
    df[["crp", "gcs"]] = df[["crp", "gcs"]].astype(object)
    df.loc[50, "crp"] = "1,250"  # ambiguous: rejected
    df.loc[51, "crp"] = "12,5"  # a decimal comma: accepted as 12.5
    df.loc[300, "gcs"] = "fifteen"
    df.to_csv(tmp_path / "text.csv", index=False)
    a = _quiet_score(tmp_path / "text.csv", tmp_path / "a.csv", model=model, chunk_rows=7)
    b = _quiet_score(tmp_path / "text.csv", tmp_path / "b.csv", model=model, chunk_rows=1000)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert ((tmp_path / "a.csv.rejects.csv").read_bytes()
            == (tmp_path / "b.csv.rejects.csv").read_bytes())
    rejects = pd.read_csv(tmp_path / "a.csv.rejects.csv", dtype=str, keep_default_na=False)
    by_row = rejects.set_index("row")
    assert by_row.loc["50", "crp"] == "1,250" and by_row.loc["300", "gcs"] == "fifteen"
    assert "51" not in by_row.index
    assert "ambiguous" in by_row.loc["50", "reason"]
    assert "'fifteen'" in by_row.loc["300", "reason"]
    assert a.rows_rejected == b.rows_rejected >= 3  # and row 7 (age -5)


def test_mapped_columns_and_units_give_the_canonical_result(model, patients, reference,
                                                            tmp_path):
    """Renamed columns (columns=) and urea in mg/dL BUN (units=) score like validate's result."""
    from covid_risk.schema import FIELDS
    from covid_risk.validation import validate

    _ref, bad = reference
    conv = FIELDS["urea"].conversion("mg/dL BUN")
    renamed = patients.rename(columns={"age": "Age (years)", "urea": "BUN"})
    renamed["BUN"] = (renamed["BUN"] - conv.offset) / conv.scale
    renamed.to_csv(tmp_path / "us.csv", index=False)
    mapping, units = {"Age (years)": "age", "BUN": "urea"}, {"urea": "mg/dL BUN"}
    report = _quiet_score(tmp_path / "us.csv", tmp_path / "us_risks.parquet", model=model,
                          id_column="patient_id", columns=mapping, units=units,
                          chunk_rows=500)
    assert report.rows_rejected == len(bad)
    out = pd.read_parquet(tmp_path / "us_risks.parquet")
    good = pd.read_csv(tmp_path / "us.csv", dtype=str, keep_default_na=False).drop(index=bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        canonical = validate(good.reset_index(drop=True), columns=mapping, units=units,
                             id_column="patient_id").data
    expected = model.predict_proba(canonical)
    assert out["patient_id"].tolist() == canonical.index.tolist()
    np.testing.assert_array_equal(out["death"].to_numpy(), expected["death"].to_numpy())


def test_explain_factors_are_predict_risks_factor_texts(model, patients, tmp_path):
    """explain=True writes the same factor text as predict_risk(DataFrame, explain=True)."""
    small = patients.iloc[:40].drop(index=[7])
    small.to_parquet(tmp_path / "few.parquet", index=False)
    _quiet_score(tmp_path / "few.parquet", tmp_path / "few_out.parquet", model=model,
                 explain=True, top=2, chunk_rows=16)
    out = pd.read_parquet(tmp_path / "few_out.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        ref = predict_risk(small.reset_index(drop=True), model=model, explain=True, top=2)
    for o in ("death", "vte"):
        assert out[f"{o}_factors"].tolist() == ref[f"{o}_factors"].tolist()
    assert out["death_factors"].str.contains(r" pp\)").all()


def test_killed_run_leaves_nothing_complete_and_a_rerun_is_correct(model, admission_file, files,
                                                                   reference, tmp_path):
    """SIGKILL mid-file: no dst, no rejects, only a .tmp- file; the rerun is complete and right."""
    ref, _bad = reference
    dst = tmp_path / "killed.parquet"
    script = textwrap.dedent(f"""
        import sys, time, warnings
        warnings.simplefilter("ignore")
        import covid_risk.scoring._chunks as batch
        from covid_risk.scoring import score_file
        from covid_risk.models import load
        original = batch.ChunkScorer.__call__
        def slow(self, table, offset):
            result = original(self, table, offset)
            print("chunk", offset, flush=True)
            time.sleep(0.3)
            return result
        batch.ChunkScorer.__call__ = slow
        score_file({str(files / "patients.parquet")!r}, {str(dst)!r},
                   model=load({str(admission_file)!r}, hmac_key=b''), chunk_rows=100,
                   id_column="patient_id", progress=False)
        print("finished", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        seen = 0
        for line in proc.stdout:
            seen += line.startswith("chunk")
            if seen == 4:  # four of fifteen chunks done
                break
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert seen == 4 and proc.returncode == -signal.SIGKILL
    assert not dst.exists()
    assert not default_rejects(dst).exists()
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "killed")
    assert leftovers and all(".tmp-" in name for name in leftovers)
    assert any(name.startswith("killed.parquet.tmp-") for name in leftovers)

    report = _quiet_score(files / "patients.parquet", dst, model=model, chunk_rows=100,
                          id_column="patient_id")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed.parquet",
                                                          "killed.parquet.rejects.csv"]
    out = pd.read_parquet(dst)
    assert report.rows_read == N
    np.testing.assert_array_equal(out["deterioration"].to_numpy(),
                                  ref["deterioration"].to_numpy())
    assert out["patient_id"].tolist() == ref["patient_id"].tolist()


def test_error_mid_run_keeps_the_old_result_and_removes_temporaries(model, files, tmp_path,
                                                                    monkeypatch):
    """An exception on chunk 3 leaves an earlier dst untouched and no temporary files."""
    import covid_risk.scoring._chunks as batch

    dst = tmp_path / "out.csv"
    dst.write_text("old result\n")
    original = batch.ChunkScorer.__call__
    calls = []

    def failing(self, table, offset):
        calls.append(offset)
        if len(calls) == 3:
            raise MemoryError("simulated")
        return original(self, table, offset)

    monkeypatch.setattr(batch.ChunkScorer, "__call__", failing)
    with pytest.raises(MemoryError, match="simulated"):
        _quiet_score(files / "patients.parquet", dst, model=model, chunk_rows=200)
    assert calls == [0, 200, 400]
    assert dst.read_text() == "old result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_file_level_problems_raise_before_anything_is_written(model, patients, tmp_path):
    """No age column, or an id_column that is absent, raises ValidationError and writes nothing."""
    patients.drop(columns=["age"]).iloc[:50].to_parquet(tmp_path / "no_age.parquet")
    with pytest.raises(ValidationError, match="'age' is required"):
        _quiet_score(tmp_path / "no_age.parquet", tmp_path / "o.parquet", model=model)
    with pytest.raises(ValidationError, match="id_column='mrn' is not a column"):
        _quiet_score(tmp_path / "no_age.parquet", tmp_path / "o.parquet", model=model,
                     id_column="mrn")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["no_age.parquet"]


def test_two_columns_mapped_to_one_field_is_a_file_level_error(model):
    """columns= mapping two source columns onto 'age' is refused up front, naming both."""
    options = resolve_options(model, setting="admission", outcomes=None, chunk_rows=10,
                              explain=False, top=3, id_column=None, units=None,
                              columns={"Age": "age"})
    with pytest.raises(ValidationError, match="'Age', 'age'.*all give field 'age'"):
        plan_columns(["Age", "age", "sex"], options)
    plan = plan_columns(["age", "sex", "death", "favourite_colour"], options)
    assert plan.read == ("age", "sex")
    assert plan.ignored == ("death", "favourite_colour")
    assert plan.unknown == ("favourite_colour",)


def test_every_row_rejected_still_writes_an_empty_result(model, patients, tmp_path):
    """When no row is valid the result file exists with its columns and zero rows."""
    bad = patients.iloc[:30].copy()
    bad["age"] = 200.0
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.warns(DataQualityWarning, match="30 of 30 row"):
        report = score_file(tmp_path / "bad.csv", tmp_path / "bad_out.parquet", model=model,
                            chunk_rows=8, id_column="patient_id", progress=False)
    out = pd.read_parquet(tmp_path / "bad_out.parquet")
    assert len(out) == 0
    assert out.columns[:3].tolist() == ["patient_id", "death", "death_band"]
    assert (report.rows_scored, report.rows_rejected, report.chunks) == (0, 30, 4)


def test_summary_warning_counts_rejects_and_implausible_values(model, patients, tmp_path):
    """One DataQualityWarning for the run gives the reject count and the implausible count."""
    few = patients.iloc[:20].copy()
    few.loc[3, "respiratory_rate"] = 75.0  # possible (hard 0-80) but implausible (>60)
    few.loc[5, "age"] = -1.0
    few.to_parquet(tmp_path / "few.parquet", index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = score_file(tmp_path / "few.parquet", tmp_path / "few.csv", model=model,
                            chunk_rows=7, id_column="patient_id", progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, DataQualityWarning)]
    assert len(messages) == 1
    assert "2 of 20 row(s) had impossible values" in messages[0]  # rows 5 and 7
    assert report.implausible.get("respiratory_rate", 0) >= 1
    assert str(report.implausible["respiratory_rate"]) in messages[0]


def test_risk_bands_match_predict_risk_at_the_cut_offs():
    """The vectorised bands agree with risk_band on and around every cut-off."""
    p = np.array([0.0, 0.0299999, 0.03, 0.1499999, 0.15, 0.4999999, 0.5, 1.0])
    assert risk_bands(p).tolist() == [risk_band(x) for x in p]
    assert risk_bands(p).tolist() == ["low", "low", "intermediate", "intermediate", "high",
                                      "high", "very high", "very high"]


def test_rechunk_gives_exact_chunk_sizes_across_batches():
    """Batches of 3, 5 and 4 rows regroup into 5, 5 and 2 rows in order."""
    batches = [pa.record_batch({"x": list(range(a, b))}) for a, b in ((0, 3), (3, 8), (8, 12))]
    chunks = list(rechunk(iter(batches), 5))
    assert [c.num_rows for c in chunks] == [5, 5, 2]
    assert sum((c.column("x").to_pylist() for c in chunks), []) == list(range(12))


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    """Our temp file of a process that no longer exists is removed; a live one is kept, and
    a user's file merely named like a temp file (no valid check digits) is never touched."""
    dst = tmp_path / "x.parquet"
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = temp_path(dst, pid=int(proc.stdout))
    dead.write_text("partial")
    mine = temp_path(dst)
    mine.write_text("in progress")
    users = [tmp_path / f"x.parquet.tmp-{int(proc.stdout)}-abcd1234",
             tmp_path / "x.parquet.tmp-999999-abc",
             dead.with_name(dead.name[:-1] + ("0" if dead.name[-1] != "0" else "1"))]
    for path in users:
        path.write_text("a user's file")
    assert remove_stale_temps(dst) == [dead]
    assert mine.exists() and not dead.exists()
    assert all(path.exists() for path in users)


def test_report_repr_summary_and_dict(model, files, tmp_path):
    """ScoreReport has a one-line repr, an item/value summary and a JSON-able dict."""
    report = _quiet_score(files / "patients.parquet", tmp_path / "s.parquet", model=model)
    text = repr(report)
    assert text.startswith("ScoreReport(1,500 rows read: ")
    assert text.endswith("1 chunks in " + f"{report.seconds:.1f} s -> s.parquet)")
    summary = report.summary
    assert summary.columns.tolist() == ["item", "value"]
    assert summary.set_index("item").loc["rows read", "value"] == N
    d = report.to_dict()
    assert d["rows_read"] == d["rows_scored"] + d["rows_rejected"] == N
    assert "death" in d["ignored_columns"] and "patient_id" in d["ignored_columns"]


def test_bad_arguments_say_what_to_do(model, files, tmp_path):
    """Unknown extensions, missing folders, wrong engine and setting mismatch raise clearly."""
    src = files / "patients.parquet"
    with pytest.raises(ValueError, match="use one of .csv, .parquet, .pq"):
        score_file(src, tmp_path / "out.xlsx", model=model)
    with pytest.raises(FileNotFoundError, match="does not exist. Create it first"):
        score_file(src, tmp_path / "nowhere" / "out.csv", model=model)
    with pytest.raises(ValueError, match="engine must be one of 'local', 'dask'"):
        score_file(src, tmp_path / "out.csv", model=model, engine="spark")
    with pytest.raises(ValueError, match="pass setting='admission'"):
        score_file(src, tmp_path / "out.csv", model=model, setting="community")
    with pytest.raises(ValueError, match="chunk_rows must be a whole number >= 1"):
        score_file(src, tmp_path / "out.csv", model=model, chunk_rows=0)
    with pytest.raises(ValueError, match="three different paths"):
        score_file(src, src, model=model)


def test_missing_dask_names_the_extra(monkeypatch):
    """Without Dask installed the error says pip install 'covid-risk[dask]'."""
    from covid_risk.scoring._dask import require_dask

    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r"pip install 'covid-risk\[dask\]'"):
        require_dask()


def test_folder_of_parquet_files_is_read_in_path_order(model, patients, tmp_path):
    """A folder of Parquet parts scores like the single file, rows numbered across files."""
    folder = tmp_path / "parts"
    folder.mkdir()
    clean = patients.drop(index=list(BAD)).reset_index(drop=True).iloc[:600]
    for i, (a, b) in enumerate(((0, 250), (250, 400), (400, 600))):
        clean.iloc[a:b].to_parquet(folder / f"part-{i}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")
    clean.to_parquet(tmp_path / "one.parquet", index=False)
    _quiet_score(folder, tmp_path / "from_folder.csv", model=model, chunk_rows=128)
    _quiet_score(tmp_path / "one.parquet", tmp_path / "from_file.csv", model=model,
                 chunk_rows=128)
    assert (tmp_path / "from_folder.csv").read_bytes() == (tmp_path / "from_file.csv").read_bytes()


def test_reading_holds_one_row_group_not_the_whole_file(patients, tmp_path):
    """While chunks stream through a 30-row-group file, Arrow holds far less than the file."""
    from pathlib import Path

    from covid_risk.scoring._chunks import iter_chunks

    path = Path(tmp_path) / "many_groups.parquet"
    pq.write_table(pa.Table.from_pandas(patients, preserve_index=False), path,
                   row_group_size=50)
    assert pq.ParquetFile(path).metadata.num_row_groups == 30
    base = pa.total_allocated_bytes()
    held = []
    for table in iter_chunks(path, "parquet", list(patients.columns), 100):
        del table
        held.append(pa.total_allocated_bytes() - base)
    # one reader for the whole file pre-buffers (and keeps) all of it: ~75 % of its size
    assert len(held) == 15
    assert max(held) < 0.35 * path.stat().st_size


def test_peak_memory_is_the_scorers_own_not_its_parents():
    """ScoreReport.peak_rss_mb reads VmHWM: ru_maxrss keeps the parent's size across exec."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import subprocess, sys
        import numpy as np
        big = np.ones(50_000_000)  # 400 MB held by the parent while the child starts
        child = ("from covid_risk.scoring._chunks import peak_rss_mb; "
                 "print(peak_rss_mb())")
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                             check=True)
        print(out.stdout.strip(), big.nbytes / 2**20)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    child_peak, parent_mb = (float(x) for x in out.stdout.split())
    assert 0 < child_peak < parent_mb / 2
