"""Dask engine: scoring a partitioned Parquet dataset and training across workers.

Both need the optional extra ``pip install 'covid-risk[dask]'``; Dask is imported
only when one of these functions is called.

Scoring (:func:`score_dask`, reached through ``score_file(..., engine="dask")``)
--------------------------------------------------------------------------------
The source's Parquet footers are read on the client to list its row groups and
their row offsets (files in sorted path order). Each row group is cut into pieces
of at most ``chunk_rows`` rows and each piece becomes one partition of a
``dask.dataframe`` built with :func:`dask.dataframe.from_map`; its task reads its
rows of the row group with pyarrow (``iter_batches``), scores them with
the same :class:`~covid_risk.scoring._chunks.ChunkScorer` as the local engine and writes
``part-<n>.parquet`` with pyarrow, with exactly the local engine's schema, into a
temporary folder next to ``dst``. The results -- probabilities, bands, row numbers,
rejects and their reasons -- are therefore exactly those of ``engine="local"``, and
reading the folder (``pandas.read_parquet(dst)``) gives the local engine's table.
The partitions' counts come back to the client as a small dask DataFrame; the
folder is renamed onto ``dst`` only when every partition has been written, and
the rejects of each partition are joined, in row order, into the rejects CSV file.

The model never travels as a pickled object: its verified model-file bytes are
scattered once to every worker (``client.scatter(..., broadcast=True)``) and each
worker process builds the model from them with :func:`covid_risk.models.load`'s
loader the first time it needs it, then keeps it in a per-process cache keyed by
the bytes' SHA-256.

The client and the workers must see the same file system paths (as for any Dask
``read_parquet``/``to_parquet`` on local paths): a shared disk, or run the client
on a machine that mounts the same storage.

Training (:func:`train_dask`)
-----------------------------
The cohort (a Parquet file or folder, a Dask DataFrame or a pandas DataFrame) is
validated and turned into the model matrix partition by partition on the
workers and kept there (``persist``), so no single machine ever holds it all.
Rows are assigned to the boosting, early-stopping and calibration splits by a
seeded uniform draw per partition (shares as in ``RiskModel.split``). One
``lightgbm.dask.DaskLGBMClassifier`` per outcome is trained data-parallel with the
same LightGBM parameters as :class:`~covid_risk.models.RiskModel`. LightGBM's
Dask interface has no early stopping, so boosting runs in blocks of
``early_stopping_rounds`` rounds, each continuing the previous booster
(``init_model``); after each block the log loss of the early-stopping split after
every round is computed on the workers from the trees' leaf values, and boosting
stops once the best round is ``early_stopping_rounds`` behind (LightGBM's own
rule). The booster is cut at the best round. There is no refit on the boosting
and early-stopping rows together (``refit`` is recorded as ``False``).
LightGBM's distributed learning supports only the ``"basic"`` monotone-constraint
method, so the model's ``monotone_method`` is recorded as ``"basic"`` whatever was
asked (the local default is ``"intermediate"``, which allows slightly more flexible
trees under the same constraints).
The calibrator is fitted on the calibration split's raw log-odds with the same
:func:`covid_risk.models.fit_calibrator` as local training, and held-out metrics
are computed on the early-stopping split after calibration and coherence. The
result is an ordinary fitted :class:`~covid_risk.models.RiskModel` that saves,
loads and predicts like any other. Distributed histogram building and the
different split assignment mean its trees are not byte-identical to local
training on the same data; its discrimination is the same within noise.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from covid_risk.prediction import resolve_model
from covid_risk.scoring._chunks import (
    ChunkScorer,
    ScoreOptions,
    ScoreReport,
    SourcePlan,
    check_paths,
    default_rejects,
    memory_note,
    output_schema,
    parquet_files,
    peak_rss_mb,
    plan_columns,
    rechunk,
    rejects_columns,
    remove_path,
    remove_stale_temps,
    replace_into_place,
    resolve_options,
    source_names,
    temp_path,
    unknown_columns_warning,
    warn_summary,
)

__all__ = ["require_dask", "score_dask", "train_dask"]

INSTALL_HINT = "pip install 'covid-risk[dask]'"

_WORKER_MODELS: dict[str, Any] = {}
_WORKER_LOCK = threading.Lock()


def require_dask() -> tuple[Any, Any]:
    """Import and return ``(dask.dataframe, distributed)``, or say how to install them.

    Raises
    ------
    ImportError
        Naming ``pip install 'covid-risk[dask]'`` when Dask is not installed.
    """
    try:
        import dask.dataframe as dd
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"engine='dask' needs the optional Dask extra, which is not installed (missing "
            f"module {exc.name!r}). Install it with: {INSTALL_HINT}"
        ) from exc
    return dd, distributed


def _client(client: Any) -> Any:
    _, distributed = require_dask()
    if client is not None:
        if not isinstance(client, distributed.Client):
            raise TypeError(
                "client must be a dask.distributed.Client, e.g. "
                "Client('tcp://scheduler:8786'); got " + type(client).__name__ + "."
            )
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError(
            "engine='dask' needs a Dask client: pass client=Client('tcp://scheduler:8786') "
            "for an existing cluster, or client=Client(LocalCluster()) for this machine."
        ) from None


def _worker_model(blob: bytes, digest: str) -> Any:
    """Build (once per worker process) the model from its file bytes."""
    with _WORKER_LOCK:
        model = _WORKER_MODELS.get(digest)
        if model is None:
            from covid_risk.models._load import load_bytes

            if hashlib.sha256(blob).hexdigest() != digest:
                raise RuntimeError("the model bytes received by the worker are corrupted")
            model = load_bytes(blob, hmac_key=b"", source="The model sent to this worker")
            _WORKER_MODELS.clear()  # keep one model per process
            _WORKER_MODELS[digest] = model
        return model


# --------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------
def _pieces(src: Path, rows: int) -> list[tuple[int, str, int, int, int, int]]:
    """``(index, file, row_group, skip, first_row, n_rows)``: the source cut into partitions.

    Every row group is cut into pieces of at most ``rows`` rows (``skip`` rows into
    the row group), so even a file with one large row group is scored in parallel.
    """
    import pyarrow.parquet as pq

    out = []
    offset = 0
    for path in parquet_files(src):
        meta = pq.ParquetFile(path).metadata
        for rg in range(meta.num_row_groups):
            n = meta.row_group(rg).num_rows
            for skip in range(0, n, rows):
                take = min(rows, n - skip)
                out.append((len(out), str(path), rg, skip, offset + skip, take))
            offset += n
    return out


def _window(batches: Any, skip: int, take: int) -> Any:
    """Yield the rows ``skip`` to ``skip + take`` of a stream of record batches."""
    for batch in batches:
        if take <= 0:
            return
        if skip >= batch.num_rows:
            skip -= batch.num_rows
            continue
        part = batch.slice(skip, take)
        skip = 0
        take -= part.num_rows
        yield part


_STATS_META = pd.DataFrame({
    "read": pd.Series(dtype="int64"), "scored": pd.Series(dtype="int64"),
    "rejected": pd.Series(dtype="int64"), "reject_fields": pd.Series(dtype=object),
    "implausible": pd.Series(dtype=object),
})


def _score_piece(
    piece: tuple[int, str, int, int, int, int], *, blob: bytes, digest: str,
    options: ScoreOptions,
    plan: SourcePlan, id_type: pa.DataType | None, out: str, work: str, width: int,
) -> pd.DataFrame:
    """Score one piece of a row group on a worker; write results and rejects; return counts.

    The results go to ``out/part-<index>.parquet`` with exactly the schema of the
    local engine's output, the rejects (if any) to ``work/rejects-<index>.csv``.
    """
    import pyarrow.parquet as pq

    index, path, row_group, skip, first, n_rows = piece
    scorer = ChunkScorer(_worker_model(blob, digest), options, plan, id_type)
    pf = pq.ParquetFile(path)
    present = [c for c in plan.read if c in pf.schema_arrow.names]
    batches = pf.iter_batches(batch_size=min(options.chunk_rows, 65_536), row_groups=[row_group],
                              columns=present, use_pandas_metadata=False)
    rejects = []
    done = scored = 0
    reject_fields: Counter = Counter()
    implausible: Counter = Counter()
    target = Path(out) / f"part-{index:0{width}d}.parquet"
    with pq.ParquetWriter(target, scorer.schema) as writer:
        for table in rechunk(_window(batches, skip, n_rows), options.chunk_rows):
            result = scorer(table, first + done)
            done += result.n_read
            if result.scored.num_rows:
                writer.write_table(result.scored)
                scored += result.scored.num_rows
            if result.rejects is not None:
                rejects.append(result.rejects)
            reject_fields.update(result.reject_fields)
            implausible.update(result.implausible)
    n_rejected = 0
    if rejects:
        frame = pd.concat(rejects, ignore_index=True)
        n_rejected = len(frame)
        frame.reindex(columns=rejects_columns(plan, options)).to_csv(
            Path(work) / f"rejects-{index:0{width}d}.csv", index=False, header=False)
    return pd.DataFrame({
        "read": [done], "scored": [scored], "rejected": [n_rejected],
        "reject_fields": [json.dumps(dict(reject_fields))],
        "implausible": [json.dumps(dict(implausible))],
    }, index=[index])


def score_dask(
    src: Path, dst: Path, *, model: Any, setting: str, outcomes: Any, chunk_rows: int,
    explain: bool, top: int, rejects: Path | None, id_column: str | None, units: Any,
    columns: Any, client: Any, progress: bool,
) -> ScoreReport:
    """Score a Parquet file or folder across Dask workers (see :func:`covid_risk.score_file`)."""
    dd, _ = require_dask()
    start = time.perf_counter()
    client = _client(client)
    src, dst = Path(src), Path(dst)
    rejects = Path(rejects) if rejects is not None else default_rejects(dst)
    if not src.is_dir() and src.suffix.lower() not in (".parquet", ".pq"):
        raise ValueError(
            f"engine='dask' reads Parquet (a file or a folder of files); got {str(src)!r}. "
            "Convert CSV to Parquet first, or use engine='local', which streams CSV."
        )
    if dst.suffix.lower() == ".csv":
        raise ValueError(
            f"engine='dask' writes a folder of Parquet parts; dst {str(dst)!r} ends in .csv. "
            "Give a folder name such as 'risks.parquet' or 'risks/'."
        )
    check_paths(src, dst, rejects, dst_is_folder=True)
    if dst.exists() and not dst.is_dir():
        raise FileExistsError(
            f"dst {str(dst)!r} is an existing file; engine='dask' writes a folder. Remove it "
            "or choose another name."
        )
    resolved = resolve_model(model, setting)
    options = resolve_options(
        resolved, setting=setting, outcomes=outcomes, chunk_rows=chunk_rows, explain=explain,
        top=top, id_column=id_column, units=units, columns=columns)
    names, _n_rows, types = source_names(src, "parquet")
    plan = plan_columns(names, options)

    unknown_columns_warning(plan, stacklevel=4)
    id_type = types.get(id_column) if id_column is not None else None
    if id_type is not None and pa.types.is_dictionary(id_type):
        id_type = id_type.value_type
    schema = output_schema(options, id_type)
    pieces = _pieces(src, options.chunk_rows)
    blob = resolved.to_bytes(hmac_key=b"")
    digest = hashlib.sha256(blob).hexdigest()

    for path in (dst, rejects):
        remove_stale_temps(path)
    tmp_out, tmp_rej, work = temp_path(dst), temp_path(rejects), temp_path(rejects.with_name(
        rejects.name + ".parts"))
    from covid_risk.progress import stage

    width = max(5, len(str(len(pieces))))
    try:
        work.mkdir()
        tmp_out.mkdir()
        if pieces:
            shared = client.scatter(blob, broadcast=True, hash=True)
            frame = dd.from_map(
                _score_piece, pieces, blob=shared, digest=digest, options=options, plan=plan,
                id_type=id_type, out=str(tmp_out), work=str(work), width=width,
                meta=_STATS_META, enforce_metadata=False, label="covid-risk-score",
            )
            with stage(f"scoring {len(pieces)} partitions on Dask", quiet=not progress):
                stats = client.compute(frame).result().sort_index()
        else:  # an empty source: one empty part with the output schema
            import pyarrow.parquet as pq

            pq.write_table(schema.empty_table(), tmp_out / f"part-{0:0{width}d}.parquet")
            stats = _STATS_META
        reject_fields: Counter = Counter()
        implausible: Counter = Counter()
        for text in stats["reject_fields"]:
            reject_fields.update(json.loads(text))
        for text in stats["implausible"]:
            implausible.update(json.loads(text))
        totals = {k: int(stats[k].sum()) for k in ("read", "scored", "rejected")}
        with open(tmp_rej, "w", encoding="utf-8", newline="") as fh:
            pd.DataFrame(columns=rejects_columns(plan, options)).to_csv(fh, index=False)
            for index, *_ in pieces:
                part = work / f"rejects-{index:0{width}d}.csv"
                if part.exists():
                    fh.write(part.read_text("utf-8"))
        expected = sum(p[5] for p in pieces)
        if totals["read"] != expected or totals["scored"] + totals["rejected"] != expected:
            raise RuntimeError(  # pragma: no cover - an invariant, not an input error
                f"internal error: {expected} rows in the source but {totals} were accounted for")
        os.replace(tmp_rej, rejects)
        replace_into_place(tmp_out, dst)
    except BaseException:
        remove_path(tmp_out)
        remove_path(tmp_rej)
        raise
    finally:
        remove_path(work)
    n_workers = len(client.scheduler_info().get("workers", {}))
    report = ScoreReport(
        source=str(src), destination=str(dst), rejects=str(rejects), engine="dask",
        outcomes=options.outcomes, rows_read=totals["read"], rows_scored=totals["scored"],
        rows_rejected=totals["rejected"], chunks=len(pieces), chunk_rows=options.chunk_rows,
        seconds=time.perf_counter() - start, peak_rss_mb=peak_rss_mb(),
        memory_note=memory_note(options.chunk_rows, len(plan.read), engine="dask")
        + f" ({n_workers} workers; peak_rss_mb is the client process)",
        reject_fields=dict(sorted(reject_fields.items(), key=lambda kv: (-kv[1], kv[0]))),
        implausible=dict(sorted(implausible.items(), key=lambda kv: (-kv[1], kv[0]))),
        ignored_columns=plan.ignored,
    )
    warn_summary(report, stacklevel=4)
    return report


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------
_SPLIT = "__split__"
_SKLEARN_NAMES = {
    "min_data_in_leaf": "min_child_samples",
    "lambda_l2": "reg_lambda",
    "feature_fraction": "colsample_bytree",
    "bagging_fraction": "subsample",
    "bagging_freq": "subsample_freq",
    "seed": "random_state",
}


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
    out[_SPLIT] = np.searchsorted(cuts, u, side="right").astype("int8")
    return out


def _prepared_meta(names: Sequence[str], outcomes: Sequence[str]) -> pd.DataFrame:
    cols = {n: pd.Series(dtype="float64") for n in (*names, *outcomes)}
    cols[_SPLIT] = pd.Series(dtype="int8")
    return pd.DataFrame(cols)


def _counts(part: pd.DataFrame, outcomes: Sequence[str]) -> np.ndarray:
    """Per split (3) and outcome: rows with a label and events, as a (3, k + 1, 2) array.

    The last entry of the middle axis holds the split's row count (and 0).
    """
    out = np.zeros((3, len(outcomes) + 1, 2))
    split = part[_SPLIT].to_numpy()
    for s in range(3):
        rows = split == s
        out[s, -1, 0] = rows.sum()
        for k, o in enumerate(outcomes):
            y = part[o].to_numpy()[rows]
            y = y[~np.isnan(y)]
            out[s, k] = (y.size, y.sum())
    return out


def _digest(part: pd.DataFrame) -> bytes:
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


def _staged_log_loss(part: pd.DataFrame, model_text: str, names: Sequence[str],
                     outcome: str) -> np.ndarray:
    """Sum the log loss after each boosting round over the early-stopping rows here.

    Returns an array of length ``n_trees + 1``: the summed losses, then the row count.
    """
    import lightgbm as lgb

    booster = lgb.Booster(model_str=model_text)
    n_trees = booster.num_trees()
    rows = (part[_SPLIT].to_numpy() == 1) & ~np.isnan(part[outcome].to_numpy())
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


def _boost_with_early_stopping(
    client: Any, X: Any, y: Any, parts: list, names: Sequence[str], outcome: str,
    kwargs: dict, *, n_estimators: int, early_stopping_rounds: int,
) -> tuple[Any, int]:
    """Boost on the workers in blocks of rounds until the early-stopping loss stops improving.

    LightGBM's Dask interface cannot stop early, so boosting runs in blocks of
    ``early_stopping_rounds`` rounds, each continuing the previous booster
    (``init_model``); after each block the early-stopping split's log loss after
    every round is computed on the workers (:func:`_staged_log_loss`). Boosting
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
        staged = np.sum(_gather(client, parts, _staged_log_loss, booster.model_to_string(),
                                names, outcome), axis=0)
        best = int(np.argmin(staged[:-1] / max(staged[-1], 1.0))) + 1
        if total - best >= early_stopping_rounds:
            break
    return booster, best


def _raw_scores(part: pd.DataFrame, texts: dict[str, str], names: Sequence[str],
                split: int) -> dict[str, np.ndarray]:
    """Raw log-odds and labels of one split of this partition, per outcome."""
    import lightgbm as lgb

    rows = part[_SPLIT].to_numpy() == split
    X = part.loc[rows, list(names)].to_numpy(dtype="float64")
    out: dict[str, np.ndarray] = {}
    for o, text in texts.items():
        booster = lgb.Booster(model_str=text)
        out[f"raw:{o}"] = (booster.predict(X, raw_score=True, num_threads=1)
                           if X.shape[0] else np.zeros(0))
        out[f"y:{o}"] = part.loc[rows, o].to_numpy(dtype="float64")
    return out


def _gather(client: Any, parts: list, func: Any, *args: Any) -> list:
    import dask

    tasks = [dask.delayed(func)(p, *args) for p in parts]
    return client.compute(tasks, sync=True)


def _training_frame(data: Any, n_workers: int) -> tuple[Any, str]:
    dd, _ = require_dask()
    if isinstance(data, dd.DataFrame):
        return data, "dask DataFrame"
    if isinstance(data, pd.DataFrame):
        return dd.from_pandas(data, npartitions=max(2, n_workers)), "pandas DataFrame"
    if isinstance(data, (str, os.PathLike)):
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


def train_dask(
    cohort_or_path: Any,
    *,
    client: Any = None,
    setting: str = "admission",
    outcomes: Sequence[str] | None = None,
    random_state: int | None = None,
    **options: Any,
) -> Any:
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
    import inspect

    require_dask()
    import lightgbm as lgb

    from covid_risk import __version__
    from covid_risk.features.matrix import feature_names, matrix_spec, monotone_constraints
    from covid_risk.models._calibration import fit_calibrator
    from covid_risk.models._lgbm import booster_params
    from covid_risk.models._risk_model import (
        RiskModel,
        _jsonable,
        _metrics,
        _outcome_seed,
        _resolve_created,
        apply_coherence,
    )
    from covid_risk.schema import schema_hash

    allowed = set(inspect.signature(RiskModel).parameters) - {"setting", "outcomes",
                                                               "random_state"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise TypeError(
            f"train_dask() got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"allowed options: {', '.join(sorted(allowed))}."
        )
    client = _client(client)
    model = RiskModel(setting=setting, outcomes=outcomes, random_state=random_state, **options)
    wanted = model._check_settings()
    seed = (int(np.random.SeedSequence().entropy % (2**31 - 1)) if random_state is None
            else int(random_state))
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    raw_frame, described = _training_frame(cohort_or_path, n_workers)
    names = list(feature_names(setting))
    shares = [float(s) for s in model.split]
    prepared = raw_frame.map_partitions(
        _prepare_partition, setting=setting, outcomes=list(wanted), seed=seed, shares=shares,
        meta=_prepared_meta(names, wanted), enforce_metadata=False,
    )
    prepared = client.persist(prepared)
    parts = prepared.to_delayed()
    counts = np.sum(_gather(client, parts, _counts, list(wanted)), axis=0)
    n_rows = int(counts[:, -1, 0].sum())
    split_names = ("boosting", "early_stopping", "calibration")
    for k, o in enumerate(wanted):
        labelled = int(counts[:, k, 0].sum())
        if labelled < 100:
            raise ValueError(f"Training needs at least 100 patients with {o!r}; got {labelled}.")
        for s, split_name in enumerate(split_names):
            n, events = counts[s, k]
            if events == 0 or events == n:
                raise ValueError(
                    f"Outcome {o!r} has only one class in the {split_name} split "
                    f"({int(n)} rows, {int(events)} events); use a larger cohort."
                )
    digests = _gather(client, parts, _digest)

    boosters: dict[str, lgb.Booster] = {}
    best: dict[str, int] = {}
    calibrators: dict = {}
    calibration_info: dict = {}
    texts: dict[str, str] = {}
    params_of = inspect.signature(booster_params).parameters
    for o in wanted:
        settings = {k: getattr(model, k) for k in params_of
                    if k not in ("monotone", "seed") and hasattr(model, k)}
        params = booster_params(
            **settings, monotone=monotone_constraints(setting, o, enabled=model.monotone),
            seed=_outcome_seed(seed, o))
        # lightgbm.dask sets each worker's threads itself (it ignores n_jobs)
        kwargs = {_SKLEARN_NAMES.get(k, k): v for k, v in params.items() if k != "num_threads"}
        rows = (prepared[_SPLIT] == 0) & prepared[o].notnull()
        X_fit, y_fit = prepared.loc[rows, names], prepared.loc[rows, o].astype("int8")
        full, best[o] = _boost_with_early_stopping(
            client, X_fit, y_fit, parts, names, o, kwargs,
            n_estimators=int(model.n_estimators),
            early_stopping_rounds=int(model.early_stopping_rounds))
        texts[o] = full.model_to_string(num_iteration=best[o])
        boosters[o] = lgb.Booster(model_str=texts[o])
    # calibration split: raw log-odds to the client (two floats per row and outcome)
    calibrator_params = inspect.signature(fit_calibrator).parameters
    cal = _gather(client, parts, _raw_scores, texts, names, 2)
    for o in wanted:
        raw = np.concatenate([c[f"raw:{o}"] for c in cal])
        y = np.concatenate([c[f"y:{o}"] for c in cal])
        keep = ~np.isnan(y)
        extra = ({"prior_sd": model.calibration_prior_sd}
                 if "prior_sd" in calibrator_params and hasattr(model, "calibration_prior_sd")
                 else {})
        calibrators[o], calibration_info[o] = fit_calibrator(
            raw[keep], y[keep], method=model.calibration, random_state=seed, **extra)
    # held-out metrics on the early-stopping split, after calibration and coherence
    stop = _gather(client, parts, _raw_scores, texts, names, 1)
    raw_stop = {o: np.concatenate([c[f"raw:{o}"] for c in stop]) for o in wanted}
    y_stop = {o: np.concatenate([c[f"y:{o}"] for c in stop]) for o in wanted}
    p_stop = apply_coherence({o: calibrators[o].transform(raw_stop[o]) for o in wanted})
    metrics = {}
    for o in wanted:
        keep = ~np.isnan(y_stop[o])
        metrics[o] = _metrics(y_stop[o][keep], raw_stop[o][keep], p_stop[o][keep])

    # LightGBM's distributed learning supports only the "basic" monotone method and
    # switches to it by itself; record what the boosters were really trained with.
    asked_monotone_method = model.monotone_method
    model.set_params(monotone_method="basic")
    if "refit" in model.get_params():
        model.set_params(refit=False)
    model.outcomes_ = wanted
    model.boosters_ = boosters
    model.calibrators_ = calibrators
    model.feature_names_ = tuple(names)
    model.version_ = __version__
    digest = hashlib.sha256(b"".join(digests)).hexdigest()
    params_meta = _jsonable(model.get_params())
    params_meta["random_state"] = seed
    params_meta["created"] = None
    model.metadata_ = {
        "library": "covid_risk",
        "library_version": __version__,
        "lightgbm_version": lgb.__version__,
        "schema_hash": schema_hash(),
        "setting": setting,
        "outcomes": list(wanted),
        "created": _resolve_created(model.created, pd.DataFrame()),
        "training_cohort": {
            "n_rows": n_rows,
            "setting": setting,
            "source": described,
            "data_hash": digest,
            "events": {o: int(counts[:, k, 1].sum()) for k, o in enumerate(wanted)},
        },
        "splits": {name: int(counts[s, -1, 0]) for s, name in enumerate(split_names)},
        "random_state": seed,
        "params": params_meta,
        "monotone": matrix_spec(setting)["monotone"] if model.monotone else {},
        "best_iteration": best,
        "calibration": calibration_info,
        "coherence": "icu = max(icu, imv); deterioration = max(deterioration, death, icu, imv)",
        "metrics_split": "early_stopping (also used to choose the number of rounds)",
        "metrics": metrics,
        "engine": "dask",
        "dask": {
            "n_workers": n_workers,
            "npartitions": int(prepared.npartitions),
            "split_assignment": "seeded uniform draw per partition",
            "best_iteration_rule": (
                "lowest early-stopping-split log loss; boosting in blocks of "
                "early_stopping_rounds rounds (init_model) until the best round is that far "
                "behind"),
            "monotone_method": (
                f"basic (asked: {asked_monotone_method}); LightGBM's distributed learning "
                "supports only the basic method"),
        },
    }
    model.held_out_ = pd.DataFrame.from_dict(metrics, orient="index")
    client.cancel(prepared)
    return model
