"""Train a :class:`~covid_risk.models.RiskModel` across the workers of a Dask cluster.

What ``covid_risk.train(..., engine="dask", client=...)`` runs. It needs the optional
extra ``pip install 'covid-risk[dask]'``; Dask and ``lightgbm.dask`` are imported
only inside the functions here.

Same steps as :meth:`RiskModel.fit`
-----------------------------------
:func:`train_dask` runs the steps of :meth:`RiskModel.fit` on the model itself --
``_check_settings``, ``_training_seed``, ``_check_classes``, ``_booster_params``,
``_fit_calibrators``, ``_held_out_metrics``, ``_build_metadata`` and
``_set_fitted`` -- and replaces only the steps that touch every row:

* preparing the data: the cohort (a Parquet file or folder, a Dask DataFrame or
  a pandas DataFrame) is validated and turned into the model matrix partition by
  partition on the workers and kept there (``persist``), so no single machine
  ever holds it all. Rows are assigned to the boosting, early-stopping and
  calibration splits by a seeded uniform draw per partition (shares as in
  ``RiskModel.split``), so the splits are not the local ones;
* boosting: one ``lightgbm.dask.DaskLGBMClassifier`` per outcome, trained
  data-parallel with the parameters of ``RiskModel._booster_params``. LightGBM's
  Dask interface has no early stopping, so boosting runs in blocks of
  ``early_stopping_rounds`` rounds, each continuing the previous booster
  (``init_model``); after each block the log loss of the early-stopping split
  after every round is computed on the workers from the trees' leaf values, and
  boosting stops once the best round is ``early_stopping_rounds`` behind
  (LightGBM's own rule). The booster is cut at the best round. There is no refit
  on the boosting and early-stopping rows together (``refit`` is recorded as
  ``False``). LightGBM's distributed learning supports only the ``"basic"``
  monotone-constraint method, so ``monotone_method`` is recorded as ``"basic"``
  whatever was asked (the local default is ``"intermediate"``, which allows
  slightly more flexible trees under the same constraints);
* the calibration split's raw log-odds and labels (two floats per row and
  outcome) are brought to the client, where the calibrators are fitted and the
  held-out metrics measured exactly as in local training (calibration split,
  calibrator cross-fitted in five folds, coherence applied).

The result is an ordinary fitted :class:`~covid_risk.models.RiskModel` that saves,
loads and predicts like any other, with ``metadata_["engine"] == "dask"``.
Distributed histogram building and the different split assignment mean its trees
are not byte-identical to local training on the same data; its discrimination is
the same within noise.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from covid_risk._dask_client import require_dask, resolve_client
from covid_risk.features.matrix import feature_names
from covid_risk.models._risk_model import RiskModel

__all__ = ["SPLIT_COLUMN", "SPLIT_NAMES", "staged_log_loss", "train_dask"]

SPLIT_COLUMN = "__split__"
"""Column of the prepared partitions holding each row's split code (0, 1 or 2)."""

SPLIT_NAMES: tuple[str, str, str] = ("boosting", "early_stopping", "calibration")
"""Split names, indexed by split code (as in ``RiskModel.fit``)."""

_SKLEARN_NAMES = {
    "min_data_in_leaf": "min_child_samples",
    "lambda_l2": "reg_lambda",
    "feature_fraction": "colsample_bytree",
    "bagging_fraction": "subsample",
    "bagging_freq": "subsample_freq",
    "seed": "random_state",
}
"""LightGBM parameter name -> the scikit-learn name ``DaskLGBMClassifier`` takes."""


def train_dask(
    cohort_or_path: Any,
    *,
    client: Any = None,
    setting: str = "admission",
    outcomes: Sequence[str] | None = None,
    random_state: int | None = None,
    **options: Any,
) -> RiskModel:
    """Train a :class:`~covid_risk.models.RiskModel` across the workers of a Dask cluster.

    Parameters
    ----------
    cohort_or_path : str, path-like, dask DataFrame or pandas DataFrame
        Patient records with one boolean column per outcome: a Parquet file or a
        folder of Parquet files (read on the workers, so it may be larger than any
        one machine's memory), a Dask DataFrame, or a pandas DataFrame (split into
        one partition per worker).
    client : dask.distributed.Client, optional
        Default: the current client.
    setting : {"admission", "community"}, default="admission"
        Clinical setting.
    outcomes : sequence of str, optional
        Outcomes to model; default all of the setting's.
    random_state : int or None, default=None
        Seed of the split draws and of LightGBM.
    **options
        Any other :class:`~covid_risk.models.RiskModel` setting (``learning_rate``,
        ``n_estimators``, ``early_stopping_rounds``, ``calibration``, ``split``,
        ...). ``refit`` is not supported and recorded as ``False``.

    Returns
    -------
    RiskModel
        Fitted, with boosters from ``DaskLGBMClassifier(...).to_local()``, calibrators
        fitted on the held-out calibration split, and ``metadata_["engine"] == "dask"``.

    Raises
    ------
    ImportError
        Naming ``pip install 'covid-risk[dask]'`` when Dask is not installed.
    """
    require_dask()
    _check_options(options)
    client = resolve_client(client)
    model = RiskModel(setting=setting, outcomes=outcomes, random_state=random_state, **options)
    wanted = model._check_settings()
    seed = model._training_seed()
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    raw_frame, described = _training_frame(cohort_or_path, n_workers)
    names = list(feature_names(setting))
    prepared = client.persist(raw_frame.map_partitions(
        _prepare_partition, setting=setting, outcomes=list(wanted), seed=seed,
        shares=[float(s) for s in model.split], meta=_prepared_meta(names, wanted),
        enforce_metadata=False,
    ))
    parts = prepared.to_delayed()
    counts = np.sum(_gather(client, parts, _counts, list(wanted)), axis=0)
    _check_counts(model, counts, wanted)
    boosters, texts, best = _train_boosters(model, client, prepared, parts, names, wanted, seed)
    raw_cal, y_cal = _calibration_scores(client, parts, texts, names)
    calibrators, calibration_info = model._fit_calibrators(raw_cal, y_cal, seed)
    metrics = model._held_out_metrics(raw_cal, y_cal, calibrators, seed)
    # LightGBM's distributed learning supports only the "basic" monotone method and
    # switches to it by itself; record what the boosters were really trained with.
    asked_monotone_method = model.monotone_method
    model.set_params(monotone_method="basic", refit=False)
    metadata = model._build_metadata(
        outcomes=wanted,
        training=_training_record(client, parts, counts, wanted, setting, described),
        cohort=None,
        seed=seed,
        splits={name: int(counts[s, -1, 0]) for s, name in enumerate(SPLIT_NAMES)},
        best=best,
        n_trees=best,
        calibration_info=calibration_info,
        metrics=metrics,
    )
    metadata["engine"] = "dask"
    metadata["dask"] = _engine_record(n_workers, int(prepared.npartitions),
                                      asked_monotone_method)
    client.cancel(prepared)
    return model._set_fitted(outcomes=wanted, boosters=boosters, calibrators=calibrators,
                             feature_names=names, metadata=metadata)


# ------------------------------------------------------------------ client-side steps
def _check_options(options: dict[str, Any]) -> None:
    """Refuse keyword options that are not :class:`RiskModel` settings."""
    allowed = set(inspect.signature(RiskModel).parameters) - {"setting", "outcomes",
                                                               "random_state"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(
            f"train_dask() got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"allowed options: {', '.join(sorted(allowed))}."
        )


def _training_frame(data: Any, n_workers: int) -> tuple[Any, str]:
    """Return the training data as a Dask DataFrame and a description of its source."""
    dd, _ = require_dask()
    if isinstance(data, dd.DataFrame):
        return data, "dask DataFrame"
    if isinstance(data, pd.DataFrame):
        return dd.from_pandas(data, npartitions=max(2, n_workers)), "pandas DataFrame"
    if isinstance(data, (str, os.PathLike)):
        from covid_risk._sources import parquet_files

        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"Training data {str(path)!r} does not exist.")
        if not path.is_dir() and path.suffix.lower() not in (".parquet", ".pq"):
            raise ValueError(
                f"train_dask reads Parquet (a file or a folder of files); got {str(path)!r}. "
                "Convert it to Parquet first."
            )
        files = [str(p) for p in parquet_files(path)]
        return dd.read_parquet(files), str(path)
    raise TypeError(
        "train_dask needs a path to a Parquet file or folder, a dask DataFrame or a pandas "
        f"DataFrame; got {type(data).__name__}."
    )


def _check_counts(model: RiskModel, counts: np.ndarray, outcomes: Sequence[str]) -> None:
    """Refuse an outcome with under 100 labels, or one class in a split (as ``fit`` does)."""
    for k, o in enumerate(outcomes):
        labelled = int(counts[:, k, 0].sum())
        if labelled < 100:
            raise ValueError(f"Training needs at least 100 patients with {o!r}; got {labelled}.")
        model._check_classes(
            o, {name: (int(counts[s, k, 0]), float(counts[s, k, 1]))
                for s, name in enumerate(SPLIT_NAMES)})


def _train_boosters(
    model: RiskModel, client: Any, prepared: Any, parts: list, names: Sequence[str],
    outcomes: Sequence[str], seed: int,
) -> tuple[dict[str, Any], dict[str, str], dict[str, int]]:
    """Boost each outcome with ``lightgbm.dask`` (the Dask stand-in for ``fit``'s step).

    Returns
    -------
    boosters : dict of str to lightgbm.Booster
        Local boosters cut at their best round.
    texts : dict of str to str
        The same boosters as LightGBM model text (what the workers are sent).
    best : dict of str to int
        Best round per outcome (also the number of trees).
    """
    import lightgbm as lgb

    boosters: dict[str, Any] = {}
    texts: dict[str, str] = {}
    best: dict[str, int] = {}
    for o in outcomes:
        params = model._booster_params(o, seed)
        # lightgbm.dask sets each worker's threads itself (it ignores n_jobs)
        kwargs = {_SKLEARN_NAMES.get(k, k): v for k, v in params.items() if k != "num_threads"}
        rows = (prepared[SPLIT_COLUMN] == 0) & prepared[o].notnull()
        X_fit, y_fit = prepared.loc[rows, list(names)], prepared.loc[rows, o].astype("int8")
        full, best[o] = _boost_with_early_stopping(
            client, X_fit, y_fit, parts, names, o, kwargs,
            n_estimators=int(model.n_estimators),
            early_stopping_rounds=int(model.early_stopping_rounds))
        texts[o] = full.model_to_string(num_iteration=best[o])
        boosters[o] = lgb.Booster(model_str=texts[o])
    return boosters, texts, best


def _boost_with_early_stopping(
    client: Any, X: Any, y: Any, parts: list, names: Sequence[str], outcome: str,
    kwargs: dict, *, n_estimators: int, early_stopping_rounds: int,
) -> tuple[Any, int]:
    """Boost on the workers in blocks of rounds until the early-stopping loss stops improving.

    LightGBM's Dask interface cannot stop early, so boosting runs in blocks of
    ``early_stopping_rounds`` rounds, each continuing the previous booster
    (``init_model``); after each block the early-stopping split's log loss after
    every round is computed on the workers (:func:`staged_log_loss`). Boosting
    stops once the best round is ``early_stopping_rounds`` behind the last one
    (LightGBM's own rule) or ``n_estimators`` rounds are reached.

    Returns
    -------
    booster : lightgbm.Booster
        Every round boosted (cut it at ``best``).
    best : int
        The round with the lowest early-stopping log loss.
    """
    from lightgbm.dask import DaskLGBMClassifier

    block = max(1, min(early_stopping_rounds, n_estimators))
    booster = None
    total = best = 0
    while total < n_estimators:
        rounds = min(block, n_estimators - total)
        clf = DaskLGBMClassifier(client=client, n_estimators=rounds, **kwargs)
        with warnings.catch_warnings():  # lightgbm.dask drops n_jobs for worker threads
            warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")
            clf.fit(X, y, **({} if booster is None else {"init_model": booster}))
        booster = clf.to_local().booster_
        total = booster.current_iteration()
        staged = np.sum(_gather(client, parts, staged_log_loss, booster.model_to_string(),
                                names, outcome), axis=0)
        best = int(np.argmin(staged[:-1] / max(staged[-1], 1.0))) + 1
        if total - best >= early_stopping_rounds:
            break
    return booster, best


def _calibration_scores(
    client: Any, parts: list, texts: dict[str, str], names: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Bring the calibration split's raw log-odds and labels (NaN: missing) to the client."""
    cal = _gather(client, parts, _raw_scores, texts, names, SPLIT_NAMES.index("calibration"))
    raw = {o: np.concatenate([c[f"raw:{o}"] for c in cal]) for o in texts}
    y = {o: np.concatenate([c[f"y:{o}"] for c in cal]) for o in texts}
    return raw, y


def _training_record(
    client: Any, parts: list, counts: np.ndarray, outcomes: Sequence[str], setting: str,
    described: str,
) -> dict[str, Any]:
    """Describe the training cohort for ``metadata_["training_cohort"]``.

    The Dask counterpart of ``RiskModel._training_record``: the data hash is the
    SHA-256 of the partitions' own hashes, computed on the workers.
    """
    digests = _gather(client, parts, _digest)
    return {
        "n_rows": int(counts[:, -1, 0].sum()),
        "setting": setting,
        "source": described,
        "data_hash": hashlib.sha256(b"".join(digests)).hexdigest(),
        "events": {o: int(counts[:, k, 1].sum()) for k, o in enumerate(outcomes)},
    }


def _engine_record(n_workers: int, npartitions: int, asked_monotone_method: str) -> dict:
    """Return ``metadata_["dask"]``: cluster size and how Dask training differs."""
    return {
        "n_workers": n_workers,
        "npartitions": npartitions,
        "split_assignment": "seeded uniform draw per partition",
        "best_iteration_rule": (
            "lowest early-stopping-split log loss; boosting in blocks of "
            "early_stopping_rounds rounds (init_model) until the best round is that far "
            "behind"),
        "monotone_method": (
            f"basic (asked: {asked_monotone_method}); LightGBM's distributed learning "
            "supports only the basic method"),
    }


def _gather(client: Any, parts: list, func: Any, *args: Any) -> list:
    """Run ``func(partition, *args)`` on every partition and return the results in order."""
    import dask

    tasks = [dask.delayed(func)(p, *args) for p in parts]
    return client.compute(tasks, sync=True)


# ----------------------------------------------------------------- per-partition steps
def _prepare_partition(part: pd.DataFrame, *, setting: str, outcomes: Sequence[str],
                       seed: int, shares: Sequence[float],
                       partition_info: dict | None = None) -> pd.DataFrame:
    """Canonical records -> model matrix, outcome labels (0/1/NaN) and a split code."""
    from covid_risk.features.matrix import model_matrix
    from covid_risk.models._inputs import as_canonical

    number = int((partition_info or {}).get("number", 0))
    canonical = as_canonical(part.reset_index(drop=True))
    out = model_matrix(canonical, setting=setting)
    for o in outcomes:
        if o not in canonical.columns:
            raise ValueError(
                f"The cohort has no column {o!r}; training needs one boolean column per outcome. "
                "Pass outcomes=[...] to train on a subset."
            )
        out[o] = canonical[o].astype("boolean").to_numpy(dtype="float64", na_value=np.nan)
    u = np.random.default_rng(np.random.SeedSequence([seed, number])).random(len(out))
    cuts = np.cumsum(shares)[:2]
    out[SPLIT_COLUMN] = np.searchsorted(cuts, u, side="right").astype("int8")
    return out


def _prepared_meta(names: Sequence[str], outcomes: Sequence[str]) -> pd.DataFrame:
    """Empty frame with the prepared partitions' columns and dtypes (Dask ``meta``)."""
    cols = {n: pd.Series(dtype="float64") for n in (*names, *outcomes)}
    cols[SPLIT_COLUMN] = pd.Series(dtype="int8")
    return pd.DataFrame(cols)


def _counts(part: pd.DataFrame, outcomes: Sequence[str]) -> np.ndarray:
    """Per split (3) and outcome: rows with a label and events, as a (3, k + 1, 2) array.

    The last entry of the middle axis holds the split's row count (and 0).
    """
    out = np.zeros((3, len(outcomes) + 1, 2))
    split = part[SPLIT_COLUMN].to_numpy()
    for s in range(3):
        rows = split == s
        out[s, -1, 0] = rows.sum()
        for k, o in enumerate(outcomes):
            y = part[o].to_numpy()[rows]
            y = y[~np.isnan(y)]
            out[s, k] = (y.size, y.sum())
    return out


def _digest(part: pd.DataFrame) -> bytes:
    """SHA-256 of a prepared partition's values."""
    return hashlib.sha256(np.ascontiguousarray(
        part.to_numpy(dtype="float64", na_value=np.nan)).tobytes()).digest()


def _leaf_values(booster: Any) -> list[np.ndarray]:
    """Leaf outputs of every tree, indexed by leaf number."""
    out = []
    for tree in booster.dump_model()["tree_info"]:
        leaves: dict[int, float] = {}
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "leaf_value" in node:
                leaves[int(node.get("leaf_index", 0))] = float(node["leaf_value"])
            else:
                stack += [node["left_child"], node["right_child"]]
        values = np.zeros(max(leaves) + 1)
        for i, v in leaves.items():
            values[i] = v
        out.append(values)
    return out


def staged_log_loss(part: pd.DataFrame, model_text: str, names: Sequence[str],
                    outcome: str) -> np.ndarray:
    """Sum the log loss after each boosting round over the early-stopping rows here.

    Parameters
    ----------
    part : pandas.DataFrame
        A prepared partition (model matrix, labels and :data:`SPLIT_COLUMN`).
    model_text : str
        LightGBM model text of the booster so far.
    names : sequence of str
        Model-matrix columns, in order.
    outcome : str
        Label column.

    Returns
    -------
    ndarray
        Length ``n_trees + 1``: the summed losses after each round, then the row count.
    """
    import lightgbm as lgb

    booster = lgb.Booster(model_str=model_text)
    n_trees = booster.num_trees()
    rows = (part[SPLIT_COLUMN].to_numpy() == 1) & ~np.isnan(part[outcome].to_numpy())
    out = np.zeros(n_trees + 1)
    if not rows.any():
        return out
    X = part.loc[rows, list(names)].to_numpy(dtype="float64")
    y = part.loc[rows, outcome].to_numpy()
    leaf_values = _leaf_values(booster)
    block = max(1, 2_000_000 // max(n_trees, 1))
    for lo in range(0, X.shape[0], block):
        leaves = booster.predict(X[lo:lo + block], pred_leaf=True).reshape(-1, n_trees)
        contrib = np.column_stack([leaf_values[t][leaves[:, t]] for t in range(n_trees)])
        raw = np.cumsum(contrib, axis=1)
        yb = y[lo:lo + block, None]
        # log loss of sigmoid(raw): log(1 + exp(-raw)) for y=1, log(1 + exp(raw)) for y=0
        out[:n_trees] += np.logaddexp(0.0, np.where(yb == 1.0, -raw, raw)).sum(axis=0)
    out[n_trees] = rows.sum()
    return out


def _raw_scores(part: pd.DataFrame, texts: dict[str, str], names: Sequence[str],
                split: int) -> dict[str, np.ndarray]:
    """Raw log-odds and labels of one split of this partition, per outcome."""
    import lightgbm as lgb

    rows = part[SPLIT_COLUMN].to_numpy() == split
    X = part.loc[rows, list(names)].to_numpy(dtype="float64")
    out: dict[str, np.ndarray] = {}
    for o, text in texts.items():
        booster = lgb.Booster(model_str=text)
        out[f"raw:{o}"] = (booster.predict(X, raw_score=True, num_threads=1)
                           if X.shape[0] else np.zeros(0))
        out[f"y:{o}"] = part.loc[rows, o].to_numpy(dtype="float64")
    return out
