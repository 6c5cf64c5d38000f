"""Dask engine on a real 2-worker LocalCluster: same scores as local, and distributed training."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from covid_risk.exceptions import DataQualityWarning  # noqa: E402
from covid_risk.scoring import score_file  # noqa: E402

OUTCOMES = ("death", "deterioration")


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each (processes: LightGBM's network needs them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=50)
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def cohort():
    """Training cohort with every row valid (rows validate refuses are dropped)."""
    from covid_risk.synthetic import make_cohort
    from covid_risk.validation import validate

    df = make_cohort(3000, random_state=21)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        try:
            validate(df)
        except Exception as exc:  # generator rows outside hard limits, if any
            df = df.drop(index=sorted({p.row for p in exc.problems})).reset_index(drop=True)
    return df


@pytest.fixture(scope="module")
def model(cohort, small_settings):
    """A small local model for two outcomes."""
    from covid_risk.models import train

    return train(cohort, outcomes=list(OUTCOMES), random_state=0, **small_settings)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A partitioned Parquet dataset: 3 files, row groups of 350, two impossible values."""
    from covid_risk.synthetic import make_cohort

    df = make_cohort(1800, random_state=22)
    df = df.drop(columns=[c for c in df.columns if c.startswith("true_risk_")])
    df.loc[5, "age"] = 151.0
    df.loc[1700, "spo2"] = -3.0
    folder = tmp_path_factory.mktemp("ds") / "patients"
    folder.mkdir()
    table = pa.Table.from_pandas(df, preserve_index=False)
    for i, (a, b) in enumerate(((0, 700), (700, 1300), (1300, 1800))):
        pq.write_table(table.slice(a, b - a), folder / f"part-{i}.parquet", row_group_size=350)
    return folder


def _score(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        return score_file(*args, progress=False, **kwargs)


def test_dask_scores_equal_local_scores_exactly(client, model, dataset, tmp_path):
    """Dask over 2 workers writes the local engine's table, rejects file and counts."""
    local = _score(dataset, tmp_path / "local.parquet", model=model, chunk_rows=256,
                   id_column="patient_id")
    dask = _score(dataset, tmp_path / "dask.parquet", model=model, chunk_rows=256,
                  id_column="patient_id", engine="dask", client=client)
    a = pd.read_parquet(tmp_path / "local.parquet")
    b = pd.read_parquet(tmp_path / "dask.parquet")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert pq.read_schema(sorted((tmp_path / "dask.parquet").iterdir())[0]) == pq.read_schema(
        tmp_path / "local.parquet")
    assert (tmp_path / "dask.parquet.rejects.csv").read_bytes() == (
        tmp_path / "local.parquet.rejects.csv").read_bytes()
    rejects = pd.read_csv(tmp_path / "dask.parquet.rejects.csv")
    assert rejects["row"].tolist()[:1] == [5] and 1700 in rejects["row"].tolist()
    assert (dask.rows_read, dask.rows_scored, dask.rows_rejected) == (
        local.rows_read, local.rows_scored, local.rows_rejected)
    assert dask.rows_read == 1800
    assert dask.chunks == 10  # row groups 350, 350 | 350, 250 | 350, 150 cut at 256 rows
    assert dask.engine == "dask" and "partitions" in repr(dask)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["dask.parquet", "dask.parquet.rejects.csv", "local.parquet",
                     "local.parquet.rejects.csv"]


def test_dask_rerun_replaces_the_result_folder(client, model, dataset, tmp_path):
    """A second run onto an existing result folder replaces it whole (no stale parts)."""
    dst = tmp_path / "out.parquet"
    dst.mkdir()
    (dst / "part-99999.parquet").write_bytes(b"stale")
    report = _score(dataset, dst, model=model, engine="dask", client=client, chunk_rows=500)
    assert sorted(p.name for p in dst.iterdir()) == [f"part-{i:05d}.parquet" for i in range(6)]
    # (chunk_rows=500 > 350 rows per row group: one partition per row group)
    assert len(pd.read_parquet(dst)) == report.rows_scored == 1800 - report.rows_rejected
    assert report.rows_rejected >= 2  # the two planted rows (and any the generator made)


def test_dask_engine_refuses_csv_with_a_way_out(client, model, tmp_path):
    """CSV input on Dask is refused, pointing at Parquet or engine='local'."""
    (tmp_path / "p.csv").write_text("age,sex\n70,male\n")
    with pytest.raises(ValueError, match="engine='local', which streams CSV"):
        score_file(tmp_path / "p.csv", tmp_path / "o.parquet", model=model, engine="dask",
                   client=client)


def _params(booster) -> dict:
    """The ``[name: value]`` parameter lines of a booster's text model."""
    text = booster.model_to_string()
    block = text[text.index("parameters:"):text.index("end of parameters")]
    pairs = (line[1:-1].split(": ", 1) for line in block.splitlines()[1:] if line.startswith("["))
    return dict(p for p in pairs if len(p) == 2)


def test_train_dask_matches_local_discrimination(client, cohort, model, small_settings,
                                                 tmp_path):
    """train(engine="dask") on 2 workers: a normal RiskModel, AUROC within 0.03 of local."""
    from sklearn.metrics import roc_auc_score

    import covid_risk
    from covid_risk.models import load
    from covid_risk.synthetic import make_cohort

    trained = covid_risk.train(cohort, engine="dask", client=client, outcomes=list(OUTCOMES),
                               random_state=0, **small_settings)
    assert trained.outcomes_ == OUTCOMES
    assert trained.metadata_["engine"] == "dask"
    assert trained.monotone_method == "basic"
    assert trained.metadata_["training_cohort"]["n_rows"] == len(cohort)
    assert sum(trained.metadata_["splits"].values()) == len(cohort)
    for o in OUTCOMES:
        assert 1 <= trained.metadata_["best_iteration"][o] <= small_settings["n_estimators"]
        assert trained.boosters_[o].num_trees() == trained.metadata_["best_iteration"][o]
        # same LightGBM settings as the local model's booster, except where distributed
        text = _params(trained.boosters_[o])
        local = _params(model.boosters_[o])
        for key in ("learning_rate", "num_leaves", "min_data_in_leaf", "lambda_l2",
                    "feature_fraction", "bagging_fraction", "bagging_freq", "max_bin",
                    "extra_trees", "monotone_constraints", "objective"):
            assert text[key] == local[key], key
        assert (text["tree_learner"], local["tree_learner"]) == ("data", "serial")
        # LightGBM distributes only the basic monotone method
        assert text["monotone_constraints_method"] == "basic"
    test = make_cohort(2000, random_state=23)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        p_dask = trained.predict_proba(test)
        p_local = model.predict_proba(test)
    for o in OUTCOMES:
        y = test[o].astype("float64").to_numpy()
        auc_dask = roc_auc_score(y, p_dask[o])
        auc_local = roc_auc_score(y, p_local[o])
        assert abs(auc_dask - auc_local) < 0.03, (o, auc_dask, auc_local)
        assert auc_dask > 0.7
    trained.save(tmp_path / "dask.crmodel")
    again = load(tmp_path / "dask.crmodel")
    pd.testing.assert_frame_equal(again.predict_proba(test.head(50)), p_dask.head(50))


def test_staged_log_loss_matches_lightgbm_predictions(model):
    """Leaf-value cumulative sums give LightGBM's raw score after every round."""
    from covid_risk.models._dask_train import SPLIT_COLUMN as _SPLIT
    from covid_risk.models._dask_train import staged_log_loss as _staged_log_loss
    from covid_risk.synthetic import make_cohort

    booster = model.boosters_["death"]
    frame = model.model_matrix(make_cohort(300, random_state=3))
    y = np.arange(300) % 2
    frame["death"] = y.astype("float64")
    frame[_SPLIT] = np.int8(1)
    staged = _staged_log_loss(frame, booster.model_to_string(), list(model.feature_names_),
                              "death")
    X = frame[list(model.feature_names_)].to_numpy(dtype="float64")
    for k in (1, booster.num_trees() // 2, booster.num_trees()):
        raw = booster.predict(X, raw_score=True, num_iteration=k)
        expected = np.sum(np.logaddexp(0.0, np.where(y == 1, -raw, raw)))
        np.testing.assert_allclose(staged[k - 1], expected, rtol=1e-10)
    assert staged[-1] == 300


def test_row_groups_are_cut_into_pieces_of_chunk_rows(dataset):
    """Pieces cover every row once, in order, with at most chunk_rows rows each."""
    from covid_risk.scoring._dask import _pieces, _window

    pieces = _pieces(dataset, 256)
    assert [p[5] for p in pieces[:4]] == [256, 94, 256, 94]
    assert [p[4] for p in pieces] == sorted(p[4] for p in pieces)
    assert sum(p[5] for p in pieces) == 1800
    assert all(a[4] + a[5] == b[4] for a, b in zip(pieces, pieces[1:], strict=False))
    batches = [pa.record_batch({"x": list(range(a, b))}) for a, b in ((0, 4), (4, 9), (9, 12))]
    rows = [v for b in _window(iter(batches), 3, 7) for v in b.column(0).to_pylist()]
    assert rows == [3, 4, 5, 6, 7, 8, 9]


def test_train_dask_reads_a_parquet_folder_on_the_workers(client, cohort, small_settings,
                                                           tmp_path):
    """A partitioned Parquet folder trains like the same rows as a DataFrame."""
    from sklearn.metrics import roc_auc_score

    import covid_risk
    from covid_risk.synthetic import make_cohort

    folder = tmp_path / "cohort"
    folder.mkdir()
    table = pa.Table.from_pandas(cohort, preserve_index=False)
    n = len(cohort)
    for i, (a, b) in enumerate(((0, n // 3), (n // 3, 2 * n // 3), (2 * n // 3, n))):
        pq.write_table(table.slice(a, b - a), folder / f"part-{i}.parquet")
    options = dict(engine="dask", client=client, outcomes=["death"], random_state=0,
                   **small_settings)
    from_folder = covid_risk.train(str(folder), **options)
    from_frame = covid_risk.train(cohort, **options)
    assert from_folder.metadata_["engine"] == "dask"
    assert from_folder.metadata_["training_cohort"]["n_rows"] == n
    splits = from_folder.metadata_["splits"]  # drawn per partition, so not the frame's
    assert sum(splits.values()) == n
    assert abs(splits["boosting"] / n - 0.65) < 0.05
    assert abs(splits["calibration"] / n - 0.25) < 0.05
    test = make_cohort(2000, random_state=23)
    y = test["death"].astype("float64").to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)
        auc_folder = roc_auc_score(y, from_folder.predict_proba(test)["death"])
        auc_frame = roc_auc_score(y, from_frame.predict_proba(test)["death"])
    # the same rows in other partitions: equally good models, not the same bits
    assert auc_folder > 0.7 and abs(auc_folder - auc_frame) < 0.03, (auc_folder, auc_frame)


def test_train_dask_held_out_metrics_come_from_cross_fitted_calibration_rows(
        client, cohort, monkeypatch, small_settings):
    """Dask training measures its held-out metrics like local training: on the calibration
    split (never the early-stopping split, which chose the number of rounds), each row
    scored by a calibrator fitted in five folds without it. The in-sample calibrator would
    look better on the same rows (lower log loss): that optimism is what cross-fitting
    removes."""
    import covid_risk
    from covid_risk.models import RiskModel

    seen: dict = {}
    original = RiskModel._held_out_metrics

    def spy(self, raw, y, calibrators, seed):
        out = original(self, raw, y, calibrators, seed)
        seen.update(raw=raw, y=y, out=out)
        return out

    monkeypatch.setattr(RiskModel, "_held_out_metrics", spy)
    trained = covid_risk.train(cohort, engine="dask", client=client, outcomes=["death"],
                               random_state=0, **small_settings)
    meta = trained.metadata_
    assert meta["metrics_split"] == "calibration (calibrator cross-fitted in 5 folds)"
    splits = meta["splits"]
    raw, y = seen["raw"]["death"], seen["y"]["death"]
    assert raw.size == splits["calibration"] != splits["early_stopping"]
    assert meta["metrics"] == seen["out"]
    keep = ~np.isnan(y)
    held_out = meta["metrics"]["death"]
    assert held_out["n"] == int(keep.sum())
    in_sample = np.clip(trained.calibrators_["death"].transform(raw[keep]), 1e-15, 1 - 1e-15)
    yk = y[keep]
    in_sample_log_loss = -np.mean(yk * np.log(in_sample) + (1 - yk) * np.log1p(-in_sample))
    assert held_out["log_loss"] > in_sample_log_loss + 1e-6
