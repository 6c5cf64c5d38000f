"""Streaming batch scoring of Parquet or CSV files of any size, with bounded memory.

:func:`score_file` scores a whole population file chunk by chunk:

1. **Read** ``chunk_rows`` rows at a time with pyarrow
   (``ParquetFile.iter_batches`` for Parquet, the streaming ``pyarrow.csv.open_csv``
   reader for CSV). Only the columns the model needs (the setting's predictors,
   after ``columns=`` renaming) and the id column are read. CSV cells are read as
   text -- never with per-block type inference, which can disagree between blocks
   -- and numeric columns that parse cleanly are converted with one vectorised
   cast; anything else is left to :func:`covid_risk.validate` to parse or reject.
2. **Validate** each chunk with :func:`covid_risk.validate`. Rows with impossible
   values (out of hard limits, not a number, unknown category, missing age or sex,
   ...) are written to a *rejects file* with their source row number, the fields
   at fault and validate's message, and the rest of the chunk is scored. Nothing
   is dropped silently: :class:`ScoreReport` counts the rows read, scored and
   rejected (and ``rows_read == rows_scored + rows_rejected`` always). Problems
   with the file as a whole (a required column absent, a duplicated column, an
   unknown unit) stop the run with a :class:`~covid_risk.exceptions.ValidationError`
   before anything is written.
3. **Score** with :meth:`RiskModel.predict_proba` (and, with ``explain=True``,
   :func:`covid_risk.explain` for the top factors), exactly as
   :func:`covid_risk.predict_risk` does for a DataFrame.
4. **Write** the results incrementally (``pyarrow.parquet.ParquetWriter`` or
   ``pyarrow.csv.CSVWriter``) to a temporary file next to the destination,
   ``<dst>.tmp-<pid>-covid-risk-<random><check>`` (the check digits, a hash of
   the name, process id and random part, mark it as ours), which is renamed onto ``dst`` with
   :func:`os.replace` only when every chunk has been written (the rejects file
   likewise, just before). A run that fails or is killed therefore never leaves a
   file named ``dst`` that looks complete; on an exception the temporary files are
   removed, and temporary files left by a killed process (whose process id no
   longer exists) are removed by the next run for the same destination -- only
   names whose check digits verify and that this user owns, so a user's file
   named like a temporary file is never touched. A rerun simply redoes the work.

Names that cannot collide
-------------------------
The rejects file defaults to the *full* output name plus ``.rejects.csv``
(``out.csv.rejects.csv``, ``out.parquet.rejects.csv``), so two outputs never
share one. An ``id_column`` named like an output column (``row``, ``fields``,
``reason``, any outcome of the setting or its ``_band``/``_factors`` column) is
refused, as is an output or rejects path inside a source folder (the next run
would read it as input).

Spreadsheet-safe CSV
--------------------
CSV outputs and rejects files are opened in spreadsheets, which run a cell that
starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return as a formula
(CSV injection: an id such as ``=HYPERLINK(...)``). By default
(``spreadsheet_safe=True``) such *text* cells get a leading apostrophe (the
OWASP rule), which spreadsheets display as text; numbers are never changed.
Pass ``spreadsheet_safe=False`` when the CSV is read by programs only, to keep
every text cell exactly as read. Parquet outputs are never changed.

Output
------
One row per scored input row, in input order: the id column (``id_column=``,
with its values and type as read) or ``row`` (the 0-based row number in the
source file), then for every outcome its calibrated probability (``<outcome>``,
float64) and risk band (``<outcome>_band``; see :data:`covid_risk.labels.RISK_BANDS`),
and with ``explain=True`` the top factors as text (``<outcome>_factors``, the
same text as :func:`covid_risk.predict_risk` gives for a DataFrame).

Memory bound
------------
One chunk is in memory at a time, and Parquet is read with a fresh reader per row
group (one reader for a whole file keeps every row group's pre-buffered bytes), so
peak memory is ``baseline + O(chunk_rows x columns)``, independent of the file's
length. Measured with the bundled admission model (``benchmarks/bench_batch.py``,
results in ``benchmarks/results/bench_batch.md``): the baseline (interpreter,
libraries, model) is about 240 MB; with the default ``chunk_rows=100_000`` a
5,000,000-row file peaked at 555 MB (about 3.2 kB per row of chunk) and the
resident size after each of its 50 chunks stayed between 385 and 442 MB;
``chunk_rows=25_000`` peaked at 390 MB.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from covid_risk.prediction import resolve_model
from covid_risk.progress import Progress
from covid_risk.scoring._chunks import (
    ENGINES,
    ChunkScorer,
    RejectsSink,
    ScoreReport,
    TableSink,
    check_paths,
    default_rejects,
    iter_chunks,
    memory_note,
    peak_rss_mb,
    plan_columns,
    readable,
    rejects_columns,
    remove_path,
    remove_stale_temps,
    resolve_options,
    source_names,
    table_format,
    temp_path,
    unknown_columns_warning,
    warn_summary,
)

__all__ = ["score_file"]

# --------------------------------------------------------------------------------------
# the public entry point
# --------------------------------------------------------------------------------------
def score_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    model: Any = None,
    setting: str = "admission",
    outcomes: str | Sequence[str] | None = None,
    chunk_rows: int = 100_000,
    explain: bool = False,
    top: int = 3,
    rejects: str | os.PathLike | None = None,
    id_column: str | None = None,
    units: Mapping[str, str] | None = None,
    columns: Mapping[str, str] | None = None,
    engine: str = "local",
    client: Any = None,
    progress: bool = True,
    spreadsheet_safe: bool = True,
) -> ScoreReport:
    """Score a Parquet or CSV file of any size, chunk by chunk, with bounded memory.

    Parameters
    ----------
    src : str or path-like
        Patients, one row per patient: a ``.parquet``/``.pq`` or ``.csv`` file, or
        a folder of Parquet files (read in sorted path order). Column names are
        canonical field names (see :func:`covid_risk.field_table`) unless mapped
        with ``columns=``; columns the model does not use are not read.
    dst : str or path-like
        Results file, ``.parquet``/``.pq`` or ``.csv`` by extension. With
        ``engine="dask"``, a folder of Parquet parts (``part-00000.parquet``, ...).
        Written under a temporary name and renamed into place only when complete.
    model : RiskModel, str or path, optional
        A fitted model or a model file. Default: the bundled model of ``setting``.
    setting : {"admission", "community"}, default="admission"
        Clinical setting; must match the model's.
    outcomes : str or sequence of str, optional
        Only these outcomes (default: every outcome of the model).
    chunk_rows : int, default=100_000
        Rows per chunk; peak memory grows with it (see the module's notes).
    explain : bool, default=False
        Also write the top factors of each prediction (``<outcome>_factors``).
        Much slower than scoring alone.
    top : int, default=3
        Factors per direction with ``explain=True``.
    rejects : str or path-like, optional
        CSV file for rejected rows (default: the full name of ``dst`` followed by
        ``.rejects.csv``, e.g. ``out.csv.rejects.csv``). Always written, with only
        its header when nothing was rejected.
    id_column : str, optional
        Source column copied, untouched, to the output as the row identifier
        (with its Parquet type; from CSV it stays text, leading zeros included).
        Default: a ``row`` column with the 0-based row number in the source. A
        name already taken by an output column (``row``, ``fields``, ``reason``, an
        outcome or its ``_band``/``_factors`` column) is refused.
    units : dict of str to str, optional
        Field -> unit of its values, as for :func:`covid_risk.validate`.
    columns : dict of str to str, optional
        Source column -> field name, as for :func:`covid_risk.validate`.
    engine : {"local", "dask"}, default="local"
        ``"dask"`` scores a Parquet file or folder across the workers of
        ``client``, one partition per ``chunk_rows`` rows of each Parquet row group (needs
        ``pip install 'covid-risk[dask]'``; see :mod:`covid_risk.scoring._dask`). Its
        output is identical, row for row, to ``"local"``'s.
    client : dask.distributed.Client, optional
        The Dask client for ``engine="dask"`` (default: the current client).
    progress : bool, default=True
        Draw a progress line on standard error (only when it is a terminal).
    spreadsheet_safe : bool, default=True
        In CSV outputs and the rejects file, prefix ``'`` to text cells starting
        with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, so that a
        spreadsheet shows them instead of running them as formulas (OWASP CSV
        injection). ``False`` writes text exactly as read, for machine readers.

    Returns
    -------
    ScoreReport
        Counts of rows read, scored and rejected, chunks, time, peak memory and
        paths.

    Raises
    ------
    ValidationError
        For problems with the file as a whole (a required column absent, a column
        twice, an unknown unit, an unreadable CSV line, named by its number), an
        id column named like an output column, or an output inside the source
        folder. Row-level problems never raise: those rows go to the rejects file
        and a :class:`~covid_risk.exceptions.DataQualityWarning` gives the counts.
    FileNotFoundError
        If ``src`` or the folder of ``dst`` does not exist.

    Examples
    --------
    >>> import covid_risk as cr  # doctest: +SKIP
    >>> report = cr.score_file("patients.parquet", "risks.parquet",
    ...                        id_column="patient_id")  # doctest: +SKIP
    >>> report  # doctest: +SKIP
    ScoreReport(1,000,000 rows read: 999,812 scored, 188 rejected; 10 chunks in 61.2 s -> ...)
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}; got {engine!r}.")
    if engine == "local" and client is not None:
        raise ValueError("client= is only used with engine='dask'; pass engine='dask' too.")
    src, dst = Path(src), Path(dst)
    rejects_path = Path(rejects) if rejects is not None else default_rejects(dst)
    if engine == "dask":
        from covid_risk.scoring._dask import score_dask  # optional extra: dask

        return score_dask(
            src, dst, model=model, setting=setting, outcomes=outcomes, chunk_rows=chunk_rows,
            explain=explain, top=top, rejects=rejects_path, id_column=id_column, units=units,
            columns=columns, client=client, progress=progress,
            spreadsheet_safe=spreadsheet_safe,
        )
    return _score_local(
        src, dst, rejects_path, model=model, setting=setting, outcomes=outcomes,
        chunk_rows=chunk_rows, explain=explain, top=top, id_column=id_column, units=units,
        columns=columns, progress=progress, spreadsheet_safe=spreadsheet_safe,
    )


def _score_local(
    src: Path, dst: Path, rejects: Path, *, model: Any, setting: str,
    outcomes: str | Sequence[str] | None, chunk_rows: int, explain: bool, top: int,
    id_column: str | None, units: Mapping[str, str] | None,
    columns: Mapping[str, str] | None, progress: bool,
    on_chunk: Callable[[int], None] | None = None, spreadsheet_safe: bool = True,
) -> ScoreReport:
    start = time.perf_counter()
    fmt_out = table_format(dst, role="dst")
    check_paths(src, dst, rejects)
    fmt_in = "parquet" if src.is_dir() else table_format(src, role="source")
    resolved = resolve_model(model, setting)
    options = resolve_options(
        resolved, setting=setting, outcomes=outcomes, chunk_rows=chunk_rows, explain=explain,
        top=top, id_column=id_column, units=units, columns=columns,
        spreadsheet_safe=spreadsheet_safe)
    with readable(src, fmt_in):
        names, n_rows, types = source_names(src, fmt_in)
    plan = plan_columns(names, options)
    unknown_columns_warning(plan, stacklevel=3)
    id_type = types.get(id_column) if id_column is not None else None
    if id_type is not None and pa.types.is_dictionary(id_type):
        id_type = id_type.value_type
    scorer = ChunkScorer(resolved, options, plan, id_type)

    for path in (dst, rejects):
        remove_stale_temps(path)
    tmp_out, tmp_rej = temp_path(dst), temp_path(rejects)
    sink: TableSink | None = None
    rej: RejectsSink | None = None

    n_read = chunks = 0
    reject_fields: Counter = Counter()
    implausible: Counter = Counter()
    try:
        sink = TableSink(tmp_out, fmt_out, scorer.schema,
                         spreadsheet_safe=options.spreadsheet_safe)
        rej = RejectsSink(tmp_rej, rejects_columns(plan, options))
        with Progress(n_rows, desc="rows scored", quiet=not progress) as bar:
            for table in iter_chunks(src, fmt_in, plan.read, options.chunk_rows):
                result = scorer(table, n_read)
                sink.write(result.scored)
                rej.write(result.rejects)
                n_read += result.n_read
                chunks += 1
                reject_fields.update(result.reject_fields)
                implausible.update(result.implausible)
                bar.update(result.n_read)
                if on_chunk is not None:
                    on_chunk(chunks)
        sink.close()
        rej.close()
        if sink.rows + rej.rows != n_read:  # pragma: no cover - an invariant, not an input error
            raise RuntimeError(
                f"internal error: {n_read} rows read but {sink.rows} scored + {rej.rows} rejected")
        os.replace(tmp_rej, rejects)
        os.replace(tmp_out, dst)
    except BaseException:
        for closer in (sink, rej):
            if closer is not None:
                with contextlib.suppress(Exception):
                    closer.close()
        remove_path(tmp_out)
        remove_path(tmp_rej)
        raise
    report = ScoreReport(
        source=str(src), destination=str(dst), rejects=str(rejects), engine="local",
        outcomes=options.outcomes, rows_read=n_read, rows_scored=sink.rows,
        rows_rejected=rej.rows, chunks=chunks, chunk_rows=options.chunk_rows,
        seconds=time.perf_counter() - start, peak_rss_mb=peak_rss_mb(),
        memory_note=memory_note(options.chunk_rows, len(plan.read)),
        reject_fields=dict(sorted(reject_fields.items(), key=lambda kv: (-kv[1], kv[0]))),
        implausible=dict(sorted(implausible.items(), key=lambda kv: (-kv[1], kv[0]))),
        ignored_columns=plan.ignored,
    )
    warn_summary(report)
    return report


