"""Dask engine: scoring a partitioned Parquet dataset across workers.

It needs the optional extra ``pip install 'covid-risk[dask]'``; Dask is imported
only when a function here is called.

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

Training
--------
Dask training lives with the model it fits, in
:mod:`covid_risk.models._dask_train` (``covid_risk.train(..., engine="dask")``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from covid_risk._dask_client import require_dask, resolve_client
from covid_risk._sources import parquet_files
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

__all__ = ["require_dask", "score_dask"]

_WORKER_MODELS: dict[str, Any] = {}
_WORKER_LOCK = threading.Lock()


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
    columns: Any, client: Any, progress: bool, spreadsheet_safe: bool = True,
) -> ScoreReport:
    """Score a Parquet file or folder across Dask workers (see :func:`covid_risk.score_file`)."""
    dd, _ = require_dask()
    start = time.perf_counter()
    client = resolve_client(client)
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
        top=top, id_column=id_column, units=units, columns=columns,
        spreadsheet_safe=spreadsheet_safe)
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

    parts = rejects.with_name(rejects.name + ".parts")
    for path in (dst, rejects, parts):  # the work folder of a killed run is ours too
        remove_stale_temps(path)
    tmp_out, tmp_rej, work = temp_path(dst), temp_path(rejects), temp_path(parts)
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
