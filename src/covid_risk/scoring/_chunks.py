"""The parts of streaming batch scoring: reading, validating, scoring and writing chunks.

:func:`covid_risk.scoring.score_file` (local) and the Dask engine
(:mod:`covid_risk.scoring._dask`) are both built from these pieces: the plan of
which source columns to read, the chunk readers, :class:`ChunkScorer` (validate,
predict, explain one chunk), the output and rejects sinks, and the temp-file
discipline that never leaves a partial output behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import sys
import warnings
from collections import Counter
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from covid_risk._sources import parquet_files
from covid_risk.exceptions import DataQualityWarning, Problem, ValidationError
from covid_risk.explanation import explain, rank_factors
from covid_risk.labels import describe, risk_bands
from covid_risk.schema import (
    ADMISSION_PREDICTORS,
    COMMUNITY_PREDICTORS,
    FIELDS,
    SETTINGS,
)
from covid_risk.validation import validate

__all__ = [
    "ENGINES",
    "TABLE_FORMATS",
    "ChunkScorer",
    "RejectsSink",
    "ScoreOptions",
    "ScoreReport",
    "SourcePlan",
    "TableSink",
    "FORMULA_PREFIXES",
    "check_names",
    "check_paths",
    "default_rejects",
    "iter_chunks",
    "memory_note",
    "neutralise_formulas",
    "output_schema",
    "peak_rss_mb",
    "plan_columns",
    "readable",
    "rechunk",
    "rejects_columns",
    "remove_path",
    "remove_stale_temps",
    "replace_into_place",
    "resolve_options",
    "source_names",
    "table_format",
    "temp_path",
    "unknown_columns_warning",
    "warn_summary",
]

TABLE_FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
"""File extension -> table format, for sources, destinations and rejects files."""

ENGINES: tuple[str, ...] = ("local", "dask")
"""Accepted values of ``engine=``."""

_SETTING_PREDICTORS: dict[str, tuple[str, ...]] = {
    "community": COMMUNITY_PREDICTORS,
    "admission": ADMISSION_PREDICTORS,
}
_TMP_MARK = ".tmp-"
_TMP_TAG = "covid-risk-"
FORMULA_PREFIXES: str = "=+-@\t\r"
"""Leading characters that make a spreadsheet read a CSV cell as a formula (OWASP)."""
_FORMULA_RE = "^([=+\\-@\t\r])"
_ROW = "row"
_CSV_NULLS = [""]  # only an empty CSV cell is read as missing; validate parses the rest


# --------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreReport:
    """What a :func:`score_file` run did.

    Attributes
    ----------
    source : str
        The file (or folder of Parquet files) scored.
    destination : str
        Where the results are (a file; a folder of Parquet parts for ``engine="dask"``).
    rejects : str
        The CSV file listing every rejected row with the reason (always written,
        header only when no row was rejected).
    engine : str
        ``"local"`` or ``"dask"``.
    outcomes : tuple of str
        Outcomes scored.
    rows_read : int
        Data rows read from the source.
    rows_scored : int
        Rows written to ``destination``.
    rows_rejected : int
        Rows written to ``rejects``; ``rows_read == rows_scored + rows_rejected``.
    chunks : int
        Chunks (local) or partitions (Dask) processed.
    chunk_rows : int
        Most rows per chunk.
    seconds : float
        Wall-clock time of the run.
    peak_rss_mb : float or None
        Peak resident memory of this process in MB (its high-water mark, so it
        includes anything the process did before the call); ``None`` where the
        platform does not report it. For ``engine="dask"`` the work happens in the
        workers, not in this process.
    memory_note : str
        The memory bound of the run in words.
    reject_fields : dict of str to int
        Field -> number of rejected rows with a problem in that field.
    implausible : dict of str to int
        Field -> number of implausible values that were kept, flagged and scored.
    ignored_columns : tuple of str
        Source columns not read because the model does not use them.
    """

    source: str
    destination: str
    rejects: str
    engine: str
    outcomes: tuple[str, ...]
    rows_read: int
    rows_scored: int
    rows_rejected: int
    chunks: int
    chunk_rows: int
    seconds: float
    peak_rss_mb: float | None
    memory_note: str
    reject_fields: dict[str, int] = field(default_factory=dict)
    implausible: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()

    @property
    def rows_per_second(self) -> float:
        """Rows read per second of wall-clock time."""
        return self.rows_read / self.seconds if self.seconds > 0 else float("nan")

    def __repr__(self) -> str:
        return (
            f"ScoreReport({self.rows_read:,} rows read: {self.rows_scored:,} scored, "
            f"{self.rows_rejected:,} rejected; {self.chunks} "
            f"{'partitions' if self.engine == 'dask' else 'chunks'} in {self.seconds:.1f} s "
            f"-> {Path(self.destination).name})"
        )

    @property
    def summary(self) -> pd.DataFrame:
        """The run as a two-column table (``item``, ``value``) for notebooks and logs."""
        items: list[tuple[str, Any]] = [
            ("source", self.source),
            ("destination", self.destination),
            ("rejects file", self.rejects),
            ("engine", self.engine),
            ("outcomes", ", ".join(self.outcomes)),
            ("rows read", self.rows_read),
            ("rows scored", self.rows_scored),
            ("rows rejected", self.rows_rejected),
            ("chunks", self.chunks),
            ("chunk rows", self.chunk_rows),
            ("seconds", round(self.seconds, 2)),
            ("rows per second", round(self.rows_per_second, 1)),
            ("peak RSS (MB)", None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1)),
            ("memory", self.memory_note),
            ("rejected by field", _counts_text(self.reject_fields)),
            ("implausible kept", _counts_text(self.implausible)),
            ("ignored columns", ", ".join(self.ignored_columns)),
        ]
        return pd.DataFrame(items, columns=["item", "value"])

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-able types."""
        return {
            "source": self.source,
            "destination": self.destination,
            "rejects": self.rejects,
            "engine": self.engine,
            "outcomes": list(self.outcomes),
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_rejected": self.rows_rejected,
            "chunks": self.chunks,
            "chunk_rows": self.chunk_rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second, 1),
            "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1),
            "memory_note": self.memory_note,
            "reject_fields": dict(self.reject_fields),
            "implausible": dict(self.implausible),
            "ignored_columns": list(self.ignored_columns),
        }


def _counts_text(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in counts.items())


def peak_rss_mb() -> float | None:
    """Return this process's peak resident memory in MB (``None`` if unknown).

    On Linux this is ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` would also count
    the memory of the parent at the moment it started this process (the high-water mark
    survives ``exec``), so a scorer started from a large process would report the
    parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):  # not Linux
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 ** 2 if sys.platform == "darwin" else peak / 1024.0


# --------------------------------------------------------------------------------------
# files: formats, temporary names, atomic replacement
# --------------------------------------------------------------------------------------
def table_format(path: str | os.PathLike, *, role: str = "file") -> str:
    """Return ``"csv"`` or ``"parquet"`` from the extension of ``path``.

    Parameters
    ----------
    path : str or path-like
        A file name.
    role : str, default="file"
        What the file is, for the error message (``"source"``, ``"dst"``, ...).

    Raises
    ------
    ValueError
        For any other extension, naming the accepted ones.
    """
    suffix = Path(path).suffix.lower()
    try:
        return TABLE_FORMATS[suffix]
    except KeyError:
        raise ValueError(
            f"{role} {str(path)!r} has extension {suffix or '(none)'!r}; the format is taken "
            f"from the extension, so use one of {', '.join(TABLE_FORMATS)}."
        ) from None


def _temp_check(name: str, pid: int, nonce: str) -> str:
    return hashlib.sha256(f"covid_risk temp|{name}|{pid}|{nonce}".encode()).hexdigest()[:8]


def temp_path(path: Path, pid: int | None = None) -> Path:
    """Return a fresh temporary name next to ``path``.

    The name is ``<name>.tmp-<pid>-covid-risk-<nonce><check>``: 8 random hex digits
    and 8 hex digits of a SHA-256 of the name, process id and nonce. Only names
    whose check digits verify are ever treated as ours (:func:`remove_stale_temps`),
    so a user's file named like a temporary file (``keep.parquet.tmp-999999-abc``)
    is never removed.
    """
    pid = os.getpid() if pid is None else int(pid)
    nonce = secrets.token_hex(4)
    tag = f"{_TMP_TAG}{nonce}{_temp_check(path.name, pid, nonce)}"
    return path.with_name(f"{path.name}{_TMP_MARK}{pid}-{tag}")


def _our_temp_pid(candidate: Path, name: str) -> int | None:
    """Return the process id of ``candidate`` if it is exactly our temp name for ``name``."""
    pattern = (re.escape(name) + r"\.tmp-([0-9]{1,10})-" + re.escape(_TMP_TAG)
               + r"([0-9a-f]{8})([0-9a-f]{8})")
    match = re.fullmatch(pattern, candidate.name)
    if match is None or _temp_check(name, int(match.group(1)), match.group(2)) != match.group(3):
        return None
    return int(match.group(1))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_path(path: Path) -> None:
    """Remove a file or folder if it exists (no error if it does not)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove temporary files for ``path`` left by processes that no longer exist.

    Only names made by :func:`temp_path` for ``path`` (their check digits verify),
    owned by this user, whose process id is not running on this machine are
    removed, so a concurrent run and a user's own files are never disturbed.

    Returns
    -------
    list of Path
        The paths removed.
    """
    removed = []
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return removed
    prefix = path.name + _TMP_MARK
    uid = getattr(os, "getuid", lambda: None)()
    for candidate in parent.iterdir():
        if not candidate.name.startswith(prefix):
            continue
        pid = _our_temp_pid(candidate, path.name)
        if pid is None or _pid_alive(pid):
            continue
        with contextlib.suppress(OSError):
            if uid is not None and candidate.lstat().st_uid != uid:
                continue
            remove_path(candidate)
            removed.append(candidate)
    return removed


def replace_into_place(tmp: Path, dst: Path) -> None:
    """Move a finished ``tmp`` onto ``dst`` (a file is replaced atomically).

    A folder destination (Dask output) that already exists is first moved aside
    and removed afterwards, so ``dst`` is at every moment either absent, the old
    result or the new, complete one.
    """
    if dst.is_dir() and not dst.is_symlink():
        old = temp_path(dst)
        os.replace(dst, old)
        os.replace(tmp, dst)
        remove_path(old)
    else:
        os.replace(tmp, dst)


# --------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreOptions:
    """Checked options of one scoring run, shared by the local and Dask engines."""

    setting: str
    outcomes: tuple[str, ...]
    chunk_rows: int
    explain: bool
    top: int
    id_column: str | None
    units: Mapping[str, str] | None
    columns: Mapping[str, str] | None
    spreadsheet_safe: bool = True


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}; got {value!r}.")
    return int(value)


def resolve_options(
    model: Any, *, setting: str, outcomes: str | Sequence[str] | None, chunk_rows: Any,
    explain: bool, top: Any, id_column: Hashable | None, units: Mapping[str, str] | None,
    columns: Mapping[str, str] | None, spreadsheet_safe: bool = True,
) -> ScoreOptions:
    """Check the options of :func:`score_file` against the model (errors say what to do)."""
    if setting not in SETTINGS:
        raise ValueError(
            f"setting must be one of {', '.join(repr(s) for s in SETTINGS)}; got {setting!r}."
        )
    model_setting = getattr(model, "setting", setting)
    if model_setting != setting:
        raise ValueError(
            f"The model was trained for the {model_setting!r} setting but setting={setting!r} "
            f"was given; pass setting={model_setting!r} or a {setting} model."
        )
    available = tuple(model.outcomes_)
    wanted = available if outcomes is None else (
        (outcomes,) if isinstance(outcomes, str) else tuple(outcomes))
    unknown = [o for o in wanted if o not in available]
    if unknown or not wanted:
        raise ValueError(
            f"outcomes {unknown or list(wanted)!r} are not predicted by this model; choose from "
            f"{', '.join(available)}."
        )
    if id_column is not None and not isinstance(id_column, str):
        raise TypeError(f"id_column must be a column name (str); got {id_column!r}.")
    for name, value in (("units", units), ("columns", columns)):
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(f"{name}= must be a dict or None; got {type(value).__name__}.")
    return ScoreOptions(
        setting=setting,
        outcomes=tuple(dict.fromkeys(wanted)),
        chunk_rows=_check_int(chunk_rows, "chunk_rows", 1),
        explain=bool(explain),
        top=_check_int(top, "top", 0),
        id_column=id_column,
        units=dict(units) if units else None,
        columns=dict(columns) if columns else None,
        spreadsheet_safe=bool(spreadsheet_safe),
    )


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourcePlan:
    """Which columns of a source are read, and which are not."""

    names: tuple[str, ...]
    read: tuple[str, ...]
    ignored: tuple[str, ...]
    unknown: tuple[str, ...]


def plan_columns(names: Sequence[str], options: ScoreOptions) -> SourcePlan:
    """Choose the source columns to read: the setting's predictors and the id column.

    Raises
    ------
    ValidationError
        If a column name appears twice, two columns map to one field, or
        ``id_column`` is not a column of the source (file-level problems).
    """
    names = tuple(str(n) for n in names)
    mapping = options.columns or {}
    wanted = set(_SETTING_PREDICTORS[options.setting])
    problems: list[Problem] = []
    counts = Counter(names)
    for name, count in counts.items():
        if count > 1:
            problems.append(Problem(name, (
                f"Column {name!r} appears {count} times in the source. Keep one copy or "
                "rename the others.")))
    targets: dict[str, list[str]] = {}
    read: list[str] = []
    ignored: list[str] = []
    unknown: list[str] = []
    for name in dict.fromkeys(names):
        if name == options.id_column:
            read.append(name)
            continue
        target = mapping.get(name, name)
        if target in wanted:
            targets.setdefault(target, []).append(name)
            read.append(name)
        else:
            ignored.append(name)
            if target not in FIELDS and not str(target).startswith("true_risk_"):
                unknown.append(name)
    for target, sources in targets.items():
        if len(sources) > 1:
            problems.append(Problem(target, (
                f"Columns {', '.join(repr(s) for s in sources)} all give field {target!r} after "
                f"applying columns=. Keep one of them, or map only one to {target!r}.")))
    if options.id_column is not None and options.id_column not in counts:
        problems.append(Problem(options.id_column, (
            f"id_column={options.id_column!r} is not a column of the source. Columns present: "
            f"{', '.join(repr(n) for n in names[:12])}{' ...' if len(names) > 12 else ''}."),
            value=options.id_column))
    if problems:
        raise ValidationError(problems)
    plan = SourcePlan(names, tuple(read), tuple(ignored), tuple(unknown))
    check_names(plan, options)
    return plan


def check_names(plan: SourcePlan, options: ScoreOptions) -> None:
    """Refuse an id or source column whose name an output or rejects column already has.

    The rule: output column names are fixed (``row`` or the id, then ``<outcome>``,
    ``<outcome>_band`` and ``<outcome>_factors`` for *every* outcome of the setting,
    chosen or not, so the rule does not depend on ``outcomes=``), and the rejects
    file adds ``row``, ``fields`` and ``reason``. An ``id_column`` with one of
    those names, or a source column read for the rejects file with one of the
    rejects file's own names, is refused (a file with two columns of one name
    cannot be read back); rename the column in the source.

    Raises
    ------
    ValidationError
        Naming the column and the names that are taken.
    """
    from covid_risk.schema import SETTING_OUTCOMES

    taken = {_ROW}
    for outcome in SETTING_OUTCOMES[options.setting]:
        taken |= {outcome, f"{outcome}_band", f"{outcome}_factors"}
    rejects_taken = {_ROW, "fields", "reason"}
    problems = []
    ident = options.id_column
    if ident is not None and (ident in taken or ident in rejects_taken):
        problems.append(Problem(ident, (
            f"id_column={ident!r} has the name of an output column; the names row, fields, "
            "reason and every outcome with its _band and _factors columns are taken. Rename "
            "the id column in the source."), value=ident))
    for name in plan.read:
        if name != ident and name in rejects_taken:
            problems.append(Problem(name, (
                f"Source column {name!r} has the name of a rejects-file column (row, fields, "
                "reason). Rename it in the source."), value=name))
    if problems:
        raise ValidationError(problems)


def source_names(src: Path, fmt: str) -> tuple[list[str], int | None, dict[str, pa.DataType]]:
    """Return the column names, the row count (Parquet) and column types of a source."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        files = parquet_files(src)
        first = pq.ParquetFile(files[0])
        schema = first.schema_arrow
        n = 0
        for f in files:
            n += pq.ParquetFile(f).metadata.num_rows
        return list(schema.names), n, {f.name: f.type for f in schema}
    from pyarrow import csv

    with csv.open_csv(src) as reader:
        names = list(reader.schema.names)
    return names, None, {n: pa.string() for n in names}


def _iter_csv(src: Path, read: Sequence[str]) -> Iterator[pa.RecordBatch]:
    from pyarrow import csv

    convert = csv.ConvertOptions(
        column_types={n: pa.string() for n in read},
        include_columns=list(read),
        strings_can_be_null=True,
        null_values=_CSV_NULLS,
        quoted_strings_can_be_null=False,
    )
    with csv.open_csv(src, convert_options=convert) as reader:
        yield from reader


def _first_ragged_line(src: Path) -> str:
    """`` (line N has M fields, the header K)`` for the first ragged CSV row, or ``""``."""
    import csv as pycsv

    with contextlib.suppress(OSError, UnicodeDecodeError, pycsv.Error), \
            open(src, encoding="utf-8", newline="") as fh:
        reader = pycsv.reader(fh)
        header = next(reader, [])
        for row in reader:
            if row and len(row) != len(header):
                return (f" (line {reader.line_num} has {len(row)} fields, the header "
                        f"{len(header)})")
    return ""


def _iter_parquet(src: Path, read: Sequence[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of every row group in turn, with a fresh reader per row group.

    One reader over the whole file (``ParquetFile.iter_batches()``) keeps the
    pre-buffered bytes of every row group it has read until it is closed -- about
    the file's compressed size by the end, measured at 190 MB for a 5-million-row
    file -- so memory would grow with the file. A reader per row group holds one.
    """
    import pyarrow.parquet as pq

    for path in parquet_files(src):
        pf = pq.ParquetFile(path)
        present = [n for n in read if n in pf.schema_arrow.names]
        for row_group in range(pf.metadata.num_row_groups):
            yield from pf.iter_batches(batch_size=batch_rows, row_groups=[row_group],
                                       columns=present, use_pandas_metadata=False)


def rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Regroup record batches into tables of exactly ``rows`` rows (the last may be shorter)."""
    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


@contextlib.contextmanager
def readable(src: Path, fmt: str) -> Iterator[None]:
    """Turn pyarrow's errors on a malformed source into a ValidationError naming the file."""
    try:
        yield
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        reason = re.sub(r"(got \d+):.*", r"\1", str(exc).strip(), flags=re.S)  # no row echo
        if fmt == "csv" and ("UTF8" in reason or isinstance(exc, UnicodeDecodeError)):
            reason += _first_bad_utf8(src)
        elif fmt == "csv" and "columns, got" in reason:
            reason += _first_ragged_line(src)
        raise ValidationError(Problem("<input>", (
            f"Could not read {str(src)!r} as {fmt.upper()}: {reason}. Check that it is a "
            "complete, well-formed file (for CSV: UTF-8 text with the same number of fields "
            "on every line; for a folder: the same columns in every Parquet file).")
        )) from None


def _first_bad_utf8(src: Path) -> str:
    """`` (line N, field M)`` of the first byte that is not UTF-8 in a CSV file, or ``""``."""
    with contextlib.suppress(OSError), open(src, "rb") as fh:
        for number, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                field = line[: exc.start].count(b",") + 1
                return f" (line {number}, about field {field}: byte {line[exc.start]:#04x})"
    return ""


def iter_chunks(src: Path, fmt: str, read: Sequence[str], chunk_rows: int) -> Iterator[pa.Table]:
    """Yield the source's ``read`` columns as tables of ``chunk_rows`` rows, in file order."""
    with readable(src, fmt):
        if fmt == "csv":
            batches = _iter_csv(src, read)
        else:
            batches = _iter_parquet(src, read, min(chunk_rows, 65_536))
        yield from rechunk(batches, chunk_rows)


# --------------------------------------------------------------------------------------
# one chunk: validate, reject, score
# --------------------------------------------------------------------------------------
@dataclass
class ChunkResult:
    """Scores and rejects of one chunk."""

    scored: pa.Table
    rejects: pd.DataFrame | None
    n_read: int
    reject_fields: Counter
    implausible: Counter


def _numeric_kinds(read: Sequence[str], options: ScoreOptions) -> list[str]:
    mapping = options.columns or {}
    out = []
    for name in read:
        target = mapping.get(name, name)
        if target in FIELDS and FIELDS[target].kind in ("float", "int"):
            out.append(name)
    return out


def _decode_dictionaries(table: pa.Table) -> pa.Table:
    """Replace dictionary-encoded columns by plain ones (same values)."""
    if not any(pa.types.is_dictionary(t) for t in table.schema.types):
        return table
    arrays = [col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col
              for col in table.columns]
    return pa.table(arrays, names=table.column_names)


def _pandas_type(t: pa.DataType) -> Any:
    """Nullable pandas dtypes for integers and booleans, whether or not a chunk has gaps."""
    if pa.types.is_uint64(t):
        return pd.UInt64Dtype()  # hashed ids and the like reach beyond int64
    if pa.types.is_integer(t):
        return pd.Int64Dtype()
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    return None


def arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with the same dtypes in every chunk (integers never turn float)."""
    return table.to_pandas(ignore_metadata=True, types_mapper=_pandas_type)


_NUMBER = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
"""Plain decimal numbers, which pyarrow's cast and validate read identically."""


def _numeric_text(col: pa.ChunkedArray) -> pd.Series:
    """Text of a numeric field -> float64, cell by cell; other text stays for validate.

    Whether a cell becomes a number depends on that cell only (never on the rest of
    its chunk), so results, messages and rejects do not depend on ``chunk_rows``.
    """
    plain = pc.match_substring_regex(col, _NUMBER)
    if pc.all(pc.fill_null(plain, True)).as_py():
        return pc.cast(col, pa.float64()).to_pandas()
    numbers = pc.cast(pc.if_else(plain, col, pa.scalar(None, col.type)), pa.float64())
    values = np.array(col.to_pandas().astype(object), dtype=object)
    is_plain = pc.fill_null(plain, False).to_numpy(zero_copy_only=False)
    values[is_plain] = numbers.to_numpy(zero_copy_only=False)[is_plain]
    return pd.Series(values, dtype=object)


def _to_pandas(table: pa.Table, numeric: Sequence[str]) -> pd.DataFrame:
    """Arrow chunk -> pandas for validate, with plainly numeric text read as float64."""
    text = [n for n in numeric if n in table.column_names
            and (pa.types.is_string(table.schema.field(n).type)
                 or pa.types.is_large_string(table.schema.field(n).type))]
    if not text:
        return arrow_to_pandas(table)
    df = arrow_to_pandas(table.drop_columns(text))
    for name in text:
        df[name] = _numeric_text(table.column(name))
    return df[table.column_names]


def _rewrite_row(message: str, row: int, file_row: int) -> str:
    """Replace the chunk-relative ``row N`` in a validate message by the file-wide number."""
    return re.sub(rf"\(row {row}(?=[,)])", f"(row {file_row}", message, count=1)


class ChunkScorer:
    """Validates, rejects and scores chunks the same way on every engine.

    Parameters
    ----------
    model : RiskModel
        Fitted model.
    options : ScoreOptions
        Checked options.
    plan : SourcePlan
        Which source columns are read.
    id_type : pyarrow.DataType or None
        Type of the id column in the output (``None`` without ``id_column``).
    """

    def __init__(self, model: Any, options: ScoreOptions, plan: SourcePlan,
                 id_type: pa.DataType | None) -> None:
        self.model = model
        self.options = options
        self.plan = plan
        self.numeric = _numeric_kinds(plan.read, options)
        self.schema = output_schema(options, id_type)
        self._describe: dict[tuple[int, Any], str] = {}

    # -- validation ----------------------------------------------------------------
    def _validate(self, df: pd.DataFrame) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataQualityWarning)
            return validate(df, units=self.options.units, columns=self.options.columns,
                            id_column=self.options.id_column)

    def validate(self, df: pd.DataFrame, offset: int,
                 raw: pa.Table | None = None) -> tuple[Any, np.ndarray, pd.DataFrame]:
        """Validate ``df``, setting aside rows with impossible values.

        Returns
        -------
        validated : Validated or None
            The canonical rows kept (``None`` when every row was rejected).
        keep : ndarray of bool
            Which rows of ``df`` were kept.
        rejects : pandas.DataFrame
            One row per rejected row: ``row`` (file-wide), the id, ``fields``,
            ``reason``, then the values as read (from ``raw``, the chunk as read,
            when given; CSV values then stay the text of the file).
        """
        keep = np.ones(len(df), dtype=bool)
        reasons: dict[int, list[Problem]] = {}
        for _attempt in range(5):
            positions = np.flatnonzero(keep)
            if positions.size == 0:
                validated = None
                break
            part = df if positions.size == len(df) else df.iloc[positions].reset_index(drop=True)
            try:
                validated = self._validate(part)
                break
            except ValidationError as exc:
                whole = [p for p in exc.problems if p.row is None]
                if whole:  # a problem with the file, not with rows: stop the run
                    raise ValidationError(whole) from None
                for p in exc.problems:
                    pos = int(positions[p.row])
                    message = _rewrite_row(p.message, p.row, offset + pos)
                    reasons.setdefault(pos, []).append(
                        Problem(p.field, message, offset + pos, p.value))
                    keep[pos] = False
        else:  # pragma: no cover - validate's problems are per row, so one pass suffices
            raise RuntimeError("validation did not settle after setting aside rejected rows")
        return validated, keep, self._rejects_frame(df, reasons, offset, raw)

    def _rejects_frame(self, df: pd.DataFrame, reasons: Mapping[int, list[Problem]],
                       offset: int, raw: pa.Table | None) -> pd.DataFrame:
        keys = sorted(reasons)
        pos = np.array(keys, dtype=np.int64)
        values = df.iloc[pos] if raw is None else arrow_to_pandas(raw.take(pa.array(pos)))
        values = values.reset_index(drop=True)
        out = pd.DataFrame({_ROW: offset + pos})
        ident = self.options.id_column
        if ident is not None:
            out[ident] = values[ident].to_numpy()
        out["fields"] = [", ".join(dict.fromkeys(p.field for p in reasons[i])) for i in keys]
        out["reason"] = [" | ".join(p.message for p in reasons[i]) for i in keys]
        for name in values.columns:
            if name != ident:
                out[name] = values[name].to_numpy()
        if self.options.spreadsheet_safe:
            for name in out.columns:
                if pd.api.types.is_string_dtype(out[name].dtype):
                    out[name] = neutralise_formulas(out[name].astype(object))
        return out

    # -- scoring -------------------------------------------------------------------
    def _factor_texts(self, ex: Any) -> list[str]:
        """Top factors per row as predict_risk's text (ranked by ``rank_factors``)."""
        n = len(ex)
        top = self.options.top
        if top == 0 or n == 0:
            return [""] * n
        pp = 100.0 * ex.probability_contributions
        values = ex.values
        names = ex.feature_names
        cache = self._describe
        texts = []
        for i, (up, down) in enumerate(rank_factors(ex.shap_values, pp, top)):
            parts = []
            for j in (*up, *down):
                v = values[i, j]
                key = (j, None if v != v else float(v))
                text = cache.get(key)
                if text is None:
                    text = cache[key] = describe(names[j], v)
                parts.append(f"{text} ({float(pp[i, j]):+.1f} pp)")
            texts.append("; ".join(parts))
        return texts

    def score(self, data: pd.DataFrame) -> dict[str, Any]:
        """Return output columns (probability, band, factors per outcome) for canonical rows."""
        outcomes = self.options.outcomes
        cols: dict[str, Any] = {}
        if self.options.explain:
            explanations = explain(data, model=self.model)
            probs = {o: np.asarray(explanations[o].probability, dtype="float64")
                     for o in outcomes}
        else:
            proba = self.model.predict_proba(data)
            probs = {o: proba[o].to_numpy(dtype="float64") for o in outcomes}
        for o in outcomes:
            cols[o] = probs[o]
            cols[f"{o}_band"] = risk_bands(probs[o])
            if self.options.explain:
                cols[f"{o}_factors"] = self._factor_texts(explanations[o])
        return cols

    def __call__(self, table: pa.Table, offset: int) -> ChunkResult:
        """Validate and score one chunk whose first row is row ``offset`` of the source."""
        table = _decode_dictionaries(table)
        df = _to_pandas(table, self.numeric)
        validated, keep, rejects = self.validate(df, offset, table)
        ident = self.options.id_column
        if validated is None or len(validated.data) == 0:
            scored = self.schema.empty_table()
            implausible: Counter = Counter()
        else:
            cols = self.score(validated.data)
            first = (table.column(ident).filter(pa.array(keep)) if ident is not None
                     else pa.array(offset + np.flatnonzero(keep), type=pa.int64()))
            arrays = [first, *(cols[n] for n in self.schema.names[1:])]
            scored = pa.table(arrays, schema=self.schema)
            implausible = Counter(p.field for p in validated.report.implausible)
        reject_fields: Counter = Counter()
        for text in rejects["fields"]:
            reject_fields.update(text.split(", "))
        return ChunkResult(scored, rejects if len(rejects) else None, len(df), reject_fields,
                           implausible)


def output_schema(options: ScoreOptions, id_type: pa.DataType | None) -> pa.Schema:
    """Arrow schema of the results: id (or ``row``), then probability, band (, factors)."""
    first = (pa.field(options.id_column, id_type) if options.id_column is not None
             else pa.field(_ROW, pa.int64()))
    fields = [first]
    for o in options.outcomes:
        fields += [pa.field(o, pa.float64()), pa.field(f"{o}_band", pa.string())]
        if options.explain:
            fields.append(pa.field(f"{o}_factors", pa.string()))
    return pa.schema(fields)


def rejects_columns(plan: SourcePlan, options: ScoreOptions) -> list[str]:
    """Header of the rejects file: ``row``, the id, ``fields``, ``reason``, columns read."""
    cols = [_ROW]
    if options.id_column is not None:
        cols.append(options.id_column)
    cols += ["fields", "reason"]
    cols += [n for n in plan.read if n != options.id_column]
    return cols


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------
def neutralise_formulas(values: Any) -> Any:
    """Prefix ``'`` to text that a spreadsheet would run as a formula (OWASP CSV injection).

    A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    gets a leading apostrophe, which spreadsheets show as text and do not evaluate.
    Non-text values pass unchanged.

    Parameters
    ----------
    values : pandas.Series or pyarrow array
        The cells of one column.

    Returns
    -------
    pandas.Series or pyarrow array
        The same cells, neutralised.

    Examples
    --------
    >>> neutralise_formulas(pd.Series(["=HYPERLINK(1)", "ok", None, 3])).tolist()
    ["'=HYPERLINK(1)", 'ok', None, 3]
    """
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
            return values
        return pc.replace_substring_regex(values, pattern=_FORMULA_RE, replacement="'\\1")
    return values.map(lambda v: "'" + v if isinstance(v, str) and v[:1] and v[0] in
                      FORMULA_PREFIXES else v)


class TableSink:
    """Incremental Parquet or CSV writer for one schema.

    With ``spreadsheet_safe`` (CSV only), text cells are written through
    :func:`neutralise_formulas`.
    """

    def __init__(self, path: Path, fmt: str, schema: pa.Schema, *,
                 spreadsheet_safe: bool = False) -> None:
        self.path = path
        self.schema = schema
        self.neutralise = spreadsheet_safe and fmt == "csv"
        if fmt == "parquet":
            import pyarrow.parquet as pq

            self._writer: Any = pq.ParquetWriter(path, schema)
        else:
            from pyarrow import csv

            self._writer = csv.CSVWriter(path, schema)
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (same schema)."""
        if table.num_rows:
            if self.neutralise:
                table = pa.table([neutralise_formulas(c) for c in table.columns],
                                 schema=self.schema)
            self._writer.write_table(table)
            self.rows += table.num_rows

    def close(self) -> None:
        """Finish the file (an empty result still gets its schema or header)."""
        self._writer.close()


class RejectsSink:
    """Appends rejected rows to a CSV file whose header is written up front."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = list(columns)
        self._fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        pd.DataFrame(columns=self.columns).to_csv(self._fh, index=False)
        self.rows = 0

    def write(self, frame: pd.DataFrame | None) -> None:
        """Append the rejected rows of one chunk."""
        if frame is None or not len(frame):
            return
        frame.reindex(columns=self.columns).to_csv(self._fh, index=False, header=False)
        self.rows += len(frame)

    def close(self) -> None:
        """Flush and close the file."""
        if not self._fh.closed:
            self._fh.close()


def default_rejects(dst: Path) -> Path:
    """``out.parquet`` -> ``out.parquet.rejects.csv`` (next to the destination).

    Derived from the full name, so ``out.csv`` and ``out.parquet`` have different
    rejects files and one run cannot replace another's.
    """
    return dst.with_name(f"{dst.name}.rejects.csv")


def check_paths(src: Path, dst: Path, rejects: Path, *, dst_is_folder: bool = False) -> None:
    """Fail early, with what to do, on paths that cannot work."""
    if not src.exists():
        raise FileNotFoundError(f"Source {str(src)!r} does not exist.")
    for role, path in (("dst", dst), ("rejects", rejects)):
        if not path.parent.is_dir():
            raise FileNotFoundError(
                f"Cannot write {role} {str(path)!r}: folder {str(path.parent)!r} does not "
                "exist. Create it first."
            )
    same = {src.resolve(), dst.resolve(), rejects.resolve()}
    if len(same) < 3:
        raise ValueError(
            f"src, dst and rejects must be three different paths; got {str(src)!r}, "
            f"{str(dst)!r} and {str(rejects)!r}."
        )
    if src.is_dir():
        inside = [(role, path) for role, path in (("dst", dst), ("rejects", rejects))
                  if src.resolve() in path.resolve().parents]
        if inside:
            role, path = inside[0]
            raise ValidationError(Problem(role, (
                f"{role} {str(path)!r} is inside the source folder {str(src)!r}; the next run "
                "would read it as input. Write outside the source folder."), value=str(path)))
    if not dst_is_folder and dst.is_dir():
        raise IsADirectoryError(
            f"dst {str(dst)!r} is a folder; give a file name ending in "
            f"{', '.join(TABLE_FORMATS)} (folders are written by engine='dask' only)."
        )
    if table_format(rejects, role="rejects") != "csv":
        raise ValueError(f"rejects {str(rejects)!r} must be a .csv file.")


def memory_note(chunk_rows: int, n_columns: int, engine: str = "local") -> str:
    """Describe the memory bound of a run in words."""
    where = "per worker task" if engine == "dask" else "in this process"
    return (
        f"one chunk of at most {chunk_rows:,} rows x {n_columns} columns in memory at a time "
        f"{where}: peak ~ baseline + O(chunk_rows x columns), independent of the file's length"
    )


def warn_summary(report: ScoreReport, stacklevel: int = 3) -> None:
    """Emit one DataQualityWarning for the whole run (instead of one per chunk)."""
    parts = []
    if report.rows_rejected:
        parts.append(
            f"{report.rows_rejected:,} of {report.rows_read:,} row(s) had impossible values and "
            f"were not scored ({_counts_text(report.reject_fields)}); each is listed with the "
            f"reason in {report.rejects}."
        )
    n_implausible = sum(report.implausible.values())
    if n_implausible:
        parts.append(
            f"{n_implausible:,} implausible value(s) were kept, flagged and scored "
            f"({_counts_text(report.implausible)}); check how they were recorded."
        )
    if parts:
        warnings.warn(" ".join(parts), DataQualityWarning, stacklevel=stacklevel + 1)


def unknown_columns_warning(plan: SourcePlan, stacklevel: int) -> None:
    if plan.unknown:
        shown = ", ".join(repr(c) for c in plan.unknown[:8])
        more = f" and {len(plan.unknown) - 8} more" if len(plan.unknown) > 8 else ""
        warnings.warn(
            f"Ignored {len(plan.unknown)} column(s) that are not fields of the patient record: "
            f"{shown}{more}. Map them with columns={{'<your column>': '<field>'}} if they are "
            "known fields under another name (see covid_risk.field_table()), or pass "
            "id_column= to carry an identifier to the output.",
            DataQualityWarning, stacklevel=stacklevel + 1,
        )


